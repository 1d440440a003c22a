package main

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mulegate/mulegate/internal/waitfor"
)

// workPage is a work list page as a client reads it.
type workPage struct {
	Reports []struct {
		ReportID string `json:"report_id"`
		IBAN     string `json:"iban"`
		Review   struct {
			State     string    `json:"state"`
			RespondBy time.Time `json:"respond_by"`
			Overdue   bool      `json:"overdue"`
		} `json:"review"`
		Recovery *struct {
			State       string `json:"state"`
			RequestedBy string `json:"requested_by"`
		} `json:"recovery"`
	} `json:"reports"`
	NextCursor string `json:"next_cursor"`
}

func (p workPage) ids() []string {
	out := make([]string, len(p.Reports))
	for n, r := range p.Reports {
		out[n] = r.ReportID
	}
	return out
}

// TestWorkLists (SPEC Part 3, precise point 12): GET /v1/reviews lists the
// holder's reports awaiting its answer, earliest deadline first, paged
// by cursor, filtered by state and overdue, without a closed or another
// bank's report; GET /v1/recoveries lists a bank's unfinished
// recoveries as holder and as requester, and a finished one leaves both.
// Wrong parameters are 400, other org types 403.
func TestWorkLists(t *testing.T) {
	p := mustPKI(t)
	sim := mustSimProc(t).addrs["sim"]
	gw := mustGateway(t, p, mustRedisAddrs(t), "", "MULEGATE_POLICE_URL", sim, "MULEGATE_FORWARD_WORKERS", "2",
		"MULEGATE_REVIEW_RESPOND_WITHIN", "3s")
	holder, victim, market := p.client(t, p.clients["bank-a"]), p.client(t, p.clients["bank-b"]), p.client(t, p.clients["market-a"])
	hTok, vTok, mTok := p.token(t, "bank-a", nil, nil), p.token(t, "bank-b", nil, nil), p.token(t, "market-a", nil, nil)
	list := func(c *http.Client, tok, path string) workPage {
		t.Helper()
		res := do(t, c, "GET", gw.api+path, tok, "")
		if res.status != 200 {
			t.Fatalf("GET %s: %d %s", path, res.status, res.body)
		}
		return decodeInto[workPage](t, res)
	}
	var ids []string
	for n := range 5 {
		res := do(t, victim, "POST", gw.api+"/v1/reports", vTok, fmt.Sprintf(`{"iban":%q,"category":"phishing","amount":{"value":"100","currency":"EUR"}}`, nlIBANText(n+1)),
			"Idempotency-Key", fmt.Sprint("wl-", n))
		if res.status != 202 {
			t.Fatalf("report %d: %d %s", n, res.status, res.body)
		}
		ids = append(ids, decodeInto[accepted](t, res).ReportID)
	}
	// bank-b holds BE: its report is not bank-a's work.
	if res := do(t, market, "POST", gw.api+"/v1/reports", mTok, `{"iban":"BE68539007547034","category":"phishing"}`, "Idempotency-Key", "wl-be"); res.status != 202 {
		t.Fatalf("report BE: %d %s", res.status, res.body)
	}
	var all workPage
	waitfor.Until(t, "the holder's work list to hold the five reports", 10*time.Second, func() bool {
		all = list(holder, hTok, "/v1/reviews")
		return len(all.Reports) == 5
	})
	if got, want := slices.Sorted(slices.Values(all.ids())), slices.Sorted(slices.Values(ids)); !slices.Equal(got, want) {
		t.Errorf("reviews %v, want %v", got, want)
	}
	for n := 1; n < len(all.Reports); n++ {
		a, b := all.Reports[n-1], all.Reports[n]
		if a.Review.RespondBy.After(b.Review.RespondBy) || (a.Review.RespondBy.Equal(b.Review.RespondBy) && a.ReportID > b.ReportID) {
			t.Errorf("reviews not earliest respond_by first: %v then %v", a, b)
		}
	}
	ids = all.ids() // the list's order from here on
	if all.Reports[0].IBAN == "" || all.Reports[0].Review.State != "open" {
		t.Errorf("an item is the report as its holder sees it (with its IBAN): %+v", all.Reports[0])
	}
	// Paged: two, two, one, then an empty page that keeps the cursor.
	var paged []string
	cursor := ""
	for range 4 {
		pg := list(holder, hTok, "/v1/reviews?limit=2&after="+cursor)
		paged = append(paged, pg.ids()...)
		if len(pg.Reports) == 0 && pg.NextCursor != cursor {
			t.Errorf("an empty page moved the cursor from %q to %q", cursor, pg.NextCursor)
		}
		cursor = pg.NextCursor
	}
	if strings.Join(paged, ",") != strings.Join(ids, ",") {
		t.Errorf("paged by 2: %v, want %v", paged, ids)
	}
	// Acknowledge one, close another: states filter, a closed one leaves.
	if res := do(t, holder, "POST", gw.api+"/v1/reports/"+ids[1]+"/acknowledge", hTok, ""); res.status != 200 {
		t.Fatalf("acknowledge: %d %s", res.status, res.body)
	}
	if res := do(t, holder, "POST", gw.api+"/v1/reports/"+ids[2]+"/close", hTok, `{"result":"disagreed"}`); res.status != 200 {
		t.Fatalf("close: %d %s", res.status, res.body)
	}
	if got := list(holder, hTok, "/v1/reviews?state=acknowledged").ids(); strings.Join(got, ",") != ids[1] {
		t.Errorf("state=acknowledged: %v, want [%s]", got, ids[1])
	}
	if got := list(holder, hTok, "/v1/reviews?state=open").ids(); strings.Join(got, ",") != strings.Join([]string{ids[0], ids[3], ids[4]}, ",") {
		t.Errorf("state=open: %v", got)
	}
	if got := list(holder, hTok, "/v1/reviews?overdue=true").ids(); len(got) != 0 {
		t.Errorf("overdue=true before respond_by: %v", got)
	}
	waitfor.Until(t, "four reviews to be overdue", 10*time.Second, func() bool {
		return len(list(holder, hTok, "/v1/reviews?overdue=true").Reports) == 4
	})
	if got := list(holder, hTok, "/v1/reviews?overdue=false").ids(); len(got) != 0 {
		t.Errorf("overdue=false after respond_by: %v", got)
	}
	if got := list(victim, vTok, "/v1/reviews").ids(); len(got) != 1 {
		t.Errorf("bank-b's reviews: %v, want its one BE report", got)
	}

	// Recoveries: bank-b asks for the money of two reports; bank-a holds
	// one, then returns it.
	for _, id := range ids[3:5] {
		if res := do(t, victim, "POST", gw.api+"/v1/reports/"+id+"/recovery", vTok, `{"amount":{"value":"100","currency":"EUR"}}`); res.status != 201 {
			t.Fatalf("recovery of %s: %d %s", id, res.status, res.body)
		}
	}
	waitfor.Until(t, "both recoveries in both lists", 10*time.Second, func() bool {
		return len(list(holder, hTok, "/v1/recoveries?role=holder").Reports) == 2 && len(list(victim, vTok, "/v1/recoveries?role=requester").Reports) == 2
	})
	if res := do(t, holder, "POST", gw.api+"/v1/reports/"+ids[3]+"/recovery/hold", hTok, `{"amount":{"value":"100","currency":"EUR"}}`); res.status != 200 {
		t.Fatalf("hold: %d %s", res.status, res.body)
	}
	waitfor.Until(t, "the held recovery to show as held", 10*time.Second, func() bool {
		return strings.Join(list(holder, hTok, "/v1/recoveries?role=holder&state=held").ids(), ",") == ids[3]
	})
	if got := list(victim, vTok, "/v1/recoveries?role=requester&state=requested").ids(); strings.Join(got, ",") != ids[4] {
		t.Errorf("requester, requested: %v, want [%s]", got, ids[4])
	}
	if got := list(holder, hTok, "/v1/recoveries?role=requester").ids(); len(got) != 0 {
		t.Errorf("the holder requested nothing: %v", got)
	}
	if res := do(t, holder, "POST", gw.api+"/v1/reports/"+ids[3]+"/recovery/return", hTok, `{"amount":{"value":"100","currency":"EUR"}}`); res.status != 200 {
		t.Fatalf("return: %d %s", res.status, res.body)
	}
	waitfor.Until(t, "the returned recovery to leave both lists", 10*time.Second, func() bool {
		h, r := list(holder, hTok, "/v1/recoveries?role=holder").ids(), list(victim, vTok, "/v1/recoveries?role=requester").ids()
		return strings.Join(h, ",") == ids[4] && strings.Join(r, ",") == ids[4]
	})

	for _, bad := range []struct {
		c          *http.Client
		tok, path  string
		status     int
		code, name string
	}{
		{holder, hTok, "/v1/reviews?state=closed", 400, "invalid_request", "state"},
		{holder, hTok, "/v1/reviews?overdue=yes", 400, "invalid_request", "overdue"},
		{holder, hTok, "/v1/reviews?limit=0", 400, "invalid_request", "limit"},
		{holder, hTok, "/v1/reviews?after=bogus", 400, "invalid_request", "after"},
		{holder, hTok, "/v1/recoveries", 400, "invalid_request", "role"},
		{holder, hTok, "/v1/recoveries?role=holder&state=returned", 400, "invalid_request", "state"},
		{market, mTok, "/v1/reviews", 403, "forbidden", ""},
		{market, mTok, "/v1/recoveries?role=requester", 403, "forbidden", ""},
	} {
		res := do(t, bad.c, "GET", gw.api+bad.path, bad.tok, "")
		if res.status != bad.status || problemCode(t, res) != bad.code || !strings.Contains(string(res.body), bad.name) {
			t.Errorf("GET %s: %d %s, want %d %s naming %q", bad.path, res.status, res.body, bad.status, bad.code, bad.name)
		}
	}
}
