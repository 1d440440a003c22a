package main

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/mulegate/mulegate/internal/waitfor"
)

// TestLookupAmounts (SPEC Part 3, "Money amounts" and the lookup's
// amounts): amounts are checked against the currency's minor digits (400
// naming the field, nothing stored), normalised, and summed exactly per
// window and currency over counted reports, for banks and marketplaces,
// in single and batch lookups; a cancelled report's amount leaves the sums.
func TestLookupAmounts(t *testing.T) {
	e := mustEnv(t)
	bank, market := e.p.client(t, e.p.clients["bank-a"]), e.p.client(t, e.p.clients["market-a"])
	bTok, mTok := e.p.token(t, "bank-a", nil, nil), e.p.token(t, "market-a", nil, nil)
	for _, bad := range []struct{ amount, field string }{
		{`{"value":"10.005","currency":"EUR"}`, "amount.value"}, {`{"value":"10.5","currency":"JPY"}`, "amount.value"},
		{`{"value":"0","currency":"EUR"}`, "amount.value"}, {`{"value":"10","currency":"XXX"}`, "amount.currency"},
		{`{"value":"1000000000000000","currency":"EUR"}`, "amount.value"},
	} {
		got := submit(t, bank, e, bTok, "bad-"+bad.amount, `{"iban":"NL91ABNA0417164300","category":"phishing","amount":`+bad.amount+`}`)
		if got.status != 400 || problemCode(t, got) != "invalid_request" || !strings.Contains(string(got.body), bad.field) {
			t.Errorf("amount %s: %d %s, want 400 naming %s", bad.amount, got.status, got.body, bad.field)
		}
	}
	for n, a := range []string{`{"value":"0.1","currency":"EUR"}`, `{"value":"0.20","currency":"EUR"}`, `{"value":"1200","currency":"JPY"}`} {
		if got := submit(t, bank, e, bTok, "amt-"+string(rune('a'+n)), `{"iban":"NL91ABNA0417164300","category":"phishing","amount":`+a+`}`); got.status != 202 {
			t.Fatalf("report %d: %d %s", n, got.status, got.body)
		}
	}
	cancelled := submit(t, market, e, mTok, "amt-x", `{"iban":"NL91ABNA0417164300","category":"phishing","amount":{"value":"5","currency":"EUR"}}`)
	if got := do(t, market, "POST", e.gw.api+cancelled.header.Get("Location")+"/cancel", mTok, ""); got.status != 200 {
		t.Fatalf("cancel: %d %s", got.status, got.body)
	}
	type sums struct {
		Amounts   map[string]map[string]string `json:"amounts"`
		Recovered map[string]string            `json:"recovered"`
	}
	want := sums{Amounts: map[string]map[string]string{"d7": {"EUR": "0.30", "JPY": "1200"}, "d30": {"EUR": "0.30", "JPY": "1200"},
		"d90": {"EUR": "0.30", "JPY": "1200"}, "d365": {"EUR": "0.30", "JPY": "1200"}}, Recovered: map[string]string{}}
	for _, who := range []struct {
		name string
		c    call
	}{
		{"bank", do(t, bank, "GET", e.gw.api+"/v1/ibans/"+ibanNL, bTok, "")},
		{"marketplace", do(t, market, "GET", e.gw.api+"/v1/ibans/"+ibanNL, mTok, "")},
	} {
		if d := cmp.Diff(want, decodeInto[sums](t, who.c)); d != "" {
			t.Errorf("%s's lookup (-want +got):\n%s", who.name, d)
		}
	}
	batch := decodeInto[struct {
		Results []sums `json:"results"`
	}](t, do(t, bank, "POST", e.gw.api+"/v1/ibans/lookup", bTok, `{"ibans":["NL91ABNA0417164300","DE89370400440532013000"]}`))
	empty := sums{Amounts: map[string]map[string]string{"d7": {}, "d30": {}, "d90": {}, "d365": {}}, Recovered: map[string]string{}}
	if len(batch.Results) != 2 || !cmp.Equal(batch.Results[0], want) || !cmp.Equal(batch.Results[1], empty) {
		t.Errorf("batch: %+v", batch.Results)
	}
}

// recoveryOut is the recovery object as a client reads it.
type recoveryOut struct {
	State       string            `json:"state"`
	RequestedBy string            `json:"requested_by"`
	Requested   map[string]string `json:"requested"`
	Held        map[string]string `json:"held"`
	Returned    map[string]string `json:"returned"`
	ReturnTo    string            `json:"return_to"`
	Reason      string            `json:"reason"`
	Partial     *bool             `json:"partial"`
	OverdueHold bool              `json:"overdue_hold"`
	Overdue     bool              `json:"overdue"`
	HoldBy      string            `json:"hold_by"`
}

// TestRecoveryEndToEnd (SPEC Part 3, "Funds recovery"): the victim's
// bank (bank-b) asks the holder (bank-a) for the money of a report and
// the holder holds and returns part of it, through the real server: every
// guard answers as the SPEC says (404 for a non-party, 403 out of role or
// scope, 400 for a body or an amount past the state's bound, 200 for an
// identical repeat, 409 for a state that does not allow the step); the
// report shows the recovery (the return IBAN to the holder only), the
// lookup what was recovered; each side's feed has the other side's steps
// in order; the police store gets every step after the report; and
// cancelling another report releases its recovery.
func TestRecoveryEndToEnd(t *testing.T) {
	p := mustPKI(t)
	sim := mustSimProc(t).addrs["sim"]
	gw := mustGateway(t, p, mustRedisAddrs(t), "", "MULEGATE_POLICE_URL", sim, "MULEGATE_FORWARD_WORKERS", "2",
		"MULEGATE_RECOVERY_HOLD_WITHIN", "1s")
	victim, holder := p.client(t, p.clients["bank-b"]), p.client(t, p.clients["bank-a"])
	market, police := p.client(t, p.clients["market-a"]), p.client(t, p.clients["police-nl"])
	vTok, hTok, mTok, pTok := p.token(t, "bank-b", nil, nil), p.token(t, "bank-a", nil, nil), p.token(t, "market-a", nil, nil), p.token(t, "police-nl", nil, nil)
	rep := do(t, victim, "POST", gw.api+"/v1/reports", vTok,
		`{"iban":"NL91ABNA0417164300","category":"phishing","amount":{"value":"249.95","currency":"EUR"}}`, "Idempotency-Key", "rec-1")
	if rep.status != 202 {
		t.Fatalf("report: %d %s", rep.status, rep.body)
	}
	id := decodeInto[accepted](t, rep).ReportID
	base := gw.api + "/v1/reports/" + id + "/recovery"
	request := `{"amount":{"value":"200","currency":"EUR"},"details":"paid on 1 Dec","return_to":"BE68539007547034","payment":{"end_to_end_id":"E2E-1"}}`
	steps := []struct {
		name        string
		c           *http.Client
		tok, path   string
		body        string
		status      int
		code, state string
	}{
		{"404/not a party", market, mTok, "", request, 404, "not_found", ""},
		{"403/the police lack the scope", police, pTok, "", request, 403, "forbidden", ""},
		{"403/the holder cannot request", holder, hTok, "", request, 403, "forbidden", ""},
		{"400/no amount", victim, vTok, "", `{"details":"x"}`, 400, "invalid_request", ""},
		{"400/more than the report's amount", victim, vTok, "", `{"amount":{"value":"300","currency":"EUR"}}`, 400, "invalid_request", ""},
		{"409/nothing to hold yet", holder, hTok, "/hold", `{"amount":{"value":"1","currency":"EUR"}}`, 409, "invalid_state", ""},
		{"201/request", victim, vTok, "", request, 201, "", "requested"},
		{"200/the same request", victim, vTok, "", request, 200, "", "requested"},
		{"409/another request", victim, vTok, "", `{"amount":{"value":"100","currency":"EUR"}}`, 409, "invalid_state", ""},
		{"403/the requester cannot hold", victim, vTok, "/hold", `{"amount":{"value":"150","currency":"EUR"}}`, 403, "forbidden", ""},
		{"400/hold more than requested", holder, hTok, "/hold", `{"amount":{"value":"250","currency":"EUR"}}`, 400, "invalid_request", ""},
		{"200/hold", holder, hTok, "/hold", `{"amount":{"value":"150","currency":"EUR"}}`, 200, "", "held"},
		{"200/the same hold", holder, hTok, "/hold", `{"amount":{"value":"150.00","currency":"EUR"}}`, 200, "", "held"},
		{"409/another hold", holder, hTok, "/hold", `{"amount":{"value":"100","currency":"EUR"}}`, 409, "invalid_state", ""},
		{"400/return more than held", holder, hTok, "/return", `{"amount":{"value":"160","currency":"EUR"}}`, 400, "invalid_request", ""},
		{"200/return", holder, hTok, "/return", `{"amount":{"value":"150","currency":"EUR"},"reference":"RET-9"}`, 200, "", "returned"},
		{"409/release a returned one", victim, vTok, "/release", "", 409, "invalid_state", ""},
		{"400/reject with a made-up reason", holder, hTok, "/reject", `{"reason":"because"}`, 400, "invalid_request", ""},
	}
	for _, s := range steps {
		got := do(t, s.c, "POST", base+s.path, s.tok, s.body)
		if got.status != s.status {
			t.Fatalf("%s: %d %s", s.name, got.status, got.body)
		}
		if s.code != "" && problemCode(t, got) != s.code {
			t.Errorf("%s: code %s, want %s", s.name, problemCode(t, got), s.code)
		}
		if s.state != "" {
			if r := decodeInto[recoveryOut](t, got); r.State != s.state {
				t.Errorf("%s: state %s, want %s", s.name, r.State, s.state)
			}
		}
	}
	type reportView struct {
		Recovery *recoveryOut `json:"recovery"`
	}
	asVictim := decodeInto[reportView](t, do(t, victim, "GET", gw.api+"/v1/reports/"+id, vTok, ""))
	asHolder := decodeInto[reportView](t, do(t, holder, "GET", gw.api+"/v1/reports/"+id, hTok, ""))
	if r := asVictim.Recovery; r == nil || r.State != "returned" || r.ReturnTo != "" || r.Partial == nil || !*r.Partial ||
		r.Returned["value"] != "150.00" || r.Held["value"] != "150.00" || r.RequestedBy != "bank-b" || r.Overdue {
		t.Errorf("the report as the victim sees it: %+v", asVictim.Recovery)
	}
	if r := asHolder.Recovery; r == nil || r.ReturnTo != "BE68539007547034" {
		t.Errorf("the report as the holder sees it: %+v", asHolder.Recovery)
	}
	if l := decodeInto[struct {
		Recovered map[string]string `json:"recovered"`
	}](t, do(t, victim, "GET", gw.api+"/v1/ibans/"+ibanNL, vTok, "")); l.Recovered["EUR"] != "150.00" {
		t.Errorf("recovered in the lookup: %v", l.Recovered)
	}
	// Each side hears of the other side's steps, in order.
	types := func(c *http.Client, tok string) string {
		page := decodeInto[eventPage](t, do(t, c, "GET", gw.api+"/v1/events?types=recovery.requested,recovery.held,recovery.returned,recovery.released", tok, ""))
		var out []string
		for _, e := range page.Events {
			out = append(out, e.Type)
		}
		return strings.Join(out, ",")
	}
	defer func() {
		if t.Failed() {
			t.Logf("holder's feed: %s", do(t, holder, "GET", gw.api+"/v1/events", hTok, "").body)
			t.Logf("victim's feed: %s", do(t, victim, "GET", gw.api+"/v1/events", vTok, "").body)
		}
	}()
	waitfor.Until(t, "the holder's recovery.requested", 10*time.Second, func() bool { return types(holder, hTok) == "recovery.requested" })
	waitfor.Until(t, "the victim's recovery.held, recovery.returned", 10*time.Second, func() bool {
		return types(victim, vTok) == "recovery.held,recovery.returned"
	})
	// The police store has the report, then every step in order.
	want := []string{"recovery.requested", "recovery.held", "recovery.returned"}
	waitfor.Until(t, "the police store to have every step", 10*time.Second, func() bool {
		var rec struct {
			Events []struct {
				Event string `json:"event"`
			} `json:"events"`
		}
		getJSON(t, sim+"/_sim/reports/"+id, &rec)
		var got []string
		for _, e := range rec.Events {
			got = append(got, e.Event)
		}
		return strings.Join(got, ",") == strings.Join(want, ",")
	})
	// Cancelling a report releases its open recovery; the holder hears of it.
	rep2 := do(t, victim, "POST", gw.api+"/v1/reports", vTok, `{"iban":"DE89370400440532013000","category":"phishing"}`, "Idempotency-Key", "rec-2")
	id2 := decodeInto[accepted](t, rep2).ReportID
	got := do(t, victim, "POST", gw.api+"/v1/reports/"+id2+"/recovery", vTok, `{"amount":{"value":"10","currency":"EUR"}}`)
	if got.status != 201 {
		t.Fatalf("second request: %d %s", got.status, got.body)
	}
	waitfor.Until(t, "overdue_hold after hold_within (1 s)", 5*time.Second, func() bool {
		v := decodeInto[reportView](t, do(t, victim, "GET", gw.api+"/v1/reports/"+id2, vTok, ""))
		return v.Recovery != nil && v.Recovery.OverdueHold
	})
	waitfor.Until(t, "the overdue hold in mulegate_recoveries_overdue", 10*time.Second, func() bool {
		return metric(t, gw.ops, `mulegate_recoveries_overdue{holder="bank-a"}`) == "1"
	})
	if got := do(t, victim, "POST", gw.api+"/v1/reports/"+id2+"/cancel", vTok, `{"reason":"filed twice"}`); got.status != 200 {
		t.Fatalf("cancel: %d %s", got.status, got.body)
	}
	if v := decodeInto[reportView](t, do(t, victim, "GET", gw.api+"/v1/reports/"+id2, vTok, "")); v.Recovery == nil ||
		v.Recovery.State != "released" || v.Recovery.Reason != "cancelled" || v.Recovery.OverdueHold {
		t.Errorf("the recovery after the cancel: %+v", v.Recovery)
	}
	waitfor.Until(t, "the holder's recovery.released", 10*time.Second, func() bool {
		return types(holder, hTok) == "recovery.requested,recovery.requested,recovery.released"
	})
	waitfor.Until(t, "the released recovery out of mulegate_recoveries_overdue", 10*time.Second, func() bool {
		return metric(t, gw.ops, `mulegate_recoveries_overdue{holder="bank-a"}`) == "0"
	})
	// Every reporter, a marketplace too, hears when the holder closes its
	// report (report.reviewed); the marketplace's feed has nothing else.
	mrep := do(t, market, "POST", gw.api+"/v1/reports", mTok, `{"iban":"NL91ABNA0417164300","category":"marketplace_fraud"}`,
		"Idempotency-Key", "rec-m")
	mid := decodeInto[accepted](t, mrep).ReportID
	closed := do(t, holder, "POST", gw.api+"/v1/reports/"+mid+"/close", hTok, `{"result":"agreed","fraud_type":"mule_account"}`)
	if closed.status != 200 {
		t.Fatalf("close: %d %s", closed.status, closed.body)
	}
	closedAt := decodeInto[struct {
		Review struct {
			ClosedAt string `json:"closed_at"`
		} `json:"review"`
	}](t, closed).Review.ClosedAt
	if again := decodeInto[struct {
		Review struct {
			ClosedAt string `json:"closed_at"`
		} `json:"review"`
	}](t, do(t, market, "GET", gw.api+"/v1/reports/"+mid, mTok, "")).Review.ClosedAt; again != closedAt {
		t.Errorf("closed_at: %s in the close's answer, %s read back", closedAt, again)
	}
	var reviewed eventPage
	waitfor.Until(t, "report.reviewed in the marketplace's feed", 10*time.Second, func() bool {
		reviewed = decodeInto[eventPage](t, do(t, market, "GET", gw.api+"/v1/events", mTok, ""))
		return len(reviewed.Events) > 0
	})
	if len(reviewed.Events) != 1 || reviewed.Events[0].Type != "report.reviewed" ||
		!strings.Contains(string(reviewed.Events[0].Data), `"result":"agreed","fraud_type":"mule_account"`) ||
		!strings.Contains(string(reviewed.Events[0].Data), mid) ||
		!strings.Contains(string(reviewed.Events[0].Data), `"closed_at":"`+closedAt+`"`) {
		t.Errorf("the marketplace's feed (closed at %s in the close's answer): %+v", closedAt, reviewed.Events)
	}
	if n := metric(t, gw.ops, `mulegate_recoveries_total{action="hold"}`); n != "1" {
		t.Errorf("mulegate_recoveries_total{action=\"hold\"} = %q, want 1", n)
	}
}

// TestRecoveryEventsAfterTheReport (SPEC Part 3, "A feed is in order per
// report"): with two gateways on one Redis (a Cluster on the cluster
// pass), each relaying the holders' feed, reports accepted by one and
// recoveries requested at once through the other: the holder's feed never
// shows a report's recovery.requested before its report.received.
func TestRecoveryEventsAfterTheReport(t *testing.T) {
	p := mustPKI(t)
	rds := mustRedisAddrs(t)
	sim := mustSimProc(t).addrs["sim"]
	one := mustGateway(t, p, rds, "", "MULEGATE_POLICE_URL", sim, "MULEGATE_FORWARD_WORKERS", "2")
	two := mustGateway(t, p, rds, "", "MULEGATE_POLICE_URL", sim, "MULEGATE_FORWARD_WORKERS", "2")
	victim, holder := p.client(t, p.clients["bank-b"]), p.client(t, p.clients["bank-a"])
	vTok, hTok := p.token(t, "bank-b", nil, nil), p.token(t, "bank-a", nil, nil)
	const n = 20
	for i := range n {
		res := do(t, victim, "POST", one.api+"/v1/reports", vTok, fmt.Sprintf(`{"iban":%q,"category":"phishing"}`, nlIBANText(i)),
			"Idempotency-Key", fmt.Sprint("order-", i))
		if res.status != 202 {
			t.Fatalf("report %d: %d", i, res.status)
		}
		id := decodeInto[accepted](t, res).ReportID
		if got := do(t, victim, "POST", two.api+"/v1/reports/"+id+"/recovery", vTok, `{"amount":{"value":"10","currency":"EUR"}}`); got.status != 201 {
			t.Fatalf("recovery %d: %d %s", i, got.status, got.body)
		}
	}
	var events []struct {
		Type string `json:"type"`
		Data struct {
			ReportID string `json:"report_id"`
		} `json:"data"`
	}
	waitfor.Until(t, "every report and recovery in the holder's feed", 20*time.Second, func() bool {
		page := decodeInto[struct {
			Events []struct {
				Type string `json:"type"`
				Data struct {
					ReportID string `json:"report_id"`
				} `json:"data"`
			} `json:"events"`
		}](t, do(t, holder, "GET", two.api+"/v1/events?limit=1000&types=report.received,recovery.requested", hTok, ""))
		events = page.Events
		return len(events) == 2*n
	})
	seen := map[string]bool{}
	for _, e := range events {
		switch e.Type {
		case "report.received":
			seen[e.Data.ReportID] = true
		case "recovery.requested":
			if !seen[e.Data.ReportID] {
				t.Errorf("recovery.requested of %s before its report.received", e.Data.ReportID)
			}
		}
	}
}
