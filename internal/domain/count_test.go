package domain

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestCounterRules: what a lookup counts, without Redis. A report past
// retention counts for nothing; a cancelled one only as cancelled; each
// window counts the reports received in it and the orgs whose newest
// counted report is in it; the review buckets follow the review's state
// and result.
func TestCounterRules(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	p := PeriodsAt(now, 400*24*time.Hour)
	ago := func(d int) int64 { return now.Add(-time.Duration(d) * 24 * time.Hour).UnixMilli() }
	k := p.Counter()
	for _, r := range []Counted{
		{Received: ago(500), Org: "bank-old", Category: "phishing", Source: "bank", Review: ReviewOpen, Amount: eur("7.00")}, // past retention
		{Received: ago(1), Org: "bank-a", Category: "phishing", Source: "bank", Review: ReviewOpen, Amount: eur("100.10"),
			Recovered: eur("50.00")}, // 7 days
		{Received: ago(20), Org: "bank-a", Category: "phishing", Source: "bank", Review: ReviewClosed, Result: ResultAgreed,
			Amount: Amount{Value: "1200", Currency: "JPY"}},
		{Received: ago(60), Org: "shop-b", Category: "marketplace_fraud", Source: "marketplace", Review: ReviewClosed, Result: ResultDisagreed},
		{Received: ago(200), Org: "bank-c", Category: "phishing", Source: "bank", Review: ReviewUnrouted, Amount: eur("0.90")},
		{Received: ago(2), Org: "bank-d", Category: "phishing", Source: "bank", Review: ReviewCancelled, Amount: eur("5.00"),
			Recovered: eur("5.00")}, // cancelled: no amount, nothing recovered
	} {
		k.Add(r)
	}
	got := k.Counts()
	want := Counts{ReportCount: 4, ReporterCount: 3, Last30Days: 2, Cancelled: 1,
		ByCategory: Tally{{"marketplace_fraud", 1}, {"phishing", 3}}, BySource: Tally{{"bank", 3}, {"marketplace", 1}},
		First: time.UnixMilli(ago(200)).UTC(), Last: time.UnixMilli(ago(1)).UTC(),
		Review:  ReviewCounts{Open: 1, Confirmed: 1, Disputed: 1},
		Windows: [4]Window{{Reports: 1, Reporters: 1}, {Reports: 2, Reporters: 1}, {Reports: 3, Reporters: 2}, {Reports: 4, Reporters: 3}}}
	wantSums := [4]map[string]string{{"EUR": "100.10"}, {"EUR": "100.10", "JPY": "1200"}, {"EUR": "100.10", "JPY": "1200"},
		{"EUR": "101.00", "JPY": "1200"}}
	for w := range got.Amounts {
		if d := cmp.Diff(wantSums[w], sumsMap(got.Amounts[w])); d != "" {
			t.Errorf("amounts in window %d (-want +got):\n%s", w, d)
		}
	}
	if d := cmp.Diff(map[string]string{"EUR": "50.00"}, sumsMap(got.Recovered)); d != "" {
		t.Errorf("recovered (-want +got):\n%s", d)
	}
	got.Amounts, got.Recovered, got.ScoreSum = [4]Sums{}, nil, 0 // the score: TestScore
	if d := cmp.Diff(want, got, cmp.AllowUnexported(CurrencySum{})); d != "" {
		t.Errorf("counts (-want +got):\n%s", d)
	}
	if empty := p.Counter(); empty.Counts().ReportCount != 0 || !empty.Counts().First.IsZero() {
		t.Errorf("no reports: %+v", empty.Counts())
	}
}

func eur(v string) Amount { return Amount{Value: v, Currency: "EUR"} }

func sumsMap(s Sums) map[string]string {
	out := map[string]string{}
	for _, c := range s {
		out[c.Currency] = c.Value()
	}
	return out
}

// TestCounterManyReporters: an IBAN reported by more orgs than the
// counter keeps in its own array counts each org once, overall and per
// window, by its newest report.
func TestCounterManyReporters(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	p := PeriodsAt(now, 400*24*time.Hour)
	ago := func(d int) int64 { return now.Add(-time.Duration(d) * 24 * time.Hour).UnixMilli() }
	k := p.Counter()
	for n := range 12 {
		org := string(rune('a'+n)) + "-bank"
		k.Add(Counted{Received: ago(100), Org: org, Category: "phishing", Source: "bank", Review: ReviewOpen})
		if n%2 == 1 { // every other org also reported 3 days ago: its newest
			k.Add(Counted{Received: ago(3), Org: org, Category: "phishing", Source: "bank", Review: ReviewOpen})
		}
	}
	got := k.Counts()
	if got.ReportCount != 18 || got.ReporterCount != 12 {
		t.Fatalf("reports %d reporters %d, want 18 and 12", got.ReportCount, got.ReporterCount)
	}
	want := [4]Window{{Reports: 6, Reporters: 6}, {Reports: 6, Reporters: 6}, {Reports: 6, Reporters: 6}, {Reports: 18, Reporters: 12}}
	if d := cmp.Diff(want, got.Windows); d != "" {
		t.Errorf("windows (-want +got):\n%s", d)
	}
}
