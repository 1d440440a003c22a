package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestDocsCommandsWork runs the command blocks of docs/integrating.md and
// docs/operating.md that are marked "<!-- tested -->", in order, in one
// shell per document, against "mulegate dev" (after the lines its banner
// asks the user to paste), and checks every "<!-- expect: … -->" of the
// document in their output: the guides cannot drift from the gateway.
func TestDocsCommandsWork(t *testing.T) {
	for _, tool := range []string{"bash", "curl", "jq", "openssl", "basenc"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed: the documented commands need it", tool)
		}
	}
	dir, banner := startDev(t)
	var env strings.Builder
	fn := regexp.MustCompile(`^\w+\(\)\s*\{`)
	for _, l := range strings.Split(banner, "\n") {
		if strings.HasPrefix(l, "export ") || fn.MatchString(l) {
			env.WriteString(l + "\n")
		}
	}
	m := regexp.MustCompile(`(http://127\.0\.0\.1:[0-9]+)/readyz`).FindStringSubmatch(banner)
	if m == nil {
		t.Fatalf("no ops address in the banner:\n%s", banner)
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	env.WriteString("export OPS=" + m[1] + " REPO=" + root + "\n")
	block := regexp.MustCompile("(?s)<!-- tested -->\n```sh\n(.*?)```")
	expect := regexp.MustCompile(`<!-- expect: (.*?) -->`)
	for _, doc := range []string{"README.md", "docs/integrating.md", "docs/operating.md"} {
		text, err := os.ReadFile(filepath.Join(root, doc))
		if err != nil {
			t.Fatal(err)
		}
		script := env.String()
		blocks := block.FindAllStringSubmatch(string(text), -1)
		if len(blocks) < 3 && doc != "README.md" {
			t.Fatalf("%s: only %d tested blocks", doc, len(blocks))
		}
		for _, b := range blocks {
			script += b[1]
		}
		cmd := exec.Command("bash", "-e", "-o", "pipefail", "-c", script)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "PATH="+filepath.Dir(mustBinary(t))+string(os.PathListSeparator)+os.Getenv("PATH"))
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: the tested commands failed: %v\n%s", doc, err, out)
		}
		for _, e := range expect.FindAllStringSubmatch(string(text), -1) {
			// "A || B": either (a block that says it skipped, because a
			// tool is missing, prints B instead of A).
			found := false
			for _, alt := range strings.Split(e[1], " || ") {
				found = found || strings.Contains(string(out), alt)
			}
			if !found {
				t.Errorf("%s: output lacks %q:\n%s", doc, e[1], out)
			}
		}
	}
}
