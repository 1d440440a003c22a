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
		{Received: ago(500), Org: "bank-old", Category: "phishing", Source: "bank", Review: ReviewOpen}, // past retention
		{Received: ago(1), Org: "bank-a", Category: "phishing", Source: "bank", Review: ReviewOpen},     // 7 days
		{Received: ago(20), Org: "bank-a", Category: "phishing", Source: "bank", Review: ReviewClosed, Result: ResultAgreed},
		{Received: ago(60), Org: "shop-b", Category: "marketplace_fraud", Source: "marketplace", Review: ReviewClosed, Result: ResultDisagreed},
		{Received: ago(200), Org: "bank-c", Category: "phishing", Source: "bank", Review: ReviewUnrouted},
		{Received: ago(2), Org: "bank-d", Category: "phishing", Source: "bank", Review: ReviewCancelled},
	} {
		k.Add(r)
	}
	got := k.Counts()
	want := Counts{ReportCount: 4, ReporterCount: 3, Last30Days: 2, Cancelled: 1,
		ByCategory: Tally{{"marketplace_fraud", 1}, {"phishing", 3}}, BySource: Tally{{"bank", 3}, {"marketplace", 1}},
		First: time.UnixMilli(ago(200)).UTC(), Last: time.UnixMilli(ago(1)).UTC(),
		Review:  ReviewCounts{Open: 1, Confirmed: 1, Disputed: 1},
		Windows: [4]Window{{Reports: 1, Reporters: 1}, {Reports: 2, Reporters: 1}, {Reports: 3, Reporters: 2}, {Reports: 4, Reporters: 3}}}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("counts (-want +got):\n%s", d)
	}
	if empty := p.Counter(); empty.Counts().ReportCount != 0 || !empty.Counts().First.IsZero() {
		t.Errorf("no reports: %+v", empty.Counts())
	}
}
