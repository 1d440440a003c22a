package client

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fake answers from a script of responses and records what it got.
type fake struct {
	mu    sync.Mutex
	got   []*http.Request
	keys  []string
	plays []func(w http.ResponseWriter)
}

func (f *fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.got = append(f.got, r)
	f.keys = append(f.keys, r.Header.Get("Idempotency-Key"))
	n := len(f.got) - 1
	f.mu.Unlock()
	if n < len(f.plays) {
		f.plays[n](w)
		return
	}
	w.WriteHeader(500)
}

func problem(status int, code, retryAfter string) func(w http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		if retryAfter != "" {
			w.Header().Set("Retry-After", retryAfter)
		}
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(`{"type":"urn:mulegate:problem:` + code + `","title":"t","status":` + strconv.Itoa(status) + `,"code":"` + code + `","detail":"d"}`))
	}
}

func accepted(w http.ResponseWriter) {
	w.Header().Set("Idempotent-Replayed", "true")
	w.WriteHeader(202)
	_, _ = w.Write([]byte(`{"report_id":"r1","status":"queued","iban":"NL91ABNA0417164300","report_count":1}`))
}

func newFake(t *testing.T, plays ...func(w http.ResponseWriter)) (*Client, *fake) {
	f := &fake{plays: plays}
	srv := httptest.NewTLSServer(f)
	t.Cleanup(srv.Close)
	c, err := New(Config{BaseURL: srv.URL, HTTPClient: srv.Client(), Token: StaticToken("tok"), MaxWait: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return c, f
}

// TestReportRetriedWithTheSameKey: a 503 (Retry-After) and a 429 are
// retried, with the same Idempotency-Key each time, until the 202.
func TestReportRetriedWithTheSameKey(t *testing.T) {
	c, f := newFake(t, problem(503, "store_unavailable", "1"), problem(429, "rate_limited", "0"), accepted)
	a, replayed, err := c.SubmitReport(context.Background(), "key-1", ReportRequest{IBAN: "NL91ABNA0417164300", Category: CategoryPhishing})
	if err != nil || a.ReportID != "r1" || !replayed {
		t.Fatalf("submit: %+v %v %v", a, replayed, err)
	}
	if len(f.keys) != 3 || f.keys[0] != "key-1" || f.keys[1] != "key-1" || f.keys[2] != "key-1" {
		t.Errorf("Idempotency-Keys sent: %q, want key-1 three times", f.keys)
	}
	if got := f.got[0].Header.Get("Authorization"); got != "Bearer tok" {
		t.Errorf("Authorization %q", got)
	}
}

// TestProblemsAreErrors: a 4xx is not retried and comes back as *Error
// with its code; retries stop at MaxAttempts.
func TestProblemsAreErrors(t *testing.T) {
	c, f := newFake(t, problem(422, "invalid_iban", ""))
	_, err := c.Lookup(context.Background(), "NL00BAD")
	var e *Error
	if !errors.As(err, &e) || e.Status != 422 || Code(err) != CodeInvalidIBAN || len(f.got) != 1 {
		t.Fatalf("422: %v (%d requests)", err, len(f.got))
	}
	c, f = newFake(t, problem(503, "store_unavailable", "0"), problem(503, "store_unavailable", "0"),
		problem(503, "store_unavailable", "0"), problem(503, "store_unavailable", "0"), accepted)
	if _, err := c.Lookup(context.Background(), "NL91ABNA0417164300"); Code(err) != "store_unavailable" || len(f.got) != 4 {
		t.Fatalf("after 4 attempts: %v (%d requests)", err, len(f.got))
	}
}

// TestNetworkErrorNotRetriedWhenUnsafe: an alert without an
// Idempotency-Key is not repeated after a network error (the gateway may
// have stored it); a lookup is.
func TestNetworkErrorNotRetriedWhenUnsafe(t *testing.T) {
	hang := func(w http.ResponseWriter) {
		hj, ok := w.(http.Hijacker)
		if !ok {
			return
		}
		conn, _, _ := hj.Hijack()
		conn.Close()
	}
	c, f := newFake(t, hang, hang)
	if _, err := c.PostAlert(context.Background(), "", AlertRequest{}); err == nil || len(f.got) != 1 {
		t.Fatalf("alert after a dropped connection: %v, %d requests, want one", err, len(f.got))
	}
	lookup := func(w http.ResponseWriter) { _, _ = w.Write([]byte(`{"iban":"NL91ABNA0417164300"}`)) }
	c, f = newFake(t, hang, lookup)
	if l, err := c.Lookup(context.Background(), "NL91ABNA0417164300"); err != nil || l.IBAN != "NL91ABNA0417164300" || len(f.got) != 2 {
		t.Fatalf("lookup after a dropped connection: %+v %v, %d requests, want it retried once", l, err, len(f.got))
	}
}

// TestGeneratedTypesAreCurrent: internal/wire/types.gen.go is what
// oapi-codegen makes of api/openapi.yaml today (the contract generates
// Go that compiles, for integrators who generate their own).
func TestGeneratedTypesAreCurrent(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the code generator")
	}
	out := t.TempDir() + "/types.gen.go"
	cmd := exec.Command("go", "tool", "oapi-codegen", "-generate", "types", "-package", "wire", "-o", out, "../api/openapi.yaml")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("oapi-codegen: %v\n%s", err, b)
	}
	want, _ := os.ReadFile(out)
	got, _ := os.ReadFile("internal/wire/types.gen.go")
	if string(got) != string(want) {
		t.Fatal("client/internal/wire/types.gen.go differs from api/openapi.yaml: run go generate ./client/...")
	}
	if !strings.Contains(string(got), "type Lookup struct") {
		t.Fatal("no Lookup type generated")
	}
}

// TestTokenNeverInClear (issue 21.18): an http:// base URL is refused
// (loopback only with InsecureLoopback), and a redirect is not followed,
// so the token never reaches a plain listener.
func TestTokenNeverInClear(t *testing.T) {
	for _, c := range []struct {
		name, url string
		loopback  bool
		ok        bool
	}{
		{"http refused", "http://gateway.example:8443", false, false},
		{"http loopback without the option", "http://127.0.0.1:8443", false, false},
		{"http loopback with the option", "http://127.0.0.1:8443", true, true},
		{"http ::1 with the option", "http://[::1]:8443", true, true},
		{"http elsewhere even with the option", "http://10.0.0.1:8443", true, false},
		{"https", "https://gateway.example:8443", false, true},
	} {
		_, err := New(Config{BaseURL: c.url, HTTPClient: http.DefaultClient, Token: StaticToken("tok"), InsecureLoopback: c.loopback})
		if (err == nil) != c.ok {
			t.Errorf("%s: New(%s) err = %v, want ok %v", c.name, c.url, err, c.ok)
		}
	}

	var plainGot sync.Mutex
	leaked := ""
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		plainGot.Lock()
		leaked = r.Header.Get("Authorization") + "|" + r.URL.Path
		plainGot.Unlock()
		w.WriteHeader(200)
	}))
	t.Cleanup(plain.Close)
	tlsSrv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, plain.URL+r.URL.Path, http.StatusTemporaryRedirect)
	}))
	t.Cleanup(tlsSrv.Close)
	c, err := New(Config{BaseURL: tlsSrv.URL, HTTPClient: tlsSrv.Client(), Token: StaticToken("secret-token"), MaxAttempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Lookup(context.Background(), "NL91ABNA0417164300"); err == nil {
		t.Error("a 307 answer was taken as a lookup")
	}
	plainGot.Lock()
	defer plainGot.Unlock()
	if leaked != "" {
		t.Errorf("the redirect was followed to a plain listener: it got %q", leaked)
	}
	if tlsSrv.Client().CheckRedirect != nil {
		t.Error("New changed the caller's http.Client")
	}
}

// TestPurposeRequestIDAndUserAgent: every call declares Config.Purpose
// unless its context says otherwise (WithPurpose), sends the caller's
// request id (WithRequestID) and a User-Agent naming the application and
// the client, so the gateway audits the real purpose.
func TestPurposeRequestIDAndUserAgent(t *testing.T) {
	lookup := func(w http.ResponseWriter) { _, _ = w.Write([]byte(`{"iban":"NL91ABNA0417164300"}`)) }
	f := &fake{plays: []func(http.ResponseWriter){lookup, lookup, lookup, lookup}}
	srv := httptest.NewTLSServer(f)
	t.Cleanup(srv.Close)
	c, err := New(Config{BaseURL: srv.URL, HTTPClient: srv.Client(), Token: StaticToken("tok"), Purpose: "monitoring", UserAgent: "acme-payments/7"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, cx := range []context.Context{ctx, WithPurpose(ctx, "payment_check"), WithRequestID(ctx, "acme-42"), WithActor(ctx, "j.devries")} {
		if _, err := c.Lookup(cx, "NL91ABNA0417164300"); err != nil {
			t.Fatal(err)
		}
	}
	for n, want := range []struct{ purpose, id, actor string }{{"monitoring", "", ""}, {"payment_check", "", ""}, {"monitoring", "acme-42", ""}, {"monitoring", "", "j.devries"}} {
		h := f.got[n].Header
		if h.Get("X-Purpose") != want.purpose || h.Get("X-Request-ID") != want.id || h.Get("X-Actor") != want.actor || h.Get("User-Agent") != "acme-payments/7 mulegate-go/1" {
			t.Errorf("call %d: X-Purpose %q, X-Request-ID %q, X-Actor %q, User-Agent %q", n, h.Get("X-Purpose"), h.Get("X-Request-ID"), h.Get("X-Actor"), h.Get("User-Agent"))
		}
	}
}

// TestTokenURL: with a TokenURL the client fetches its token with the
// client credentials grant (no secret: the certificate authenticates),
// sends it as the bearer, and reuses it until it nears its expiry.
func TestTokenURL(t *testing.T) {
	var fetches atomic.Int32
	var form url.Values
	idp := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		form = r.PostForm
		fetches.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"access_token":"at-1","token_type":"Bearer","expires_in":3600,"scope":"ibans:read"}`))
	}))
	t.Cleanup(idp.Close)
	var auth []string
	api := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth = append(auth, r.Header.Get("Authorization"))
		_, _ = w.Write([]byte(`{"iban":"NL91ABNA0417164300"}`))
	}))
	t.Cleanup(api.Close)
	hc := api.Client()
	hc.Transport.(*http.Transport).TLSClientConfig.RootCAs.AddCert(idp.Certificate())
	c, err := New(Config{BaseURL: api.URL, HTTPClient: hc, TokenURL: idp.URL + "/oauth2/token", Scopes: []string{"ibans:read"}})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := c.Lookup(context.Background(), "NL91ABNA0417164300"); err != nil {
			t.Fatal(err)
		}
	}
	if fetches.Load() != 1 || form.Get("grant_type") != "client_credentials" || form.Get("scope") != "ibans:read" || form.Get("client_secret") != "" {
		t.Errorf("%d fetches, form %v", fetches.Load(), form)
	}
	for _, a := range auth {
		if a != "Bearer at-1" {
			t.Errorf("Authorization %q", a)
		}
	}
}
