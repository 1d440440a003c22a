package store_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/mulegate/mulegate/internal/domain"
	"github.com/mulegate/mulegate/internal/iban"
	"github.com/mulegate/mulegate/internal/redistest"
	"github.com/mulegate/mulegate/internal/store"
)

// TestChainWords: what a source report says of its linked reports is read
// from the source's book with a version (the time on its node), and a
// linked report keeps only the latest reading, so words that land out of
// order (two gateways, a redelivered entry) leave it as the source is. A
// marker on the source's IBAN confirms; a cancelled source confirms
// nothing, marker or not.
func TestChainWords(t *testing.T) {
	ctx := context.Background()
	st, _ := chainStore(t)
	victim := domain.Caller{Org: "bank-v", Type: domain.OrgBank}
	holder := domain.Caller{Org: "bank-h", Type: domain.OrgBank}
	police := domain.Caller{Org: "police", Type: domain.OrgPolice}
	src := mustSub(t, "NL91ABNA0417164300", "phishing", "")
	a, err := st.Accept(ctx, victim.Org, victim.Type, "w-0", src)
	if err != nil {
		t.Fatal(err)
	}
	source, err := st.ReportStatus(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	onward, _ := iban.Parse("DE89370400440532013000")
	link, _ := domain.Link(a.ID, "", 0, domain.ChainPolicy{MaxHops: 5, MaxTransfers: 50})
	link.RootReporter = victim.Org
	amount, _ := domain.NewAmount(domain.Amount{Value: "10", Currency: "EUR"}, "amount")
	if _, err := st.Onward(ctx, holder, "w-1", source, []domain.Transfer{{IBAN: onward, Amount: amount, At: time.Now().Add(-time.Minute)}}, link); err != nil {
		t.Fatal(err)
	}
	source, _ = st.ReportStatus(ctx, a.ID)
	if len(source.Children) != 1 {
		t.Fatalf("the source's linked reports: %v", source.Children)
	}
	kid := source.Children[0]
	confirmed := func() bool {
		t.Helper()
		c, err := st.Lookup(ctx, onward)
		if err != nil {
			t.Fatal(err)
		}
		return c.ConfirmedUpstream
	}
	word := func(want bool) int64 {
		t.Helper()
		up, v, err := st.SourceWord(ctx, a.ID)
		if err != nil || up != want {
			t.Fatalf("the source's word: %v %v, want %v", up, err, want)
		}
		return v
	}
	if confirmed() {
		t.Fatal("confirmed before anything confirms the source")
	}
	v0 := word(false)
	if _, err := st.ChangeMarker(ctx, src.IBAN, police, "bank-h", &domain.Marker{FraudType: "mule_account",
		ByType: domain.OrgPolice, ByOrg: police.Org, RegisteredAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	v1 := word(true)
	if v1 <= v0 {
		t.Fatalf("versions do not grow: %d then %d", v0, v1)
	}
	set := func(up bool, v int64) {
		t.Helper()
		if err := st.SetUpstream(ctx, kid, up, v); err != nil {
			t.Fatal(err)
		}
	}
	set(true, v1)
	set(false, v0) // an older reading, landing late
	if !confirmed() {
		t.Error("an older word overwrote a newer one")
	}
	if _, err := st.ChangeMarker(ctx, src.IBAN, police, "bank-h", nil); err != nil {
		t.Fatal(err)
	}
	set(false, word(false))
	if confirmed() {
		t.Error("still confirmed after the marker was lifted")
	}
	// Marked again, then cleared, then cancelled by its reporter: no
	// word confirms.
	if _, err := st.ChangeMarker(ctx, src.IBAN, police, "bank-h", &domain.Marker{FraudType: "mule_account",
		ByType: domain.OrgPolice, ByOrg: police.Org, RegisteredAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	word(true)
	if !confirmed() {
		t.Error("the marker's change did not tell the linked report at once")
	}
	// Marked and cleared by the police: a cleared source confirms
	// nothing, and the clear writes that into the linked report at once.
	if _, err := st.ClearIBAN(ctx, src.IBAN, domain.Clear{At: time.Now(), Reason: domain.ClearError, By: police.Org}, domain.RiskHigh, ""); err != nil {
		t.Fatal(err)
	}
	word(false)
	if confirmed() {
		t.Error("still confirmed after its source was cleared")
	}
	if _, err := st.WithdrawClear(ctx, src.IBAN); err != nil {
		t.Fatal(err)
	}
	word(false) // the clear lifted the marker, and the withdrawal leaves it lifted
	if _, _, err := st.Review(ctx, a.ID, victim, mustCancel(t)); err != nil {
		t.Fatal(err)
	}
	word(false)
}

// chainOf builds a chain for TestChainOrder and BenchmarkChain: a root
// report, wide onward transfers from it (hop 1, in calls of at most 50)
// and deep from its first linked report (hop 2). It returns the report
// ids in breadth-first order.
func chainOf(tb testing.TB, st *store.Store, wide, deep int) []string {
	tb.Helper()
	ctx := context.Background()
	holder := domain.Caller{Org: "bank-h", Type: domain.OrgBank}
	sub, err := domain.NewSubmission("NL91ABNA0417164300", "phishing", nil, nil, "", "", time.Now(), time.Minute)
	if err != nil {
		tb.Fatal(err)
	}
	a, err := st.Accept(ctx, "bank-v", domain.OrgBank, "chain-root", sub)
	if err != nil {
		tb.Fatal(err)
	}
	amount, _ := domain.NewAmount(domain.Amount{Value: "10", Currency: "EUR"}, "amount")
	next := 0
	onward := func(from string, n int) []string {
		src, err := st.ReportStatus(ctx, from)
		if err != nil {
			tb.Fatal(err)
		}
		root, hop := "", 0
		if src.Chain != nil {
			root, hop = src.Chain.RootID, src.Chain.Hop
		}
		link, _ := domain.Link(from, root, hop, domain.ChainPolicy{MaxHops: 5, MaxTransfers: 50})
		link.RootReporter = "bank-v"
		ts := make([]domain.Transfer, n)
		for i := range ts {
			next++
			ts[i] = domain.Transfer{IBAN: nlIBAN(next), Amount: amount, At: time.Now().Add(-time.Minute)}
		}
		acc, err := st.Onward(ctx, holder, fmt.Sprint("chain-", from, "-", next), src, ts, link)
		if err != nil {
			tb.Fatal(err)
		}
		ids := make([]string, len(acc))
		for i, x := range acc {
			ids[i] = x.ID
		}
		return ids
	}
	var hop1 []string
	for left := wide; left > 0; left -= 50 {
		hop1 = append(hop1, onward(a.ID, min(left, 50))...)
	}
	ids := append([]string{a.ID}, hop1...)
	if deep > 0 {
		ids = append(ids, onward(hop1[0], deep)...)
	}
	return ids
}

// chainStore is a store on the test topology whose IBANs bank-h holds.
func chainStore(tb testing.TB) (*store.Store, *redistest.Deployment) {
	tb.Helper()
	srv := redistest.StartTopology(tb)
	st, err := store.New(srv.Client(tb), store.Options{Secret: secret, HolderOf: func(iban.IBAN) string { return "bank-h" }})
	if err != nil {
		tb.Fatal(err)
	}
	return st, srv
}

// TestChainOrder: the chain view is the whole chain from its root,
// breadth-first, whichever of its reports it is asked through; on a
// Cluster, a report whose idempotency claim was lost in a failover is
// still in its place.
func TestChainOrder(t *testing.T) {
	st, srv := chainStore(t)
	ctx := context.Background()
	want := chainOf(t, st, 5, 3)
	check := func(through string) {
		t.Helper()
		rep, err := st.ReportStatus(ctx, through)
		if err != nil {
			t.Fatal(err)
		}
		root, got, err := st.Chain(ctx, rep)
		if err != nil {
			t.Fatal(err)
		}
		ids := make([]string, len(got))
		for n, r := range got {
			ids[n] = r.ID
		}
		if root != want[0] || !slices.Equal(ids, want) {
			t.Errorf("through %s: root %s, reports %v; want %s, %v", through, root, ids, want[0], want)
		}
	}
	check(want[0])
	check(want[len(want)-1])
	if redistest.Topology() == "cluster" {
		if err := srv.Client(t).HDel(ctx, store.IdemBucketOf(want[2]), store.RawID(want[2])).Err(); err != nil {
			t.Fatal(err)
		}
		check(want[0])
	}
}

// TestReportsReadFailsLoudly: when Redis fails for one of the reports
// that a chain hop or a work list page reads together, the read fails
// (the caller gets a 5xx and retries) instead of leaving that report out as
// if it had passed retention. The failure is a report index bucket that
// holds a string; the reports before it miss on their higher levels, and
// a pipeline reports only its first command's error.
func TestReportsReadFailsLoudly(t *testing.T) {
	st, srv := chainStore(t)
	ctx := context.Background()
	ids := chainOf(t, st, 8, 0)
	linked := ids[1:] // hop 1, about nlIBAN(1) … nlIBAN(8)
	lowest := func(n int) string { return st.IndexBucketsOf(nlIBAN(n+1), linked[n])[0] }
	broken := -1
	for n := 1; n < len(linked); n++ {
		if lowest(n) != lowest(0) {
			broken = n
			break
		}
	}
	if broken < 0 {
		t.Fatal("all eight linked reports share their lowest index bucket")
	}
	before, err := st.ReportStatuses(ctx, []string{linked[0], linked[broken]})
	if err != nil || before[0] == nil || before[1] == nil {
		t.Fatalf("both reports before the bucket breaks: %v, %v", before, err)
	}
	rdb := srv.Client(t)
	if err := rdb.Del(ctx, lowest(broken)).Err(); err != nil {
		t.Fatal(err)
	}
	if err := rdb.Set(ctx, lowest(broken), "not a hash", 0).Err(); err != nil {
		t.Fatal(err)
	}
	got, err := st.ReportStatuses(ctx, []string{linked[0], linked[broken]})
	if err == nil {
		t.Fatalf("a report whose index bucket Redis cannot read: no error, reports %v (the second taken for gone)", got)
	}
	if code := domain.ErrorCode(err); code == domain.CodeNotFound || code == "" {
		t.Errorf("error %v (code %q), want a store failure", err, code)
	}
}

// TestChainAtMost1000: a chain view holds at most 1000 reports (SPEC
// Part 3), the first 1000 breadth-first, however many the chain has.
func TestChainAtMost1000(t *testing.T) {
	st, _ := chainStore(t)
	all := chainOf(t, st, 1020, 5)
	rep, err := st.ReportStatus(context.Background(), all[0])
	if err != nil {
		t.Fatal(err)
	}
	_, got, err := st.Chain(context.Background(), rep)
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]string, len(got))
	for n, r := range got {
		ids[n] = r.ID
	}
	if !slices.Equal(ids, all[:1000]) {
		t.Errorf("%d reports in the view (of %d), want the first 1000 breadth-first", len(ids), len(all))
	}
}

// BenchmarkChain reads a chain of 101 reports (a root, 50 transfers from
// it and 50 from its first), as GET /v1/reports/{id}/chain does.
//
//	go test ./internal/store -run '^$' -bench Chain -benchtime 200x
func BenchmarkChain(b *testing.B) {
	st, _ := chainStore(b)
	ids := chainOf(b, st, 50, 50)
	rep, err := st.ReportStatus(context.Background(), ids[0])
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, got, err := st.Chain(context.Background(), rep); err != nil || len(got) != len(ids) {
			b.Fatalf("%d reports, %v", len(got), err)
		}
	}
}
