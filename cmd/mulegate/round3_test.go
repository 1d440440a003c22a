package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mulegate/mulegate/internal/redistest"
	"github.com/mulegate/mulegate/internal/waitfor"
	"github.com/redis/go-redis/v9"
)

// Regression tests for the findings of the round-2 reviews (issue 21;
// SPEC Part 3, "Guarantees made precise"), run against the real server.

// httpOnly skips a test in the cluster pass of make test: what it checks
// happens in the HTTP layer or in one key, the same on one Redis as on a
// cluster, and every test there starts a six-node cluster of its own.
func httpOnly(t *testing.T) {
	t.Helper()
	if redistest.Topology() == "cluster" {
		t.Skip("runs in the single pass of make test: HTTP-layer behaviour, the same on a cluster")
	}
}

// TestCursorBeyondAnyIssued (issue 21.17): a cursor the gateway could
// never have issued, and a wait that overflows a duration, are 400 on the
// alert and event feeds and over SSE, never 500 or a silent stream.
func TestCursorBeyondAnyIssued(t *testing.T) {
	httpOnly(t)
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
	httpOnly(t)
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
	httpOnly(t)
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

// TestIBANAndEvidenceReadsAreLimited: the access record, who looked an
// IBAN up, the evidence proofs and a feed's pages spend the lookups
// bucket like every other read of data (they were free: an org could
// read an IBAN's whole record, pages of 1000 events, or have proofs
// computed from the trail, without limit).
func TestIBANAndEvidenceReadsAreLimited(t *testing.T) {
	httpOnly(t)
	p := mustPKI(t)
	gw := mustGatewayConfig(t, p.config(mustRedisAddrs(t), `
audit:
  path: `+filepath.Join(t.TempDir(), "audit.jsonl")+`
limits:
  bank: {lookups_per_second: 1, lookups_burst: 3}
  police: {lookups_per_second: 1, lookups_burst: 3}
`))
	ib := "/v1/ibans/NL91ABNA0417164300"
	for org, urls := range map[string][]string{
		"bank-a":    {ib + "/record", "/v1/evidence/proof?origin=x&seq=1&size=1", "/v1/events", "/v1/alerts?limit=5"},
		"police-nl": {ib + "/lookups", "/v1/evidence/consistency?origin=x&from=1&to=1", ib + "/record", ib + "/lookups"},
	} {
		c, tok := p.client(t, p.clients[org]), p.token(t, org, nil, nil)
		for n, u := range urls {
			got := do(t, c, "GET", gw.api+u, tok, "")
			if n < 3 && (got.status == 429 || got.header.Get("RateLimit-Remaining") != fmt.Sprint(2-n)) {
				t.Errorf("%s, read %d (%s): %d remaining %q, want %d left", org, n, u, got.status, got.header.Get("RateLimit-Remaining"), 2-n)
			}
			if n == 3 && (got.status != 429 || problemCode(t, got) != "rate_limited") {
				t.Errorf("%s, fourth read (%s): %d %s, want 429", org, u, got.status, got.body)
			}
		}
	}
}

// TestPagesCostTheirSize: a page of a feed or a work list costs one
// lookup per 100 items it asks for (limit, rounded up), charged before it
// is read: a page of 1000 events costs the gateway about what 45 lookups
// do, and cost one token. The default page (100) costs one. A chain view
// costs one per 100 reports it shows.
func TestPagesCostTheirSize(t *testing.T) {
	httpOnly(t)
	p := mustPKI(t)
	gw := mustGatewayConfig(t, p.config(mustRedisAddrs(t), `
limits:
  bank: {lookups_per_second: 1, lookups_burst: 30}
`))
	bank, tok := p.client(t, p.clients["bank-a"]), p.token(t, "bank-a", nil, nil)
	// A chain of 151 reports (a root and 3 x 50 transfers): its view
	// costs 2, charged once read.
	victim, vTok := p.client(t, p.clients["bank-b"]), p.token(t, "bank-b", nil, nil)
	root := decodeInto[accepted](t, do(t, victim, "POST", gw.api+"/v1/reports", vTok, `{"iban":"NL91ABNA0417164300","category":"phishing"}`,
		"Idempotency-Key", "root")).ReportID
	at := time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)
	for call := range 3 {
		ts := make([]string, 50)
		for n := range ts {
			ts[n] = fmt.Sprintf(`{"iban":%q,"amount":{"value":"1","currency":"EUR"},"at":%q}`, nlIBANText(1+call*50+n), at)
		}
		if got := do(t, bank, "POST", gw.api+"/v1/reports/"+root+"/onward", tok, `{"transfers":[`+strings.Join(ts, ",")+`]}`,
			"Idempotency-Key", fmt.Sprint("onward-", call)); got.status != 201 {
			t.Fatalf("onward %d: %d %s", call, got.status, got.body)
		}
	}
	for _, s := range []struct {
		url    string
		status int
		left   string
	}{
		{"/v1/reports/" + root + "/chain", 200, "28"},
		{"/v1/events?limit=1000", 200, "18"},
		{"/v1/reviews?limit=1000", 200, "8"},
		{"/v1/events", 200, "7"},
		{"/v1/alerts?limit=101", 200, "5"},
		{"/v1/recoveries?role=holder&limit=950", 429, "0"}, // 10 asked, 4 left
	} {
		got := do(t, bank, "GET", gw.api+s.url, tok, "")
		if got.status != s.status || got.header.Get("RateLimit-Remaining") != s.left {
			t.Errorf("%s: %d remaining %q, want %d with %s left: %s", s.url, got.status, got.header.Get("RateLimit-Remaining"), s.status, s.left, got.body)
		}
	}
}

// TestStreamsAreLimitedPerOrg (issue 21.13): an org holds at most
// limits.<type>.streams open SSE streams and waiting long polls, across
// its connections (one bank opened 1,500 before); beyond, 429
// rate_limited. A closed stream gives its slot back, and another org is
// not affected.
func TestStreamsAreLimitedPerOrg(t *testing.T) {
	httpOnly(t)
	p := mustPKI(t)
	gw := mustGatewayConfig(t, p.config(mustRedisAddrs(t), `
limits:
  bank: {lookups_per_second: 1000, lookups_burst: 1000, writes_per_second: 1000, writes_burst: 1000, streams: 2}
`))
	bank, tok := p.client(t, p.clients["bank-a"]), p.token(t, "bank-a", nil, nil)
	_, stop1 := openStream(t, bank, gw.api+"/v1/events/stream", tok, "")
	_, stop2 := openStream(t, bank, gw.api+"/v1/alerts/stream", tok, "")
	defer stop2()
	for _, u := range []string{"/v1/events/stream", "/v1/alerts?wait=5"} {
		got := do(t, bank, "GET", gw.api+u, tok, "")
		if got.status != 429 || problemCode(t, got) != "rate_limited" || got.header.Get("Retry-After") == "" {
			t.Errorf("%s with 2 streams open: %d %s", u, got.status, got.body)
		}
	}
	if got := do(t, bank, "GET", gw.api+"/v1/alerts", tok, ""); got.status != 200 {
		t.Errorf("a poll that does not wait is no stream: %d", got.status)
	}
	other, oTok := p.client(t, p.clients["bank-b"]), p.token(t, "bank-b", nil, nil)
	_, stopB := openStream(t, other, gw.api+"/v1/events/stream", oTok, "")
	defer stopB()
	stop1()
	var got call
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if got = do(t, bank, "GET", gw.api+"/v1/alerts?wait=1", tok, ""); got.status == 200 || time.Now().After(deadline) {
			break
		}
	}
	if got.status != 200 {
		t.Errorf("after closing a stream: %d %s", got.status, got.body)
	}
}

// TestWritesPerDay (issue 21.15): an org's writes are limited per UTC
// day (limits.<type>.writes_per_day): beyond, 429 with Retry-After to
// the next UTC day, and nothing written.
func TestWritesPerDay(t *testing.T) {
	httpOnly(t)
	p := mustPKI(t)
	gw := mustGatewayConfig(t, p.config(mustRedisAddrs(t), `
limits:
  bank: {lookups_per_second: 1000, lookups_burst: 1000, writes_per_second: 1000, writes_burst: 1000, writes_per_day: 3}
`))
	bank, tok := p.client(t, p.clients["bank-a"]), p.token(t, "bank-a", nil, nil)
	for n := range 3 {
		if got := do(t, bank, "POST", gw.api+"/v1/reports", tok, `{"iban":"DE89370400440532013000","category":"phishing"}`, "Idempotency-Key", fmt.Sprint("day-", n)); got.status != 202 {
			t.Fatalf("write %d: %d %s", n, got.status, got.body)
		}
	}
	got := do(t, bank, "POST", gw.api+"/v1/reports", tok, `{"iban":"DE89370400440532013000","category":"phishing"}`, "Idempotency-Key", "day-4")
	now := time.Now().UTC()
	toMidnight := now.Truncate(24 * time.Hour).Add(24 * time.Hour).Sub(now)
	ra, _ := strconv.Atoi(got.header.Get("Retry-After"))
	if got.status != 429 || problemCode(t, got) != "rate_limited" || time.Duration(ra)*time.Second < toMidnight-time.Minute || time.Duration(ra)*time.Second > toMidnight+time.Minute {
		t.Errorf("fourth write of the day: %d Retry-After %q (to midnight %v) %s", got.status, got.header.Get("Retry-After"), toMidnight, got.body)
	}
	l := decodeInto[struct {
		ReportCount int `json:"report_count"`
	}](t, do(t, bank, "GET", gw.api+"/v1/ibans/DE89370400440532013000", tok, ""))
	if l.ReportCount != 3 {
		t.Errorf("report_count %d after 3 accepted reports and a refused one, want 3", l.ReportCount)
	}
}

// TestOnwardChargesEachLinkedReport: each onward transfer is a report,
// so it costs one write, against the burst and the day's writes, like a
// batch lookup's IBANs (before, a call of 50 transfers cost one write,
// and an org could file 50 times its daily writes). A refused call
// writes nothing.
func TestOnwardChargesEachLinkedReport(t *testing.T) {
	httpOnly(t)
	p := mustPKI(t)
	gw := mustGatewayConfig(t, p.config(mustRedisAddrs(t), `
limits:
  bank: {lookups_per_second: 1000, lookups_burst: 1000, writes_per_second: 1, writes_burst: 4, writes_per_day: 5}
`))
	victim, holder := p.client(t, p.clients["bank-b"]), p.client(t, p.clients["bank-a"])
	vTok, hTok := p.token(t, "bank-b", nil, nil), p.token(t, "bank-a", nil, nil)
	rep := do(t, victim, "POST", gw.api+"/v1/reports", vTok, `{"iban":"NL91ABNA0417164300","category":"phishing"}`, "Idempotency-Key", "src")
	if rep.status != 202 {
		t.Fatalf("the source report: %d %s", rep.status, rep.body)
	}
	onward := gw.api + "/v1/reports/" + decodeInto[accepted](t, rep).ReportID + "/onward"
	at := time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)
	onto := []string{"DE89370400440532013000", "BE68539007547034", "FR1420041010050500013M02606", "CH9300762011623852957", "GB82WEST12345698765432"}
	body := func(ibans ...string) string {
		ts := make([]string, len(ibans))
		for n, ib := range ibans {
			ts[n] = fmt.Sprintf(`{"iban":%q,"amount":{"value":"10","currency":"EUR"},"at":%q}`, ib, at)
		}
		return `{"transfers":[` + strings.Join(ts, ",") + `]}`
	}
	counted := func() int {
		t.Helper()
		n := 0
		for _, ib := range onto {
			n += decodeInto[struct {
				ReportCount int `json:"report_count"`
			}](t, do(t, holder, "GET", gw.api+"/v1/ibans/"+ib, hTok, "")).ReportCount
		}
		return n
	}

	got := do(t, holder, "POST", onward, hTok, body(onto...), "Idempotency-Key", "five")
	if got.status != 429 || problemCode(t, got) != "rate_limited" || !strings.Contains(string(got.body), "burst") {
		t.Errorf("5 transfers against a writes burst of 4: %d %s, want 429 naming the burst", got.status, got.body)
	}
	if n := counted(); n != 0 {
		t.Fatalf("%d linked reports counted after a refused onward call, want 0", n)
	}
	if got := do(t, holder, "POST", onward, hTok, body(onto[:3]...), "Idempotency-Key", "three"); got.status != 201 {
		t.Fatalf("3 transfers: %d %s", got.status, got.body)
	}
	// 1 (the refused call's first write) + 3 of the day's 5 are spent:
	// two more transfers are over the day.
	got = do(t, holder, "POST", onward, hTok, body(onto[3:]...), "Idempotency-Key", "two")
	if got.status != 429 || problemCode(t, got) != "rate_limited" || got.header.Get("Retry-After") == "" {
		t.Errorf("2 transfers past the day's writes: %d %s, want 429 with Retry-After", got.status, got.body)
	}
	if n := counted(); n != 3 {
		t.Errorf("%d linked reports counted, want the 3 accepted", n)
	}
}

// TestStreamReaderThatDoesNotReadIsCut (issue 21.13): a client that opens
// an SSE stream and never reads is disconnected once a write blocks past
// api.write_timeout (it was kept, with its memory and descriptor), and
// its stream slot is given back.
func TestStreamReaderThatDoesNotReadIsCut(t *testing.T) {
	httpOnly(t)
	p := mustPKI(t)
	gw := mustGatewayConfig(t, p.config(mustRedisAddrs(t), ""), "MULEGATE_API_WRITE_TIMEOUT", "2s")
	host := strings.TrimPrefix(gw.api, "https://")
	d := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
		return errors.Join(err, serr)
	}}
	raw, err := d.Dial("tcp", host)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	conn := tls.Client(raw, &tls.Config{RootCAs: p.ca.Pool(), ServerName: "localhost",
		Certificates: []tls.Certificate{p.clients["bank-a"].TLS()}, NextProtos: []string{"http/1.1"}})
	fmt.Fprintf(conn, "GET /v1/alerts/stream HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer %s\r\n\r\n", p.token(t, "bank-a", nil, nil))
	waitFor := func(what string, ok func() bool) { t.Helper(); waitfor.Until(t, what, 20*time.Second, ok) }
	waitFor("the stream to open", func() bool { return metric(t, gw.ops, "mulegate_alert_streams_open") == "1" })
	police, pTok := p.client(t, p.clients["police-nl"]), p.token(t, "police-nl", nil, nil)
	msg := strings.Repeat("x", 900)
	for n := 0; metric(t, gw.ops, "mulegate_alert_streams_open") == "1"; n++ {
		if n == 5000 {
			t.Fatal("5000 alerts later the stream that is never read is still open")
		}
		got := do(t, police, "POST", gw.api+"/v1/alerts", pTok, fmt.Sprintf(`{"iban":"NL91ABNA0417164300","severity":"info","message":%q,"reference":"r%d"}`, msg, n))
		if got.status != 201 {
			t.Fatalf("alert %d: %d", n, got.status)
		}
	}
}

// TestServeRefusesAnOlderLayout (issue 21.16): a Redis holding Part 2's
// plaintext feed is refused by serve, naming the migration; "mulegate
// migrate" seals it and serve starts and serves the feed as before.
func TestServeRefusesAnOlderLayout(t *testing.T) {
	p := mustPKI(t)
	rds := redistest.StartTopology(t)
	ctx := context.Background()
	if err := rds.Client(t).XAdd(ctx, &redis.XAddArgs{Stream: "mg:{a:bank-a}:events", Values: []any{"event_id", "e1",
		"type", "report.received", "data", `{"report_id":"r1","iban":"NL91ABNA0417164300"}`, "at", time.Now().UnixMilli()}}).Err(); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(t.TempDir(), "mulegate.yaml")
	if err := os.WriteFile(cfgPath, []byte(p.config(rds.Addrs(), "")), 0o600); err != nil {
		t.Fatal(err)
	}
	env := func(string) string { return "" }
	err := run(ctx, []string{"serve", "--config", cfgPath}, env, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "mulegate migrate") {
		t.Fatalf("serve on a Part 2 feed: %v, want a refusal naming mulegate migrate", err)
	}
	var out strings.Builder
	if err := run(ctx, []string{"migrate", "--config", cfgPath}, env, &out, io.Discard); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	if !strings.Contains(out.String(), "sealed 1 feed events") {
		t.Errorf("migrate printed %q", out.String())
	}
	gw := mustGatewayConfig(t, p.config(rds.Addrs(), ""))
	got := do(t, p.client(t, p.clients["bank-a"]), "GET", gw.api+"/v1/events", p.token(t, "bank-a", nil, nil), "")
	if got.status != 200 || !strings.Contains(string(got.body), `"iban":"NL91ABNA0417164300"`) {
		t.Errorf("the sealed feed served: %d %s", got.status, got.body)
	}
}
