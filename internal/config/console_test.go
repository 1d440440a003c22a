package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestConsoleConfig: "mulegate console" reads only the console section;
// it refuses a listener off loopback with no way to know the user, a
// user header without trusted proxies, and a token source that is both
// or neither, each named.
func TestConsoleConfig(t *testing.T) {
	base := "console:\n  api: {url: https://gw:8443, cert_file: c.pem, key_file: k.pem, token_url: https://idp/token}\n"
	for _, c := range []struct {
		name, body, want string
	}{
		{"loopback, local", base, ""},
		{"a gateway's whole file still loads", base + "redis: {addrs: [10.0.0.1:6379]}\n", ""},
		{"off loopback without users", base + "  listen: 0.0.0.0:8480\n", "console.listen: 0.0.0.0:8480 is not loopback"},
		{"off loopback with a users file", base + "  listen: 0.0.0.0:8480\n  users_file: /etc/users\n", ""},
		{"a header without proxies", base + "  listen: 0.0.0.0:8480\n  user_header: X-Forwarded-User\n", "console.trusted_proxies: is required"},
		{"a bad proxy", base + "  user_header: X-Forwarded-User\n  trusted_proxies: [proxy.local]\n", "neither an IP address nor a CIDR"},
		{"two token sources", "console:\n  api: {url: https://gw:8443, cert_file: c.pem, key_file: k.pem, token_url: https://idp/token, token_file: /t}\n", "console.api.token_url"},
		{"no certificate", "console:\n  api: {url: https://gw:8443, token_file: /t}\n", "console.api.cert_file: is required"},
		{"a misspelt key", base + "  sesion_ttl: 1h\n", "did you mean console.session_ttl"},
	} {
		p := filepath.Join(t.TempDir(), "c.yaml")
		if err := os.WriteFile(p, []byte(c.body), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := LoadConsole(p, func(string) string { return "" })
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
}
