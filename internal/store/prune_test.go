package store_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mulegate/mulegate/internal/domain"
	"github.com/mulegate/mulegate/internal/iban"
	"github.com/mulegate/mulegate/internal/redistest"
	"github.com/mulegate/mulegate/internal/store"
	"github.com/redis/go-redis/v9"
)

// TestPruneRetiresBooks: books have no TTL; once a report is past
// retention (and its index entry a day older), Prune takes its record
// out of the book and deletes a book left with nothing, while a book with
// a newer report or a marker stays, and the counts are what they were.
func TestPruneRetiresBooks(t *testing.T) {
	clock, now, st, rdb := thirtyDayStore(t)
	ctx := context.Background()
	accept := func(key, raw string) domain.Accepted {
		t.Helper()
		a, err := st.Accept(ctx, "bank-a", domain.OrgBank, key, mustSub(t, raw, "phishing", ""))
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	const lone, kept, marked = "NL91ABNA0417164300", "DE89370400440532013000", "GB82WEST12345698765432"
	old := accept("lone", lone)
	oldKept := accept("kept-1", kept)
	accept("marked", marked)
	police := domain.Caller{Org: "police", Type: domain.OrgPolice}
	m := &domain.Marker{FraudType: "money_mule", ByType: domain.OrgPolice, ByOrg: "police", RegisteredAt: now()}
	if _, err := st.ChangeMarker(ctx, mustIBAN(t, marked), police, "", m); err != nil {
		t.Fatal(err)
	}
	clock.Add((20 * 24 * time.Hour).Milliseconds())
	newKept := accept("kept-2", kept)
	for _, raw := range []string{lone, kept} {
		if ttl := rdb.TTL(ctx, st.BookKey(mustIBAN(t, raw))).Val(); ttl != -1 {
			t.Errorf("book of %s: TTL %v, want none", raw, ttl)
		}
	}
	if ttl := rdb.TTL(ctx, st.BookKey(mustIBAN(t, marked))).Val(); ttl <= 0 {
		t.Errorf("book with a marker: TTL %v, want one", ttl)
	}

	clock.Add((15 * 24 * time.Hour).Milliseconds()) // 35 days after the first reports
	n, err := st.Prune(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n != 3 {
		t.Errorf("Prune retired %d reports, want 3", n)
	}
	if rdb.Exists(ctx, st.BookKey(mustIBAN(t, lone))).Val() != 0 {
		t.Error("the book whose only report is past retention is still there")
	}
	if _, err := st.ReportStatus(ctx, old.ID); domain.ErrorCode(err) != domain.CodeNotFound {
		t.Errorf("the pruned report: %v, want not found", err)
	}
	if _, err := st.ReportStatus(ctx, oldKept.ID); domain.ErrorCode(err) != domain.CodeNotFound {
		t.Errorf("the pruned report of the kept book: %v, want not found", err)
	}
	if _, err := st.ReportStatus(ctx, newKept.ID); err != nil {
		t.Errorf("the report within retention: %v", err)
	}
	if c, _ := st.Lookup(ctx, mustIBAN(t, kept)); c.ReportCount != 1 {
		t.Errorf("the kept book after pruning: %+v, want 1 report", c)
	}
	c, _ := st.Lookup(ctx, mustIBAN(t, marked))
	if c.Marker == nil || c.ReportCount != 0 {
		t.Errorf("the book with a marker after pruning: %+v, want the marker and no report", c)
	}
	if n, err := st.Prune(ctx); err != nil || n != 0 {
		t.Errorf("a second pass: %d, %v; want nothing to do", n, err)
	}
}

// TestIntakePrunesItsIndexBucket: a report written into an index bucket
// whose oldest entry has aged out retires that entry's book itself,
// without waiting for a Prune pass.
func TestIntakePrunesItsIndexBucket(t *testing.T) {
	clock, _, st, rdb := thirtyDayStore(t)
	ctx := context.Background()
	first := mustIBAN(t, "NL91ABNA0417164300")
	if _, err := st.Accept(ctx, "bank-a", domain.OrgBank, "k0", domain.Submission{IBAN: first, Category: "phishing"}); err != nil {
		t.Fatal(err)
	}
	// Another IBAN of the same partition, and a key whose report id
	// falls in the same index bucket.
	var other iban.IBAN
	for n := 0; ; n++ {
		if other = nlIBAN(n); st.KeyOf(other).Partition == st.KeyOf(first).Partition && other != first {
			break
		}
	}
	key := ""
	for n := 0; ; n++ {
		if key = fmt.Sprint("k", n+1); store.RawID(st.ReportID("bank-a", key))[0] == store.RawID(st.ReportID("bank-a", "k0"))[0] {
			break
		}
	}
	clock.Add((35 * 24 * time.Hour).Milliseconds())
	if _, err := st.Accept(ctx, "bank-a", domain.OrgBank, key, domain.Submission{IBAN: other, Category: "phishing"}); err != nil {
		t.Fatal(err)
	}
	if rdb.Exists(ctx, st.BookKey(first)).Val() != 0 {
		t.Error("intake into the bucket left the aged-out report's book")
	}
	if c, _ := st.Lookup(ctx, other); c.ReportCount != 1 {
		t.Errorf("the new report: %+v", c)
	}
}

// thirtyDayStore is a store with a 30-day retention on a test clock
// that starts on 2026-01-01.
func thirtyDayStore(t *testing.T) (*atomic.Int64, func() time.Time, *store.Store, redis.UniversalClient) {
	t.Helper()
	clock, now := testClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	rdb := redistest.StartTopology(t).Client(t)
	st, err := store.New(rdb, store.Options{Secret: secret, Now: now, Retention: 30 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	return clock, now, st, rdb
}

func mustIBAN(t *testing.T, raw string) iban.IBAN {
	t.Helper()
	i, err := iban.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return i
}

// TestSmallBookHasNoW: a book of up to three records unchanged
// since they were accepted keeps no "w" field (its watermark, oldest
// receipt and count follow from them); the lookup shows the newest
// receipt as the watermark, and the fourth report writes "w".
func TestSmallBookHasNoW(t *testing.T) {
	clock, now, st, rdb := thirtyDayStore(t)
	ctx := context.Background()
	i := mustIBAN(t, "NL91ABNA0417164300")
	first, err := st.Accept(ctx, "bank-a", domain.OrgBank, "w1", domain.Submission{IBAN: i, Category: "phishing"})
	if err != nil {
		t.Fatal(err)
	}
	t0 := now()
	if rdb.HExists(ctx, st.BookKey(i), "w").Val() {
		t.Error("a book with one unchanged record holds a w field")
	}
	if c, _ := st.Lookup(ctx, i); c.ReportCount != 1 || !c.Watermark.Equal(t0) {
		t.Errorf("lookup: %d reports, watermark %s; want 1 and the receipt %s", c.ReportCount, c.Watermark, t0)
	}
	clock.Add(time.Hour.Milliseconds())
	second, err := st.Accept(ctx, "bank-b", domain.OrgBank, "w2", domain.Submission{IBAN: i, Category: "other"})
	if err != nil || second.ReportCount != 2 {
		t.Fatalf("the second report: %+v %v, want report_count 2", second, err)
	}
	for n := 3; n <= 4; n++ {
		if _, err := st.Accept(ctx, "bank-c", domain.OrgBank, fmt.Sprint("w", n), domain.Submission{IBAN: i, Category: "other"}); err != nil {
			t.Fatal(err)
		}
		if has := rdb.HExists(ctx, st.BookKey(i), "w").Val(); has != (n == 4) {
			t.Errorf("a book with %d unchanged records: w field %v, want %v", n, has, n == 4)
		}
	}
	c, _ := st.Lookup(ctx, i)
	if c.ReportCount != 4 || c.ReporterCount != 3 || !c.First.Equal(t0) || !c.Watermark.Equal(now()) {
		t.Errorf("after four reports: %+v", c)
	}
	if _, err := st.ReportStatus(ctx, first.ID); err != nil {
		t.Errorf("the first report: %v", err)
	}
}

// TestPruneFailureIsCountedAsPrune: a prune pass that Redis cannot answer
// is counted under mulegate_redis_errors_total{op="prune"}, apart from
// the outbox's errors.
func TestPruneFailureIsCountedAsPrune(t *testing.T) {
	d := redistest.StartOwnTopology(t) // stopped below
	st, err := store.New(d.Client(t), store.Options{Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	var ops []string
	st.OnError = func(op string) { ops = append(ops, op) }
	d.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := st.Prune(ctx); err == nil {
		t.Fatal("prune against a stopped Redis succeeded")
	}
	if len(ops) != 1 || ops[0] != "prune" {
		t.Errorf("errors counted under %v, want [prune]", ops)
	}
}

// TestPruneTakesTheRecoveryWithItsReport: a report past retention leaves
// its book with everything of its own, its recovery included, while the
// book's newer report keeps its own.
func TestPruneTakesTheRecoveryWithItsReport(t *testing.T) {
	clock, now := testClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	rdb := redistest.StartTopology(t).Client(t)
	st, err := store.New(rdb, store.Options{Secret: secret, Now: now, Retention: 30 * 24 * time.Hour,
		HolderOf: func(iban.IBAN) string { return "bank-h" }})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	victim := domain.Caller{Org: "bank-v", Type: domain.OrgBank}
	pol := domain.RecoveryPolicy{HoldWithin: time.Hour, AnswerWithin: 24 * time.Hour}
	recovered := func(key string) domain.Accepted {
		t.Helper()
		a, err := st.Accept(ctx, "bank-v", domain.OrgBank, key, mustSub(t, "NL91ABNA0417164300", "phishing", ""))
		if err != nil {
			t.Fatal(err)
		}
		step, _ := domain.NewRecoveryRequest(&domain.Amount{Value: "10", Currency: "EUR"}, "", nil, "")
		if _, _, _, err := st.Recover(ctx, a.ID, victim, step, pol); err != nil {
			t.Fatal(err)
		}
		return a
	}
	old := recovered("old")
	clock.Add((20 * 24 * time.Hour).Milliseconds())
	newer := recovered("newer")
	clock.Add((15 * 24 * time.Hour).Milliseconds())
	if _, err := st.Prune(ctx); err != nil {
		t.Fatal(err)
	}
	fields := rdb.HKeys(ctx, st.BookKey(mustIBAN(t, "NL91ABNA0417164300"))).Val()
	for _, f := range fields {
		if strings.HasSuffix(f, store.RawID(old.ID)) {
			t.Errorf("the pruned report left %q in its book", f[:2])
		}
	}
	if st, err := st.ReportStatus(ctx, newer.ID); err != nil || st.Recovery == nil {
		t.Errorf("the newer report's recovery: %+v %v", st.Recovery, err)
	}
}
