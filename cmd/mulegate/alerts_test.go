package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mulegate/mulegate/internal/redistest"
	"github.com/mulegate/mulegate/internal/waitfor"
)

type alertOut struct {
	AlertID   string `json:"alert_id"`
	IBAN      string `json:"iban"`
	Severity  string `json:"severity"`
	Message   string `json:"message"`
	Reference string `json:"reference"`
	CreatedAt string `json:"created_at"`
	Cursor    string `json:"cursor"`
}

type feed struct {
	Alerts []alertOut `json:"alerts"`
	Next   string     `json:"next_cursor"`
}

type alertEnv struct {
	*env
	police, bankA, bankB, market *http.Client
	policeTok, aTok, bTok, mTok  string
}

func mustAlertEnv(t *testing.T, envVars ...string) *alertEnv {
	t.Helper()
	e := mustEnv(t, envVars...)
	return &alertEnv{env: e,
		police: e.p.client(t, e.p.clients["police-nl"]), policeTok: e.p.token(t, "police-nl", nil, nil),
		bankA: e.p.client(t, e.p.clients["bank-a"]), aTok: e.p.token(t, "bank-a", nil, nil),
		bankB: e.p.client(t, e.p.clients["bank-b"]), bTok: e.p.token(t, "bank-b", nil, nil),
		market: e.p.client(t, e.p.clients["market-a"]), mTok: e.p.token(t, "market-a", nil, nil),
	}
}

func (a *alertEnv) post(t *testing.T, api, iban, msg string, headers ...string) call {
	t.Helper()
	return do(t, a.police, "POST", api+"/v1/alerts", a.policeTok,
		fmt.Sprintf(`{"iban":%q,"severity":"critical","message":%q,"reference":"POL-1"}`, iban, msg), headers...)
}

func TestAlertsRoutedToTheirBankOnly(t *testing.T) {
	a := mustAlertEnv(t)
	api := a.gw.api
	ibans := []struct{ iban, bank string }{
		{"NL91ABNA0417164300", "bank-a"}, {"BE68539007547034", "bank-b"}, {"DE89370400440532013000", "bank-a"},
		{"FR1420041010050500013M02606", "bank-b"}, {"CH9300762011623852957", "bank-b"},
	}
	for n, x := range ibans {
		got := a.post(t, api, x.iban, fmt.Sprint("alert ", n))
		if got.status != 201 {
			t.Fatalf("post %s = %d %s", x.iban, got.status, got.body)
		}
		if c := decodeInto[struct {
			BankOrg string `json:"bank_org"`
		}](t, got); c.BankOrg != x.bank {
			t.Errorf("%s routed to %s, want %s", x.iban, c.BankOrg, x.bank)
		}
	}
	fa := decodeInto[feed](t, do(t, a.bankA, "GET", api+"/v1/alerts", a.aTok, ""))
	fb := decodeInto[feed](t, do(t, a.bankB, "GET", api+"/v1/alerts", a.bTok, ""))
	msgs := func(f feed) string {
		var m []string
		for _, x := range f.Alerts {
			m = append(m, x.Message)
		}
		return strings.Join(m, ",")
	}
	if got := msgs(fa); got != "alert 0,alert 2" {
		t.Errorf("bank-a sees %q", got)
	}
	if got := msgs(fb); got != "alert 1,alert 3,alert 4" {
		t.Errorf("bank-b sees %q", got)
	}
	// after is exclusive; with nothing new next_cursor is the cursor given.
	rest := decodeInto[feed](t, do(t, a.bankB, "GET", api+"/v1/alerts?after="+fb.Alerts[0].Cursor, a.bTok, ""))
	if msgs(rest) != "alert 3,alert 4" || rest.Next != fb.Alerts[2].Cursor {
		t.Errorf("after the first: %+v", rest)
	}
	none := decodeInto[feed](t, do(t, a.bankB, "GET", api+"/v1/alerts?after="+fb.Next, a.bTok, ""))
	if len(none.Alerts) != 0 || none.Next != fb.Next {
		t.Errorf("nothing new: %+v, want next_cursor %q", none, fb.Next)
	}
	page := decodeInto[feed](t, do(t, a.bankB, "GET", api+"/v1/alerts?limit=2", a.bTok, ""))
	if len(page.Alerts) != 2 || page.Next != page.Alerts[1].Cursor {
		t.Errorf("limit=2: %+v", page)
	}

	// Who may do what.
	for _, c := range []struct {
		name   string
		client *http.Client
		tok    string
		method string
		path   string
		want   int
	}{
		{"403/marketplace posts", a.market, a.mTok, "POST", "/v1/alerts", 403},
		{"403/marketplace reads the feed", a.market, a.mTok, "GET", "/v1/alerts", 403},
		{"403/marketplace streams", a.market, a.mTok, "GET", "/v1/alerts/stream", 403},
		{"403/bank posts", a.bankA, a.aTok, "POST", "/v1/alerts", 403},
		{"403/police reads a feed", a.police, a.policeTok, "GET", "/v1/alerts", 403},
	} {
		body := ""
		if c.method == "POST" {
			body = `{"iban":"NL91ABNA0417164300","severity":"info","message":"m","reference":"r"}`
		}
		if got := do(t, c.client, c.method, api+c.path, c.tok, body); got.status != c.want || problemCode(t, got) != "forbidden" {
			t.Errorf("%s: %d %s", c.name, got.status, got.body)
		}
	}
	// Validation and routing failures, which write nothing.
	before := a.redis.DBSize(t)
	defer func() {
		if after := a.redis.DBSize(t); after != before {
			t.Errorf("refused alerts changed Redis: %d keys before, %d after", before, after)
		}
	}()
	for _, c := range []struct {
		name, body string
		status     int
		code       string
	}{
		{"422/unroutable", `{"iban":"IT60X0542811101000000123456","severity":"info","message":"m","reference":"r"}`, 422, "unroutable_iban"},
		{"422/invalid iban", `{"iban":"NL00ABNA0417164300","severity":"info","message":"m","reference":"r"}`, 422, "invalid_iban"},
		{"400/bad severity", `{"iban":"NL91ABNA0417164300","severity":"urgent","message":"m","reference":"r"}`, 400, "invalid_request"},
		{"400/expires in the past", `{"iban":"NL91ABNA0417164300","severity":"info","message":"m","reference":"r","expires_at":"2020-01-01T00:00:00Z"}`, 400, "invalid_request"},
		{"400/no message", `{"iban":"NL91ABNA0417164300","severity":"info","reference":"r"}`, 400, "invalid_request"},
	} {
		got := do(t, a.police, "POST", api+"/v1/alerts", a.policeTok, c.body)
		if got.status != c.status || problemCode(t, got) != c.code {
			t.Errorf("%s: %d %s", c.name, got.status, got.body)
		}
	}
	for _, q := range []string{"?limit=0", "?limit=abc", "?wait=31", "?after=garbage"} {
		if got := do(t, a.bankA, "GET", api+"/v1/alerts"+q, a.aTok, ""); got.status != 400 {
			t.Errorf("GET /v1/alerts%s = %d", q, got.status)
		}
	}
}

func TestAlertIdempotency(t *testing.T) {
	a := mustAlertEnv(t)
	first := a.post(t, a.gw.api, "NL91ABNA0417164300", "freeze", "Idempotency-Key", "pol-case-7")
	again := a.post(t, a.gw.api, "NL91ABNA0417164300", "freeze", "Idempotency-Key", "pol-case-7")
	if first.status != 201 || again.status != 201 || string(first.body) != string(again.body) || again.header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("replay: %d %s / %d %s %q", first.status, first.body, again.status, again.body, again.header.Get("Idempotent-Replayed"))
	}
	other := a.post(t, a.gw.api, "NL91ABNA0417164300", "something else", "Idempotency-Key", "pol-case-7")
	if other.status != 422 || problemCode(t, other) != "idempotency_conflict" {
		t.Fatalf("conflict: %d %s", other.status, other.body)
	}
	f := decodeInto[feed](t, do(t, a.bankA, "GET", a.gw.api+"/v1/alerts", a.aTok, ""))
	if len(f.Alerts) != 1 {
		t.Fatalf("bank sees %d alerts after a replay, want 1", len(f.Alerts))
	}
	if v := metric(t, a.gw.ops, `mulegate_events_written_total{type="alert.created"}`); v != "1" {
		t.Errorf(`mulegate_events_written_total{type="alert.created"} = %q, want 1 (the alert is in the bank's event feed)`, v)
	}
	if v := metric(t, a.gw.ops, "mulegate_alerts_created_total"); v != "1" {
		t.Errorf("mulegate_alerts_created_total = %q, want 1", v)
	}
	if v := metric(t, a.gw.ops, `mulegate_alerts_delivered_total{via="feed"}`); v != "1" {
		t.Errorf("alerts delivered through the feed = %q, want 1", v)
	}
}

// TestAlertLongPollAcrossInstances: a bank's long poll on one gateway
// returns as soon as the police post through another.
func TestAlertLongPollAcrossInstances(t *testing.T) {
	a := mustAlertEnv(t)
	other := mustGateway(t, a.p, a.redis.Addrs(), "")
	type result struct {
		c    call
		when time.Time
	}
	done := make(chan result, 1)
	go func() {
		c := do(t, a.bankA, "GET", a.gw.api+"/v1/alerts?wait=20", a.aTok, "")
		done <- result{c, time.Now()}
	}()
	time.Sleep(500 * time.Millisecond) // the poll is waiting
	posted := time.Now()
	if got := a.post(t, other.api, "NL91ABNA0417164300", "wake up"); got.status != 201 {
		t.Fatal(got.status)
	}
	select {
	case r := <-done:
		f := decodeInto[feed](t, r.c)
		if len(f.Alerts) != 1 || f.Alerts[0].Message != "wake up" {
			t.Fatalf("long poll answered %s", r.c.body)
		}
		lat := r.when.Sub(posted)
		t.Logf("long poll answered %v after the post on the other instance", lat)
		if lat > time.Second {
			t.Errorf("long poll took %v: it was not woken by the post", lat)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("long poll did not return")
	}
	// Without an alert, wait is honoured and the cursor stays.
	start := time.Now()
	f := decodeInto[feed](t, do(t, a.bankB, "GET", a.gw.api+"/v1/alerts?wait=1", a.bTok, ""))
	if len(f.Alerts) != 0 || f.Next != "" || time.Since(start) < 900*time.Millisecond {
		t.Errorf("empty long poll: %+v after %v", f, time.Since(start))
	}
}

// sseEvent is one parsed Server-Sent Event.
type sseEvent struct{ id, event, data string }

// reportID is the report_id of the event's data ("" for none).
func (e sseEvent) reportID() string {
	var v struct {
		Data struct {
			ReportID string `json:"report_id"`
		} `json:"data"`
	}
	_ = json.Unmarshal([]byte(e.data), &v)
	return v.Data.ReportID
}

// openStream connects to the SSE endpoint and returns the events as they
// arrive.
func openStream(t *testing.T, c *http.Client, url, tok, lastID string) (<-chan sseEvent, context.CancelFunc) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Accept", "text/event-stream")
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := c.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		cancel()
		t.Fatalf("stream: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	out := make(chan sseEvent, 100)
	go func() {
		defer resp.Body.Close()
		defer close(out)
		sc := bufio.NewScanner(resp.Body)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev.event != "" {
					out <- ev
				}
				ev = sseEvent{}
			case strings.HasPrefix(line, "id: "):
				ev.id = line[4:]
			case strings.HasPrefix(line, "event: "):
				ev.event = line[7:]
			case strings.HasPrefix(line, "data: "):
				ev.data = line[6:]
			}
		}
	}()
	return out, cancel
}

func nextEvent(t *testing.T, ch <-chan sseEvent) sseEvent {
	t.Helper()
	select {
	case ev, ok := <-ch:
		if !ok {
			t.Fatal("stream closed")
		}
		return ev
	case <-time.After(5 * time.Second):
		t.Fatal("no event within 5 s")
	}
	return sseEvent{}
}

func TestAlertStreamResumes(t *testing.T) {
	a := mustAlertEnv(t)
	api := a.gw.api
	a.post(t, api, "NL91ABNA0417164300", "before connecting") // not sent: the stream starts now
	ch, cancel := openStream(t, a.bankA, api+"/v1/alerts/stream", a.aTok, "")
	a.post(t, api, "BE68539007547034", "for bank-b") // another bank's: never sent here
	a.post(t, api, "NL91ABNA0417164300", "live 1")
	a.post(t, api, "DE89370400440532013000", "live 2")
	e1, e2 := nextEvent(t, ch), nextEvent(t, ch)
	if e1.event != "alert" || !strings.Contains(e1.data, `"live 1"`) || !strings.Contains(e2.data, `"live 2"`) {
		t.Fatalf("events: %+v %+v", e1, e2)
	}
	if !strings.Contains(e2.data, `"cursor":"`+e2.id+`"`) {
		t.Errorf("event id %q is not the alert's cursor: %s", e2.id, e2.data)
	}
	cancel()
	for _, m := range []string{"missed 1", "missed 2", "missed 3"} {
		a.post(t, api, "NL91ABNA0417164300", m)
	}
	ch2, cancel2 := openStream(t, a.bankA, api+"/v1/alerts/stream", a.aTok, e2.id)
	defer cancel2()
	for _, want := range []string{"missed 1", "missed 2", "missed 3"} {
		if ev := nextEvent(t, ch2); !strings.Contains(ev.data, `"`+want+`"`) {
			t.Fatalf("after reconnect got %s, want %q", ev.data, want)
		}
	}
	a.post(t, api, "NL91ABNA0417164300", "live 3")
	if ev := nextEvent(t, ch2); !strings.Contains(ev.data, `"live 3"`) {
		t.Fatalf("then got %s, want live 3 (no duplicates)", ev.data)
	}
	// The stream shows in the metrics while open.
	if v := metric(t, a.gw.ops, "mulegate_alert_streams_open"); v != "1" {
		t.Errorf("mulegate_alert_streams_open = %q, want 1", v)
	}
}

func TestAlertStreamEndsCleanlyOnShutdown(t *testing.T) {
	p := mustPKI(t)
	rds := redistest.StartTopology(t)
	gw := mustGateway(t, p, rds.Addrs(), "")
	c := p.client(t, p.clients["bank-a"])
	ch, cancel := openStream(t, c, gw.api+"/v1/alerts/stream", p.token(t, "bank-a", nil, nil), "")
	defer cancel()
	start := time.Now()
	gw.stop(t)
	select {
	case _, ok := <-ch:
		if ok {
			t.Fatal("an event arrived during shutdown")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the stream was not closed by the shutdown")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("shutdown with an open stream took %v", d)
	}
}

func TestExpiredAndTrimmedAlertsAreNotServed(t *testing.T) {
	a := mustAlertEnv(t, "MULEGATE_ALERTS_RETENTION", "3s")
	api := a.gw.api
	soon := time.Now().Add(1500 * time.Millisecond).UTC().Format(time.RFC3339Nano)
	if got := do(t, a.police, "POST", api+"/v1/alerts", a.policeTok,
		`{"iban":"NL91ABNA0417164300","severity":"info","message":"short-lived","reference":"r","expires_at":"`+soon+`"}`); got.status != 201 {
		t.Fatalf("post: %d %s", got.status, got.body)
	}
	kept := time.Now()
	a.post(t, api, "NL91ABNA0417164300", "kept for 3 s")
	if f := decodeInto[feed](t, do(t, a.bankA, "GET", api+"/v1/alerts", a.aTok, "")); len(f.Alerts) != 2 {
		t.Fatalf("before expiry: %d alerts", len(f.Alerts))
	}
	var f feed
	waitfor.Until(t, "the first alert to expire", 10*time.Second, func() bool {
		f = decodeInto[feed](t, do(t, a.bankA, "GET", api+"/v1/alerts", a.aTok, ""))
		return len(f.Alerts) == 1
	})
	if len(f.Alerts) != 1 || f.Alerts[0].Message != "kept for 3 s" {
		t.Fatalf("after expiry: %+v", f)
	}
	time.Sleep(time.Until(kept.Add(3500 * time.Millisecond))) // the retention passes for the second alert
	a.post(t, api, "NL91ABNA0417164300", "new")               // also trims the stream by age
	f = decodeInto[feed](t, do(t, a.bankA, "GET", api+"/v1/alerts", a.aTok, ""))
	if len(f.Alerts) != 1 || f.Alerts[0].Message != "new" {
		t.Fatalf("after retention: %+v", f)
	}
	if n := a.redis.Client(t).XLen(context.Background(), "mg:{a:bank-a}:alerts").Val(); n != 1 {
		t.Errorf("the stream still holds %d entries after trimming, want 1", n)
	}
}

func TestAlertStreamKeepAlive(t *testing.T) {
	a := mustAlertEnv(t, "MULEGATE_ALERTS_KEEPALIVE", "200ms")
	ctx, cancel := context.WithTimeout(context.Background(), 900*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", a.gw.api+"/v1/alerts/stream", nil)
	req.Header.Set("Authorization", "Bearer "+a.aTok)
	resp, err := a.bankA.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	n := 0
	for sc.Scan() {
		if sc.Text() == ": keep-alive" {
			n++
		}
	}
	if n < 2 {
		t.Errorf("%d keep-alive comments in 900 ms at a 200 ms period", n)
	}
}

// TestSIGHUPReloadsRouting: a bank code added to the config file routes
// alerts after SIGHUP, without a restart.
func TestSIGHUPReloadsRouting(t *testing.T) {
	p, cfgPath, base, gw := startReloadable(t)
	police := p.client(t, p.clients["police-nl"])
	tok := p.token(t, "police-nl", nil, nil)
	body := `{"iban":"IT60X0542811101000000123456","severity":"info","message":"m","reference":"r"}`
	if got := do(t, police, "POST", gw.addrs["api"]+"/v1/alerts", tok, body); got.status != 422 {
		t.Fatalf("before reload: %d", got.status)
	}
	updated := strings.Replace(base, `CH: ["00762"]}`, `CH: ["00762"], IT: ["05428"]}`, 1)
	if updated == base {
		t.Fatal("test config did not change")
	}
	if err := writeFile(cfgPath, updated); err != nil {
		t.Fatal(err)
	}
	if err := gw.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := do(t, police, "POST", gw.addrs["api"]+"/v1/alerts", tok, body)
		if got.status == 201 && strings.Contains(string(got.body), `"bank_org":"bank-b"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after SIGHUP: %d %s", got.status, got.body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// startReloadable starts "mulegate serve" as its own process on the test
// configuration written to cfgPath (base), so that a test can rewrite
// the file and send SIGHUP.
func startReloadable(t *testing.T) (p *pki, cfgPath, base string, gw *proc) {
	t.Helper()
	p = mustPKI(t)
	rds := redistest.StartTopology(t)
	cfgPath = t.TempDir() + "/mulegate.yaml"
	base = p.config(rds.Addrs(), "")
	if err := writeFile(cfgPath, base); err != nil {
		t.Fatal(err)
	}
	return p, cfgPath, base, startProc(t, []string{"serve", "--config", cfgPath}, nil, "api", "ops")
}

func writeFile(path, content string) error { return os.WriteFile(path, []byte(content), 0o600) }
