package main

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/mulegate/mulegate/internal/iban"
	"github.com/mulegate/mulegate/internal/redistest"
	"github.com/mulegate/mulegate/internal/store"
	"github.com/mulegate/mulegate/internal/waitfor"
)

// TestChainAcrossBanks (SPEC Part 3, "Following the money"): a chain of
// three hops across three banks, built through two gateways on one Redis
// (in the cluster pass, a 3-master Redis Cluster on which each hop's IBAN
// lives in another slot than its source's), every step taken through the
// gateway the previous step did not use:
//
//	R0  bank-b reports NL (held by bank-a)
//	R1  bank-a: the money went on to ES (bank-c)        hop 1
//	R2  bank-c: it went on to FR (bank-b)               hop 2
//	R3  bank-b: it went on to GB (bank-c)               hop 3
//
// Each bank and the police see the chain as the SPEC says; the police
// store gets every report once, each after its source, with the chain
// fields; each holder's report.received carries them; and
// confirmed_upstream follows the source across slots and gateways: set by
// a late close agreed, taken back by the source's cancel, set by a marker
// on the source's IBAN and taken back when it is lifted, each within 10
// seconds.
func TestChainAcrossBanks(t *testing.T) {
	p := mustPKI(t)
	rds := mustRedisAddrs(t)
	sim := mustSimProc(t).addrs["sim"]
	gws := []*gateway{
		mustGateway(t, p, rds, "", "MULEGATE_POLICE_URL", sim, "MULEGATE_FORWARD_WORKERS", "2"),
		mustGateway(t, p, rds, "", "MULEGATE_POLICE_URL", sim, "MULEGATE_FORWARD_WORKERS", "2"),
	}
	type party struct {
		c   *http.Client
		tok string
	}
	parties := map[string]party{}
	for _, org := range []string{"bank-a", "bank-b", "bank-c", "police-nl", "market-a"} {
		parties[org] = party{p.client(t, p.clients[org]), p.token(t, org, nil, nil)}
	}
	via := func(step int, org, method, path, body string, h ...string) call {
		t.Helper()
		return do(t, parties[org].c, method, gws[step%2].api+path, parties[org].tok, body, h...)
	}
	ibans := []string{"NL91ABNA0417164300", "ES9121000418450200051332", "FR1420041010050500013M02606", "GB51NWBK60161331926811"}
	holders := []string{"bank-a", "bank-c", "bank-b", "bank-c"}
	if redistest.Topology() == "cluster" {
		for n := 1; n < len(ibans); n++ {
			if a, b := bookSlot(t, rds, ibans[n-1]), bookSlot(t, rds, ibans[n]); a == b {
				t.Fatalf("%s and %s share slot %d: choose IBANs that do not", ibans[n-1], ibans[n], a)
			}
		}
	}
	at := time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)
	rep := via(0, "bank-b", "POST", "/v1/reports", `{"iban":"`+ibans[0]+`","category":"phishing"}`, "Idempotency-Key", "three-0")
	if rep.status != 202 {
		t.Fatalf("report: %d %s", rep.status, rep.body)
	}
	ids := []string{decodeInto[accepted](t, rep).ReportID}
	for n := 1; n < len(ibans); n++ {
		got := via(n, holders[n-1], "POST", "/v1/reports/"+ids[n-1]+"/onward",
			fmt.Sprintf(`{"transfers":[{"iban":%q,"amount":{"value":"%d","currency":"EUR"},"at":%q}]}`, ibans[n], 1000-100*n, at),
			"Idempotency-Key", fmt.Sprint("three-", n))
		if got.status != 201 {
			t.Fatalf("hop %d: %d %s", n, got.status, got.body)
		}
		l := decodeInto[onwardOut](t, got).Reports
		if len(l) != 1 || l[0].Hop != n || l[0].HolderOrg != holders[n] || l[0].IBAN != ibans[n] {
			t.Fatalf("hop %d: %+v", n, l)
		}
		ids = append(ids, l[0].ReportID)
	}
	checkChainViews(t, via, ids)
	checkChainAtPolice(t, sim, ids)
	checkChainInFeeds(t, via, ids, holders)
	checkUpstreamAcrossSlots(t, via, ids, ibans, holders)
}

// viaGateway calls through one of two gateways (step%2) as an org.
type viaGateway func(step int, org, method, path, body string, h ...string) call

// checkChainViews: the police see the chain whole through any report;
// each bank, through a report it filed or holds, sees the reports it
// neither filed nor holds reduced to their country; the marketplace, no
// party, gets 404.
func checkChainViews(t *testing.T, via viaGateway, ids []string) {
	t.Helper()
	for _, v := range []struct {
		org, through string
		masked       map[string]string
	}{
		{"police-nl", ids[3], nil},
		{"bank-a", ids[1], map[string]string{ids[2]: "FR", ids[3]: "GB"}},
		{"bank-b", ids[0], map[string]string{ids[1]: "ES"}},
		{"bank-c", ids[3], map[string]string{ids[0]: "NL"}},
	} {
		for step := range 2 {
			got := via(step, v.org, "GET", "/v1/reports/"+v.through+"/chain", "")
			if got.status != 200 {
				t.Fatalf("%s's chain view: %d %s", v.org, got.status, got.body)
			}
			cv := decodeInto[chainView](t, got)
			if cv.Root != ids[0] || len(cv.Reports) != len(ids) {
				t.Fatalf("%s's chain view: %+v", v.org, cv)
			}
			for n, r := range cv.Reports {
				if r.ReportID != ids[n] || r.Hop != n || (n > 0 && r.Source != ids[n-1]) {
					t.Errorf("%s's view, report %d: %+v", v.org, n, r)
				}
				if country, ok := v.masked[r.ReportID]; ok {
					if r.IBAN != "" || r.HolderOrg != "" || r.ReporterOrg != "" || r.Country != country {
						t.Errorf("%s sees hop %d: %+v, want only its country %s", v.org, n, r, country)
					}
				} else if r.IBAN == "" || r.ReporterOrg == "" || r.HolderOrg == "" {
					t.Errorf("%s sees hop %d: %+v, want it whole", v.org, n, r)
				}
			}
		}
	}
	if got := via(0, "market-a", "GET", "/v1/reports/"+ids[0]+"/chain", ""); got.status != 404 {
		t.Errorf("the marketplace: %d, want 404", got.status)
	}
}

// checkChainAtPolice: every report once, each after its source, the
// linked ones with their source, root and hop.
func checkChainAtPolice(t *testing.T, sim string, ids []string) {
	t.Helper()
	waitfor.Until(t, "the police store to have the chain", 20*time.Second, func() bool {
		got := simReceived(t, sim)
		for _, id := range ids {
			if got[id] == 0 {
				return false
			}
		}
		return true
	})
	got := simReceived(t, sim)
	for n, id := range ids {
		if got[id] != 1 {
			t.Errorf("hop %d reached the police store %d times", n, got[id])
		}
		r := simRecord(t, sim, id)
		var body struct {
			Source string `json:"source_report_id"`
			Root   string `json:"root_report_id"`
			Hop    int    `json:"hop"`
		}
		decodeJSONBytes(t, r.Body, &body)
		if n == 0 {
			if body.Source != "" || body.Root != "" || body.Hop != 0 {
				t.Errorf("the root report sent chain fields: %s", r.Body)
			}
			continue
		}
		if body.Source != ids[n-1] || body.Root != ids[0] || body.Hop != n {
			t.Errorf("hop %d at the police: %s", n, r.Body)
		}
		if r.FirstReceivedAt.Before(simRecord(t, sim, ids[n-1]).FirstReceivedAt) {
			t.Errorf("hop %d reached the police store before its source", n)
		}
	}
}

// checkChainInFeeds: each report's holder hears of it with its place in
// the chain.
func checkChainInFeeds(t *testing.T, via viaGateway, ids, holders []string) {
	t.Helper()
	type received struct {
		Data struct {
			ReportID string `json:"report_id"`
			Source   string `json:"source_report_id"`
			Root     string `json:"root_report_id"`
			Hop      int    `json:"hop"`
		} `json:"data"`
	}
	for n := 1; n < len(ids); n++ {
		var found *received
		waitfor.Until(t, fmt.Sprintf("hop %d in %s's feed", n, holders[n]), 10*time.Second, func() bool {
			page := decodeInto[struct {
				Events []received `json:"events"`
			}](t, via(n, holders[n], "GET", "/v1/events?limit=1000&types=report.received", ""))
			for _, e := range page.Events {
				if e.Data.ReportID == ids[n] {
					found = &e
					return true
				}
			}
			return false
		})
		if found.Data.Source != ids[n-1] || found.Data.Root != ids[0] || found.Data.Hop != n {
			t.Errorf("hop %d's report.received: %+v", n, found.Data)
		}
	}
}

// checkUpstreamAcrossSlots: confirmed_upstream on an onward IBAN follows
// its source, whose book is in another slot, whichever gateway acts.
func checkUpstreamAcrossSlots(t *testing.T, via viaGateway, ids, ibans, holders []string) {
	t.Helper()
	type rated struct {
		Risk    string   `json:"risk"`
		Reasons []string `json:"risk_reasons"`
		Chain   struct {
			Confirmed bool `json:"confirmed_upstream"`
		} `json:"chain"`
	}
	expect := func(step int, what, ib string, confirmed bool) {
		t.Helper()
		var l rated
		waitfor.Until(t, what, 10*time.Second, func() bool {
			l = decodeInto[rated](t, via(step, "bank-b", "GET", "/v1/ibans/"+ib, ""))
			return l.Chain.Confirmed == confirmed
		})
		want := "low"
		if confirmed {
			want = "medium"
		}
		if l.Risk != want || confirmed != strings.Contains(strings.Join(l.Reasons, ","), "linked_to_confirmed") {
			t.Errorf("%s: %+v, want risk %s", what, l, want)
		}
	}
	expect(0, "no confirmation yet", ibans[2], false)
	// A late confirmation: R1's holder closes it agreed after R2 exists.
	if got := via(0, holders[1], "POST", "/v1/reports/"+ids[1]+"/close", `{"result":"agreed","fraud_type":"mule_account"}`); got.status != 200 {
		t.Fatalf("close: %d %s", got.status, got.body)
	}
	expect(1, "confirmed_upstream after R1 was closed agreed", ibans[2], true)
	if got := via(1, holders[0], "POST", "/v1/reports/"+ids[1]+"/cancel", ""); got.status != 200 {
		t.Fatalf("cancel: %d %s", got.status, got.body)
	}
	expect(0, "confirmed_upstream gone after R1's cancel", ibans[2], false)
	// A marker on R2's IBAN confirms R3's, and its lifting takes it back
	// (R2 counts; R1, cancelled, confirms nothing, marker or not).
	expect(1, "no confirmation of R3's IBAN yet", ibans[3], false)
	if got := via(1, "police-nl", "PUT", "/v1/ibans/"+ibans[2]+"/marker", `{"fraud_type":"mule_account"}`); got.status != 200 {
		t.Fatalf("marker: %d %s", got.status, got.body)
	}
	expect(0, "confirmed_upstream after the marker on R2's IBAN", ibans[3], true)
	if got := via(0, "police-nl", "DELETE", "/v1/ibans/"+ibans[2]+"/marker", ""); got.status != 204 {
		t.Fatalf("lift: %d %s", got.status, got.body)
	}
	expect(1, "confirmed_upstream gone after the marker was lifted", ibans[3], false)
}

// bookSlot is the Redis Cluster slot of an IBAN's book, as a gateway with
// the test configuration's secret places it.
func bookSlot(t *testing.T, addrs []string, text string) int64 {
	t.Helper()
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs})
	t.Cleanup(func() { _ = rdb.Close() })
	s, err := store.New(rdb, store.Options{Secret: []byte("test-secret-0123456789abcdef")})
	if err != nil {
		t.Fatal(err)
	}
	i, err := iban.Parse(text)
	if err != nil {
		t.Fatal(err)
	}
	_, part := s.Pseudonym(i)
	slot, err := rdb.ClusterKeySlot(context.Background(), "{p"+strconv.Itoa(part)+"}").Result()
	if err != nil {
		t.Fatal(err)
	}
	return slot
}
