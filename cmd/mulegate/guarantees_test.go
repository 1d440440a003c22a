package main

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestExpiredAlertsDoNotStallTheFeed (issue 8.7): behind 25 expired
// alerts, limit=1 still reaches the live one; the cursor moves past what
// it skipped instead of staying put.
func TestExpiredAlertsDoNotStallTheFeed(t *testing.T) {
	a := mustAlertEnv(t)
	api := a.gw.api
	soon := time.Now().Add(1200 * time.Millisecond).UTC().Format(time.RFC3339Nano)
	for i := range 25 {
		if got := do(t, a.police, "POST", api+"/v1/alerts", a.policeTok,
			fmt.Sprintf(`{"iban":"NL91ABNA0417164300","severity":"info","message":"short %d","reference":"r","expires_at":%q}`, i, soon)); got.status != 201 {
			t.Fatalf("post: %d %s", got.status, got.body)
		}
	}
	time.Sleep(1500 * time.Millisecond)
	a.post(t, api, "NL91ABNA0417164300", "live")
	// The stream from the beginning skips the expired ones and sends the
	// live alert.
	ch, cancel := openStream(t, a.bankA, api+"/v1/alerts/stream", a.aTok, "0-0")
	if ev := nextEvent(t, ch); !strings.Contains(ev.data, `"message":"live"`) {
		t.Errorf("stream from the start: %+v, want the live alert", ev)
	}
	cancel()
	cursor := ""
	for page := 0; page < 30; page++ {
		f := decodeInto[feed](t, do(t, a.bankA, "GET", api+"/v1/alerts?limit=1&after="+cursor, a.aTok, ""))
		if len(f.Alerts) == 1 {
			if f.Alerts[0].Message != "live" {
				t.Fatalf("got %+v, want the live alert", f.Alerts[0])
			}
			return
		}
		if f.Next == cursor {
			t.Fatalf("page %d: no alert and the cursor did not move (%q): the feed stalls", page, cursor)
		}
		cursor = f.Next
	}
	t.Fatal("the live alert never came")
}

// TestLongPollOutlastsTheWriteTimeout (issue 8.8): a long poll as long as
// the server's write timeout is answered 200, over HTTP/1.1 and HTTP/2.
func TestLongPollOutlastsTheWriteTimeout(t *testing.T) {
	a := mustAlertEnv(t, "MULEGATE_API_WRITE_TIMEOUT", "2s")
	for _, h2 := range []bool{false, true} {
		t.Run(fmt.Sprintf("http2=%v", h2), func(t *testing.T) {
			c := a.p.client(t, a.p.clients["bank-a"])
			tr := c.Transport.(*specCheck).next.(*http.Transport)
			tr.ForceAttemptHTTP2 = h2
			if !h2 {
				tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
			}
			start := time.Now()
			got := do(t, c, "GET", a.gw.api+"/v1/alerts?wait=3", a.aTok, "")
			if got.status != 200 {
				t.Fatalf("wait=3 with a 2 s write timeout: %d %s", got.status, got.body)
			}
			if d := time.Since(start); d < 2900*time.Millisecond || d > 5*time.Second {
				t.Errorf("answered after %v, want about 3 s", d)
			}
		})
	}
}

// TestSIGTERMWithLongPollExitsZero (issue 8.9): a gateway with a client
// long-polling stops promptly and cleanly on SIGTERM; the client gets its
// (empty) answer.
func TestSIGTERMWithLongPollExitsZero(t *testing.T) {
	p := mustPKI(t)
	rds := mustRedisAddrs(t)
	gw := mustServeProc(t, p, rds, "MULEGATE_API_SHUTDOWN_TIMEOUT=5s", "MULEGATE_FORWARD_WORKERS=0")
	c := p.client(t, p.clients["bank-a"])
	tok := p.token(t, "bank-a", nil, nil)
	answered := make(chan int, 1)
	go func() {
		req, _ := http.NewRequest("GET", gw.addrs["api"]+"/v1/alerts?wait=30", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := c.Transport.(*specCheck).next.RoundTrip(req)
		if err != nil {
			answered <- 0
			return
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		answered <- resp.StatusCode
	}()
	time.Sleep(500 * time.Millisecond)
	start := time.Now()
	if err := gw.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-gw.done:
	case <-time.After(10 * time.Second):
		t.Fatal("the gateway did not exit within 10 s of SIGTERM")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("exit took %v, more than api.shutdown_timeout (5 s)", d)
	}
	if code := gw.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("exit code %d, want 0\n%s", code, lastLines(gw.stderr.String(), 5))
	}
	if st := <-answered; st != 200 {
		t.Errorf("the long poll got %d, want 200", st)
	}
}

// TestCursorBeyondUint64 (issue 8.10): a cursor that is not a stream id
// is the caller's mistake: 400 on the feed and on the stream, and no
// Redis error counted.
func TestCursorBeyondUint64(t *testing.T) {
	a := mustAlertEnv(t)
	for _, cur := range []string{"99999999999999999999-0", "0-99999999999999999999", "18446744073709551616-1", "-1-0", "1-", "abc"} {
		got := do(t, a.bankA, "GET", a.gw.api+"/v1/alerts?after="+cur, a.aTok, "")
		if got.status != 400 || problemCode(t, got) != "invalid_request" {
			t.Errorf("feed after=%s: %d %s", cur, got.status, got.body)
		}
		got = do(t, a.bankA, "GET", a.gw.api+"/v1/alerts/stream", a.aTok, "", "Last-Event-ID", cur)
		if got.status != 400 {
			t.Errorf("stream Last-Event-ID=%s: %d", cur, got.status)
		}
	}
	if n := metricSum(t, a.gw.ops, "mulegate_redis_errors_total"); n != 0 {
		t.Errorf("%v Redis errors counted for bad cursors", n)
	}
}

// TestInventedMethodsDoNotGrowMetrics (issue 8.11): any token is an HTTP
// method; the metrics label them "other".
func TestInventedMethodsDoNotGrowMetrics(t *testing.T) {
	e := mustEnv(t)
	c := e.p.client(t, e.p.clients["bank-a"])
	for i := range 50 {
		req, _ := http.NewRequest(fmt.Sprintf("M%dX", i), e.gw.api+"/v1/ibans/NL91ABNA0417164300", nil)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	resp, err := http.Get(e.gw.ops + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if strings.Contains(string(body), `method="M1X"`) {
		t.Error("an invented method became a metric label")
	}
	if !strings.Contains(string(body), `method="other"`) {
		t.Error("invented methods are not counted as other")
	}
}

// TestOneOrgCannotRaiseRisk (issue 8.13): one org filing five reports
// under five keys leaves the IBAN at low; a second org makes it count.
func TestOneOrgCannotRaiseRisk(t *testing.T) {
	e := mustEnv(t)
	market := e.p.client(t, e.p.clients["market-a"])
	mTok := e.p.token(t, "market-a", nil, nil)
	for i := range 5 {
		if got := submit(t, market, e, mTok, fmt.Sprint("flood-", i), `{"iban":"NL91ABNA0417164300","category":"phishing"}`); got.status != 202 {
			t.Fatalf("submit: %d", got.status)
		}
	}
	l := decodeInto[lookup](t, do(t, market, "GET", e.gw.api+"/v1/ibans/NL91ABNA0417164300", mTok, ""))
	if l.ReportCount != 5 || l.ReporterCount != 1 || l.Risk != "low" {
		t.Fatalf("five reports from one org: count %d reporters %d risk %q, want low", l.ReportCount, l.ReporterCount, l.Risk)
	}
	bank := e.p.client(t, e.p.clients["bank-a"])
	bTok := e.p.token(t, "bank-a", nil, nil)
	submit(t, bank, e, bTok, "second-voice", `{"iban":"NL91ABNA0417164300","category":"phishing"}`)
	l = decodeInto[lookup](t, do(t, bank, "GET", e.gw.api+"/v1/ibans/NL91ABNA0417164300", bTok, ""))
	if l.Risk != "high" {
		t.Errorf("six reports from two orgs: risk %q, want high", l.Risk)
	}
}

// TestOneMeaningPerRequest (issue 8.17): what two parsers could read two
// ways is refused, and nothing is counted.
func TestOneMeaningPerRequest(t *testing.T) {
	e := mustEnv(t)
	c := e.p.client(t, e.p.clients["bank-a"])
	tok := e.p.token(t, "bank-a", nil, nil)
	good := `{"iban":"NL91ABNA0417164300","category":"phishing"}`
	for _, tc := range []struct {
		name    string
		body    string
		headers [][2]string
		status  int
		code    string
	}{
		{"400/two Authorization headers", good, [][2]string{{"Authorization", "Bearer " + tok}, {"Authorization", "Bearer x"}, {"Idempotency-Key", "k1"}}, 400, "invalid_request"},
		{"400/two Idempotency-Key headers", good, [][2]string{{"Idempotency-Key", "k2"}, {"Idempotency-Key", "k3"}}, 400, "invalid_request"},
		{"400/duplicate key", `{"iban":"NL91ABNA0417164300","iban":"DE89370400440532013000","category":"phishing"}`, nil, 400, "invalid_request"},
		{"400/case-variant key", `{"IBAN":"NL91ABNA0417164300","category":"phishing"}`, nil, 400, "invalid_request"},
		{"400/case-variant nested key", `{"iban":"NL91ABNA0417164300","category":"phishing","amount":{"Value":"1.00","currency":"EUR"}}`, nil, 400, "invalid_request"},
		{"400/duplicate nested key", `{"iban":"NL91ABNA0417164300","category":"phishing","amount":{"value":"1.00","value":"9.00","currency":"EUR"}}`, nil, 400, "invalid_request"},
		{"400/invalid UTF-8", "{\"iban\":\"NL91ABNA0417164300\",\"category\":\"phishing\",\"description\":\"\xff\xfe\"}", nil, 400, "invalid_request"},
		{"415/charset utf-16", good, [][2]string{{"Content-Type", "application/json; charset=utf-16"}}, 415, "unsupported_media_type"},
		{"415/gzip", good, [][2]string{{"Content-Encoding", "gzip"}}, 415, "unsupported_media_type"},
		{"202/charset utf-8", good, [][2]string{{"Content-Type", "application/json; charset=UTF-8"}}, 202, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("POST", e.gw.api+"/v1/reports", strings.NewReader(tc.body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+tok)
			req.Header.Set("Idempotency-Key", "key-"+strings.ReplaceAll(tc.name, " ", "-"))
			set := map[string]bool{}
			for _, h := range tc.headers {
				if !set[h[0]] {
					req.Header.Del(h[0])
					set[h[0]] = true
				}
				req.Header.Add(h[0], h[1])
			}
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, body)
			}
			if tc.code != "" {
				var pr struct{ Code string }
				_ = json.Unmarshal(body, &pr)
				if pr.Code != tc.code {
					t.Errorf("code %q, want %q: %s", pr.Code, tc.code, body)
				}
			}
		})
	}
	l := decodeInto[lookup](t, do(t, c, "GET", e.gw.api+"/v1/ibans/NL91ABNA0417164300", tok, ""))
	if l.ReportCount != 1 {
		t.Errorf("report_count %d after the refused requests and one good one, want 1", l.ReportCount)
	}
	if l := decodeInto[lookup](t, do(t, c, "GET", e.gw.api+"/v1/ibans/DE89370400440532013000", tok, "")); l.ReportCount != 0 {
		t.Errorf("the duplicate key's second IBAN was counted")
	}
}

// TestSIGHUPRevokesCachedAccess (issue 8.4): after a reload that demotes
// the police org to a marketplace and removes a bank, their cached tokens
// lose that access on the next request.
func TestSIGHUPRevokesCachedAccess(t *testing.T) {
	p, cfgPath, base, gw := startReloadable(t)
	police := p.client(t, p.clients["police-nl"])
	bankB := p.client(t, p.clients["bank-b"])
	pTok, bTok := p.token(t, "police-nl", nil, nil), p.token(t, "bank-b", nil, nil)
	alert := `{"iban":"NL91ABNA0417164300","severity":"info","message":"m","reference":"r"}`
	if got := do(t, police, "POST", gw.addrs["api"]+"/v1/alerts", pTok, alert); got.status != 201 {
		t.Fatalf("police alert before reload: %d", got.status)
	}
	if got := do(t, bankB, "GET", gw.addrs["api"]+"/v1/ibans/NL91ABNA0417164300", bTok, ""); got.status != 200 {
		t.Fatalf("bank-b lookup before reload: %d", got.status)
	}
	updated := strings.Replace(base, "- id: police-nl\n    type: police", "- id: police-nl\n    type: marketplace", 1)
	updated = strings.Replace(updated, "- id: bank-b\n    type: bank\n", "- id: bank-b-renamed\n    type: bank\n", 1)
	if updated == base || !strings.Contains(updated, "bank-b-renamed") || !strings.Contains(updated, "police-nl\n    type: marketplace") {
		t.Fatalf("test config did not change as intended:\n%s", updated)
	}
	if err := writeFile(cfgPath, updated); err != nil {
		t.Fatal(err)
	}
	if err := gw.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		a := do(t, police, "POST", gw.addrs["api"]+"/v1/alerts", pTok, alert)
		b := do(t, bankB, "GET", gw.addrs["api"]+"/v1/ibans/NL91ABNA0417164300", bTok, "")
		if a.status == 403 && b.status == 401 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after SIGHUP: demoted police alert %d (want 403), removed bank lookup %d (want 401)", a.status, b.status)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
