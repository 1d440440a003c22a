package main

import (
	"fmt"
	"math"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mulegate/mulegate/internal/devenv"
	"github.com/mulegate/mulegate/internal/waitfor"
)

// corrected is a lookup's Part 3 corrections fields.
type corrected struct {
	ReportCount  int64    `json:"report_count"`
	Risk         string   `json:"risk"`
	Reasons      []string `json:"risk_reasons"`
	Score        *int     `json:"score"`
	ClearedCount *int64   `json:"cleared_count"`
	Cleared      *struct {
		At     string  `json:"at"`
		Reason *string `json:"reason"`
	} `json:"cleared"`
	HolderStatus *struct {
		Status string `json:"status"`
		Since  string `json:"since"`
	} `json:"holder_status"`
	Marker map[string]any `json:"marker"`
}

// orgClient is one org's client and token.
type orgClient struct {
	c   *http.Client
	tok string
}

func orgClients(t *testing.T, p *pki, orgs ...string) map[string]orgClient {
	out := map[string]orgClient{}
	for _, o := range orgs {
		out[o] = orgClient{p.client(t, p.clients[o]), p.token(t, o, nil, nil)}
	}
	return out
}

// TestHolderStatus (SPEC Part 3, "Correcting the record"): the holding
// bank says what its account is; lookups show it; a collection account's
// risk is capped at low (listed as collection_account only when the cap
// lowered it) unless a marker; anyone else is refused.
func TestHolderStatus(t *testing.T) {
	p := mustPKI(t)
	gw := mustGateway(t, p, mustRedisAddrs(t), "")
	o := orgClients(t, p, "bank-a", "bank-b", "bank-c", "market-a", "police-nl")
	const ib = "NL91ABNA0417164300" // bank-a holds it
	url := gw.api + "/v1/ibans/" + ib + "/status"
	for n, org := range []string{"bank-b", "bank-c", "market-a"} {
		if got := do(t, o[org].c, "POST", gw.api+"/v1/reports", o[org].tok, `{"iban":"`+ib+`","category":"phishing"}`,
			"Idempotency-Key", fmt.Sprint("hs-", n)); got.status != 202 {
			t.Fatalf("report: %d %s", got.status, got.body)
		}
	}
	look := func() corrected {
		return decodeInto[corrected](t, do(t, o["bank-b"].c, "GET", gw.api+"/v1/ibans/"+ib, o["bank-b"].tok, ""))
	}
	if l := look(); l.Risk != "medium" || l.HolderStatus != nil {
		t.Fatalf("before: %+v", l)
	}
	for _, g := range []struct {
		name, org, body string
		status          int
		code            string
	}{
		{"another bank", "bank-b", `{"status":"collection_account"}`, 403, "forbidden"},
		{"the police lack ibans:status", "police-nl", `{"status":"collection_account"}`, 403, "forbidden"},
		{"a marketplace", "market-a", `{"status":"collection_account"}`, 403, "forbidden"},
		{"no status", "bank-a", `{}`, 400, "invalid_request"},
		{"an unknown status", "bank-a", `{"status":"dormant"}`, 400, "invalid_request"},
		{"details too long", "bank-a", `{"status":"taken_over","details":"` + strings.Repeat("x", 501) + `"}`, 400, "invalid_request"},
	} {
		if got := do(t, o[g.org].c, "PUT", url, o[g.org].tok, g.body); got.status != g.status || problemCode(t, got) != g.code {
			t.Errorf("%s: %d %s", g.name, got.status, got.body)
		}
	}
	if l := look(); l.HolderStatus != nil || l.Risk != "medium" {
		t.Errorf("refused requests changed the lookup: %+v", l)
	}
	got := do(t, o["bank-a"].c, "PUT", url, o["bank-a"].tok, `{"status":"collection_account","details":"PSP collection account"}`)
	if got.status != 200 || !strings.Contains(string(got.body), `"status":"collection_account"`) {
		t.Fatalf("PUT status: %d %s", got.status, got.body)
	}
	since := decodeInto[struct {
		Since string `json:"since"`
	}](t, got).Since
	l := look()
	if l.HolderStatus == nil || l.HolderStatus.Status != "collection_account" || l.HolderStatus.Since != since || l.Risk != "low" ||
		l.Reasons[len(l.Reasons)-1] != "collection_account" {
		t.Errorf("a collection account (since %s in the PUT's answer): %+v", since, l)
	}
	// A police marker is not capped. Its registered_at is the same in the
	// PUT's answer and in lookups.
	got = do(t, o["police-nl"].c, "PUT", gw.api+"/v1/ibans/"+ib+"/marker", o["police-nl"].tok, `{"fraud_type":"mule_account"}`)
	if got.status != 200 {
		t.Fatalf("marker: %d", got.status)
	}
	registered := decodeInto[struct {
		At string `json:"registered_at"`
	}](t, got).At
	if l := look(); l.Risk != "high" || strings.Contains(strings.Join(l.Reasons, ","), "collection_account") || l.Marker["registered_at"] != registered {
		t.Errorf("a marked collection account (registered_at %s in the PUT's answer): %+v", registered, l)
	}
	if got := do(t, o["bank-a"].c, "PUT", url, o["bank-a"].tok, `{"status":"taken_over"}`); got.status != 200 {
		t.Fatalf("PUT taken_over: %d", got.status)
	}
	if got := do(t, o["bank-a"].c, "DELETE", url, o["bank-a"].tok, ""); got.status != 204 {
		t.Fatalf("DELETE: %d %s", got.status, got.body)
	}
	if l := look(); l.HolderStatus != nil {
		t.Errorf("after DELETE: %+v", l.HolderStatus)
	}
	// A status on an IBAN nobody reported is shown too.
	if got := do(t, o["bank-a"].c, "PUT", gw.api+"/v1/ibans/DE89370400440532013000/status", o["bank-a"].tok, `{"status":"account_closed"}`); got.status != 200 {
		t.Fatalf("PUT on an unreported IBAN: %d", got.status)
	}
	if l := decodeInto[corrected](t, do(t, o["bank-b"].c, "GET", gw.api+"/v1/ibans/DE89370400440532013000", o["bank-b"].tok, "")); l.HolderStatus == nil ||
		l.HolderStatus.Status != "account_closed" || l.Risk != "none" {
		t.Errorf("an unreported closed account: %+v", l)
	}
}

// TestClear (SPEC Part 3, "Correcting the record", precise points 8 and
// 9): the police clear an IBAN; its reports stop counting at once (kept
// in cleared_count), the marker is lifted, further review, recovery and
// onward actions answer 409 while a cancel still answers 200, and later
// reports count. Every bank or marketplace that looked it up, reported it
// or holds it gets exactly one iban.corrected (a marketplace's without
// the reason), nobody else; the marketplace's lookup shows no reason
// either. A clear made in error is withdrawn and the same orgs hear it.
func TestClear(t *testing.T) {
	p := mustPKI(t)
	sim := mustSimProc(t).addrs["sim"]
	gw := mustGateway(t, p, mustRedisAddrs(t), "", "MULEGATE_POLICE_URL", sim, "MULEGATE_FORWARD_WORKERS", "2")
	o := orgClients(t, p, "bank-a", "bank-b", "bank-c", "market-a", "police-nl")
	const ib = "NL91ABNA0417164300" // bank-a holds it
	var ids []string
	for n, org := range []string{"bank-b", "market-a", "bank-b"} {
		got := do(t, o[org].c, "POST", gw.api+"/v1/reports", o[org].tok, `{"iban":"`+ib+`","category":"phishing"}`, "Idempotency-Key", fmt.Sprint("cl-", n))
		if got.status != 202 {
			t.Fatalf("report: %d %s", got.status, got.body)
		}
		ids = append(ids, decodeInto[accepted](t, got).ReportID)
	}
	// bank-c looks it up (and never reports it); the police mark it.
	look := func(org string) corrected {
		return decodeInto[corrected](t, do(t, o[org].c, "GET", gw.api+"/v1/ibans/"+ib, o[org].tok, ""))
	}
	if l := look("bank-c"); l.ReportCount != 3 || l.Risk != "medium" {
		t.Fatalf("before the clear: %+v", l)
	}
	if got := do(t, o["police-nl"].c, "PUT", gw.api+"/v1/ibans/"+ib+"/marker", o["police-nl"].tok, `{"fraud_type":"mule_account"}`); got.status != 200 {
		t.Fatalf("marker: %d", got.status)
	}
	// bank-b asks for its money back, and bank-a holds some of it.
	if got := do(t, o["bank-b"].c, "POST", gw.api+"/v1/reports/"+ids[2]+"/recovery", o["bank-b"].tok, `{"amount":{"value":"100","currency":"EUR"}}`); got.status != 201 {
		t.Fatalf("recovery: %d %s", got.status, got.body)
	}
	if got := do(t, o["bank-a"].c, "POST", gw.api+"/v1/reports/"+ids[2]+"/recovery/hold", o["bank-a"].tok, `{"amount":{"value":"60","currency":"EUR"}}`); got.status != 200 {
		t.Fatalf("hold: %d %s", got.status, got.body)
	}
	clear := gw.api + "/v1/ibans/" + ib + "/clear"
	for _, g := range []struct {
		name, org, body string
		status          int
	}{
		{"a bank", "bank-a", `{"reason":"error"}`, 403},
		{"no reason", "police-nl", `{}`, 400},
		{"an unknown reason", "police-nl", `{"reason":"pardon"}`, 400},
	} {
		if got := do(t, o[g.org].c, "POST", clear, o[g.org].tok, g.body); got.status != g.status {
			t.Errorf("%s: %d %s", g.name, got.status, got.body)
		}
	}
	// The lookup log is flushed each second: the clear comes after it.
	time.Sleep(1100 * time.Millisecond)
	got := do(t, o["police-nl"].c, "POST", clear, o["police-nl"].tok, `{"reason":"error","details":"wrong account number in the case file"}`)
	if got.status != 200 {
		t.Fatalf("clear: %d %s", got.status, got.body)
	}
	ans := decodeInto[struct {
		IBAN      string `json:"iban"`
		ClearedAt string `json:"cleared_at"`
		Reason    string `json:"reason"`
		Cleared   int64  `json:"reports_cleared"`
	}](t, got)
	if ans.IBAN != ib || ans.Reason != "error" || ans.Cleared != 3 || ans.ClearedAt == "" {
		t.Errorf("the clear's answer: %+v", ans)
	}
	l := look("bank-c")
	if l.ReportCount != 0 || l.ClearedCount == nil || *l.ClearedCount != 3 || l.Cleared == nil || l.Cleared.Reason == nil ||
		*l.Cleared.Reason != "error" || l.Marker != nil || l.Risk != "none" || l.Score == nil || *l.Score != 0 {
		t.Errorf("a bank's lookup after the clear: %+v", l)
	}
	// A clear ends open work: the recovery is released (held money too).
	rs := decodeInto[struct {
		Review struct {
			Overdue bool `json:"overdue"`
		} `json:"review"`
		Recovery struct {
			State  string `json:"state"`
			Reason string `json:"reason"`
		} `json:"recovery"`
	}](t, do(t, o["bank-b"].c, "GET", gw.api+"/v1/reports/"+ids[2], o["bank-b"].tok, ""))
	if rs.Recovery.State != "released" || rs.Recovery.Reason != "cleared" {
		t.Errorf("the cleared report's recovery: %+v", rs.Recovery)
	}
	if m := look("market-a"); m.Cleared == nil || m.Cleared.Reason != nil {
		t.Errorf("the marketplace's lookup shows the clear's reason: %+v", m.Cleared)
	}
	for _, a := range []struct {
		name, org, path, body string
		status                int
	}{
		{"acknowledge", "bank-a", "/acknowledge", "", 409},
		{"close", "bank-a", "/close", `{"result":"agreed","fraud_type":"mule_account"}`, 409},
		{"recovery", "bank-b", "/recovery", `{"amount":{"value":"10","currency":"EUR"}}`, 409},
		{"onward", "bank-a", "/onward", `{"transfers":[{"iban":"DE89370400440532013000","amount":{"value":"5","currency":"EUR"},"at":"2026-01-01T00:00:00Z"}]}`, 409},
		{"cancel", "bank-b", "/cancel", "", 200},
	} {
		h := []string{}
		if a.name == "onward" {
			h = []string{"Idempotency-Key", "cl-onward"}
		}
		got := do(t, o[a.org].c, "POST", gw.api+"/v1/reports/"+ids[0]+a.path, o[a.org].tok, a.body, h...)
		if got.status != a.status || (a.status == 409 && !strings.Contains(string(got.body), "cleared")) {
			t.Errorf("%s on a cleared report: %d %s", a.name, got.status, got.body)
		}
	}
	// A report after the clear counts.
	if got := do(t, o["bank-c"].c, "POST", gw.api+"/v1/reports", o["bank-c"].tok, `{"iban":"`+ib+`","category":"phishing"}`,
		"Idempotency-Key", "cl-after"); got.status != 202 {
		t.Fatalf("a later report: %d", got.status)
	}
	if l := look("bank-b"); l.ReportCount != 1 || *l.ClearedCount != 2 {
		t.Errorf("a report after the clear (one cleared report since cancelled): %+v", l)
	}
	// The corrections: bank-a holds it, bank-b and market-a reported it,
	// bank-c looked it up; nobody else (the police have no feed).
	want := map[string]bool{"bank-a": true, "bank-b": true, "bank-c": true, "market-a": true}
	expectCorrections(t, gw.api, o, want, "error", "high") // marked before the clear
	// The clear lifted the marker: the holder hears it as when the police
	// lift one (marker.cancelled), the reporters do not.
	eventsOf := func(org, typ string) []map[string]any { return feedData(t, gw.api, o[org], typ) }
	waitfor.Until(t, "marker.cancelled in the holder's feed", 10*time.Second, func() bool { return len(eventsOf("bank-a", "marker.cancelled")) > 0 })
	if evs := eventsOf("bank-a", "marker.cancelled"); len(evs) != 1 || evs[0]["iban"] != ib || evs[0]["cancelled_at"] != ans.ClearedAt {
		t.Errorf("the holder's marker.cancelled after the clear: %v (cleared at %s)", evs, ans.ClearedAt)
	}
	if evs := eventsOf("bank-b", "marker.cancelled"); len(evs) != 0 {
		t.Errorf("a reporter heard of the marker: %v", evs)
	}
	// One clear, one time: the answer, the lookups and the corrections
	// name the same instant (an analyst matches them by it).
	if evs := eventsOf("bank-c", "iban.corrected"); len(evs) != 1 || evs[0]["cleared_at"] != ans.ClearedAt || l.Cleared == nil || l.Cleared.At != ans.ClearedAt {
		t.Errorf("cleared_at: the answer %s, the lookup %+v, the correction %v", ans.ClearedAt, l.Cleared, evs)
	}
	// The clear ended the cleared reviews' open (and overdue) flags:
	// bank-a owes only the review of the report made after it.
	openReviews := func(want string) {
		t.Helper()
		waitfor.Until(t, "mulegate_reviews_open{holder=\"bank-a\"} = "+want, 10*time.Second, func() bool {
			return metric(t, gw.ops, `mulegate_reviews_open{holder="bank-a"}`) == want
		})
	}
	openReviews("1")
	// A clear made in error is withdrawn: the reports count again.
	if got := do(t, o["police-nl"].c, "DELETE", clear, o["police-nl"].tok, ""); got.status != 204 {
		t.Fatalf("withdraw: %d %s", got.status, got.body)
	}
	if l := look("bank-b"); l.ReportCount != 3 || l.Cleared != nil || *l.ClearedCount != 0 {
		t.Errorf("after the withdrawal (3 reports count, one cancelled): %+v", l)
	}
	expectCorrections(t, gw.api, o, want, "clear_withdrawn", "")
	openReviews("3") // the two uncancelled cleared reports are owed again
	if got := do(t, o["police-nl"].c, "DELETE", clear, o["police-nl"].tok, ""); got.status != 404 {
		t.Errorf("withdraw without a clear: %d", got.status)
	}
	if got := do(t, o["police-nl"].c, "POST", clear, o["police-nl"].tok, `{"reason":"court_ruling"}`); got.status != 200 {
		t.Fatalf("clear: %d", got.status)
	}
	if got := do(t, o["police-nl"].c, "DELETE", clear, o["police-nl"].tok, ""); got.status != 409 {
		t.Errorf("withdraw a court ruling: %d %s", got.status, got.body)
	}
}

// feedData is the data of the events of the given types (comma-separated)
// in oc's feed, oldest first, up to 1000.
func feedData(t *testing.T, api string, oc orgClient, types string) []map[string]any {
	t.Helper()
	page := decodeInto[struct {
		Events []struct {
			Data map[string]any `json:"data"`
		} `json:"events"`
	}](t, do(t, oc.c, "GET", api+"/v1/events?limit=1000&types="+types, oc.tok, ""))
	out := make([]map[string]any, 0, len(page.Events))
	for _, e := range page.Events {
		out = append(out, e.Data)
	}
	return out
}

// expectCorrections waits for exactly one iban.corrected with reason in
// the feed of each org of want, and checks it reaches no other.
func expectCorrections(t *testing.T, api string, o map[string]orgClient, want map[string]bool, reason, previous string) {
	t.Helper()
	of := func(org string) []map[string]any {
		var out []map[string]any
		for _, d := range feedData(t, api, o[org], "iban.corrected") {
			// A withdrawal has no previous_risk; a marketplace's has no reason.
			r, has := d["reason"]
			if (d["previous_risk"] != nil) == (reason != "clear_withdrawn") && (!has || r == reason) {
				out = append(out, d)
			}
		}
		return out
	}
	waitfor.Until(t, "iban.corrected ("+reason+") in every feed", 10*time.Second, func() bool {
		for org := range want {
			if len(of(org)) == 0 {
				return false
			}
		}
		return true
	})
	time.Sleep(300 * time.Millisecond) // a duplicate would come with the first
	for _, org := range []string{"bank-a", "bank-b", "bank-c", "market-a"} {
		got := of(org)
		if n := len(got); (want[org] && n != 1) || (!want[org] && n != 0) {
			t.Errorf("%s has %d iban.corrected (%s), want %v", org, n, reason, want[org])
			continue
		}
		if len(got) == 0 {
			continue
		}
		d := got[0]
		_, hasReason := d["reason"]
		if d["iban"] != "NL91ABNA0417164300" || d["cleared_at"] == nil || hasReason == (org == "market-a") {
			t.Errorf("%s's iban.corrected: %v", org, d)
		}
		if previous != "" && d["previous_risk"] != previous {
			t.Errorf("%s's previous_risk: %v, want %s", org, d["previous_risk"], previous)
		}
	}
}

// TestScoreEndToEnd: a lookup's score follows the SPEC's formula (within
// ±1, the reports' ages being a few seconds): three open reports of now
// and one closed agreed by the holder: S = 3 + 3 = 6, score 86.
func TestScoreEndToEnd(t *testing.T) {
	httpOnly(t)
	p := mustPKI(t)
	gw := mustGateway(t, p, mustRedisAddrs(t), "")
	o := orgClients(t, p, "bank-a", "bank-b", "bank-c", "market-a")
	const ib = "NL91ABNA0417164300"
	var first string
	for n, org := range []string{"bank-b", "bank-c", "market-a", "bank-b"} {
		got := do(t, o[org].c, "POST", gw.api+"/v1/reports", o[org].tok, `{"iban":"`+ib+`","category":"phishing"}`, "Idempotency-Key", fmt.Sprint("sc-", n))
		if n == 0 {
			first = decodeInto[accepted](t, got).ReportID
		}
	}
	if got := do(t, o["bank-a"].c, "POST", gw.api+"/v1/reports/"+first+"/close", o["bank-a"].tok, `{"result":"agreed","fraud_type":"mule_account"}`); got.status != 200 {
		t.Fatalf("close: %d", got.status)
	}
	want := int(math.Round(100 * (1 - math.Exp(-6.0/3))))
	for _, path := range []string{"GET", "POST"} {
		var s int
		if path == "GET" {
			s = *decodeInto[corrected](t, do(t, o["bank-b"].c, "GET", gw.api+"/v1/ibans/"+ib, o["bank-b"].tok, "")).Score
		} else {
			s = *decodeInto[struct {
				Results []corrected `json:"results"`
			}](t, do(t, o["bank-b"].c, "POST", gw.api+"/v1/ibans/lookup", o["bank-b"].tok, `{"ibans":["`+ib+`"]}`)).Results[0].Score
		}
		if s < want-1 || s > want+1 {
			t.Errorf("%s score %d, want %d±1", path, s, want)
		}
	}
}

// TestAccessRecord (SPEC Part 3, "the account holder's access request",
// precise point 10): the holding bank and the police read everything the
// gateway holds about an IBAN; the bank without who reported it, without
// the police's lookups, the marker's by_type or the clear's details; the
// police with all of it; anyone else 403; each read audited as record.
func TestAccessRecord(t *testing.T) {
	httpOnly(t)
	p := mustPKI(t)
	audit := t.TempDir() + "/audit.jsonl"
	gw := mustGateway(t, p, mustRedisAddrs(t), "", "MULEGATE_AUDIT_PATH", audit)
	o := orgClients(t, p, "bank-a", "bank-b", "bank-c", "market-a", "police-nl")
	const ib = "NL91ABNA0417164300" // bank-a holds it
	for n, org := range []string{"bank-b", "market-a"} {
		body := `{"iban":"` + ib + `","category":"phishing","amount":{"value":"120","currency":"EUR"}}`
		if got := do(t, o[org].c, "POST", gw.api+"/v1/reports", o[org].tok, body, "Idempotency-Key", fmt.Sprint("ar-", n)); got.status != 202 {
			t.Fatalf("report: %d", got.status)
		}
	}
	for _, org := range []string{"bank-c", "bank-c", "market-a", "police-nl"} {
		do(t, o[org].c, "GET", gw.api+"/v1/ibans/"+ib, o[org].tok, "")
	}
	do(t, o["police-nl"].c, "PUT", gw.api+"/v1/ibans/"+ib+"/marker", o["police-nl"].tok, `{"fraud_type":"mule_account"}`)
	do(t, o["bank-a"].c, "PUT", gw.api+"/v1/ibans/"+ib+"/status", o["bank-a"].tok, `{"status":"taken_over","details":"customer reported the takeover"}`)
	url := gw.api + "/v1/ibans/" + ib + "/record"
	type rec struct {
		IBAN    string `json:"iban"`
		Reports []struct {
			ReportID     string         `json:"report_id"`
			ReporterType string         `json:"reporter_type"`
			ReporterOrg  *string        `json:"reporter_org"`
			Amount       map[string]any `json:"amount"`
			Counted      bool           `json:"counted"`
			Review       struct {
				State string `json:"state"`
			} `json:"review"`
		} `json:"reports"`
		Marker       map[string]any   `json:"marker"`
		HolderStatus map[string]any   `json:"holder_status"`
		Lookups      []map[string]any `json:"lookups"`
	}
	var bank rec
	waitfor.Until(t, "the lookups in the record (flushed each second)", 10*time.Second, func() bool {
		bank = decodeInto[rec](t, do(t, o["bank-a"].c, "GET", url, o["bank-a"].tok, ""))
		return len(bank.Lookups) == 2
	})
	if bank.IBAN != ib || len(bank.Reports) != 2 || bank.Reports[0].ReporterType != "bank" || bank.Reports[0].ReporterOrg != nil ||
		!bank.Reports[0].Counted || bank.Reports[0].Amount["value"] != "120.00" || bank.Reports[0].Review.State != "open" {
		t.Errorf("the bank's record, reports: %+v", bank.Reports)
	}
	if _, has := bank.Marker["by_type"]; has || bank.Marker["fraud_type"] != "mule_account" {
		t.Errorf("the bank's record, marker: %v", bank.Marker)
	}
	if bank.HolderStatus["status"] != "taken_over" {
		t.Errorf("the bank's record, status: %v", bank.HolderStatus)
	}
	for _, l := range bank.Lookups {
		if _, has := l["org"]; has || l["org_type"] == "police" || (l["org_type"] == "bank" && l["count"] != 2.0) {
			t.Errorf("the bank's record, lookups: %v", bank.Lookups)
		}
	}
	police := decodeInto[rec](t, do(t, o["police-nl"].c, "GET", url, o["police-nl"].tok, ""))
	if len(police.Reports) != 2 || police.Reports[0].ReporterOrg == nil || *police.Reports[0].ReporterOrg != "bank-b" ||
		police.Marker["by_type"] != "police" || len(police.Lookups) != 3 {
		t.Errorf("the police's record: %+v", police)
	}
	for _, org := range []string{"bank-b", "market-a"} {
		if got := do(t, o[org].c, "GET", url, o[org].tok, ""); got.status != 403 {
			t.Errorf("%s: %d, want 403", org, got.status)
		}
	}
	waitfor.Until(t, "the reads audited as record", 10*time.Second, func() bool {
		raw, _ := os.ReadFile(audit)
		return strings.Count(string(raw), `"action":"record"`) >= 4
	})
}

// TestClearAtScale (issue 25): an IBAN with 600 reports from 40 orgs
// (banks and marketplaces), each of which also looked it up, cleared on
// the configured topology (the 3-master cluster in the cluster pass):
// its counts drop to 0 in the clear's answer's wake, every one of the 40
// and the holding bank get exactly one iban.corrected, and the orgs that
// neither looked it up nor reported it get none.
func TestClearAtScale(t *testing.T) {
	p := mustPKI(t)
	var extra strings.Builder
	orgs := make([]string, 40)
	for n := range orgs {
		orgs[n] = fmt.Sprintf("org-%02d", n)
		typ := []string{"bank", "marketplace"}[n%2]
		fmt.Fprintf(&extra, "  - id: %s\n    type: %s\n", orgs[n], typ)
		leaf, err := p.ca.IssueClient(orgs[n])
		if err != nil {
			t.Fatal(err)
		}
		p.clients[orgs[n]] = leaf
	}
	sim := mustSimProc(t).addrs["sim"]
	gw := mustGateway(t, p, mustRedisAddrs(t), extra.String(), "MULEGATE_POLICE_URL", sim, "MULEGATE_FORWARD_WORKERS", "2")
	o := orgClients(t, p, "bank-a", "bank-b", "bank-c", "market-a", "police-nl")
	for _, org := range orgs {
		o[org] = orgClient{p.client(t, p.clients[org]), p.token(t, org, func(s *devenv.TokenSpec) { s.Scope = "ibans:read reports:write events:read" }, nil)}
	}
	const ib = "NL91ABNA0417164300" // bank-a holds it
	var wg sync.WaitGroup
	for _, org := range orgs {
		wg.Go(func() {
			for k := range 15 {
				if got := do(t, o[org].c, "POST", gw.api+"/v1/reports", o[org].tok, `{"iban":"`+ib+`","category":"phishing"}`,
					"Idempotency-Key", fmt.Sprint("scale-", k)); got.status != 202 {
					t.Errorf("%s's report %d: %d", org, k, got.status)
				}
			}
			do(t, o[org].c, "GET", gw.api+"/v1/ibans/"+ib, o[org].tok, "")
		})
	}
	wg.Wait()
	if l := decodeInto[corrected](t, do(t, o["bank-a"].c, "GET", gw.api+"/v1/ibans/"+ib, o["bank-a"].tok, "")); l.ReportCount != 600 {
		t.Fatalf("before the clear: %d reports", l.ReportCount)
	}
	time.Sleep(1100 * time.Millisecond) // the lookup log is flushed each second
	got := do(t, o["police-nl"].c, "POST", gw.api+"/v1/ibans/"+ib+"/clear", o["police-nl"].tok, `{"reason":"court_ruling"}`)
	if got.status != 200 || !strings.Contains(string(got.body), `"reports_cleared":600`) {
		t.Fatalf("clear: %d %s", got.status, got.body)
	}
	if l := decodeInto[corrected](t, do(t, o["bank-b"].c, "GET", gw.api+"/v1/ibans/"+ib, o["bank-b"].tok, "")); l.ReportCount != 0 ||
		*l.ClearedCount != 600 || l.Risk != "none" {
		t.Errorf("right after the clear: %+v", l)
	}
	count := func(org string) int { return len(feedData(t, gw.api, o[org], "iban.corrected")) }
	want := append([]string{"bank-a"}, orgs...)
	waitfor.Until(t, "a correction in each of the 41 feeds", 10*time.Second, func() bool {
		for _, org := range want {
			if count(org) == 0 {
				return false
			}
		}
		return true
	})
	time.Sleep(300 * time.Millisecond) // a duplicate would come with the first
	for _, org := range want {
		if n := count(org); n != 1 {
			t.Errorf("%s has %d corrections, want 1", org, n)
		}
	}
	for _, org := range []string{"bank-b", "bank-c", "market-a"} {
		if n := count(org); n != 0 {
			t.Errorf("%s, which neither looked nor reported, has %d corrections", org, n)
		}
	}
}
