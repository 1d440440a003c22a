package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestOtherLanguageExamples runs docs/examples' Node and Python lookups
// against `mulegate dev`, each when its interpreter is installed (else
// that example is skipped, saying so): the guide's mTLS snippets work.
func TestOtherLanguageExamples(t *testing.T) {
	httpOnly(t)
	dir, banner := startDev(t)
	mg := regexp.MustCompile(`export MG=(\S+)`).FindStringSubmatch(banner)
	tok := regexp.MustCompile(`export BANK_TOKEN=(\S+)`).FindStringSubmatch(banner)
	if mg == nil || tok == nil {
		t.Fatalf("no MG or BANK_TOKEN in the banner:\n%s", banner)
	}
	root, _ := filepath.Abs("../..")
	for _, ex := range []struct{ tool, file string }{{"node", "mtls.js"}, {"python3", "mtls.py"}} {
		t.Run(ex.tool, func(t *testing.T) {
			if _, err := exec.LookPath(ex.tool); err != nil {
				t.Skipf("%s not installed: docs/examples/%s not run", ex.tool, ex.file)
			}
			cmd := exec.Command(ex.tool, filepath.Join(root, "docs", "examples", ex.file), mg[1], "NL91ABNA0417164300")
			cmd.Dir = dir
			cmd.Env = append(os.Environ(), "BANK_TOKEN="+tok[1])
			out, err := cmd.CombinedOutput()
			if err != nil || !strings.HasPrefix(string(out), "200 NL91ABNA0417164300 ") {
				t.Errorf("%s: %v\n%s", ex.file, err, out)
			}
		})
	}
}
