package main

import (
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/golang-jwt/jwt/v5"
	"github.com/mulegate/mulegate/internal/devenv"
	"github.com/mulegate/mulegate/internal/httpapi"
	"github.com/mulegate/mulegate/internal/iban"
	"github.com/mulegate/mulegate/internal/waitfor"
)

const ibanNL = "NL91ABNA0417164300"

func problemCode(t testing.TB, c call) string {
	t.Helper()
	if ct := c.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("status %d Content-Type %q, want application/problem+json; body %s", c.status, ct, c.body)
	}
	var p httpapi.Problem
	if err := json.Unmarshal(c.body, &p); err != nil {
		t.Fatal(err)
	}
	if p.Status != c.status || p.Instance != "urn:request:"+c.header.Get("X-Request-ID") || p.Title == "" || p.Type == "" {
		t.Errorf("problem body inconsistent with response: %+v (status %d, request id %q)", p, c.status, c.header.Get("X-Request-ID"))
	}
	return p.Code
}

func TestTLSHandshakeNeedsAKnownClientCertificate(t *testing.T) {
	e := mustEnv(t)
	tok := e.p.token(t, "bank-a", nil, nil)
	// No certificate at all.
	_, err := e.p.client(t, nil).Get(e.gw.api + "/v1/ibans/" + ibanNL)
	if err == nil {
		t.Fatal("request without a client certificate succeeded")
	}
	// A certificate from another CA.
	otherCA, _ := devenv.NewCA("evil CA")
	stranger, _ := otherCA.IssueClient("bank-a")
	req, _ := http.NewRequest("GET", e.gw.api+"/v1/ibans/"+ibanNL, nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	if _, err := e.p.client(t, stranger).Do(req); err == nil {
		t.Fatal("request with a certificate from an unknown CA succeeded")
	}
	// TLS 1.1 is refused.
	tc := &tls.Config{RootCAs: e.p.ca.Pool(), ServerName: "localhost", MaxVersion: tls.VersionTLS11,
		Certificates: []tls.Certificate{e.p.clients["bank-a"].TLS()}}
	if conn, err := tls.Dial("tcp", strings.TrimPrefix(e.gw.api, "https://"), tc); err == nil {
		conn.Close()
		t.Fatal("TLS 1.1 handshake succeeded")
	}
}

func TestAuthMatrix(t *testing.T) {
	e := mustEnv(t)
	p := e.p
	bank := p.client(t, p.clients["bank-a"])
	now := time.Now()
	otherKey, _ := devenv.NewSigner("test-key-1")
	unknownKid, _ := devenv.NewSigner("nobody-knows-me")
	sign := func(s *devenv.Signer, org string) string {
		tok, err := s.Token(devenv.TokenSpec{Issuer: testIssuer, Audience: testAudience, Subject: "x", Org: org,
			Scope: "ibans:read", Thumbprint: p.clients[org].Thumbprint()}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	claims := jwt.MapClaims{"iss": testIssuer, "aud": testAudience, "sub": "x", "org": "bank-a",
		"scope": "ibans:read", "exp": now.Add(time.Hour).Unix(),
		"cnf": map[string]string{"x5t#S256": p.clients["bank-a"].Thumbprint()}}
	algNone := func() string {
		tk := jwt.NewWithClaims(jwt.SigningMethodNone, claims)
		tk.Header["kid"] = "test-key-1"
		s, _ := tk.SignedString(jwt.UnsafeAllowNoneSignatureType)
		return s
	}()
	confusion := func() string {
		der, _ := x509.MarshalPKIXPublicKey(p.signer.Key.Public().(*ecdsa.PublicKey))
		tk := jwt.NewWithClaims(jwt.SigningMethodHS256, claims)
		tk.Header["kid"] = "test-key-1"
		s, _ := tk.SignedString(der)
		return s
	}()

	tests := []struct {
		name   string
		client *http.Client
		auth   string // full Authorization header; "" for none
		status int
		code   string
	}{
		{"401/no token", bank, "", 401, "unauthenticated"},
		{"401/not bearer", bank, "Basic dXNlcjpwYXNz", 401, "unauthenticated"},
		{"401/malformed token", bank, "Bearer not.a.jwt", 401, "unauthenticated"},
		{"401/expired", bank, "Bearer " + p.token(t, "bank-a", func(s *devenv.TokenSpec) { s.TTL = -time.Hour },
			map[string]any{"iat": now.Add(-2 * time.Hour).Unix(), "nbf": now.Add(-2 * time.Hour).Unix()}), 401, "token_expired"},
		{"401/not yet valid", bank, "Bearer " + p.token(t, "bank-a", nil, map[string]any{"nbf": now.Add(5 * time.Minute).Unix()}), 401, "unauthenticated"},
		{"401/wrong issuer", bank, "Bearer " + p.token(t, "bank-a", func(s *devenv.TokenSpec) { s.Issuer = "https://evil.test" }, nil), 401, "unauthenticated"},
		{"401/wrong audience", bank, "Bearer " + p.token(t, "bank-a", func(s *devenv.TokenSpec) { s.Audience = "someone-else" }, nil), 401, "unauthenticated"},
		{"401/alg none", bank, "Bearer " + algNone, 401, "unauthenticated"},
		{"401/HS256 keyed with the public key", bank, "Bearer " + confusion, 401, "unauthenticated"},
		{"401/unknown kid", bank, "Bearer " + sign(unknownKid, "bank-a"), 401, "unauthenticated"},
		{"401/right kid wrong key", bank, "Bearer " + sign(otherKey, "bank-a"), 401, "unauthenticated"},
		{"401/missing scope claim", bank, "Bearer " + p.token(t, "bank-a", nil, map[string]any{"scope": nil}), 401, "unauthenticated"},
		{"401/unknown org", bank, "Bearer " + p.token(t, "bank-a", func(s *devenv.TokenSpec) { s.Org = "ghost-bank" }, nil), 401, "unauthenticated"},
		{"401/no cnf", bank, "Bearer " + p.token(t, "bank-a", func(s *devenv.TokenSpec) { s.Thumbprint = "" }, nil), 401, "token_not_bound"},
		{"401/bound to another certificate", bank, "Bearer " + p.token(t, "bank-b", nil, nil), 401, "token_not_bound"},
		{"403/token lacks the scope", bank, "Bearer " + p.token(t, "bank-a", func(s *devenv.TokenSpec) { s.Scope = "reports:write" }, nil), 403, "forbidden"},
		{"200/valid", bank, "Bearer " + p.token(t, "bank-a", nil, nil), 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var headers []string
			if tt.auth != "" {
				headers = []string{"Authorization", tt.auth}
			}
			got := do(t, tt.client, "GET", e.gw.api+"/v1/ibans/"+ibanNL, "", "", headers...)
			if got.status != tt.status {
				t.Fatalf("status = %d, want %d; body %s", got.status, tt.status, got.body)
			}
			if tt.code == "" {
				return
			}
			if code := problemCode(t, got); code != tt.code {
				t.Errorf("code = %s, want %s", code, tt.code)
			}
			if tt.status == 401 && !strings.HasPrefix(got.header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("401 without WWW-Authenticate: Bearer (got %q)", got.header.Get("WWW-Authenticate"))
			}
		})
	}

	// A marketplace token that claims bank and police scopes gets only what
	// a marketplace may do.
	market := p.client(t, p.clients["market-a"])
	greedy := p.token(t, "market-a", func(s *devenv.TokenSpec) {
		s.Scope = "ibans:read alerts:write alerts:read reports:write"
	}, nil)
	if got := do(t, market, "GET", e.gw.api+"/v1/ibans/"+ibanNL, greedy, ""); got.status != 200 {
		t.Errorf("marketplace lookup = %d", got.status)
	}
	// Part 3 order: an unknown report is 404 before any scope check.
	if got := do(t, market, "GET", e.gw.api+"/v1/reports/00000000000000000000000000000000", greedy, ""); got.status != 404 {
		t.Errorf("marketplace without reports:read, unknown report = %d, want 404", got.status)
	}
	own := submit(t, market, e, p.token(t, "market-a", nil, nil), "greedy-own", `{"iban":"`+ibanNL+`","category":"phishing"}`)
	if own.status != 202 {
		t.Fatalf("submit: %d %s", own.status, own.body)
	}
	if got := do(t, market, "GET", e.gw.api+own.header.Get("Location"), greedy, ""); got.status != 403 {
		t.Errorf("marketplace without reports:read, its own report = %d, want 403", got.status)
	}
}

func submit(t testing.TB, c *http.Client, e *env, token, key, body string) call {
	t.Helper()
	return do(t, c, "POST", e.gw.api+"/v1/reports", token, body, "Idempotency-Key", key)
}

type accepted struct {
	ReportID    string `json:"report_id"`
	Status      string `json:"status"`
	IBAN        string `json:"iban"`
	ReportCount int64  `json:"report_count"`
}

type lookup struct {
	IBAN          string           `json:"iban"`
	Country       string           `json:"country"`
	BankCode      string           `json:"bank_code"`
	ReportCount   int64            `json:"report_count"`
	ReporterCount int64            `json:"reporter_count"`
	Last30        int64            `json:"reports_last_30_days"`
	ByCategory    map[string]int64 `json:"by_category"`
	BySource      map[string]int64 `json:"by_source"`
	First         *string          `json:"first_reported_at"`
	Risk          string           `json:"risk"`
}

func decodeInto[T any](t testing.TB, c call) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(c.body, &v); err != nil {
		t.Fatalf("decode %s: %v", c.body, err)
	}
	return v
}

func TestReportLifecycle(t *testing.T) {
	e := mustEnv(t)
	bank := e.p.client(t, e.p.clients["bank-a"])
	market := e.p.client(t, e.p.clients["market-a"])
	police := e.p.client(t, e.p.clients["police-nl"])
	bankTok, marketTok, policeTok := e.p.token(t, "bank-a", nil, nil), e.p.token(t, "market-a", nil, nil), e.p.token(t, "police-nl", nil, nil)

	l := decodeInto[lookup](t, do(t, bank, "GET", e.gw.api+"/v1/ibans/nl91%20abna%200417%201643%2000", bankTok, ""))
	if l.IBAN != ibanNL || l.ReportCount != 0 || l.Risk != "none" || l.BankCode != "ABNA" || l.Country != "NL" || l.First != nil {
		t.Fatalf("fresh lookup = %+v", l)
	}

	body := `{"iban":"NL91 ABNA 0417 1643 00","category":"marketplace_fraud","occurred_at":"2026-01-02T03:04:05Z",
	  "amount":{"value":"249.95","currency":"EUR"},"reference":"case-1","description":"paid for a bike"}`
	first := submit(t, market, e, marketTok, "case-1", body)
	if first.status != 202 {
		t.Fatalf("submit = %d %s", first.status, first.body)
	}
	a := decodeInto[accepted](t, first)
	if a.Status != "queued" || a.IBAN != ibanNL || a.ReportCount != 1 || first.header.Get("Location") != "/v1/reports/"+a.ReportID {
		t.Fatalf("accepted = %+v, Location %q", a, first.header.Get("Location"))
	}
	if first.header.Get("Idempotent-Replayed") != "" {
		t.Error("first answer marked as replayed")
	}

	// Same key, same body (other spacing): same answer, replayed, no count change.
	again := submit(t, market, e, marketTok, "case-1", strings.ReplaceAll(body, "\n", " "))
	if again.status != 202 || again.header.Get("Idempotent-Replayed") != "true" || string(again.body) != string(first.body) {
		t.Fatalf("replay = %d %q %s", again.status, again.header.Get("Idempotent-Replayed"), again.body)
	}
	// Same key, other body: 422.
	conflict := submit(t, market, e, marketTok, "case-1", `{"iban":"DE89370400440532013000","category":"phishing"}`)
	if conflict.status != 422 || problemCode(t, conflict) != "idempotency_conflict" {
		t.Fatalf("conflict = %d %s", conflict.status, conflict.body)
	}
	// The same key from another org is its own report.
	b := submit(t, bank, e, bankTok, "case-1", `{"iban":"NL91ABNA0417164300","category":"helpdesk_fraud"}`)
	if b.status != 202 || decodeInto[accepted](t, b).ReportCount != 2 {
		t.Fatalf("bank submit = %d %s", b.status, b.body)
	}
	p := submit(t, police, e, policeTok, "pol-1", `{"iban":"NL91ABNA0417164300","category":"helpdesk_fraud"}`)
	if p.status != 202 {
		t.Fatalf("police submit = %d %s", p.status, p.body)
	}

	l = decodeInto[lookup](t, do(t, bank, "GET", e.gw.api+"/v1/ibans/"+ibanNL, bankTok, ""))
	if l.First == nil {
		t.Fatal("first_reported_at missing after reports")
	}
	want := lookup{IBAN: ibanNL, Country: "NL", BankCode: "ABNA", ReportCount: 3, ReporterCount: 3, Last30: 3, Risk: "medium",
		ByCategory: map[string]int64{"helpdesk_fraud": 2, "marketplace_fraud": 1},
		BySource:   map[string]int64{"bank": 1, "marketplace": 1, "police": 1}, First: l.First}
	if diff := cmp.Diff(want, l); diff != "" {
		t.Fatalf("lookup after reports (-want +got):\n%s", diff)
	}

	// Status: the submitter and the police see it, another org does not.
	st := do(t, market, "GET", e.gw.api+first.header.Get("Location"), marketTok, "")
	if st.status != 200 || !strings.Contains(string(st.body), `"status":"queued"`) {
		t.Fatalf("status = %d %s", st.status, st.body)
	}
	if got := do(t, police, "GET", e.gw.api+first.header.Get("Location"), policeTok, ""); got.status != 200 {
		t.Errorf("police status = %d", got.status)
	}
	// bank-a holds NL ABNA accounts: it is the holder and sees the report
	// with its IBAN; bank-b is a stranger to it.
	holder := decodeInto[struct {
		IBAN   string `json:"iban"`
		Review struct {
			State  string `json:"state"`
			Holder string `json:"holder_org"`
		} `json:"review"`
	}](t, do(t, bank, "GET", e.gw.api+first.header.Get("Location"), bankTok, ""))
	if holder.IBAN != ibanNL || holder.Review.State != "open" || holder.Review.Holder != "bank-a" {
		t.Errorf("the holder's view = %+v", holder)
	}
	other := e.p.client(t, e.p.clients["bank-b"])
	if got := do(t, other, "GET", e.gw.api+first.header.Get("Location"), e.p.token(t, "bank-b", nil, nil), ""); got.status != 404 || problemCode(t, got) != "not_found" {
		t.Errorf("other org status = %d %s, want 404", got.status, got.body)
	}
}

func TestBatchLookup(t *testing.T) {
	e := mustEnv(t)
	bank := e.p.client(t, e.p.clients["bank-a"])
	tok := e.p.token(t, "bank-a", nil, nil)
	submit(t, bank, e, tok, "k1", `{"iban":"DE89370400440532013000","category":"phishing"}`)
	got := do(t, bank, "POST", e.gw.api+"/v1/ibans/lookup", tok,
		`{"ibans":["NL91ABNA0417164300","DE89 3704 0044 0532 0130 00","NL00BOGUS","ＮＬ91ABNA0417164300"]}`)
	if got.status != 200 {
		t.Fatalf("batch = %d %s", got.status, got.body)
	}
	var res struct {
		Results []map[string]any `json:"results"`
	}
	if err := json.Unmarshal(got.body, &res); err != nil || len(res.Results) != 4 {
		t.Fatalf("results = %s", got.body)
	}
	if res.Results[0]["report_count"] != 0.0 || res.Results[1]["report_count"] != 1.0 || res.Results[1]["iban"] != "DE89370400440532013000" {
		t.Errorf("valid entries = %v %v", res.Results[0], res.Results[1])
	}
	for _, n := range []int{2, 3} {
		errObj, _ := res.Results[n]["error"].(map[string]any)
		if errObj["code"] != "invalid_iban" || errObj["detail"] == "" {
			t.Errorf("entry %d = %v, want invalid_iban error", n, res.Results[n])
		}
	}
	// A full batch is served in parts on all cores: every answer is in
	// its request's place, invalid ones too.
	full, want := make([]string, 1000), make([]string, 1000)
	for n := range full {
		switch {
		case n%7 == 3:
			full[n], want[n] = fmt.Sprintf(`"NL00BOGUS%d"`, n), "invalid_iban"
		case n%100 == 0:
			full[n], want[n] = `"DE89370400440532013000"`, "DE89370400440532013000 1"
		default:
			i, _ := iban.FromBBAN("NL", fmt.Sprintf("ABNA%010d", n))
			full[n], want[n] = `"`+i.String()+`"`, i.String()+" 0"
		}
	}
	got = do(t, bank, "POST", e.gw.api+"/v1/ibans/lookup", tok, `{"ibans":[`+strings.Join(full, ",")+`]}`)
	res.Results = nil
	if err := json.Unmarshal(got.body, &res); got.status != 200 || err != nil || len(res.Results) != len(full) {
		t.Fatalf("batch of 1000 = %d, %d results, %v", got.status, len(res.Results), err)
	}
	if cl := got.header.Get("Content-Length"); cl != strconv.Itoa(len(got.body)) { // sent whole, not chunked
		t.Errorf("batch of 1000: Content-Length %q for %d bytes", cl, len(got.body))
	}
	for n, r := range res.Results {
		g := fmt.Sprint(r["iban"], " ", r["report_count"])
		if e, ok := r["error"].(map[string]any); ok {
			g = fmt.Sprint(e["code"])
		}
		if g != want[n] {
			t.Errorf("batch of 1000, entry %d: %s, want %s", n, g, want[n])
		}
	}
	// Over the batch limit: 400 naming ibans.
	many := make([]string, 1001)
	for i := range many {
		many[i] = `"NL91ABNA0417164300"`
	}
	over := do(t, bank, "POST", e.gw.api+"/v1/ibans/lookup", tok, `{"ibans":[`+strings.Join(many, ",")+`]}`)
	if over.status != 400 || problemCode(t, over) != "invalid_request" || !strings.Contains(string(over.body), "ibans") {
		t.Errorf("1001 IBANs = %d %s", over.status, over.body)
	}
}

// TestBadInputChangesNothing reaches every 4xx code of the spec (that this
// issue serves) and checks that Redis holds exactly the keys it held before.
func TestBadInputChangesNothing(t *testing.T) {
	e := mustEnv(t)
	bank := e.p.client(t, e.p.clients["bank-a"])
	market := e.p.client(t, e.p.clients["market-a"])
	tok := e.p.token(t, "bank-a", nil, nil)
	marketNoWrite := e.p.token(t, "market-a", func(s *devenv.TokenSpec) { s.Scope = "ibans:read" }, nil)
	if got := submit(t, bank, e, tok, "existing", `{"iban":"NL91ABNA0417164300","category":"phishing"}`); got.status != 202 {
		t.Fatalf("seed report = %d", got.status)
	}
	url := e.gw.api + "/v1/reports"
	big := `{"iban":"NL91ABNA0417164300","category":"other","description":"` + strings.Repeat("x", 70000) + `"}`
	longDesc := `{"iban":"NL91ABNA0417164300","category":"other","description":"` + strings.Repeat("é", 2001) + `"}`
	tests := []struct {
		name    string
		client  *http.Client
		method  string
		url     string
		token   string
		body    string
		headers []string
		status  int
		code    string
		field   string
	}{
		{"400/malformed JSON", bank, "POST", url, tok, `{"iban":`, []string{"Idempotency-Key", "a1"}, 400, "invalid_request", ""},
		{"400/unknown field", bank, "POST", url, tok, `{"iban":"NL91ABNA0417164300","category":"other","colour":"red"}`, []string{"Idempotency-Key", "a2"}, 400, "invalid_request", "colour"},
		{"400/wrong type", bank, "POST", url, tok, `{"iban":12,"category":"other"}`, []string{"Idempotency-Key", "a3"}, 400, "invalid_request", "iban"},
		{"400/missing category", bank, "POST", url, tok, `{"iban":"NL91ABNA0417164300"}`, []string{"Idempotency-Key", "a4"}, 400, "invalid_request", "category"},
		{"400/unknown category", bank, "POST", url, tok, `{"iban":"NL91ABNA0417164300","category":"burglary"}`, []string{"Idempotency-Key", "a5"}, 400, "invalid_request", "category"},
		{"400/occurred_at in the future", bank, "POST", url, tok, `{"iban":"NL91ABNA0417164300","category":"other","occurred_at":"2999-01-01T00:00:00Z"}`, []string{"Idempotency-Key", "a6"}, 400, "invalid_request", "occurred_at"},
		{"400/occurred_at not a date", bank, "POST", url, tok, `{"iban":"NL91ABNA0417164300","category":"other","occurred_at":"yesterday"}`, []string{"Idempotency-Key", "a7"}, 400, "invalid_request", "occurred_at"},
		{"400/description too long", bank, "POST", url, tok, longDesc, []string{"Idempotency-Key", "a8"}, 400, "invalid_request", "description"},
		{"400/amount as a number", bank, "POST", url, tok, `{"iban":"NL91ABNA0417164300","category":"other","amount":{"value":249.95,"currency":"EUR"}}`, []string{"Idempotency-Key", "a9"}, 400, "invalid_request", "amount.value"},
		{"400/two JSON objects", bank, "POST", url, tok, `{"iban":"NL91ABNA0417164300","category":"other"}{}`, []string{"Idempotency-Key", "a10"}, 400, "invalid_request", ""},
		{"400/idempotency key missing", bank, "POST", url, tok, `{"iban":"NL91ABNA0417164300","category":"other"}`, nil, 400, "idempotency_key_required", ""},
		{"400/idempotency key too long", bank, "POST", url, tok, `{"iban":"NL91ABNA0417164300","category":"other"}`, []string{"Idempotency-Key", strings.Repeat("k", 256)}, 400, "invalid_request", "Idempotency-Key"},
		{"400/idempotency key with a space", bank, "POST", url, tok, `{"iban":"NL91ABNA0417164300","category":"other"}`, []string{"Idempotency-Key", "a b"}, 400, "invalid_request", "Idempotency-Key"},
		{"415/text body", bank, "POST", url, tok, `{"iban":"NL91ABNA0417164300","category":"other"}`, []string{"Idempotency-Key", "b1", "Content-Type", "text/plain"}, 415, "unsupported_media_type", ""},
		{"413/body over 64 KiB", bank, "POST", url, tok, big, []string{"Idempotency-Key", "b2"}, 413, "payload_too_large", ""},
		{"422/bad checksum", bank, "POST", url, tok, `{"iban":"NL92ABNA0417164300","category":"other"}`, []string{"Idempotency-Key", "c1"}, 422, "invalid_iban", ""},
		{"422/full-width digits", bank, "POST", url, tok, `{"iban":"NL９１ABNA0417164300","category":"other"}`, []string{"Idempotency-Key", "c2"}, 422, "invalid_iban", ""},
		{"422/lookup of an invalid IBAN", bank, "GET", e.gw.api + "/v1/ibans/NL00ABNA0417164300", tok, "", nil, 422, "invalid_iban", ""},
		{"422/idempotency conflict", bank, "POST", url, tok, `{"iban":"DE89370400440532013000","category":"phishing"}`, []string{"Idempotency-Key", "existing"}, 422, "idempotency_conflict", ""},
		{"403/no reports:write", market, "POST", url, marketNoWrite, `{"iban":"NL91ABNA0417164300","category":"other"}`, []string{"Idempotency-Key", "d1"}, 403, "forbidden", ""},
		{"401/no token", bank, "POST", url, "", `{"iban":"NL91ABNA0417164300","category":"other"}`, []string{"Idempotency-Key", "d2"}, 401, "unauthenticated", ""},
		{"404/unknown report", bank, "GET", url + "/0123456789abcdef0123456789abcdef", tok, "", nil, 404, "not_found", ""},
		{"404/malformed report id", bank, "GET", url + "/..%2F..%2Fetc", tok, "", nil, 404, "not_found", ""},
		{"404/unknown route", bank, "GET", e.gw.api + "/v2/nothing", tok, "", nil, 404, "not_found", ""},
		{"405/wrong method", bank, "DELETE", url, tok, "", nil, 405, "method_not_allowed", ""},
	}
	before := dataKeys(t, e)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := do(t, tt.client, tt.method, tt.url, tt.token, tt.body, tt.headers...)
			if got.status != tt.status {
				t.Fatalf("status = %d, want %d; body %s", got.status, tt.status, got.body)
			}
			if code := problemCode(t, got); code != tt.code {
				t.Errorf("code = %s, want %s (%s)", code, tt.code, got.body)
			}
			if tt.field != "" && !strings.Contains(string(got.body), tt.field) {
				t.Errorf("detail does not name %q: %s", tt.field, got.body)
			}
			if strings.Contains(string(got.body), "DE89370400440532013000") || strings.Contains(string(got.body), "redis") {
				t.Errorf("problem leaks internals or an IBAN: %s", got.body)
			}
		})
	}
	// Bad requests spend rate limit tokens (they are requests too) and
	// change nothing else.
	if after := dataKeys(t, e); after != before {
		t.Fatalf("bad requests changed Redis: %d keys before, %d after", before, after)
	}
}

// dataKeys counts the keys that hold data: all but the rate limiters'.
func dataKeys(t *testing.T, e *env) int {
	t.Helper()
	n := 0
	for _, k := range e.redis.Keys(t) {
		if !strings.HasPrefix(k, "rate:") {
			n++
		}
	}
	return n
}

func TestRequestID(t *testing.T) {
	e := mustEnv(t)
	bank := e.p.client(t, e.p.clients["bank-a"])
	tok := e.p.token(t, "bank-a", nil, nil)
	got := do(t, bank, "GET", e.gw.api+"/v1/ibans/"+ibanNL, tok, "", "X-Request-ID", "trace-123.abc")
	if got.header.Get("X-Request-ID") != "trace-123.abc" {
		t.Errorf("sane request id not echoed: %q", got.header.Get("X-Request-ID"))
	}
	for _, bad := range []string{strings.Repeat("a", 129), "<script>", "a b"} {
		got := do(t, bank, "GET", e.gw.api+"/v1/ibans/"+ibanNL, tok, "", "X-Request-ID", bad)
		if id := got.header.Get("X-Request-ID"); id == bad || len(id) != 32 {
			t.Errorf("insane request id %q answered with %q", bad, id)
		}
	}
}

// TestConcurrentIntake: 50 clients submit 1,000 distinct reports for one
// IBAN at once, while 200 concurrent replays of one key race them.
func TestConcurrentIntake(t *testing.T) {
	// A generous request budget: this test is about exact counts under
	// contention, and the race detector slows everything down.
	e := mustEnv(t, "MULEGATE_API_REQUEST_TIMEOUT", "20s")
	orgs := []string{"bank-a", "bank-b", "market-a"}
	type who struct {
		c   *http.Client
		tok string
	}
	clients := map[string]who{}
	for _, o := range orgs {
		clients[o] = who{e.p.client(t, e.p.clients[o]), e.p.token(t, o, nil, nil)}
	}
	var wg sync.WaitGroup
	var failures, fresh, retried atomic.Int64
	// As an integrator does: a 503 (the store overloaded on a busy
	// machine) is retried with the same Idempotency-Key, which never
	// counts a report twice.
	send := func(w who, key, body string) call {
		for try := 0; ; try++ {
			got := submit(t, w.c, e, w.tok, key, body)
			if got.status != 503 || try == 20 {
				return got
			}
			retried.Add(1)
			time.Sleep(50 * time.Millisecond)
		}
	}
	for w := range 50 {
		org := orgs[w%len(orgs)]
		wg.Go(func() {
			for n := range 20 {
				got := send(clients[org], fmt.Sprintf("w%d-r%d", w, n), `{"iban":"NL91ABNA0417164300","category":"phishing"}`)
				if got.status != 202 {
					failures.Add(1)
					t.Logf("submit: %d %s", got.status, got.body)
				}
			}
		})
	}
	for range 200 {
		wg.Go(func() {
			got := send(clients["bank-a"], "the-same-key", `{"iban":"DE89370400440532013000","category":"phishing"}`)
			if got.status != 202 {
				failures.Add(1)
			} else if got.header.Get("Idempotent-Replayed") == "" {
				fresh.Add(1)
			}
		})
	}
	wg.Wait()
	if n := retried.Load(); n > 0 {
		t.Logf("%d answers were 503 and retried with the same key", n)
	}
	if failures.Load() != 0 {
		t.Fatalf("%d submissions failed", failures.Load())
	}
	if fresh.Load() != 1 {
		t.Errorf("%d of 200 replays were answered as new, want exactly 1", fresh.Load())
	}
	bank := clients["bank-a"]
	l := decodeInto[lookup](t, do(t, bank.c, "GET", e.gw.api+"/v1/ibans/"+ibanNL, bank.tok, ""))
	if l.ReportCount != 1000 || l.ReporterCount != 3 {
		t.Errorf("NL count = %d reporters %d, want 1000 and 3", l.ReportCount, l.ReporterCount)
	}
	l = decodeInto[lookup](t, do(t, bank.c, "GET", e.gw.api+"/v1/ibans/DE89370400440532013000", bank.tok, ""))
	if l.ReportCount != 1 {
		t.Errorf("DE count after 200 replays = %d, want 1", l.ReportCount)
	}
}

// TestVisibleAcrossInstances: a report accepted by one gateway is in the
// very next lookup through another on the same Redis.
func TestVisibleAcrossInstances(t *testing.T) {
	e := mustEnv(t)
	second := mustGateway(t, e.p, e.redis.Addrs(), "")
	bank := e.p.client(t, e.p.clients["bank-a"])
	tok := e.p.token(t, "bank-a", nil, nil)
	for n := 1; n <= 5; n++ {
		got := do(t, bank, "POST", e.gw.api+"/v1/reports", tok, `{"iban":"NL91ABNA0417164300","category":"phishing"}`, "Idempotency-Key", fmt.Sprint("x", n))
		if got.status != 202 {
			t.Fatal(got.status)
		}
		l := decodeInto[lookup](t, do(t, bank, "GET", second.api+"/v1/ibans/"+ibanNL, tok, ""))
		if l.ReportCount != int64(n) {
			t.Fatalf("after %d reports the other instance sees %d", n, l.ReportCount)
		}
	}
}

// TestStoreUnavailable: with Redis gone the API answers 503 fast with
// Retry-After, /readyz says so, and both recover when Redis is back.
func TestStoreUnavailable(t *testing.T) {
	e := mustOwnEnv(t)
	bank := e.p.client(t, e.p.clients["bank-a"])
	tok := e.p.token(t, "bank-a", nil, nil)
	if got := do(t, bank, "GET", e.gw.api+"/v1/ibans/"+ibanNL, tok, ""); got.status != 200 {
		t.Fatal(got.status)
	}
	e.redis.Stop()
	for _, req := range []struct{ method, path, body string }{
		{"GET", "/v1/ibans/" + ibanNL, ""},
		{"POST", "/v1/reports", `{"iban":"NL91ABNA0417164300","category":"other"}`},
		{"POST", "/v1/ibans/lookup", `{"ibans":["NL91ABNA0417164300"]}`},
	} {
		start := time.Now()
		got := do(t, bank, req.method, e.gw.api+req.path, tok, req.body, "Idempotency-Key", "down-1")
		took := time.Since(start)
		if got.status != 503 || problemCode(t, got) != "store_unavailable" || got.header.Get("Retry-After") == "" {
			t.Fatalf("%s %s with Redis down = %d %s", req.method, req.path, got.status, got.body)
		}
		if took > 3*time.Second {
			t.Errorf("%s %s took %v to answer 503", req.method, req.path, took)
		}
	}
	resp, err := http.Get(e.gw.ops + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 {
		t.Errorf("/readyz with Redis down = %d, want 503", resp.StatusCode)
	}
	e.redis.Restart(t)
	waitfor.Until(t, "lookups to recover after Redis came back", 5*time.Second, func() bool {
		return do(t, bank, "GET", e.gw.api+"/v1/ibans/"+ibanNL, tok, "").status == 200
	})
}

func TestOpsEndpoints(t *testing.T) {
	e := mustEnv(t)
	bank := e.p.client(t, e.p.clients["bank-a"])
	tok := e.p.token(t, "bank-a", nil, nil)
	do(t, bank, "GET", e.gw.api+"/v1/ibans/"+ibanNL, tok, "")
	do(t, bank, "GET", e.gw.api+"/v1/ibans/"+ibanNL, tok, "")
	for path, want := range map[string]string{
		"/healthz": `"ok"`,
		"/readyz":  `"redis":"ok"`,
		"/metrics": `mulegate_http_requests_total{method="GET",route="/v1/ibans/:iban",status="200"} 2`,
	} {
		resp, err := http.Get(e.gw.ops + path)
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		_, _ = fmt.Fprint(&b, readAll(resp))
		if resp.StatusCode != 200 || !strings.Contains(b.String(), want) {
			t.Errorf("%s = %d, missing %q", path, resp.StatusCode, want)
		}
	}
	resp, err := http.Get(e.gw.ops + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	m := readAll(resp)
	for _, want := range []string{`mulegate_token_cache_total{result="hit"} 1`, `mulegate_token_cache_total{result="miss"} 1`} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics missing %q", want)
		}
	}
}

func readAll(resp *http.Response) string {
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			return b.String()
		}
	}
}

// TestLogsMaskIBANsAndNeverTokens reads the gateway's own log output.
func TestLogsMaskIBANsAndNeverTokens(t *testing.T) {
	p := mustPKI(t)
	gw := mustGateway(t, p, mustRedisAddrs(t), "log:\n  level: info\n")
	bank := p.client(t, p.clients["bank-a"])
	tok := p.token(t, "bank-a", nil, nil)
	do(t, bank, "GET", gw.api+"/v1/ibans/"+ibanNL, tok, "")
	do(t, bank, "POST", gw.api+"/v1/reports", tok, `{"iban":"NL91ABNA0417164300","category":"other"}`, "Idempotency-Key", "log-1")
	// The log is flushed in batches; wait for both request lines.
	var logs string
	waitfor.Until(t, "both request lines in the log", 5*time.Second, func() bool {
		logs = gw.stderr.String()
		return strings.Count(logs, `"msg":"request"`) >= 2
	})
	if strings.Contains(logs, ibanNL) || strings.Contains(logs, "0417164300") {
		t.Errorf("log holds a plaintext IBAN:\n%s", logs)
	}
	if !strings.Contains(logs, "NL91ABNA******4300") {
		t.Errorf("log lacks the masked IBAN:\n%s", logs)
	}
	if strings.Contains(logs, tok) || strings.Contains(logs, tok[len(tok)-20:]) {
		t.Error("log holds the bearer token")
	}
	for _, line := range strings.Split(strings.TrimSpace(logs), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Errorf("log line is not JSON: %q", line)
		}
		if m["msg"] == "request" && m["request_id"] == nil {
			t.Errorf("request log line without request_id: %q", line)
		}
	}
}
