package console

import (
	"bufio"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/mulegate/mulegate/internal/domain"
	"golang.org/x/crypto/bcrypt"
)

// Who is at the keyboard (SPEC Part 3, "The console"): the org's single
// sign-on proxy names the user in a header, believed only on connections
// from trusted proxies; or users log in with a password from a users
// file; or, on a loopback listener only, the user is "local".

// User is a person the console acts for.
type User struct {
	Name     string
	ReadOnly bool // sees but cannot act
}

// Users are the users file: "name bcrypt-hash [read-only]" per line;
// blank lines and lines starting with # are skipped.
type Users struct {
	hashes   map[string][]byte
	readOnly map[string]bool
}

// LoadUsers reads a users file.
func LoadUsers(path string) (*Users, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("console.users_file: %w", err)
	}
	defer f.Close()
	u := &Users{hashes: map[string][]byte{}, readOnly: map[string]bool{}}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) < 2 || len(fields) > 3 || (len(fields) == 3 && fields[2] != "read-only") || !ValidName(fields[0]) {
			return nil, fmt.Errorf("console.users_file line %d: want \"name bcrypt-hash [read-only]\" (a name of 1-128 visible characters)", n)
		}
		if _, err := bcrypt.Cost([]byte(fields[1])); err != nil {
			return nil, fmt.Errorf("console.users_file line %d: %s's hash is not bcrypt (make one with: mulegate console passwd %s)", n, fields[0], fields[0])
		}
		u.hashes[fields[0]] = []byte(fields[1])
		u.readOnly[fields[0]] = len(fields) == 3
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("console.users_file: %w", err)
	}
	if len(u.hashes) == 0 {
		return nil, errors.New("console.users_file: no users")
	}
	return u, nil
}

// dummyHash makes a login of an unknown user cost what a known one's does.
var dummyHash, _ = bcrypt.GenerateFromPassword([]byte("not a password"), bcrypt.DefaultCost)

// check reports the user whose password this is.
func (u *Users) check(name, password string) (User, bool) {
	h, ok := u.hashes[name]
	if !ok {
		_ = bcrypt.CompareHashAndPassword(dummyHash, []byte(password))
		return User{}, false
	}
	if bcrypt.CompareHashAndPassword(h, []byte(password)) != nil {
		return User{}, false
	}
	return User{Name: name, ReadOnly: u.readOnly[name]}, true
}

// ValidName reports whether a user name can travel as X-Actor: 1-128
// visible ASCII characters.
func ValidName(n string) bool { return domain.ValidActor(n) }

// HashLine is a users file line for name with password.
func HashLine(name, password string) (string, error) {
	if !ValidName(name) {
		return "", errors.New("a user name is 1-128 visible ASCII characters, no spaces")
	}
	if len(password) < 12 {
		return "", errors.New("a password has at least 12 characters")
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), 12)
	if err != nil {
		return "", err
	}
	return name + " " + string(h), nil
}

// session is one signed-in browser.
type session struct {
	user    User
	csrf    string
	expires time.Time
	flash   string // a message for the next page, shown once
}

// sessions are kept in memory: a restart signs everyone out (the
// console keeps no data of its own).
type sessions struct {
	mu  sync.Mutex
	m   map[string]*session
	ttl time.Duration
	now func() time.Time
}

func newSessions(ttl time.Duration, now func() time.Time) *sessions {
	return &sessions{m: map[string]*session{}, ttl: ttl, now: now}
}

func token() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// start makes a session for u and returns its id.
func (s *sessions) start(u User) (string, *session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	for id, x := range s.m { // expired sessions go on the next login
		if now.After(x.expires) {
			delete(s.m, id)
		}
	}
	id := token()
	x := &session{user: u, csrf: token(), expires: now.Add(s.ttl)}
	s.m[id] = x
	return id, x
}

func (s *sessions) get(id string) (*session, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	x, ok := s.m[id]
	if !ok || s.now().After(x.expires) {
		delete(s.m, id)
		return nil, false
	}
	return x, true
}

func (s *sessions) end(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, id)
}

// setFlash and takeFlash carry one message to the next page.
func (s *sessions) setFlash(x *session, msg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	x.flash = msg
}

func (s *sessions) takeFlash(x *session) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := x.flash
	x.flash = ""
	return f
}

// validCSRF compares a form's token with the session's in constant time.
func validCSRF(x *session, got string) bool {
	return got != "" && subtle.ConstantTimeCompare([]byte(x.csrf), []byte(got)) == 1
}

// loginLimiter allows a user 5 failed logins a minute.
type loginLimiter struct {
	mu    sync.Mutex
	fails map[string][]time.Time
	now   func() time.Time
}

const (
	loginFailures = 5
	loginWindow   = time.Minute
)

func (l *loginLimiter) allowed(name string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	cut := l.now().Add(-loginWindow)
	var kept []time.Time
	for _, t := range l.fails[name] {
		if t.After(cut) {
			kept = append(kept, t)
		}
	}
	l.fails[name] = kept
	return len(kept) < loginFailures
}

func (l *loginLimiter) failed(name string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.fails[name] = append(l.fails[name], l.now())
}

// proxies are the trusted proxies' networks.
type proxies []*net.IPNet

// ParseProxies reads console.trusted_proxies: IPs or CIDRs.
func ParseProxies(list []string) (proxies, error) {
	var out proxies
	for _, p := range list {
		if !strings.Contains(p, "/") {
			if ip := net.ParseIP(p); ip != nil && ip.To4() != nil {
				p += "/32"
			} else {
				p += "/128"
			}
		}
		_, n, err := net.ParseCIDR(p)
		if err != nil {
			return nil, fmt.Errorf("console.trusted_proxies: %q: %w", p, err)
		}
		out = append(out, n)
	}
	return out, nil
}

// trusts reports whether the request's connection comes from a trusted
// proxy (its address on the connection, never a forwarded header).
func (p proxies) trusts(r *http.Request) bool {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	for _, n := range p {
		if ip != nil && n.Contains(ip) {
			return true
		}
	}
	return false
}
