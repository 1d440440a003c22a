package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mulegate/mulegate/internal/waitfor"
)

type reviewOut struct {
	State          string  `json:"state"`
	HolderOrg      string  `json:"holder_org"`
	RespondBy      *string `json:"respond_by"`
	AcknowledgedAt *string `json:"acknowledged_at"`
	ClosedAt       *string `json:"closed_at"`
	Result         string  `json:"result"`
	FraudType      string  `json:"fraud_type"`
	CancelledAt    *string `json:"cancelled_at"`
	Overdue        bool    `json:"overdue"`
}

type reportOut struct {
	ReportID    string    `json:"report_id"`
	Status      string    `json:"status"`
	ReceivedAt  string    `json:"received_at"`
	Review      reviewOut `json:"review"`
	IBAN        string    `json:"iban"`
	Category    string    `json:"category"`
	ReporterOrg string    `json:"reporter_org"`
}

type provenance struct {
	ReportCount   int64 `json:"report_count"`
	ReporterCount int64 `json:"reporter_count"`
	Review        struct {
		Open, Confirmed, Disputed int64
	} `json:"review"`
	Cancelled   int64                       `json:"cancelled_count"`
	Stats       map[string]map[string]int64 `json:"stats"`
	Risk        string                      `json:"risk"`
	RiskReasons []string                    `json:"risk_reasons"`
	Watermark   *string                     `json:"watermark"`
}

// TestReviewLifecycle: a marketplace reports an IBAN that bank-a holds;
// bank-a sees it with its IBAN and a deadline, acknowledges and closes it
// as agreed; the lookup shows it confirmed and high; the reporter
// cancels it and it stops counting. Every party gets the answer the SPEC
// gives for every action, and the police store receives the report and
// then its review events.
func TestReviewLifecycle(t *testing.T) {
	p := mustPKI(t)
	rds := mustRedisAddrs(t)
	sim := mustSimProc(t).addrs["sim"]
	gw := mustGateway(t, p, rds, "", "MULEGATE_POLICE_URL", sim, "MULEGATE_FORWARD_WORKERS", "2",
		"MULEGATE_FORWARD_SWEEP_INTERVAL", "200ms", "MULEGATE_FORWARD_BACKOFF_INITIAL", "50ms", "MULEGATE_FORWARD_BACKOFF_MAX", "200ms")
	market, bankA, bankB, police := p.client(t, p.clients["market-a"]), p.client(t, p.clients["bank-a"]), p.client(t, p.clients["bank-b"]), p.client(t, p.clients["police-nl"])
	mTok, aTok, bTok, pTok := p.token(t, "market-a", nil, nil), p.token(t, "bank-a", nil, nil), p.token(t, "bank-b", nil, nil), p.token(t, "police-nl", nil, nil)

	got := do(t, market, "POST", gw.api+"/v1/reports", mTok, `{"iban":"NL91ABNA0417164300","category":"marketplace_fraud"}`, "Idempotency-Key", "rv-1")
	if got.status != 202 {
		t.Fatalf("submit: %d %s", got.status, got.body)
	}
	loc := gw.api + got.header.Get("Location")
	st := decodeInto[reportOut](t, do(t, bankA, "GET", loc, aTok, ""))
	received, _ := time.Parse(time.RFC3339Nano, st.ReceivedAt)
	if st.Review.State != "open" || st.Review.HolderOrg != "bank-a" || st.IBAN != "NL91ABNA0417164300" ||
		st.Category != "marketplace_fraud" || st.ReporterOrg != "market-a" || st.Review.RespondBy == nil || st.Review.Overdue {
		t.Fatalf("the holder's view: %+v", st)
	}
	if rb, _ := time.Parse(time.RFC3339Nano, *st.Review.RespondBy); !rb.Equal(received.Add(7 * 24 * time.Hour)) {
		t.Errorf("respond_by %s, want received_at + 7 days (%s)", *st.Review.RespondBy, received.Add(7*24*time.Hour))
	}
	if m := decodeInto[reportOut](t, do(t, market, "GET", loc, mTok, "")); m.IBAN != "" || m.Review.State != "open" {
		t.Errorf("the reporter sees %+v; only the holder sees the IBAN", m)
	}

	agree := `{"result":"agreed","fraud_type":"mule_account","details":"account frozen"}`
	type party struct {
		c   *http.Client
		tok string
	}
	who := map[string]party{"market": {market, mTok}, "bankA": {bankA, aTok}, "bankB": {bankB, bTok}, "police": {police, pTok}}
	act := func(name, action, body string) call {
		t.Helper()
		pt := who[name]
		if body == "" {
			return do(t, pt.c, "POST", loc+"/"+action, pt.tok, "")
		}
		return do(t, pt.c, "POST", loc+"/"+action, pt.tok, body)
	}
	for _, tc := range []struct {
		name, who, action, body string
		status                  int
		code, state             string
	}{
		{"403/reporter acknowledges", "market", "acknowledge", "", 403, "forbidden", ""},
		{"404/stranger acknowledges", "bankB", "acknowledge", "", 404, "not_found", ""},
		{"403/police closes", "police", "close", agree, 403, "forbidden", ""},
		{"403/holder cancels", "bankA", "cancel", "", 403, "forbidden", ""},
		{"403/marketplace lacks reports:review", "market", "close", agree, 403, "forbidden", ""},
		{"400/close without result", "bankA", "close", `{}`, 400, "invalid_request", ""},
		{"400/agreed without fraud_type", "bankA", "close", `{"result":"agreed"}`, 400, "invalid_request", ""},
		{"200/holder acknowledges", "bankA", "acknowledge", "", 200, "", "acknowledged"},
		{"200/acknowledge again", "bankA", "acknowledge", "", 200, "", "acknowledged"},
		{"200/holder closes agreed", "bankA", "close", agree, 200, "", "closed"},
		{"200/the same close again", "bankA", "close", agree, 200, "", "closed"},
		{"409/another close", "bankA", "close", `{"result":"disagreed"}`, 409, "invalid_state", ""},
		{"409/acknowledge a closed report", "bankA", "acknowledge", "", 409, "invalid_state", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := act(tc.who, tc.action, tc.body)
			if res.status != tc.status {
				t.Fatalf("status %d, want %d: %s", res.status, tc.status, res.body)
			}
			if tc.code != "" && problemCode(t, res) != tc.code {
				t.Errorf("code %s, want %s", problemCode(t, res), tc.code)
			}
			if tc.state != "" {
				if got := decodeInto[reportOut](t, res).Review.State; got != tc.state {
					t.Errorf("state %s, want %s", got, tc.state)
				}
			}
		})
	}
	l := decodeInto[provenance](t, do(t, bankA, "GET", gw.api+"/v1/ibans/NL91ABNA0417164300", aTok, ""))
	if l.ReportCount != 1 || l.Review.Confirmed != 1 || l.Review.Open != 0 || l.Risk != "high" || strings.Join(l.RiskReasons, ",") != "confirmed" || l.Watermark == nil {
		t.Errorf("lookup after the holder confirmed: %+v", l)
	}
	if res := act("market", "cancel", `{"reason":"filed by mistake"}`); res.status != 200 || decodeInto[reportOut](t, res).Review.State != "cancelled" {
		t.Fatalf("cancel: %d %s", res.status, res.body)
	}
	if res := act("market", "cancel", ""); res.status != 200 {
		t.Errorf("cancel again: %d %s", res.status, res.body)
	}
	l = decodeInto[provenance](t, do(t, bankA, "GET", gw.api+"/v1/ibans/NL91ABNA0417164300", aTok, ""))
	if l.ReportCount != 0 || l.Cancelled != 1 || l.Review.Confirmed != 0 || l.Risk != "none" || l.Stats["d7"]["reports"] != 0 {
		t.Errorf("lookup after the cancel: %+v", l)
	}
	if res := act("bankA", "acknowledge", ""); res.status != 409 || problemCode(t, res) != "invalid_state" || !strings.Contains(string(res.body), "cancelled") {
		t.Errorf("acknowledge a cancelled report: %d %s", res.status, res.body)
	}

	// The police store has the report, then acknowledged, closed and
	// cancelled, each once.
	id := st.ReportID
	deadline := time.Now().Add(10 * time.Second)
	for {
		var rec struct {
			Events []struct {
				Event, ByOrg, Result, FraudType, Reason string
			} `json:"events"`
		}
		getJSON(t, sim+"/_sim/reports/"+id, &rec)
		var names []string
		for _, e := range rec.Events {
			names = append(names, e.Event)
		}
		if strings.Join(names, ",") == "acknowledged,closed,cancelled" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the police store has events %v, want acknowledged, closed, cancelled", names)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if n := metricSum(t, gw.ops, "mulegate_reviews_total"); n != 3 {
		t.Errorf("mulegate_reviews_total = %v, want 3 (repeats not counted)", n)
	}
}

// TestUnroutedAndOverdue: a report no registered bank holds is unrouted
// (in no review count, still cancellable by its reporter); an open review
// past respond_by is overdue.
func TestUnroutedAndOverdue(t *testing.T) {
	e := mustEnv(t, "MULEGATE_REVIEW_RESPOND_WITHIN", "1s")
	market := e.p.client(t, e.p.clients["market-a"])
	mTok := e.p.token(t, "market-a", nil, nil)
	it := submit(t, market, e, mTok, "unrouted-1", `{"iban":"IT60X0542811101000000123456","category":"phishing"}`)
	st := decodeInto[reportOut](t, do(t, market, "GET", e.gw.api+it.header.Get("Location"), mTok, ""))
	if st.Review.State != "unrouted" || st.Review.HolderOrg != "" || st.Review.RespondBy != nil || st.Review.Overdue {
		t.Errorf("an IBAN no bank holds: %+v", st.Review)
	}
	l := decodeInto[provenance](t, do(t, market, "GET", e.gw.api+"/v1/ibans/IT60X0542811101000000123456", mTok, ""))
	if l.ReportCount != 1 || l.Review.Open != 0 || l.Review.Confirmed != 0 || l.Review.Disputed != 0 {
		t.Errorf("unrouted lookup: %+v", l)
	}
	if res := do(t, market, "POST", e.gw.api+it.header.Get("Location")+"/cancel", mTok, ""); res.status != 200 {
		t.Errorf("cancel an unrouted report: %d %s", res.status, res.body)
	}
	nl := submit(t, market, e, mTok, "overdue-1", `{"iban":"NL91ABNA0417164300","category":"phishing"}`)
	waitfor.Until(t, "the review to be overdue", 10*time.Second, func() bool {
		st = decodeInto[reportOut](t, do(t, market, "GET", e.gw.api+nl.header.Get("Location"), mTok, ""))
		return st.Review.Overdue
	})
	if st.Review.State != "open" || !st.Review.Overdue {
		t.Errorf("an open review past respond_by: %+v, want overdue", st.Review)
	}
}

// TestMarkers: the police mark any IBAN, a bank only one it holds; a
// police marker replaces a bank's and a bank can neither replace nor lift
// it; lookups show it and rate high.
func TestMarkers(t *testing.T) {
	e := mustEnv(t)
	police, bankA, bankB, market := e.p.client(t, e.p.clients["police-nl"]), e.p.client(t, e.p.clients["bank-a"]), e.p.client(t, e.p.clients["bank-b"]), e.p.client(t, e.p.clients["market-a"])
	pTok, aTok, bTok, mTok := e.p.token(t, "police-nl", nil, nil), e.p.token(t, "bank-a", nil, nil), e.p.token(t, "bank-b", nil, nil), e.p.token(t, "market-a", nil, nil)
	url := e.gw.api + "/v1/ibans/NL91ABNA0417164300/marker"
	mule := `{"fraud_type":"mule_account","details":"confirmed by investigation"}`
	steps := []struct {
		name   string
		c      *http.Client
		tok    string
		method string
		body   string
		status int
	}{
		{"403/another bank", bankB, bTok, "PUT", mule, 403},
		{"403/marketplace", market, mTok, "PUT", mule, 403},
		{"400/bad fraud_type", bankA, aTok, "PUT", `{"fraud_type":"bogus"}`, 400},
		{"200/holder marks", bankA, aTok, "PUT", `{"fraud_type":"scammer_account"}`, 200},
		{"200/police replace it", police, pTok, "PUT", mule, 200},
		{"409/holder cannot replace a police marker", bankA, aTok, "PUT", mule, 409},
		{"403/holder cannot lift a police marker", bankA, aTok, "DELETE", "", 403},
	}
	for _, s := range steps {
		if got := do(t, s.c, s.method, url, s.tok, s.body); got.status != s.status {
			t.Fatalf("%s: %d %s", s.name, got.status, got.body)
		}
	}
	type markerLookup struct {
		Marker *struct {
			FraudType string `json:"fraud_type"`
			ByType    string `json:"by_type"`
		} `json:"marker"`
		Risk        string   `json:"risk"`
		RiskReasons []string `json:"risk_reasons"`
	}
	l := decodeInto[markerLookup](t, do(t, bankA, "GET", e.gw.api+"/v1/ibans/NL91ABNA0417164300", aTok, ""))
	if l.Marker == nil || l.Marker.FraudType != "mule_account" || l.Marker.ByType != "police" || l.Risk != "high" || strings.Join(l.RiskReasons, ",") != "marker" {
		t.Errorf("lookup with a police marker: %+v %+v", l, l.Marker)
	}
	// No tipping-off: the marketplace's view has no by_source, and a police
	// marker is left out altogether (issue 21.20: who set it could be
	// inferred from an IBAN no bank holds).
	mv := do(t, market, "GET", e.gw.api+"/v1/ibans/NL91ABNA0417164300", mTok, "")
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(mv.body, &fields); err != nil {
		t.Fatal(err)
	}
	if _, ok := fields["by_source"]; ok {
		t.Errorf("a marketplace sees by_source: %s", mv.body)
	}
	if string(fields["marker"]) != "null" || strings.Contains(string(fields["risk_reasons"]), "marker") {
		t.Errorf("a marketplace sees the police marker: %s", mv.body)
	}
	if _, ok := fields["risk"]; !ok {
		t.Errorf("a marketplace's view lost more than it should: %s", mv.body)
	}
	if got := do(t, police, "DELETE", url, pTok, ""); got.status != 204 {
		t.Fatalf("police lift: %d %s", got.status, got.body)
	}
	if got := do(t, police, "DELETE", url, pTok, ""); got.status != 404 {
		t.Errorf("lift again: %d, want 404", got.status)
	}
	if got := decodeInto[provenance](t, do(t, bankA, "GET", e.gw.api+"/v1/ibans/NL91ABNA0417164300", aTok, "")); got.Risk != "none" || got.Watermark == nil {
		t.Errorf("after the lift: %+v", got)
	}
}

type eventOut struct {
	EventID   string          `json:"event_id"`
	Type      string          `json:"type"`
	CreatedAt string          `json:"created_at"`
	Cursor    string          `json:"cursor"`
	Data      json.RawMessage `json:"data"`
}

type eventPage struct {
	Events []eventOut `json:"events"`
	Next   string     `json:"next_cursor"`
}

// TestBankEventFeed: the bank that holds an IBAN hears of every report
// about it (within a second of the 202), of its cancellation and of
// police alerts, in order, once each; another bank hears nothing; types
// filters; the SSE stream resumes with Last-Event-ID.
func TestBankEventFeed(t *testing.T) {
	p := mustPKI(t)
	rds := mustRedisAddrs(t)
	sim := mustSimProc(t).addrs["sim"]
	gw := mustGateway(t, p, rds, "", "MULEGATE_POLICE_URL", sim, "MULEGATE_FORWARD_WORKERS", "2")
	market, bankA, bankB, police := p.client(t, p.clients["market-a"]), p.client(t, p.clients["bank-a"]), p.client(t, p.clients["bank-b"]), p.client(t, p.clients["police-nl"])
	mTok, aTok, bTok, pTok := p.token(t, "market-a", nil, nil), p.token(t, "bank-a", nil, nil), p.token(t, "bank-b", nil, nil), p.token(t, "police-nl", nil, nil)

	poll := make(chan eventPage, 1)
	go func() { poll <- decodeInto[eventPage](t, do(t, bankA, "GET", gw.api+"/v1/events?wait=10", aTok, "")) }()
	time.Sleep(200 * time.Millisecond)
	start := time.Now()
	rep := do(t, market, "POST", gw.api+"/v1/reports", mTok,
		`{"iban":"NL91ABNA0417164300","category":"marketplace_fraud","amount":{"value":"249.95","currency":"EUR"},"reference":"case-7"}`,
		"Idempotency-Key", "feed-1")
	if rep.status != 202 {
		t.Fatalf("submit: %d", rep.status)
	}
	id := decodeInto[accepted](t, rep).ReportID
	first := <-poll
	took := time.Since(start)
	if len(first.Events) != 1 || first.Events[0].Type != "report.received" {
		t.Fatalf("long poll: %+v", first)
	}
	t.Logf("report.received reached the long-polling bank %v after the 202", took.Round(time.Millisecond))
	if took > time.Second {
		t.Errorf("report.received came %v after the 202, want within a second", took)
	}
	var data map[string]any
	if err := json.Unmarshal(first.Events[0].Data, &data); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]any{"report_id": id, "iban": "NL91ABNA0417164300", "category": "marketplace_fraud",
		"reporter_org": "market-a", "reporter_type": "marketplace", "reference": "case-7"} {
		if data[k] != want {
			t.Errorf("data.%s = %v, want %v", k, data[k], want)
		}
	}
	if data["respond_by"] == nil || data["received_at"] == nil {
		t.Errorf("data lacks respond_by or received_at: %v", data)
	}
	// The report's status, the event and the police name the same instant.
	st := decodeInto[struct {
		ReceivedAt string `json:"received_at"`
		Review     struct {
			RespondBy string `json:"respond_by"`
		} `json:"review"`
	}](t, do(t, bankA, "GET", gw.api+"/v1/reports/"+id, aTok, ""))
	if data["received_at"] != st.ReceivedAt || data["respond_by"] != st.Review.RespondBy {
		t.Errorf("the event says received_at %v, respond_by %v; the report's status %s, %s", data["received_at"], data["respond_by"],
			st.ReceivedAt, st.Review.RespondBy)
	}
	if res := do(t, market, "POST", gw.api+"/v1/reports/"+id+"/cancel", mTok, `{"reason":"duplicate"}`); res.status != 200 {
		t.Fatalf("cancel: %d %s", res.status, res.body)
	}
	// The cancellation reaches the feed through the outbox, like the report.
	if c := decodeInto[eventPage](t, do(t, bankA, "GET", gw.api+"/v1/events?wait=5&after="+first.Next, aTok, "")); len(c.Events) != 1 || c.Events[0].Type != "report.cancelled" {
		t.Fatalf("after the cancel: %+v", c)
	}
	if res := do(t, police, "POST", gw.api+"/v1/alerts", pTok, `{"iban":"NL91ABNA0417164300","severity":"critical","message":"freeze","reference":"POL-9"}`); res.status != 201 {
		t.Fatalf("alert: %d", res.status)
	}
	var all eventPage
	waitfor.Until(t, "three events in the feed", 5*time.Second, func() bool {
		all = decodeInto[eventPage](t, do(t, bankA, "GET", gw.api+"/v1/events", aTok, ""))
		return len(all.Events) >= 3
	})
	var types []string
	for _, e := range all.Events {
		types = append(types, e.Type)
	}
	if strings.Join(types, ",") != "report.received,report.cancelled,alert.created" {
		t.Fatalf("bank-a's feed: %v", types)
	}
	if all.Events[0].EventID != first.Events[0].EventID {
		t.Error("the same event has another event_id on a second read")
	}
	if b := decodeInto[eventPage](t, do(t, bankB, "GET", gw.api+"/v1/events", bTok, "")); len(b.Events) != 0 {
		t.Errorf("bank-b sees bank-a's events: %+v", b)
	}
	if f := decodeInto[eventPage](t, do(t, bankA, "GET", gw.api+"/v1/events?types=alert.created,report.cancelled", aTok, "")); len(f.Events) != 2 || f.Events[0].Type != "report.cancelled" {
		t.Errorf("types filter: %+v", f)
	}
	if res := do(t, bankA, "GET", gw.api+"/v1/events?types=bogus", aTok, ""); res.status != 400 {
		t.Errorf("unknown type: %d", res.status)
	}
	// Part 3: a marketplace has a feed of its own (report.reviewed and
	// corrections), which holds nothing of the holder's.
	if res := do(t, market, "GET", gw.api+"/v1/events", mTok, ""); res.status != 200 || len(decodeInto[eventPage](t, res).Events) != 0 {
		t.Errorf("a marketplace reading its events: %d %s, want 200 and none of the bank's", res.status, res.body)
	}
	ch, cancel := openStream(t, bankA, gw.api+"/v1/events/stream", aTok, all.Events[0].Cursor)
	defer cancel()
	if ev := nextEvent(t, ch); ev.event != "report.cancelled" || ev.id != all.Events[1].Cursor {
		t.Errorf("stream resumed after the first event: %+v", ev)
	}
	if ev := nextEvent(t, ch); ev.event != "alert.created" {
		t.Errorf("stream second event: %+v", ev)
	}
	// The police mark and unmark the IBAN: the holder hears of both.
	marker := gw.api + "/v1/ibans/NL91ABNA0417164300/marker"
	if res := do(t, police, "PUT", marker, pTok, `{"fraud_type":"mule_account"}`); res.status != 200 {
		t.Fatalf("police marker: %d %s", res.status, res.body)
	}
	if ev := nextEvent(t, ch); ev.event != "marker.registered" || !strings.Contains(ev.data, `"fraud_type":"mule_account"`) {
		t.Errorf("after the police marked it: %+v", ev)
	}
	if res := do(t, police, "DELETE", marker, pTok, ""); res.status != 204 {
		t.Fatalf("police lift: %d", res.status)
	}
	ev := nextEvent(t, ch)
	if ev.event != "marker.cancelled" {
		t.Errorf("after the police lifted it: %+v", ev)
	}
	// Its cancelled_at is the change lookups show as the watermark.
	wm := decodeInto[struct {
		Watermark string `json:"watermark"`
	}](t, do(t, bankA, "GET", gw.api+"/v1/ibans/NL91ABNA0417164300", aTok, "")).Watermark
	if !strings.Contains(ev.data, `"cancelled_at":"`+wm+`"`) {
		t.Errorf("marker.cancelled %s, the lookup's watermark %s", ev.data, wm)
	}
}

// TestThresholdEvent: the holder gets iban.threshold once when a third
// distinct org reports an IBAN within 30 days; a cancellation re-arms it
// and the next crossing is announced again.
func TestThresholdEvent(t *testing.T) {
	p := mustPKI(t)
	rds := mustRedisAddrs(t)
	sim := mustSimProc(t).addrs["sim"]
	gw := mustGateway(t, p, rds, "", "MULEGATE_POLICE_URL", sim, "MULEGATE_FORWARD_WORKERS", "2")
	bankA := p.client(t, p.clients["bank-a"])
	aTok := p.token(t, "bank-a", nil, nil)
	report := func(org, key string) string {
		t.Helper()
		c := p.client(t, p.clients[org])
		res := do(t, c, "POST", gw.api+"/v1/reports", p.token(t, org, nil, nil), `{"iban":"NL91ABNA0417164300","category":"phishing"}`, "Idempotency-Key", key)
		if res.status != 202 {
			t.Fatalf("%s report: %d", org, res.status)
		}
		return decodeInto[accepted](t, res).ReportID
	}
	thresholds := func(want int) []eventOut {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			page := decodeInto[eventPage](t, do(t, bankA, "GET", gw.api+"/v1/events?types=iban.threshold", aTok, ""))
			if len(page.Events) >= want || time.Now().After(deadline) {
				return page.Events
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	report("market-a", "th-1")
	report("bank-b", "th-2")
	report("market-a", "th-3") // the same org again: still two
	time.Sleep(500 * time.Millisecond)
	if got := thresholds(0); len(got) != 0 {
		t.Fatalf("iban.threshold with two reporters: %+v", got)
	}
	third := report("police-nl", "th-4")
	got := thresholds(1)
	if len(got) != 1 || !strings.Contains(string(got[0].Data), `"reporter_count":3`) || !strings.Contains(string(got[0].Data), `"window":"30d"`) {
		t.Fatalf("after the third reporter: %+v", got)
	}
	report("bank-a", "th-5") // a fourth: no second announcement
	time.Sleep(500 * time.Millisecond)
	if got := thresholds(2); len(got) != 1 {
		t.Fatalf("a fourth reporter announced again: %d events", len(got))
	}
	// Two withdraw: below three again, re-armed; a new third reporter
	// crosses again.
	police, market := p.client(t, p.clients["police-nl"]), p.client(t, p.clients["market-a"])
	if res := do(t, police, "POST", gw.api+"/v1/reports/"+third+"/cancel", p.token(t, "police-nl", nil, nil), ""); res.status != 200 {
		t.Fatalf("cancel: %d", res.status)
	}
	for _, k := range []string{"th-1", "th-3"} {
		id := do(t, market, "POST", gw.api+"/v1/reports", p.token(t, "market-a", nil, nil), `{"iban":"NL91ABNA0417164300","category":"phishing"}`, "Idempotency-Key", k)
		rid := decodeInto[accepted](t, id).ReportID
		if res := do(t, market, "POST", gw.api+"/v1/reports/"+rid+"/cancel", p.token(t, "market-a", nil, nil), ""); res.status != 200 {
			t.Fatalf("cancel: %d", res.status)
		}
	}
	time.Sleep(500 * time.Millisecond)
	report("police-nl", "th-6")
	report("market-a", "th-7")
	if got := thresholds(2); len(got) != 2 {
		t.Errorf("after re-arming and a new crossing: %d iban.threshold events, want 2", len(got))
	}
}

// TestOverdueGauge: mulegate_reviews_overdue counts, per holder, the open
// reviews past respond_by, and mulegate_reviews_open all open ones; a
// closed one no longer counts.
func TestOverdueGauge(t *testing.T) {
	p := mustPKI(t)
	rds := mustRedisAddrs(t)
	sim := mustSimProc(t).addrs["sim"]
	gw := mustGateway(t, p, rds, "", "MULEGATE_POLICE_URL", sim, "MULEGATE_FORWARD_WORKERS", "2", "MULEGATE_REVIEW_RESPOND_WITHIN", "1s")
	market, bankA := p.client(t, p.clients["market-a"]), p.client(t, p.clients["bank-a"])
	mTok, aTok := p.token(t, "market-a", nil, nil), p.token(t, "bank-a", nil, nil)
	var ids []string
	for i := range 2 {
		res := do(t, market, "POST", gw.api+"/v1/reports", mTok, `{"iban":"NL91ABNA0417164300","category":"phishing"}`, "Idempotency-Key", fmt.Sprint("od-", i))
		ids = append(ids, decodeInto[accepted](t, res).ReportID)
	}
	if res := do(t, bankA, "POST", gw.api+"/v1/reports/"+ids[0]+"/close", aTok, `{"result":"disagreed"}`); res.status != 200 {
		t.Fatalf("close: %d %s", res.status, res.body)
	}
	deadline := time.Now().Add(6 * time.Second)
	for {
		got := metric(t, gw.ops, `mulegate_reviews_overdue{holder="bank-a"}`)
		if got == "1" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("mulegate_reviews_overdue{holder=\"bank-a\"} = %q, want 1", got)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if got := metric(t, gw.ops, `mulegate_reviews_overdue{holder="bank-b"}`); got != "0" {
		t.Errorf("bank-b overdue = %q, want 0", got)
	}
	if got := metric(t, gw.ops, `mulegate_reviews_open{holder="bank-a"}`); got != "1" {
		t.Errorf("bank-a open = %q, want 1 (one of two closed)", got)
	}
}
