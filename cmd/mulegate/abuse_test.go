package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/mulegate/mulegate/internal/devenv"
)

// TestCertificateBelongsToTheOrg (issue 11): an org that lists its
// certificates accepts its tokens only over one of them. A police token
// bound to a marketplace's certificate (an identity provider that minted
// it for the wrong org) does not post a police alert.
func TestCertificateBelongsToTheOrg(t *testing.T) {
	p := mustPKI(t)
	cfg := p.config(mustRedisAddrs(t), "")
	withSubjects := strings.Replace(cfg, "- id: police-nl\n    type: police\n", "- id: police-nl\n    type: police\n    cert_subjects: [police-nl, \"uri:spiffe://police.example/gateway-client\"]\n", 1)
	if withSubjects == cfg {
		t.Fatal("test config did not change")
	}
	gw := mustGatewayConfig(t, withSubjects)
	alert := `{"iban":"NL91ABNA0417164300","severity":"info","message":"m","reference":"r"}`
	police := p.client(t, p.clients["police-nl"])
	if got := do(t, police, "POST", gw.api+"/v1/alerts", p.token(t, "police-nl", nil, nil), alert); got.status != 201 {
		t.Fatalf("the police over their own certificate: %d %s", got.status, got.body)
	}
	market := p.client(t, p.clients["market-a"])
	forged := p.token(t, "police-nl", func(s *devenv.TokenSpec) { s.Thumbprint = p.clients["market-a"].Thumbprint() }, nil)
	got := do(t, market, "POST", gw.api+"/v1/alerts", forged, alert)
	if got.status != 401 || problemCode(t, got) != "unauthenticated" {
		t.Errorf("a police token over a marketplace certificate: %d %s, want 401", got.status, got.body)
	}
	// An org without cert_subjects is unchanged.
	if got := do(t, market, "GET", gw.api+"/v1/ibans/NL91ABNA0417164300", p.token(t, "market-a", nil, nil), ""); got.status != 200 {
		t.Errorf("market-a lookup: %d", got.status)
	}
}

// TestRateLimits (issue 11): lookups and writes are limited per org, by
// org type; a batch costs one lookup per IBAN; over the limit the answer
// is 429 rate_limited with Retry-After and nothing is done; every
// authenticated answer carries the RateLimit headers; another org is not
// affected; GET /v1/limits shows what is left.
func TestRateLimits(t *testing.T) {
	p := mustPKI(t)
	extra := `
limits:
  marketplace: {lookups_per_second: 1, lookups_burst: 10, writes_per_second: 1, writes_burst: 3}
  bank: {lookups_per_second: 1000, lookups_burst: 1000, writes_per_second: 1000, writes_burst: 1000}
  police: {lookups_per_second: 1000, lookups_burst: 1000, writes_per_second: 1000, writes_burst: 1000}
`
	cfg := p.config(mustRedisAddrs(t), extra)
	withOverride := strings.Replace(cfg, "- id: bank-b\n    type: bank\n", "- id: bank-b\n    type: bank\n    limits: {lookups_per_second: 1, lookups_burst: 5}\n", 1)
	if withOverride == cfg {
		t.Fatal("test config did not change")
	}
	gw := mustGatewayConfig(t, withOverride)
	market, bank := p.client(t, p.clients["market-a"]), p.client(t, p.clients["bank-a"])
	mTok, bTok := p.token(t, "market-a", nil, nil), p.token(t, "bank-a", nil, nil)
	lookupURL := gw.api + "/v1/ibans/NL91ABNA0417164300"
	for n := range 10 {
		got := do(t, market, "GET", lookupURL, mTok, "")
		if got.status != 200 || got.header.Get("RateLimit-Limit") != "10" || got.header.Get("RateLimit-Remaining") != fmt.Sprint(9-n) {
			t.Fatalf("lookup %d: %d limit %q remaining %q", n, got.status, got.header.Get("RateLimit-Limit"), got.header.Get("RateLimit-Remaining"))
		}
	}
	got := do(t, market, "GET", lookupURL, mTok, "")
	if got.status != 429 || problemCode(t, got) != "rate_limited" || got.header.Get("Retry-After") == "" || got.header.Get("Retry-After") == "0" {
		t.Fatalf("the 11th lookup: %d %s Retry-After %q", got.status, got.body, got.header.Get("Retry-After"))
	}
	if got.header.Get("RateLimit-Remaining") != "0" || got.header.Get("RateLimit-Reset") == "" {
		t.Errorf("429 headers: %v", got.header)
	}
	// A batch costs one per IBAN: 20 IBANs exceed a burst of 10.
	batch := `{"ibans":[` + strings.TrimSuffix(strings.Repeat(`"NL91ABNA0417164300",`, 20), ",") + `]}`
	if got := do(t, market, "POST", gw.api+"/v1/ibans/lookup", mTok, batch); got.status != 429 || !strings.Contains(string(got.body), "batches") {
		t.Errorf("a batch above the burst: %d %s", got.status, got.body)
	}
	// A per-org override (bank-b: burst 5), and a batch spends one token
	// per IBAN: 3 leave 2, the next 3 do not fit.
	bankB, bbTok := p.client(t, p.clients["bank-b"]), p.token(t, "bank-b", nil, nil)
	three := `{"ibans":["NL91ABNA0417164300","DE89370400440532013000","BE68539007547034"]}`
	if got := do(t, bankB, "POST", gw.api+"/v1/ibans/lookup", bbTok, three); got.status != 200 ||
		got.header.Get("RateLimit-Limit") != "5" || got.header.Get("RateLimit-Remaining") != "2" {
		t.Errorf("bank-b's first batch of 3: %d limit %q remaining %q", got.status, got.header.Get("RateLimit-Limit"), got.header.Get("RateLimit-Remaining"))
	}
	if got := do(t, bankB, "POST", gw.api+"/v1/ibans/lookup", bbTok, three); got.status != 429 {
		t.Errorf("bank-b's second batch of 3 with 2 left: %d, want 429", got.status)
	}
	// Another org is not affected.
	if got := do(t, bank, "GET", lookupURL, bTok, ""); got.status != 200 || got.header.Get("RateLimit-Limit") != "1000" {
		t.Errorf("bank-a while market-a is limited: %d %v", got.status, got.header.Get("RateLimit-Limit"))
	}
	// Writes: a burst of 3, then 429 and nothing written.
	for n := range 4 {
		got := do(t, market, "POST", gw.api+"/v1/reports", mTok, `{"iban":"DE89370400440532013000","category":"phishing"}`, "Idempotency-Key", fmt.Sprint("rl-", n))
		want := 202
		if n == 3 {
			want = 429
		}
		if got.status != want {
			t.Fatalf("report %d: %d, want %d", n, got.status, want)
		}
	}
	l := decodeInto[lookup](t, do(t, bank, "GET", gw.api+"/v1/ibans/DE89370400440532013000", bTok, ""))
	if l.ReportCount != 3 {
		t.Errorf("report_count %d after 3 accepted and 1 refused, want 3", l.ReportCount)
	}
	type policies struct {
		Org      string `json:"org"`
		Policies []struct {
			Name      string `json:"name"`
			PerSecond int    `json:"per_second"`
			Burst     int    `json:"burst"`
			Remaining int    `json:"remaining"`
		} `json:"policies"`
	}
	limits := decodeInto[policies](t, do(t, market, "GET", gw.api+"/v1/limits", mTok, ""))
	if limits.Org != "market-a" || len(limits.Policies) != 2 || limits.Policies[0].Name != "lookups" || limits.Policies[0].Burst != 10 ||
		limits.Policies[1].Name != "writes" || limits.Policies[1].PerSecond != 1 || limits.Policies[1].Remaining > 1 {
		t.Errorf("limits: %+v", limits)
	}
	if n := metricSum(t, gw.ops, "mulegate_rate_limited_total"); n < 3 {
		t.Errorf("mulegate_rate_limited_total = %v, want at least 3", n)
	}
}

// TestRevocationAndRotationWithoutRestart (issue 11): SIGHUP brings a new
// CRL and a new server certificate to new connections, open connections
// keep going, a bad file keeps the running configuration, and requests
// made all through a server certificate rotation all succeed.
func TestRevocationAndRotationWithoutRestart(t *testing.T) {
	p := mustPKI(t)
	crlPath := filepath.Join(p.dir, "clients.crl")
	writePEM := func(path string, b []byte, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	empty, err := p.ca.CRL(1)
	writePEM(crlPath, empty, err)
	cfgPath := filepath.Join(t.TempDir(), "mulegate.yaml")
	cfg := strings.Replace(p.config(mustRedisAddrs(t), ""), "  client_ca_file: "+p.dir+"/ca.pem\n",
		"  client_ca_file: "+p.dir+"/ca.pem\n  client_crl_files: ["+crlPath+"]\n", 1)
	if !strings.Contains(cfg, "client_crl_files") {
		t.Fatal("test config did not change")
	}
	writePEM(cfgPath, []byte(cfg), nil)
	gw := startProc(t, []string{"serve", "--config", cfgPath}, nil, "api", "ops")
	api := gw.addrs["api"] + "/v1/ibans/NL91ABNA0417164300"
	hup := func() {
		t.Helper()
		if err := gw.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		time.Sleep(300 * time.Millisecond)
	}
	fresh := func(org string) error { // a new connection each time
		c := p.client(t, p.clients[org])
		tr := c.Transport.(*specCheck).next.(*http.Transport)
		tr.DisableKeepAlives = true
		req, _ := http.NewRequest("GET", api, nil)
		req.Header.Set("Authorization", "Bearer "+p.token(t, org, nil, nil))
		resp, err := tr.RoundTrip(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	}
	if err := fresh("market-a"); err != nil {
		t.Fatalf("market-a before revocation: %v", err)
	}
	// An open connection of market-a, kept alive across the reload.
	keep := p.client(t, p.clients["market-a"])
	mTok := p.token(t, "market-a", nil, nil)
	if got := do(t, keep, "GET", api, mTok, ""); got.status != 200 {
		t.Fatal(got.status)
	}
	revoked, err := p.ca.CRL(2, p.clients["market-a"])
	writePEM(crlPath, revoked, err)
	hup()
	if err := fresh("market-a"); err == nil {
		t.Error("a revoked certificate still completes a new handshake after SIGHUP")
	}
	if err := fresh("bank-a"); err != nil {
		t.Errorf("bank-a after market-a's revocation: %v", err)
	}
	// Issue 21.11: revocation reaches a connection opened before the
	// reload: its next request is 401 and the connection is closed, so the
	// one after needs a new handshake, which the revoked certificate fails.
	if got := do(t, keep, "GET", api, mTok, ""); got.status != 401 || problemCode(t, got) != "unauthenticated" {
		t.Errorf("the connection open before the reload: %d %s, want 401", got.status, got.body)
	}
	req, _ := http.NewRequest("GET", api, nil)
	req.Header.Set("Authorization", "Bearer "+mTok)
	if resp, err := keep.Do(req); err == nil {
		resp.Body.Close()
		t.Errorf("after the 401 the revoked certificate still got %d (the connection stayed open)", resp.StatusCode)
	}
	if m := metric(t, gw.addrs["ops"], "mulegate_crl_age_seconds"); m == "" || m == "0" {
		t.Errorf("mulegate_crl_age_seconds = %q", m)
	}
	// A bad CRL keeps the running configuration (market-a stays refused).
	writePEM(crlPath, []byte("not a CRL"), nil)
	hup()
	if err := fresh("market-a"); err == nil {
		t.Error("a bad CRL file dropped the revocation")
	}
	if !strings.Contains(gw.stderr.String(), "keeping the running configuration") {
		t.Errorf("the bad file was not logged:\n%s", lastLines(gw.stderr.String(), 3))
	}
	writePEM(crlPath, revoked, err)

	// SIGHUP reloads the JWKS file: a key taken out stops verifying, cached
	// tokens included (the refresh period is minutes; the reload is now).
	signer2, err := devenv.NewSigner("test-key-2")
	if err != nil {
		t.Fatal(err)
	}
	if err := fresh("bank-a"); err != nil {
		t.Fatalf("bank-a before the key rotation: %v", err)
	}
	writePEM(filepath.Join(p.dir, "jwks.json"), devenv.JWKS(signer2), nil)
	hup()
	if err := fresh("bank-a"); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("a token signed by a key removed from the JWKS file, after SIGHUP: %v, want 401", err)
	}
	writePEM(filepath.Join(p.dir, "jwks.json"), devenv.JWKS(p.signer), nil)
	hup()

	// Rotate the server certificate while requests flow.
	srv2, err := p.ca.IssueServer("localhost", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	var failures, total atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				total.Add(1)
				if err := fresh("bank-a"); err != nil {
					failures.Add(1)
				}
			}
		})
	}
	time.Sleep(300 * time.Millisecond)
	writePEM(filepath.Join(p.dir, "server-key.pem"), srv2.KeyPEM(), nil)
	writePEM(filepath.Join(p.dir, "server.pem"), srv2.CertPEM(), nil)
	hup()
	time.Sleep(300 * time.Millisecond)
	close(stop)
	wg.Wait()
	if failures.Load() != 0 {
		t.Errorf("%d of %d requests failed during the rotation", failures.Load(), total.Load())
	}
	// New connections see the new certificate.
	conn, err := tls.Dial("tcp", strings.TrimPrefix(gw.addrs["api"], "https://"), &tls.Config{RootCAs: p.ca.Pool(), ServerName: "localhost",
		Certificates: []tls.Certificate{p.clients["bank-a"].TLS()}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if got := conn.ConnectionState().PeerCertificates[0].SerialNumber; got.Cmp(srv2.Cert.SerialNumber) != 0 {
		t.Errorf("after the rotation the server presents serial %s, want the new %s", got, srv2.Cert.SerialNumber)
	}
	t.Logf("%d requests on new connections during the rotation, %d failed", total.Load(), failures.Load())
}

// TestAuditTrail (issue 11): one record per /v1 request, refused ones
// included, with the org, the certificate, the action, the IBAN
// pseudonyms (a batch lists every one), the purpose and the status; never
// a plaintext IBAN; X-Purpose outside the list is 400; "mulegate audit
// verify" checks the chain and names the first broken record.
func TestAuditTrail(t *testing.T) {
	p := mustPKI(t)
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	gw := mustGateway(t, p, mustRedisAddrs(t), "audit:\n  path: "+path+"\n")
	bank := p.client(t, p.clients["bank-a"])
	tok := p.token(t, "bank-a", nil, nil)
	ibans := []string{"NL91ABNA0417164300", "DE89370400440532013000", "BE68539007547034"}
	steps := []struct {
		method, url, tok, body, purpose, actor string
		status                                 int
	}{
		{"GET", "/v1/ibans/" + ibans[0], tok, "", "payment_check", "", 200},
		{"POST", "/v1/ibans/lookup", tok, `{"ibans":["` + strings.Join(ibans, `","`) + `"]}`, "", "", 200},
		{"GET", "/v1/ibans/" + ibans[0], tok, "", "curiosity", "", 400},
		{"GET", "/v1/ibans/" + ibans[1], "", "", "", "", 401},
		{"GET", "/v1/ibans/" + ibans[2], tok, "", "investigation", "j.devries@bank-a", 200},
		{"GET", "/v1/ibans/" + ibans[2], tok, "", "", "Jan de Vries", 400},
	}
	for _, s := range steps {
		var headers []string
		if s.purpose != "" {
			headers = []string{"X-Purpose", s.purpose}
		}
		if s.actor != "" {
			headers = append(headers, "X-Actor", s.actor)
		}
		if got := do(t, bank, s.method, gw.api+s.url, s.tok, s.body, headers...); got.status != s.status {
			t.Fatalf("%s %s: %d, want %d: %s", s.method, s.url, got.status, s.status, got.body)
		}
	}
	gw.stop(t) // flushes the trail
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range ibans {
		for _, part := range []string{i, i[4:12], i[len(i)-8:]} {
			if strings.Contains(string(raw), part) {
				t.Errorf("the audit trail holds %q", part)
			}
		}
	}
	var recs []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		var r map[string]any
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatal(err)
		}
		recs = append(recs, r)
	}
	if len(recs) != len(steps) {
		t.Fatalf("%d records for %d requests:\n%s", len(recs), len(steps), raw)
	}
	first := recs[0]
	if first["org"] != "bank-a" || first["action"] != "lookup" || first["purpose"] != "payment_check" || first["status"] != float64(200) ||
		first["cert_thumbprint"] != p.clients["bank-a"].Thumbprint() || len(first["ibans"].([]any)) != 1 {
		t.Errorf("lookup record: %v", first)
	}
	if b := recs[1]; b["action"] != "lookup_batch" || len(b["ibans"].([]any)) != 3 || b["purpose"] != "unspecified" || len(b["risk"].([]any)) != 3 {
		t.Errorf("batch record: %v", b)
	}
	if r := recs[2]; r["status"] != float64(400) {
		t.Errorf("bad purpose record: %v", r)
	}
	if r := recs[3]; r["status"] != float64(401) || r["org"] != nil || r["cert_thumbprint"] != p.clients["bank-a"].Thumbprint() {
		t.Errorf("401 record: %v", r)
	}
	for n, r := range recs {
		if _, named := r["actor"]; named != (n == 4) {
			t.Errorf("record %d: actor %v; want one only for the lookup that named its actor", n+1, r["actor"])
		}
	}
	if r := recs[4]; r["actor"] != "j.devries@bank-a" || r["purpose"] != "investigation" || r["status"] != float64(200) {
		t.Errorf("actor record: %v", r)
	}
	if r := recs[5]; r["status"] != float64(400) {
		t.Errorf("bad actor record: %v", r)
	}
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"audit", "verify", path}, func(string) string { return "" }, &out, &errOut); err != nil ||
		!strings.Contains(out.String(), "6 records, chain intact") {
		t.Fatalf("audit verify: %v %s", err, out.String())
	}
	lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
	tampered := filepath.Join(t.TempDir(), "tampered.jsonl")
	if err := os.WriteFile(tampered, []byte(strings.Join(append(lines[:1], lines[2:]...), "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	err = run(context.Background(), []string{"audit", "verify", tampered}, func(string) string { return "" }, &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("a deleted record: %v, want the break named at line 2", err)
	}
}

// TestLookupsOfAnIBAN (issue 11): the police see who looked an IBAN up,
// by org, single and batch lookups counted; nobody else may ask.
func TestLookupsOfAnIBAN(t *testing.T) {
	e := mustEnv(t)
	bank, market, police := e.p.client(t, e.p.clients["bank-a"]), e.p.client(t, e.p.clients["market-a"]), e.p.client(t, e.p.clients["police-nl"])
	bTok, mTok, pTok := e.p.token(t, "bank-a", nil, nil), e.p.token(t, "market-a", nil, nil), e.p.token(t, "police-nl", nil, nil)
	for range 3 {
		do(t, bank, "GET", e.gw.api+"/v1/ibans/NL91ABNA0417164300", bTok, "")
	}
	do(t, market, "POST", e.gw.api+"/v1/ibans/lookup", mTok, `{"ibans":["NL91ABNA0417164300","DE89370400440532013000"]}`)
	type orgs struct {
		Orgs []struct {
			Org     string `json:"org"`
			OrgType string `json:"org_type"`
			Lookups int    `json:"lookups"`
		} `json:"orgs"`
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := decodeInto[orgs](t, do(t, police, "GET", e.gw.api+"/v1/ibans/NL91ABNA0417164300/lookups", pTok, ""))
		if len(got.Orgs) == 2 && got.Orgs[0].Org == "bank-a" && got.Orgs[0].Lookups == 3 && got.Orgs[1].Org == "market-a" &&
			got.Orgs[1].Lookups == 1 && got.Orgs[1].OrgType == "marketplace" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("lookups of the IBAN: %+v", got)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if got := do(t, bank, "GET", e.gw.api+"/v1/ibans/NL91ABNA0417164300/lookups", bTok, ""); got.status != 403 {
		t.Errorf("a bank asking who looked an IBAN up: %d, want 403", got.status)
	}
}
