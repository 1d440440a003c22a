package main

import (
	"fmt"
	"strings"
	"testing"
)

// Regression tests for the findings of the round-2 reviews (issue 21;
// SPEC Part 3, "Guarantees made precise"), run against the real server.

// TestCursorBeyondAnyIssued (issue 21.17): a cursor the gateway could
// never have issued, and a wait that overflows a duration, are 400 on the
// alert and event feeds and over SSE, never 500 or a silent stream.
func TestCursorBeyondAnyIssued(t *testing.T) {
	a := mustAlertEnv(t)
	for _, route := range []string{"/v1/alerts", "/v1/events"} {
		for _, cur := range []string{"18446744073709551615-18446744073709551615", "1-18446744073709551615", "99999999999999-0"} {
			got := do(t, a.bankA, "GET", a.gw.api+route+"?after="+cur, a.aTok, "")
			if got.status != 400 || problemCode(t, got) != "invalid_request" {
				t.Errorf("%s after=%s: %d %s", route, cur, got.status, got.body)
			}
			got = do(t, a.bankA, "GET", a.gw.api+route+"/stream", a.aTok, "", "Last-Event-ID", cur)
			if got.status != 400 || problemCode(t, got) != "invalid_request" {
				t.Errorf("%s/stream Last-Event-ID=%s: %d %s", route, cur, got.status, got.body)
			}
		}
		for _, w := range []string{"9223372036854775807", "9223372036", "31", "-1"} {
			got := do(t, a.bankA, "GET", a.gw.api+route+"?wait="+w, a.aTok, "")
			if got.status != 400 || problemCode(t, got) != "invalid_request" {
				t.Errorf("%s wait=%s: %d %s", route, w, got.status, got.body)
			}
		}
	}
	if n := metricSum(t, a.gw.ops, "mulegate_redis_errors_total"); n != 0 {
		t.Errorf("%v Redis errors counted for bad cursors", n)
	}
}

// TestLenienciesClosed (issue 21.20): a caller that is no party of a
// report gets 404 on every route of it, whatever its scopes (the scope
// check came first before: 403); only application/json is JSON; a
// marketplace's view hides a police marker altogether (it could infer
// the police from a marker on an IBAN no registered bank holds).
func TestLenienciesClosed(t *testing.T) {
	e := mustEnv(t)
	p, api := e.p, e.gw.api
	market, bankA, bankB, police := p.client(t, p.clients["market-a"]), p.client(t, p.clients["bank-a"]), p.client(t, p.clients["bank-b"]), p.client(t, p.clients["police-nl"])
	mTok, aTok, bTok, pTok := p.token(t, "market-a", nil, nil), p.token(t, "bank-a", nil, nil), p.token(t, "bank-b", nil, nil), p.token(t, "police-nl", nil, nil)

	got := do(t, bankB, "POST", api+"/v1/reports", bTok, `{"iban":"NL91ABNA0417164300","category":"phishing"}`, "Idempotency-Key", "len-1")
	if got.status != 202 {
		t.Fatalf("submit: %d %s", got.status, got.body)
	}
	loc := api + got.header.Get("Location")
	for _, c := range []struct {
		name, method, path, body string
	}{
		{"404/marketplace acknowledges", "POST", "/acknowledge", ""},
		{"404/marketplace closes", "POST", "/close", `{"result":"disagreed"}`},
		{"404/marketplace cancels", "POST", "/cancel", ""},
		{"404/marketplace reads", "GET", "", ""},
		{"404/marketplace closes with a bad body", "POST", "/close", `{"result":"maybe"}`},
	} {
		got := do(t, market, c.method, loc+c.path, mTok, c.body)
		if got.status != 404 || problemCode(t, got) != "not_found" {
			t.Errorf("%s: %d %s", c.name, got.status, got.body)
		}
	}
	if got := do(t, bankA, "POST", loc+"/cancel", aTok, ""); got.status != 403 {
		t.Errorf("403/the holder cancels: %d %s", got.status, got.body)
	}

	for _, ct := range []string{"text/evil+json", "application/problem+json", "application/json; charset=utf-8; x=1", "application/json; charset=latin1"} {
		got := do(t, bankB, "POST", api+"/v1/reports", bTok, `{"iban":"BE68539007547034","category":"phishing"}`, "Content-Type", ct, "Idempotency-Key", "len-ct")
		if got.status != 415 || problemCode(t, got) != "unsupported_media_type" {
			t.Errorf("415/Content-Type %q: %d %s", ct, got.status, got.body)
		}
	}
	if got := do(t, bankB, "POST", api+"/v1/reports", bTok, `{"iban":"BE68539007547034","category":"phishing"}`, "Content-Type", "application/json; charset=UTF-8", "Idempotency-Key", "len-ct"); got.status != 202 {
		t.Errorf("202/application/json; charset=UTF-8: %d %s", got.status, got.body)
	}

	const unrouted = "IT60X0542811101000000123456" // no registered bank holds it
	if got := do(t, police, "PUT", api+"/v1/ibans/"+unrouted+"/marker", pTok, `{"fraud_type":"mule_account"}`); got.status != 200 {
		t.Fatalf("police marker: %d %s", got.status, got.body)
	}
	m := do(t, market, "GET", api+"/v1/ibans/"+unrouted, mTok, "")
	if m.status != 200 || strings.Contains(string(m.body), `"marker":{`) || !strings.Contains(string(m.body), `"risk":"none"`) || strings.Contains(string(m.body), `"marker"]`) {
		t.Errorf("the marketplace's lookup shows the police marker (or its risk): %s", m.body)
	}
	if b := do(t, bankA, "GET", api+"/v1/ibans/"+unrouted, aTok, ""); !strings.Contains(string(b.body), `"by_type":"police"`) || !strings.Contains(string(b.body), `"risk":"high"`) {
		t.Errorf("a bank's lookup lacks the police marker: %s", b.body)
	}
	if got := do(t, bankA, "PUT", api+"/v1/ibans/NL91ABNA0417164300/marker", aTok, `{"fraud_type":"mule_account"}`); got.status != 200 {
		t.Fatalf("bank marker: %d %s", got.status, got.body)
	}
	m = do(t, market, "GET", api+"/v1/ibans/NL91ABNA0417164300", mTok, "")
	if !strings.Contains(string(m.body), `"marker":{"fraud_type":"mule_account","registered_at"`) || !strings.Contains(string(m.body), `"risk":"high"`) {
		t.Errorf("the marketplace's lookup lacks the bank's marker (without by_type): %s", m.body)
	}
}

// TestReportReadsAreLimited (issue 21.12): GET /v1/reports/{id} spends
// the lookups bucket (it was free: 3,817 requests/s with no 429).
func TestReportReadsAreLimited(t *testing.T) {
	p := mustPKI(t)
	gw := mustGatewayConfig(t, p.config(mustRedisAddrs(t), `
limits:
  marketplace: {lookups_per_second: 1, lookups_burst: 3}
`))
	market, mTok := p.client(t, p.clients["market-a"]), p.token(t, "market-a", nil, nil)
	url := gw.api + "/v1/reports/" + strings.Repeat("ab", 16)
	for n := range 3 {
		got := do(t, market, "GET", url, mTok, "")
		if got.status != 404 || got.header.Get("RateLimit-Remaining") != fmt.Sprint(2-n) {
			t.Fatalf("read %d: %d remaining %q", n, got.status, got.header.Get("RateLimit-Remaining"))
		}
	}
	got := do(t, market, "GET", url, mTok, "")
	if got.status != 429 || problemCode(t, got) != "rate_limited" {
		t.Errorf("fourth read: %d %s, want 429", got.status, got.body)
	}
}
