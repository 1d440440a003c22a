package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/mulegate/mulegate/internal/domain"
	"github.com/mulegate/mulegate/internal/iban"
	"github.com/mulegate/mulegate/internal/redistest"
	"github.com/mulegate/mulegate/internal/store"
)

// TestProvenanceCounts: windows by acceptance time with distinct
// reporters, review counts that follow the holder's verdicts, and a
// cancelled report that leaves every count but cancelled_count, until
// retention takes that too.
func TestProvenanceCounts(t *testing.T) {
	ctx := context.Background()
	sub := mustSub(t, "NL91ABNA0417164300", "phishing", "")
	t0 := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	clock, now := testClock(t0)
	srv := redistest.StartTopology(t)
	opt := store.Options{Secret: secret, Now: now, HolderOf: func(i iban.IBAN) string { return "bank-h" }}
	st, err := store.New(srv.Client(t), opt)
	if err != nil {
		t.Fatal(err)
	}
	// mulegate's own clients speak RESP2, where a book is read into a
	// slice rather than a map: every lookup below is checked to read the
	// same over both.
	st2, err := store.New(srv.ClientRESP2(t), opt)
	if err != nil {
		t.Fatal(err)
	}
	lookup := func() domain.Counts {
		t.Helper()
		c, err := st.Lookup(ctx, sub.IBAN)
		if err != nil {
			t.Fatal(err)
		}
		for _, st := range []*store.Store{st, st2} {
			many, err := st.LookupMany(ctx, []iban.IBAN{sub.IBAN, sub.IBAN})
			if err != nil {
				t.Fatal(err)
			}
			one, err := st.Lookup(ctx, sub.IBAN)
			if err != nil {
				t.Fatal(err)
			}
			for _, got := range append(many, one) {
				if diff := cmp.Diff(c, got, cmpopts.EquateApprox(0, 1e-9)); diff != "" { // the score's sum: another order of records
					t.Fatalf("a lookup over another protocol or in a batch differs (-first +this):\n%s", diff)
				}
			}
		}
		return c
	}
	ids := map[string]string{}
	// Reports 200, 60, 20 and 2 days before "now", from orgs a, a, b, c.
	for n, at := range []struct {
		org  string
		days int
	}{{"org-a", 200}, {"org-a", 60}, {"org-b", 20}, {"org-c", 2}} {
		clock.Store(t0.Add(-time.Duration(at.days) * 24 * time.Hour).UnixMilli())
		a, err := st.Accept(ctx, at.org, domain.OrgBank, fmt.Sprint("p-", n), sub)
		if err != nil {
			t.Fatal(err)
		}
		ids[at.org+fmt.Sprint(at.days)] = a.ID
	}
	clock.Store(t0.UnixMilli())
	holder := domain.Caller{Org: "bank-h", Type: domain.OrgBank}
	agree, _ := domain.NewClose("agreed", "mule_account", "")
	disagree, _ := domain.NewClose("disagreed", "", "")
	if _, _, err := st.Review(ctx, ids["org-a200"], holder, agree); err != nil {
		t.Fatal(err)
	}
	if _, _, err := st.Review(ctx, ids["org-b20"], holder, disagree); err != nil {
		t.Fatal(err)
	}
	c := lookup()
	w := func(r, o int64) domain.Window { return domain.Window{Reports: r, Reporters: o} }
	got := struct {
		Count, Reporters int64
		Review           domain.ReviewCounts
		Windows          [4]domain.Window
		Cancelled        int64
	}{c.ReportCount, c.ReporterCount, c.Review, c.Windows, c.Cancelled}
	want := got
	want.Count, want.Reporters, want.Cancelled = 4, 3, 0
	want.Review = domain.ReviewCounts{Open: 2, Confirmed: 1, Disputed: 1}
	want.Windows = [4]domain.Window{w(1, 1), w(2, 2), w(3, 3), w(4, 3)}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("counts (-want +got):\n%s", diff)
	}
	if !c.Watermark.Equal(t0) {
		t.Errorf("watermark %s, want the last review at %s", c.Watermark, t0)
	}

	// The holder marks the account: its marker reads the same over both
	// protocols too.
	mk := &domain.Marker{FraudType: "mule_account", ByType: domain.OrgBank, ByOrg: "bank-h", RegisteredAt: t0, Details: "confirmed at the branch"}
	if _, err := st.ChangeMarker(ctx, sub.IBAN, holder, "bank-h", mk); err != nil {
		t.Fatal(err)
	}
	if c := lookup(); c.Marker == nil || *c.Marker != *mk {
		t.Errorf("marker = %+v, want %+v", c.Marker, mk)
	}

	// org-c withdraws its report: out of every count but cancelled.
	if _, _, err := st.Review(ctx, ids["org-c2"], domain.Caller{Org: "org-c", Type: domain.OrgBank}, mustCancel(t)); err != nil {
		t.Fatal(err)
	}
	c = lookup()
	if c.ReportCount != 3 || c.ReporterCount != 2 || c.Cancelled != 1 || c.Review.Open != 1 || c.Windows[0] != w(0, 0) || c.BySource.Of("bank") != 3 {
		t.Errorf("after a cancel: %+v", c)
	}
	// 731 days on, the cancelled one is gone from cancelled_count too, and
	// the confirmed one no longer counts as confirmed.
	clock.Store(t0.Add(731 * 24 * time.Hour).UnixMilli())
	c = lookup()
	if c.ReportCount != 0 || c.Cancelled != 0 || c.Review != (domain.ReviewCounts{}) {
		t.Errorf("after retention: %+v", c)
	}
}

func mustCancel(t *testing.T) domain.ReviewRequest {
	t.Helper()
	r, err := domain.NewCancel("")
	if err != nil {
		t.Fatal(err)
	}
	return r
}
