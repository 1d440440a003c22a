package main

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
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
