package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestUnknownKeysNamed: a key the configuration does not know is named
// with its full path and line, with the key it most likely meant, every
// one of them at once (yaml alone said "field … not found in type
// config.Config", one at a time).
func TestUnknownKeysNamed(t *testing.T) {
	p := filepath.Join(t.TempDir(), "c.yaml")
	body := "api:\n  lisen: 127.0.0.1:8443\nevidence:\n  signing_key_fil: k.pem\norgs:\n  - id: a\n    type: bank\n    bank_code: {NL: [ABNA]}\nlimits:\n  bank: {lookups_per_secnd: 5}\nfrobnicate: true\n"
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(p, func(string) string { return "" })
	if err == nil {
		t.Fatal("unknown keys loaded")
	}
	for _, want := range []string{
		"line 2: unknown key api.lisen, did you mean api.listen?",
		"line 4: unknown key evidence.signing_key_fil, did you mean evidence.signing_key_file?",
		"line 8: unknown key orgs[0].bank_code, did you mean orgs[0].bank_codes?",
		"line 10: unknown key limits.bank.lookups_per_secnd, did you mean limits.bank.lookups_per_second?",
		"line 11: unknown key frobnicate",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%v", want, err)
		}
	}
}

// TestUnknownEnv: a MULEGATE_* variable nothing reads is named, with the
// one it most likely meant; known ones and the CLI's are not.
func TestUnknownEnv(t *testing.T) {
	got := UnknownEnv([]string{"MULEGATE_REDIS_ADDRS=a:1", "MULEGATE_FORWARD_WORKRES=2", "MULEGATE_CLIENT_URL=x", "PATH=/bin", "MULEGATE_NOPE=1"})
	want := []string{"MULEGATE_FORWARD_WORKRES (did you mean MULEGATE_FORWARD_WORKERS?)", "MULEGATE_NOPE"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("got %q, want %q", got, want)
	}
	for _, n := range []string{"MULEGATE_API_LISTEN", "MULEGATE_STORAGE_PSEUDONYM_SECRET_FILE", "MULEGATE_EVIDENCE_ORIGIN", "MULEGATE_CHAINS_MAX_HOPS"} {
		found := false
		for _, k := range EnvNames() {
			found = found || k == n
		}
		if !found {
			t.Errorf("%s is not among the variables the configuration reads", n)
		}
	}
}

// TestConfigReferenceListsEveryKey: docs/config.md names exactly the
// keys the configuration reads (org-type maps as limits.<type>.* and
// views.<type>.*, orgs as orgs[].*), each with the type and default the
// code has for the keys with a fixed path.
func TestConfigReferenceListsEveryKey(t *testing.T) {
	raw, err := os.ReadFile("../../docs/config.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := map[string]string{} // key -> its row
	for _, l := range strings.Split(string(raw), "\n") {
		if k, ok := strings.CutPrefix(l, "| `"); ok {
			if i := strings.Index(k, "`"); i > 0 {
				doc[k[:i]] = l
			}
		}
	}
	code := map[string]bool{}
	var walk func(tt reflect.Type, path string)
	walk = func(tt reflect.Type, path string) {
		for k, ft := range yamlFields(tt) {
			p := join(path, k)
			if k == anyKey {
				p = join(path, "<type>")
			}
			switch {
			case ft.Kind() == reflect.Struct && (p == "orgs[].limits" || ft == reflect.TypeFor[Duration]()):
				code[p] = true
			case ft.Kind() == reflect.Struct:
				walk(ft, p)
			case ft.Kind() == reflect.Map && ft.Elem().Kind() == reflect.Struct:
				walk(ft.Elem(), join(p, "<type>"))
			case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
				walk(ft.Elem(), p+"[]")
			default:
				code[p] = true
			}
		}
	}
	walk(reflect.TypeFor[Config](), "")
	for k := range code {
		if _, ok := doc[k]; !ok {
			t.Errorf("docs/config.md does not name %s", k)
		}
	}
	for k := range doc {
		if !code[k] {
			t.Errorf("docs/config.md names %s, which the configuration does not read", k)
		}
	}
	if !strings.Contains(doc["api.listen"], "`127.0.0.1:8443`") || !strings.Contains(doc["storage.retention"], "`730d`") {
		t.Errorf("defaults: %q, %q", doc["api.listen"], doc["storage.retention"])
	}
}
