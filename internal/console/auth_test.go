package console

import (
	"crypto/sha256"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestUsersFile: a line is "name bcrypt-hash [read-only]"; anything else
// is refused naming its line; the password checks, a wrong one and an
// unknown user do not.
func TestUsersFile(t *testing.T) {
	line, err := HashLine("a.jansen", "correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	ro, _ := HashLine("auditor", "another long password")
	dir := t.TempDir()
	good := filepath.Join(dir, "users")
	if err := os.WriteFile(good, []byte("# analysts\n"+line+"\n\n"+ro+" read-only\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	u, err := LoadUsers(good)
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := u.check("a.jansen", "correct horse battery"); !ok || got.ReadOnly {
		t.Errorf("a.jansen: %+v %v", got, ok)
	}
	if got, ok := u.check("auditor", "another long password"); !ok || !got.ReadOnly {
		t.Errorf("the read-only auditor: %+v %v", got, ok)
	}
	for _, c := range [][2]string{{"a.jansen", "wrong"}, {"nobody", "correct horse battery"}, {"a.jansen", ""}} {
		if _, ok := u.check(c[0], c[1]); ok {
			t.Errorf("%s with %q signed in", c[0], c[1])
		}
	}
	for _, bad := range []string{"alice", "alice plaintext", line + " admin", "two words " + strings.Fields(line)[1]} {
		p := filepath.Join(dir, "bad")
		_ = os.WriteFile(p, []byte(bad+"\n"), 0o600)
		if _, err := LoadUsers(p); err == nil || !strings.Contains(err.Error(), "line 1") {
			t.Errorf("users file %q: %v, want line 1 refused", bad, err)
		}
	}
	if _, err := HashLine("a b", "correct horse battery"); err == nil {
		t.Error("a name with a space was accepted")
	}
	if _, err := HashLine("a", "short"); err == nil {
		t.Error("a short password was accepted")
	}
}

// TestSessionsAndLogins: a session ends at its TTL and on logout; five
// failed sign-ins a minute lock a user name until the minute is over.
func TestSessionsAndLogins(t *testing.T) {
	now := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	s := newSessions(time.Hour, clock)
	id, x := s.start(User{Name: "a"})
	if got, ok := s.get(id); !ok || got != x || len(x.csrf) < 40 {
		t.Fatalf("a new session: %v %v", got, ok)
	}
	now = now.Add(time.Hour + time.Second)
	if _, ok := s.get(id); ok {
		t.Error("a session outlived its TTL")
	}
	id, _ = s.start(User{Name: "a"})
	s.end(id)
	if _, ok := s.get(id); ok {
		t.Error("a session outlived its logout")
	}
	l := &loginLimiter{fails: map[string][]time.Time{}, now: clock}
	for range loginFailures {
		if !l.allowed("a") {
			t.Fatal("refused before five failures")
		}
		l.failed("a")
	}
	if l.allowed("a") || !l.allowed("b") {
		t.Error("five failures must lock a, and only a")
	}
	now = now.Add(loginWindow + time.Second)
	if !l.allowed("a") {
		t.Error("a is still locked a minute later")
	}
}

// TestTrustedProxies: the user header is believed from the listed
// networks only, by the connection's address.
func TestTrustedProxies(t *testing.T) {
	p, err := ParseProxies([]string{"10.0.0.10", "192.168.1.0/24", "::1"})
	if err != nil {
		t.Fatal(err)
	}
	for addr, want := range map[string]bool{"10.0.0.10:5555": true, "10.0.0.11:5555": false, "192.168.1.77:1": true, "[::1]:80": true, "garbage": false} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = addr
		r.Header.Set("X-Forwarded-For", "10.0.0.10") // never believed
		if got := p.trusts(r); got != want {
			t.Errorf("%s: trusted %v, want %v", addr, got, want)
		}
	}
	if _, err := ParseProxies([]string{"not-an-ip"}); err == nil {
		t.Error("a bad proxy was accepted")
	}
}

// TestVendoredLibrariesArePinned: the vendored htmx files are exactly the
// released versions their names say (a change must be a deliberate
// upgrade: new file name, new hash here).
func TestVendoredLibrariesArePinned(t *testing.T) {
	for name, want := range map[string]string{
		"static/htmx-2.0.4.min.js": "e209dda5c8235479f3166defc7750e1dbcd5a5c1808b7792fc2e6733768fb447",
		"static/htmx-sse-2.2.2.js": "83eca6fa0611fe2b0bf1700b424b88b5eced38ef448ef9760a2ea08fbc875611",
	} {
		b, err := staticFS.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if got := fmt.Sprintf("%x", sha256.Sum256(b)); got != want {
			t.Errorf("%s: sha256 %s, want %s", name, got, want)
		}
	}
}
