package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mulegate/mulegate/internal/policesim"
	"github.com/mulegate/mulegate/internal/waitfor"
)

type linkedOut struct {
	ReportID  string `json:"report_id"`
	IBAN      string `json:"iban"`
	Hop       int    `json:"hop"`
	HolderOrg string `json:"holder_org"`
	Status    string `json:"status"`
}

type onwardOut struct {
	Reports []linkedOut `json:"reports"`
}

// TestOnwardTransfers (SPEC Part 3, "Following the money"): the holder
// of a report says where the money went; each transfer is a linked report
// (money_mule, its amount, the chain fields), routed to its own holder,
// counted, and delivered to the police store after its source with the
// chain fields. Every guard answers as the SPEC says, the Idempotency-Key
// shares POST /v1/reports' namespace, a replay answers the same, and a
// second hop from a linked report keeps the chain's root.
func TestOnwardTransfers(t *testing.T) {
	p := mustPKI(t)
	sim := mustSimProc(t).addrs["sim"]
	gw := mustGateway(t, p, mustRedisAddrs(t), "", "MULEGATE_POLICE_URL", sim, "MULEGATE_FORWARD_WORKERS", "2",
		"MULEGATE_CHAINS_MAX_HOPS", "2", "MULEGATE_CHAINS_MAX_TRANSFERS", "3")
	victim, holder := p.client(t, p.clients["bank-b"]), p.client(t, p.clients["bank-a"])
	market, police := p.client(t, p.clients["market-a"]), p.client(t, p.clients["police-nl"])
	vTok, hTok, mTok, pTok := p.token(t, "bank-b", nil, nil), p.token(t, "bank-a", nil, nil), p.token(t, "market-a", nil, nil), p.token(t, "police-nl", nil, nil)
	rep := do(t, victim, "POST", gw.api+"/v1/reports", vTok, `{"iban":"NL91ABNA0417164300","category":"phishing"}`, "Idempotency-Key", "chain-0")
	root := decodeInto[accepted](t, rep).ReportID
	// The police store is down while the chain grows: every linked report
	// waits in the outbox with its source, and must still reach the store
	// after it.
	setFaults(t, sim, `{"down":true}`)
	onward := gw.api + "/v1/reports/" + root + "/onward"
	at := time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)
	transfer := func(ib, v string) string {
		return fmt.Sprintf(`{"iban":%q,"amount":{"value":%q,"currency":"EUR"},"at":%q}`, ib, v, at)
	}
	body := `{"transfers":[` + transfer("DE89370400440532013000", "600") + "," + transfer("BE68539007547034", "300") + `]}`
	for _, g := range []struct {
		name      string
		c         *http.Client
		tok, key  string
		body      string
		status    int
		code, has string
	}{
		{"404/not a party", market, mTok, "k1", body, 404, "not_found", ""},
		{"403/the reporter is not the holder", victim, vTok, "k1", body, 403, "forbidden", ""},
		{"403/the police lack chains:write", police, pTok, "k1", body, 403, "forbidden", ""},
		{"400/no Idempotency-Key", holder, hTok, "", body, 400, "idempotency_key_required", ""},
		{"400/the report's own IBAN", holder, hTok, "k1", `{"transfers":[` + transfer("NL91ABNA0417164300", "1") + `]}`, 400, "invalid_request", "transfers[0].iban"},
		{"422/an invalid IBAN", holder, hTok, "k1", `{"transfers":[` + transfer("DE00370400440532013000", "1") + `]}`, 422, "invalid_iban", "transfers[0].iban"},
		{"400/too many", holder, hTok, "k1", `{"transfers":[` + strings.Repeat(transfer("DE89370400440532013000", "1")+",", 3) + transfer("DE89370400440532013000", "1") + `]}`,
			400, "invalid_request", "transfers"},
	} {
		var h []string
		if g.key != "" {
			h = []string{"Idempotency-Key", g.key}
		}
		got := do(t, g.c, "POST", onward, g.tok, g.body, h...)
		if got.status != g.status || problemCode(t, got) != g.code || !strings.Contains(string(got.body), g.has) {
			t.Errorf("%s: %d %s", g.name, got.status, got.body)
		}
	}
	first := do(t, holder, "POST", onward, hTok, body, "Idempotency-Key", "hop-1")
	if first.status != 201 {
		t.Fatalf("onward: %d %s", first.status, first.body)
	}
	hop1 := decodeInto[onwardOut](t, first).Reports
	if len(hop1) != 2 || hop1[0].IBAN != "DE89370400440532013000" || hop1[0].HolderOrg != "bank-a" || hop1[1].HolderOrg != "bank-b" ||
		hop1[0].Hop != 1 || hop1[0].Status != "queued" {
		t.Fatalf("the linked reports: %+v", hop1)
	}
	again := do(t, holder, "POST", onward, hTok, body, "Idempotency-Key", "hop-1")
	if again.status != 201 || again.header.Get("Idempotent-Replayed") != "true" || decodeInto[onwardOut](t, again).Reports[1].ReportID != hop1[1].ReportID {
		t.Errorf("the same request again: %d %s", again.status, again.body)
	}
	if got := do(t, holder, "POST", onward, hTok, `{"transfers":[`+transfer("DE89370400440532013000", "5")+`]}`, "Idempotency-Key", "hop-1"); got.status != 422 ||
		problemCode(t, got) != "idempotency_conflict" {
		t.Errorf("the key with another body: %d %s", got.status, got.body)
	}
	if got := do(t, holder, "POST", gw.api+"/v1/reports", hTok, `{"iban":"NL91ABNA0417164300","category":"phishing"}`, "Idempotency-Key", "hop-1"); got.status != 422 {
		t.Errorf("the onward key on POST /v1/reports: %d %s, want 422 (one namespace)", got.status, got.body)
	}
	// The second hop, by bank-b, the holder of the BE account; a third
	// would pass chains.max_hops (2).
	second := do(t, victim, "POST", gw.api+"/v1/reports/"+hop1[1].ReportID+"/onward", vTok,
		`{"transfers":[`+transfer("CH9300762011623852957", "250")+`]}`, "Idempotency-Key", "hop-2")
	if second.status != 201 {
		t.Fatalf("second hop: %d %s", second.status, second.body)
	}
	hop2 := decodeInto[onwardOut](t, second).Reports[0]
	if got := do(t, victim, "POST", gw.api+"/v1/reports/"+hop2.ReportID+"/onward", vTok,
		`{"transfers":[`+transfer("DE89370400440532013000", "1")+`]}`, "Idempotency-Key", "hop-3"); got.status != 400 {
		t.Errorf("past chains.max_hops: %d %s", got.status, got.body)
	}
	st := decodeInto[struct {
		Category       string            `json:"category"`
		Amount         map[string]string `json:"amount"`
		SourceReportID string            `json:"source_report_id"`
		RootReportID   string            `json:"root_report_id"`
		Hop            int               `json:"hop"`
		ReporterOrg    string            `json:"reporter_org"`
	}](t, do(t, victim, "GET", gw.api+"/v1/reports/"+hop2.ReportID, vTok, ""))
	if st.SourceReportID != hop1[1].ReportID || st.RootReportID != root || st.Hop != 2 || st.Category != "money_mule" ||
		st.Amount["value"] != "250.00" || st.ReporterOrg != "bank-b" {
		t.Errorf("the second hop's report: %+v", st)
	}
	if l := decodeInto[lookup](t, do(t, holder, "GET", gw.api+"/v1/ibans/DE89370400440532013000", hTok, "")); l.ReportCount != 1 || l.ByCategory["money_mule"] != 1 {
		t.Errorf("the onward IBAN's lookup: %+v", l)
	}
	type chainCounts struct {
		Chain struct {
			Linked int  `json:"linked_reports"`
			MinHop *int `json:"min_hop"`
		} `json:"chain"`
	}
	if l := decodeInto[chainCounts](t, do(t, holder, "GET", gw.api+"/v1/ibans/CH9300762011623852957", hTok, "")); l.Chain.Linked != 1 ||
		l.Chain.MinHop == nil || *l.Chain.MinHop != 2 {
		t.Errorf("the second hop's IBAN: %+v", l.Chain)
	}
	if l := decodeInto[chainCounts](t, do(t, holder, "GET", gw.api+"/v1/ibans/NL91ABNA0417164300", hTok, "")); l.Chain.Linked != 0 || l.Chain.MinHop != nil {
		t.Errorf("the root's IBAN (hop 0): %+v", l.Chain)
	}
	// The police store: every report once, each linked one after its
	// source, with the chain fields.
	setFaults(t, sim, `{}`)
	want := map[string][2]string{hop1[0].ReportID: {root, root}, hop1[1].ReportID: {root, root}, hop2.ReportID: {hop1[1].ReportID, root}}
	waitfor.Until(t, "the police store to have the chain", 20*time.Second, func() bool {
		got := simReceived(t, sim)
		return got[root] == 1 && got[hop1[0].ReportID] == 1 && got[hop1[1].ReportID] == 1 && got[hop2.ReportID] == 1
	})
	first0 := simRecord(t, sim, root).FirstReceivedAt
	for id, w := range want {
		r := simRecord(t, sim, id)
		var body struct {
			Source string `json:"source_report_id"`
			Root   string `json:"root_report_id"`
			Hop    int    `json:"hop"`
		}
		decodeJSONBytes(t, r.Body, &body)
		if body.Source != w[0] || body.Root != w[1] || body.Hop < 1 {
			t.Errorf("the police body of %s: %+v, want source %s root %s", id, body, w[0], w[1])
		}
		if src := simRecord(t, sim, w[0]); r.FirstReceivedAt.Before(src.FirstReceivedAt) || r.FirstReceivedAt.Before(first0) {
			t.Errorf("%s reached the police store before its source", id)
		}
	}
	var rootBody map[string]any
	decodeJSONBytes(t, simRecord(t, sim, root).Body, &rootBody)
	if _, has := rootBody["hop"]; has {
		t.Errorf("the root report (hop 0) sent chain fields: %v", rootBody)
	}
}

// simRecord is the simulator's record of one report.
func simRecord(t testing.TB, sim, id string) policesim.Record {
	t.Helper()
	var r policesim.Record
	getJSON(t, sim+"/_sim/reports/"+id, &r)
	return r
}

func decodeJSONBytes(t testing.TB, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
}

type chainView struct {
	Root    string `json:"root_report_id"`
	Reports []struct {
		ReportID    string `json:"report_id"`
		Source      string `json:"source_report_id"`
		Hop         int    `json:"hop"`
		IBAN        string `json:"iban"`
		Country     string `json:"country"`
		HolderOrg   string `json:"holder_org"`
		ReporterOrg string `json:"reporter_org"`
	} `json:"reports"`
}

// TestChainView (SPEC Part 3, "Following the money", precise point 5):
// a three-report chain across three banks' accounts, seen through GET
// /v1/reports/{id}/chain: the police see it whole; each bank sees it from
// its root, breadth-first, with the reports it neither filed nor holds
// reduced to their country; an org that is no party gets 404.
func TestChainView(t *testing.T) {
	p := mustPKI(t)
	gw := mustGateway(t, p, mustRedisAddrs(t), "")
	victim, holder := p.client(t, p.clients["bank-b"]), p.client(t, p.clients["bank-a"])
	market, police := p.client(t, p.clients["market-a"]), p.client(t, p.clients["police-nl"])
	vTok, hTok, mTok, pTok := p.token(t, "bank-b", nil, nil), p.token(t, "bank-a", nil, nil), p.token(t, "market-a", nil, nil), p.token(t, "police-nl", nil, nil)
	at := time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)
	root := decodeInto[accepted](t, do(t, victim, "POST", gw.api+"/v1/reports", vTok, `{"iban":"NL91ABNA0417164300","category":"phishing"}`,
		"Idempotency-Key", "cv-0")).ReportID
	// bank-a (holds NL) sends it on to DE (bank-a's) and BE (bank-b's);
	// bank-b sends the BE money on to CH (bank-b's).
	hop1 := decodeInto[onwardOut](t, do(t, holder, "POST", gw.api+"/v1/reports/"+root+"/onward", hTok,
		`{"transfers":[{"iban":"DE89370400440532013000","amount":{"value":"600","currency":"EUR"},"at":"`+at+`"},`+
			`{"iban":"BE68539007547034","amount":{"value":"300","currency":"EUR"},"at":"`+at+`"}]}`, "Idempotency-Key", "cv-1")).Reports
	hop2 := decodeInto[onwardOut](t, do(t, victim, "POST", gw.api+"/v1/reports/"+hop1[1].ReportID+"/onward", vTok,
		`{"transfers":[{"iban":"CH9300762011623852957","amount":{"value":"250","currency":"EUR"},"at":"`+at+`"}]}`, "Idempotency-Key", "cv-2")).Reports
	if len(hop1) != 2 || len(hop2) != 1 {
		t.Fatalf("the chain: %+v %+v", hop1, hop2)
	}
	order := []string{root, hop1[0].ReportID, hop1[1].ReportID, hop2[0].ReportID}
	view := func(c *http.Client, tok, through string) chainView {
		got := do(t, c, "GET", gw.api+"/v1/reports/"+through+"/chain", tok, "")
		if got.status != 200 {
			t.Fatalf("chain through %s: %d %s", through, got.status, got.body)
		}
		return decodeInto[chainView](t, got)
	}
	check := func(who string, v chainView, masked map[string]string) {
		t.Helper()
		if v.Root != root || len(v.Reports) != len(order) {
			t.Fatalf("%s: %+v", who, v)
		}
		for n, r := range v.Reports {
			if r.ReportID != order[n] {
				t.Errorf("%s: report %d is %s, want %s (breadth-first)", who, n, r.ReportID, order[n])
			}
			if country, ok := masked[r.ReportID]; ok {
				if r.IBAN != "" || r.HolderOrg != "" || r.ReporterOrg != "" || r.Country != country {
					t.Errorf("%s sees %s: %+v, want only its country %s", who, r.ReportID, r, country)
				}
			} else if r.IBAN == "" || r.ReporterOrg == "" || r.Country != "" {
				t.Errorf("%s sees %s: %+v, want it whole", who, r.ReportID, r)
			}
		}
	}
	check("the police", view(police, pTok, hop2[0].ReportID), nil)
	check("bank-a", view(holder, hTok, hop1[0].ReportID), map[string]string{hop2[0].ReportID: "CH"})
	check("bank-b", view(victim, vTok, root), map[string]string{hop1[0].ReportID: "DE"})
	if got := do(t, market, "GET", gw.api+"/v1/reports/"+root+"/chain", mTok, ""); got.status != 404 {
		t.Errorf("a non-party: %d, want 404", got.status)
	}
	if got := do(t, holder, "GET", gw.api+"/v1/reports/"+hop2[0].ReportID+"/chain", hTok, ""); got.status != 404 {
		t.Errorf("bank-a through a report it is no party of: %d, want 404", got.status)
	}
}

// TestConfirmedUpstream (SPEC Part 3, "Following the money", precise
// points 6 and 7): an IBAN the money went on to is "one hop from a
// confirmed mule" once the holder of its source closes that report
// agreed (another org's report): its lookup says confirmed_upstream and
// its risk rises to at least medium (linked_to_confirmed), within 10
// seconds; the source's cancellation takes it back. A linked report made
// after its source was confirmed carries it from the start.
func TestConfirmedUpstream(t *testing.T) {
	p := mustPKI(t)
	sim := mustSimProc(t).addrs["sim"]
	gw := mustGateway(t, p, mustRedisAddrs(t), "", "MULEGATE_POLICE_URL", sim, "MULEGATE_FORWARD_WORKERS", "2")
	victim, holder := p.client(t, p.clients["bank-b"]), p.client(t, p.clients["bank-a"])
	vTok, hTok := p.token(t, "bank-b", nil, nil), p.token(t, "bank-a", nil, nil)
	at := time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)
	type rated struct {
		Risk    string   `json:"risk"`
		Reasons []string `json:"risk_reasons"`
		Chain   struct {
			Confirmed bool `json:"confirmed_upstream"`
		} `json:"chain"`
	}
	look := func(ib string) rated {
		return decodeInto[rated](t, do(t, victim, "GET", gw.api+"/v1/ibans/"+ib, vTok, ""))
	}
	root := decodeInto[accepted](t, do(t, victim, "POST", gw.api+"/v1/reports", vTok, `{"iban":"NL91ABNA0417164300","category":"phishing"}`,
		"Idempotency-Key", "cu-0")).ReportID
	if got := do(t, holder, "POST", gw.api+"/v1/reports/"+root+"/onward", hTok,
		`{"transfers":[{"iban":"DE89370400440532013000","amount":{"value":"600","currency":"EUR"},"at":"`+at+`"}]}`, "Idempotency-Key", "cu-1"); got.status != 201 {
		t.Fatalf("onward: %d %s", got.status, got.body)
	}
	if l := look("DE89370400440532013000"); l.Chain.Confirmed || l.Risk != "low" {
		t.Errorf("before the source is confirmed: %+v", l)
	}
	if got := do(t, holder, "POST", gw.api+"/v1/reports/"+root+"/close", hTok, `{"result":"agreed","fraud_type":"mule_account"}`); got.status != 200 {
		t.Fatalf("close: %d %s", got.status, got.body)
	}
	var l rated
	waitfor.Until(t, "confirmed_upstream after the source's close", 10*time.Second, func() bool {
		l = look("DE89370400440532013000")
		return l.Chain.Confirmed
	})
	if l.Risk != "medium" || strings.Join(l.Reasons, ",") != "linked_to_confirmed" {
		t.Errorf("one hop from a confirmed mule: %+v, want medium with linked_to_confirmed", l)
	}
	if got := do(t, victim, "POST", gw.api+"/v1/reports/"+root+"/cancel", vTok, ""); got.status != 200 {
		t.Fatalf("cancel: %d %s", got.status, got.body)
	}
	waitfor.Until(t, "confirmed_upstream gone after the source's cancel", 10*time.Second, func() bool {
		l = look("DE89370400440532013000")
		return !l.Chain.Confirmed
	})
	if l.Risk != "low" {
		t.Errorf("after the cancel: %+v", l)
	}
	// A source confirmed before its onward report: carried from the start.
	root2 := decodeInto[accepted](t, do(t, victim, "POST", gw.api+"/v1/reports", vTok, `{"iban":"NL91ABNA0417164300","category":"phishing"}`,
		"Idempotency-Key", "cu-2")).ReportID
	if got := do(t, holder, "POST", gw.api+"/v1/reports/"+root2+"/close", hTok, `{"result":"agreed","fraud_type":"mule_account"}`); got.status != 200 {
		t.Fatalf("close: %d %s", got.status, got.body)
	}
	if got := do(t, holder, "POST", gw.api+"/v1/reports/"+root2+"/onward", hTok,
		`{"transfers":[{"iban":"BE68539007547034","amount":{"value":"100","currency":"EUR"},"at":"`+at+`"}]}`, "Idempotency-Key", "cu-3"); got.status != 201 {
		t.Fatalf("onward: %d %s", got.status, got.body)
	}
	if l := look("BE68539007547034"); !l.Chain.Confirmed || l.Risk != "medium" {
		t.Errorf("an onward report from a confirmed source: %+v", l)
	}
}

// TestRecoveryAlongTheChain (SPEC Part 3, "Recovery follows the chain"):
// the victim's bank, which filed the root report, asks for the money at
// the account it went on to (a linked report filed by the first holder):
// it is a party of that linked report's status (without its IBAN) and
// recovery, gets the holder's steps in its feed and may release it; it is
// no party of the linked report's review, and an org off the chain gets
// 404.
func TestRecoveryAlongTheChain(t *testing.T) {
	p := mustPKI(t)
	sim := mustSimProc(t).addrs["sim"]
	gw := mustGateway(t, p, mustRedisAddrs(t), "", "MULEGATE_POLICE_URL", sim, "MULEGATE_FORWARD_WORKERS", "2")
	victim, holder, market := p.client(t, p.clients["bank-b"]), p.client(t, p.clients["bank-a"]), p.client(t, p.clients["market-a"])
	vTok, hTok, mTok := p.token(t, "bank-b", nil, nil), p.token(t, "bank-a", nil, nil), p.token(t, "market-a", nil, nil)
	at := time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)
	root := decodeInto[accepted](t, do(t, victim, "POST", gw.api+"/v1/reports", vTok, `{"iban":"NL91ABNA0417164300","category":"phishing"}`,
		"Idempotency-Key", "rc-0")).ReportID
	linked := decodeInto[onwardOut](t, do(t, holder, "POST", gw.api+"/v1/reports/"+root+"/onward", hTok,
		`{"transfers":[{"iban":"DE89370400440532013000","amount":{"value":"700","currency":"EUR"},"at":"`+at+`"}]}`, "Idempotency-Key", "rc-1")).Reports[0].ReportID
	st := do(t, victim, "GET", gw.api+"/v1/reports/"+linked, vTok, "")
	if st.status != 200 || strings.Contains(string(st.body), "DE89370400440532013000") {
		t.Errorf("the linked report as the root's reporter sees it: %d %s, want 200 without its IBAN", st.status, st.body)
	}
	if got := do(t, market, "GET", gw.api+"/v1/reports/"+linked, mTok, ""); got.status != 404 {
		t.Errorf("an org off the chain: %d, want 404", got.status)
	}
	if got := do(t, victim, "POST", gw.api+"/v1/reports/"+linked+"/acknowledge", vTok, ""); got.status != 404 {
		t.Errorf("the root's reporter on the linked report's review: %d, want 404", got.status)
	}
	rec := gw.api + "/v1/reports/" + linked + "/recovery"
	if got := do(t, victim, "POST", rec+"/release", vTok, ""); got.status != 409 {
		t.Errorf("release before any request: %d %s, want 409", got.status, got.body)
	}
	got := do(t, victim, "POST", rec, vTok, `{"amount":{"value":"700","currency":"EUR"},"return_to":"BE68539007547034"}`)
	if got.status != 201 || decodeInto[recoveryOut](t, got).RequestedBy != "bank-b" {
		t.Fatalf("the root's reporter asks for the money downstream: %d %s", got.status, got.body)
	}
	if got := do(t, holder, "POST", rec+"/hold", hTok, `{"amount":{"value":"500","currency":"EUR"}}`); got.status != 200 {
		t.Fatalf("hold: %d %s", got.status, got.body)
	}
	waitfor.Until(t, "the holder's hold in the requester's feed", 10*time.Second, func() bool {
		page := decodeInto[eventPage](t, do(t, victim, "GET", gw.api+"/v1/events?types=recovery.held", vTok, ""))
		return len(page.Events) == 1 && strings.Contains(string(page.Events[0].Data), linked)
	})
	if got := do(t, victim, "POST", rec+"/release", vTok, ""); got.status != 200 || decodeInto[recoveryOut](t, got).State != "released" {
		t.Errorf("the requester releases it: %d %s", got.status, got.body)
	}
}
