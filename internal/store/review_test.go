package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/mulegate/mulegate/internal/iban"
	"github.com/mulegate/mulegate/internal/redistest"
	"github.com/mulegate/mulegate/internal/report"
	"github.com/mulegate/mulegate/internal/store"
)

// TestProvenanceCounts: windows by acceptance time with distinct
// reporters, review counts that follow the holder's verdicts, and a
// cancelled report that leaves every count but cancelled_count, until
// retention takes that too.
func TestProvenanceCounts(t *testing.T) {
	t0 := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	clock, now := testClock(t0)
	srv := redistest.StartTopology(t)
	st, err := store.New(srv.Client(t), store.Options{Secret: secret, Now: now,
		HolderOf: func(i iban.IBAN) string { return "bank-h" }})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	sub := mustSub(t, "NL91ABNA0417164300", "phishing", "")
	ids := map[string]string{}
	// Reports 200, 60, 20 and 2 days before "now", from orgs a, a, b, c.
	for n, at := range []struct {
		org  string
		days int
	}{{"org-a", 200}, {"org-a", 60}, {"org-b", 20}, {"org-c", 2}} {
		clock.Store(t0.Add(-time.Duration(at.days) * 24 * time.Hour).UnixMilli())
		a, err := st.Accept(ctx, at.org, report.OrgBank, fmt.Sprint("p-", n), sub)
		if err != nil {
			t.Fatal(err)
		}
		ids[at.org+fmt.Sprint(at.days)] = a.ID
	}
	clock.Store(t0.UnixMilli())
	holder := report.Caller{Org: "bank-h", Type: report.OrgBank}
	agree, _ := report.NewClose("agreed", "mule_account", "")
	disagree, _ := report.NewClose("disagreed", "", "")
	if _, _, err := st.Review(ctx, ids["org-a200"], holder, agree); err != nil {
		t.Fatal(err)
	}
	if _, _, err := st.Review(ctx, ids["org-b20"], holder, disagree); err != nil {
		t.Fatal(err)
	}
	c, err := st.Lookup(ctx, sub.IBAN)
	if err != nil {
		t.Fatal(err)
	}
	w := func(r, o int64) report.Window { return report.Window{Reports: r, Reporters: o} }
	got := struct {
		Count, Reporters int64
		Review           report.ReviewCounts
		Windows          [4]report.Window
		Cancelled        int64
	}{c.ReportCount, c.ReporterCount, c.Review, c.Windows, c.Cancelled}
	want := got
	want.Count, want.Reporters, want.Cancelled = 4, 3, 0
	want.Review = report.ReviewCounts{Open: 2, Confirmed: 1, Disputed: 1}
	want.Windows = [4]report.Window{w(1, 1), w(2, 2), w(3, 3), w(4, 3)}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("counts (-want +got):\n%s", diff)
	}
	if !c.Watermark.Equal(t0) {
		t.Errorf("watermark %s, want the last review at %s", c.Watermark, t0)
	}

	// org-c withdraws its report: out of every count but cancelled.
	if _, _, err := st.Review(ctx, ids["org-c2"], report.Caller{Org: "org-c", Type: report.OrgBank}, mustCancel(t)); err != nil {
		t.Fatal(err)
	}
	c, _ = st.Lookup(ctx, sub.IBAN)
	if c.ReportCount != 3 || c.ReporterCount != 2 || c.Cancelled != 1 || c.Review.Open != 1 || c.Windows[0] != w(0, 0) || c.BySource["bank"] != 3 {
		t.Errorf("after a cancel: %+v", c)
	}
	// 731 days on, the cancelled one is gone from cancelled_count too, and
	// the confirmed one no longer counts as confirmed.
	clock.Store(t0.Add(731 * 24 * time.Hour).UnixMilli())
	c, _ = st.Lookup(ctx, sub.IBAN)
	if c.ReportCount != 0 || c.Cancelled != 0 || c.Review != (report.ReviewCounts{}) {
		t.Errorf("after retention: %+v", c)
	}
}

func mustCancel(t *testing.T) report.Request {
	t.Helper()
	r, err := report.NewCancel("")
	if err != nil {
		t.Fatal(err)
	}
	return r
}
