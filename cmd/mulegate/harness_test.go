package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/mulegate/mulegate/client"
	"github.com/mulegate/mulegate/internal/devenv"
	"github.com/mulegate/mulegate/internal/redistest"
)

const (
	testIssuer   = "https://idp.test"
	testAudience = "mulegate-test"
)

// pki is the test's own CA, server and client certificates and signing key.
type pki struct {
	dir     string
	ca      *devenv.CA
	signer  *devenv.Signer
	clients map[string]*devenv.Leaf // by org id
}

var testOrgs = map[string]string{
	"bank-a": "bank", "bank-b": "bank", "bank-c": "bank", "market-a": "marketplace", "police-nl": "police",
}

func mustPKI(t testing.TB) *pki {
	t.Helper()
	dir := t.TempDir()
	ca, err := devenv.NewCA("test CA")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := ca.IssueServer("localhost", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	signer, err := devenv.NewSigner("test-key-1")
	if err != nil {
		t.Fatal(err)
	}
	p := &pki{dir: dir, ca: ca, signer: signer, clients: map[string]*devenv.Leaf{}}
	write := func(name string, data []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("ca.pem", ca.CertPEM())
	write("server.pem", srv.CertPEM())
	write("server-key.pem", srv.KeyPEM())
	write("jwks.json", devenv.JWKS(signer))
	for org := range testOrgs {
		leaf, err := ca.IssueClient(org)
		if err != nil {
			t.Fatal(err)
		}
		p.clients[org] = leaf
	}
	return p
}

func (p *pki) config(redisAddrs []string, extra string) string {
	if !strings.Contains(extra, "log:") {
		extra += "\nlog:\n  level: warn\n"
	}
	if !strings.Contains(extra, "limits:") {
		// Tests drive one org hard; the rate limit tests set their own.
		extra += "\nlimits:\n"
		for _, typ := range []string{"bank", "marketplace", "police"} {
			extra += "  " + typ + ": {lookups_per_second: 1000000, lookups_burst: 1000000, writes_per_second: 1000000, writes_burst: 1000000}\n"
		}
	}
	var orgs strings.Builder
	for id, typ := range testOrgs {
		fmt.Fprintf(&orgs, "  - id: %s\n    type: %s\n", id, typ)
		switch id {
		case "bank-a":
			orgs.WriteString("    bank_codes: {NL: [ABNA], DE: [\"37040044\"]}\n")
		case "bank-b":
			orgs.WriteString("    bank_codes: {BE: [\"539\"], FR: [\"20041\"], CH: [\"00762\"]}\n")
		case "bank-c":
			orgs.WriteString("    bank_codes: {ES: [\"2100\"], GB: [NWBK]}\n")
		}
	}
	return fmt.Sprintf(`
api:
  listen: 127.0.0.1:0
  cert_file: %[1]s/server.pem
  key_file: %[1]s/server-key.pem
  client_ca_file: %[1]s/ca.pem
ops:
  listen: 127.0.0.1:0
auth:
  issuer: %[2]s
  audience: %[3]s
  jwks_file: %[1]s/jwks.json
redis:
  addrs: [%[4]s]
storage:
  pseudonym_secret: test-secret-0123456789abcdef
forward:
  workers: 0
orgs:
%[5]s
%[6]s`, p.dir, testIssuer, testAudience, strings.Join(redisAddrs, ", "), orgs.String(), extra)
}

// token mints a token for org, bound to its client certificate, with
// everything its type allows unless scope is given.
func (p *pki) token(t testing.TB, org string, mutate func(*devenv.TokenSpec), extra map[string]any) string {
	t.Helper()
	scope := map[string]string{
		"bank":        "ibans:read reports:write reports:read alerts:read events:read reports:review markers:write recoveries:write chains:write chains:read ibans:status",
		"marketplace": "ibans:read reports:write reports:read events:read",
		"police":      "ibans:read reports:write reports:read alerts:write markers:write audit:read chains:read ibans:clear",
	}[testOrgs[org]]
	spec := devenv.TokenSpec{Issuer: testIssuer, Audience: testAudience, Subject: org + "-svc", Org: org, Scope: scope}
	if leaf, ok := p.clients[org]; ok {
		spec.Thumbprint = leaf.Thumbprint()
	}
	if mutate != nil {
		mutate(&spec)
	}
	tok, err := p.signer.Token(spec, extra)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// gateway is one running "mulegate serve" started through run.
type gateway struct {
	api, ops string
	cancel   context.CancelFunc
	done     chan error
	stderr   *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// mustGateway starts the real server through run on port 0.
// env holds MULEGATE_* overrides as name, value pairs.
func mustGateway(t testing.TB, p *pki, redisAddrs []string, extraConfig string, env ...string) *gateway {
	t.Helper()
	return mustGatewayConfig(t, p.config(redisAddrs, extraConfig), env...)
}

// mustGatewayConfig starts the real server through run with this whole
// configuration text.
func mustGatewayConfig(t testing.TB, config string, env ...string) *gateway {
	t.Helper()
	cfgPath := filepath.Join(t.TempDir(), "mulegate.yaml")
	if err := os.WriteFile(cfgPath, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	g := &gateway{cancel: cancel, done: make(chan error, 1), stderr: &syncBuffer{}}
	go func() {
		getenv := func(k string) string {
			for i := 0; i+1 < len(env); i += 2 {
				if env[i] == k {
					return env[i+1]
				}
			}
			return ""
		}
		err := run(ctx, []string{"serve", "--config", cfgPath}, getenv, pw, g.stderr)
		pw.CloseWithError(fmt.Errorf("run returned: %w", err))
		g.done <- err
	}()
	sc := bufio.NewScanner(pr)
	for (g.api == "" || g.ops == "") && sc.Scan() {
		line := sc.Text()
		if a, ok := strings.CutPrefix(line, "api "); ok {
			g.api = a
		}
		if a, ok := strings.CutPrefix(line, "ops "); ok {
			g.ops = a
		}
	}
	if g.api == "" || g.ops == "" {
		cancel()
		t.Fatalf("gateway did not start: %v\n%s", sc.Err(), g.stderr.String())
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	t.Cleanup(func() { g.stop(t) })
	return g
}

func (g *gateway) stop(t testing.TB) {
	g.cancel()
	select {
	case err := <-g.done:
		if err != nil {
			t.Errorf("gateway stopped with error: %v", err)
		}
		g.done <- nil
	case <-time.After(30 * time.Second):
		t.Errorf("gateway did not shut down in 30s")
	}
}

// client is an mTLS client for org (or for any leaf) whose responses are
// all checked against api/openapi.yaml.
func (p *pki) client(t testing.TB, leaf *devenv.Leaf) *http.Client {
	t.Helper()
	tc := &tls.Config{RootCAs: p.ca.Pool(), ServerName: "localhost"}
	if leaf != nil {
		tc.Certificates = []tls.Certificate{leaf.TLS()}
	}
	tr := &http.Transport{TLSClientConfig: tc, MaxIdleConnsPerHost: 64, ForceAttemptHTTP2: true}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: &specCheck{t: t, next: tr, router: mustRouter(t)}, Timeout: 30 * time.Second}
}

var (
	routerOnce sync.Once
	router     routers.Router
	routerErr  error
)

func mustRouter(t testing.TB) routers.Router {
	t.Helper()
	routerOnce.Do(func() {
		loader := openapi3.NewLoader()
		doc, err := loader.LoadFromFile("../../api/openapi.yaml")
		if err != nil {
			routerErr = err
			return
		}
		if err = doc.Validate(loader.Context); err != nil {
			routerErr = err
			return
		}
		doc.Servers = nil // match any host:port
		router, routerErr = gorillamux.NewRouter(doc)
	})
	if routerErr != nil {
		t.Fatalf("api/openapi.yaml: %v", routerErr)
	}
	return router
}

// specCheck validates every response of a documented route against the
// OpenAPI document, so the document cannot drift from the server.
type specCheck struct {
	t      testing.TB
	next   http.RoundTripper
	router routers.Router
}

func (s *specCheck) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := s.next.RoundTrip(req)
	if err != nil || resp.Header.Get("Content-Type") == "text/event-stream" {
		return resp, err
	}
	body, rerr := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if rerr != nil {
		return resp, nil
	}
	if resp.Header.Get("X-Request-ID") == "" {
		s.t.Errorf("%s %s: response without X-Request-ID", req.Method, req.URL.Path)
	}
	route, params, ferr := s.router.FindRoute(req)
	if ferr != nil {
		if resp.StatusCode != http.StatusNotFound && resp.StatusCode != http.StatusMethodNotAllowed && resp.StatusCode != http.StatusUnauthorized {
			s.t.Errorf("%s %s -> %d: the route is not in api/openapi.yaml", req.Method, req.URL.Path, resp.StatusCode)
		}
		return resp, nil
	}
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}}
	out := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in, Status: resp.StatusCode, Header: resp.Header,
		Body:    io.NopCloser(bytes.NewReader(body)),
		Options: &openapi3filter.Options{IncludeResponseStatus: true},
	}
	if verr := openapi3filter.ValidateResponse(req.Context(), out); verr != nil {
		s.t.Errorf("%s %s -> %d does not match api/openapi.yaml: %v\nbody: %s", req.Method, req.URL.Path, resp.StatusCode, verr, body)
	}
	if req.URL.Path == "/v1/events" && resp.StatusCode == http.StatusOK {
		checkPayloads(s.t, body)
	}
	return resp, nil
}

// checkPayloads: every event's data decodes strictly into the Go
// client's payload type for its type (no field the client does not know,
// none of a wrong kind), and every type the gateway writes has one.
func checkPayloads(t testing.TB, body []byte) {
	var page struct {
		Events []client.Event `json:"events"`
	}
	if err := json.Unmarshal(body, &page); err != nil {
		t.Errorf("event page: %v", err)
		return
	}
	for _, e := range page.Events {
		p, err := e.Payload()
		if err != nil || p == nil {
			t.Errorf("event %s: the Go client has no payload for it (%v)", e.Type, err)
			continue
		}
		dec := json.NewDecoder(bytes.NewReader(e.Data))
		dec.DisallowUnknownFields()
		if err := dec.Decode(p); err != nil {
			t.Errorf("event %s: its data does not fit the Go client's %T: %v\ndata: %s", e.Type, p, err, e.Data)
		}
	}
}

// call is one API request and its answer.
type call struct {
	status int
	header http.Header
	body   []byte
}

func do(t testing.TB, c *http.Client, method, url, token string, body string, headers ...string) call {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i+1] == "<delete>" {
			req.Header.Del(headers[i])
			continue
		}
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return call{status: resp.StatusCode, header: resp.Header, body: b}
}

// env is a gateway on a fresh Redis with its PKI.
type env struct {
	p     *pki
	redis *redistest.Deployment
	gw    *gateway
}

func mustEnv(t testing.TB, envVars ...string) *env {
	t.Helper()
	return newEnv(t, redistest.StartTopology(t), envVars...)
}

// mustOwnEnv is mustEnv on a Redis of the test's own, for a test that
// stops or restarts it.
func mustOwnEnv(t testing.TB, envVars ...string) *env {
	t.Helper()
	return newEnv(t, redistest.StartOwnTopology(t), envVars...)
}

func newEnv(t testing.TB, r *redistest.Deployment, envVars ...string) *env {
	t.Helper()
	p := mustPKI(t)
	return &env{p: p, redis: r, gw: mustGateway(t, p, r.Addrs(), "", envVars...)}
}

func mustRedisAddrs(t testing.TB) []string {
	t.Helper()
	return redistest.StartTopology(t).Addrs()
}
