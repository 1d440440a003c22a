package store_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mulegate/mulegate/internal/domain"
	"github.com/mulegate/mulegate/internal/iban"
	"github.com/mulegate/mulegate/internal/redistest"
	"github.com/mulegate/mulegate/internal/store"
	"github.com/redis/go-redis/v9"
)

var secret = []byte("0123456789abcdef0123456789abcdef")

func mustStore(t *testing.T, now func() time.Time) (*store.Store, *redistest.Deployment) {
	t.Helper()
	srv := redistest.StartTopology(t)
	st, err := store.New(srv.Client(t), store.Options{Secret: secret, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	return st, srv
}

func mustSub(t *testing.T, raw, cat, ref string) domain.Submission {
	t.Helper()
	s, err := domain.NewSubmission(raw, cat, nil, nil, ref, "", time.Now(), 0)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestAcceptCountsReplaysAndConflicts(t *testing.T) {
	st, srv := mustStore(t, nil)
	ctx := context.Background()
	sub := mustSub(t, "NL91ABNA0417164300", "phishing", "a")

	a, err := st.Accept(ctx, "bank-a", domain.OrgBank, "k1", sub)
	if err != nil {
		t.Fatal(err)
	}
	if a.ReportCount != 1 || a.Replayed {
		t.Fatalf("first accept = %+v", a)
	}
	again, err := st.Accept(ctx, "bank-a", domain.OrgBank, "k1", sub)
	if err != nil {
		t.Fatal(err)
	}
	if !again.Replayed || again.ReportCount != 1 || again.ID != a.ID {
		t.Fatalf("replay = %+v, want replayed count 1 same id", again)
	}
	// Same key, same org, another IBAN: conflict, and nothing written.
	before := srv.DBSize(t)
	other := mustSub(t, "DE89370400440532013000", "phishing", "a")
	_, err = st.Accept(ctx, "bank-a", domain.OrgBank, "k1", other)
	if domain.ErrorCode(err) != domain.CodeConflict {
		t.Fatalf("reuse for another IBAN: %v, want conflict", err)
	}
	if after := srv.DBSize(t); after != before {
		t.Fatalf("conflict wrote keys: %d -> %d", before, after)
	}
	// Same key from another org is another report.
	b, err := st.Accept(ctx, "market-a", domain.OrgMarketplace, "k1", mustSub(t, "NL91ABNA0417164300", "marketplace_fraud", ""))
	if err != nil {
		t.Fatal(err)
	}
	if b.ReportCount != 2 || b.ID == a.ID {
		t.Fatalf("second org = %+v", b)
	}
	c, err := st.Lookup(ctx, sub.IBAN)
	if err != nil {
		t.Fatal(err)
	}
	if c.ReportCount != 2 || c.ReporterCount != 2 || c.Last30Days != 2 {
		t.Fatalf("counts = %+v", c)
	}
	if c.ByCategory.Of("phishing") != 1 || c.ByCategory.Of("marketplace_fraud") != 1 || c.BySource.Of("bank") != 1 || c.BySource.Of("marketplace") != 1 {
		t.Fatalf("breakdown = %+v %+v", c.ByCategory, c.BySource)
	}
	if c.First.IsZero() || c.Last.Before(c.First) {
		t.Fatalf("first/last = %v %v", c.First, c.Last)
	}
	// The outbox holds both reports, in the IBAN's partition.
	_, part := st.Pseudonym(sub.IBAN)
	if n := srv.Client(t).XLen(ctx, st.OutboxKey(part)).Val(); n != 2 {
		t.Fatalf("outbox length = %d, want 2", n)
	}
	status, err := st.ReportStatus(ctx, a.ID)
	if err != nil || status.Status != domain.StatusQueued || status.ReporterOrg != "bank-a" {
		t.Fatalf("status = %+v, %v", status, err)
	}
}

func TestNoPlaintextIBANInKeys(t *testing.T) {
	st, srv := mustStore(t, nil)
	sub := mustSub(t, "NL91ABNA0417164300", "phishing", "")
	if _, err := st.Accept(context.Background(), "bank-a", domain.OrgBank, "k", sub); err != nil {
		t.Fatal(err)
	}
	keys := srv.Keys(t)
	if len(keys) == 0 {
		t.Fatal("no keys written")
	}
	for _, k := range keys {
		for _, needle := range []string{"NL91", "ABNA0417", "0417164300"} {
			if strings.Contains(k, needle) {
				t.Errorf("key %q contains part of the IBAN", k)
			}
		}
	}
}

func TestRetentionTrimsCounts(t *testing.T) {
	clock, now := testClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	st, _ := mustStore(t, now)
	ctx := context.Background()
	i := mustSub(t, "NL91ABNA0417164300", "phishing", "")
	if _, err := st.Accept(ctx, "bank-a", domain.OrgBank, "old", i); err != nil {
		t.Fatal(err)
	}
	clock.Add((700 * 24 * time.Hour).Milliseconds())
	if _, err := st.Accept(ctx, "bank-b", domain.OrgBank, "new", mustSub(t, "NL91ABNA0417164300", "other", "")); err != nil {
		t.Fatal(err)
	}
	c, _ := st.Lookup(ctx, i.IBAN)
	if c.ReportCount != 2 || c.Last30Days != 1 {
		t.Fatalf("before retention: %+v", c)
	}
	clock.Add((40 * 24 * time.Hour).Milliseconds()) // first report is now 740 days old
	c, err := st.Lookup(ctx, i.IBAN)
	if err != nil {
		t.Fatal(err)
	}
	if c.ReportCount != 1 || c.ReporterCount != 1 || c.ByCategory.Of("phishing") != 0 || c.ByCategory.Of("other") != 1 || c.Last30Days != 0 {
		t.Fatalf("after retention: %+v", c)
	}
}

func TestConcurrentAcceptsCountExactly(t *testing.T) {
	st, _ := mustStore(t, nil)
	ctx := context.Background()
	sub := mustSub(t, "NL91ABNA0417164300", "phishing", "")
	var wg sync.WaitGroup
	var errs atomic.Int64
	for w := range 20 {
		wg.Go(func() {
			for n := range 25 {
				if _, err := st.Accept(ctx, fmt.Sprintf("org-%d", w%5), domain.OrgBank, fmt.Sprintf("k-%d-%d", w, n), sub); err != nil {
					errs.Add(1)
				}
			}
		})
	}
	// Concurrent replays of one key count once.
	var fresh atomic.Int64
	for range 50 {
		wg.Go(func() {
			a, err := st.Accept(ctx, "org-x", domain.OrgBank, "same", sub)
			if err != nil {
				errs.Add(1)
			} else if !a.Replayed {
				fresh.Add(1)
			}
		})
	}
	wg.Wait()
	if errs.Load() != 0 {
		t.Fatalf("%d accepts failed", errs.Load())
	}
	if fresh.Load() != 1 {
		t.Fatalf("%d non-replayed answers for one key, want 1", fresh.Load())
	}
	c, _ := st.Lookup(ctx, sub.IBAN)
	if c.ReportCount != 501 || c.ReporterCount != 6 {
		t.Fatalf("counts = %d reports %d reporters, want 501 and 6", c.ReportCount, c.ReporterCount)
	}
}

func TestLookupManyAndScriptReload(t *testing.T) {
	st, srv := mustStore(t, nil)
	ctx := context.Background()
	var ibans []iban.IBAN
	for _, code := range []string{"NL", "DE", "BE", "FR", "GB"} {
		i, _ := iban.Parse(iban.Example(code))
		ibans = append(ibans, i)
	}
	for n, i := range ibans[:3] {
		for k := 0; k <= n; k++ {
			if _, err := st.Accept(ctx, "bank-a", domain.OrgBank, fmt.Sprintf("%d-%d", n, k), domain.Submission{IBAN: i, Category: "other"}); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Flush the script cache as a Redis restart would.
	srv.ScriptFlush(t)
	got, err := st.LookupMany(ctx, ibans)
	if err != nil {
		t.Fatal(err)
	}
	want := []int64{1, 2, 3, 0, 0}
	for n := range want {
		if got[n].ReportCount != want[n] {
			t.Errorf("ibans[%d] count = %d, want %d", n, got[n].ReportCount, want[n])
		}
	}
}

func TestUnavailableIsFast(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", DialTimeout: 200 * time.Millisecond, MaxRetries: -1})
	st, _ := store.New(rdb, store.Options{Secret: secret})
	start := time.Now()
	_, err := st.Lookup(context.Background(), mustSub(t, "NL91ABNA0417164300", "other", "").IBAN)
	var de *domain.Error
	if !errors.As(err, &de) || de.Code != domain.CodeUnavailable {
		t.Fatalf("err = %v, want unavailable", err)
	}
	if time.Since(start) > 2*time.Second {
		t.Fatalf("took %v", time.Since(start))
	}
}

// TestErrorsAreClassified: a Redis that cannot answer is unavailable (503,
// retry); an answer that means our own bug (WRONGTYPE here) is internal
// (500). Each failure is counted under its operation's label.
func TestErrorsAreClassified(t *testing.T) {
	srv := redistest.StartOwnTopology(t) // stopped below
	st, err := store.New(srv.Client(t), store.Options{Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	var labels []string
	var mu sync.Mutex
	st.OnError = func(op string) { mu.Lock(); labels = append(labels, op); mu.Unlock() }
	ctx := context.Background()
	sub := mustSub(t, "NL91ABNA0417164300", "phishing", "")
	if err := srv.Client(t).Set(ctx, store.IdemBucketOf(st.ReportID("bank-a", "wrongtype")), "x", 0).Err(); err != nil {
		t.Fatal(err)
	}
	_, err = st.Accept(ctx, "bank-a", domain.OrgBank, "wrongtype", sub)
	if domain.ErrorCode(err) != domain.CodeInternal || !strings.Contains(err.Error(), "WRONGTYPE") {
		t.Errorf("WRONGTYPE: %v, want internal", err)
	}
	srv.Stop()
	_, err = st.Lookup(ctx, sub.IBAN)
	if domain.ErrorCode(err) != domain.CodeUnavailable {
		t.Errorf("Redis down: %v, want unavailable", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(labels) != 2 || labels[0] != "accept" || labels[1] != "lookup" {
		t.Errorf("labels %v, want [accept lookup]", labels)
	}
}

// testClock is a clock the test moves: clock holds the time in ms.
func testClock(start time.Time) (clock *atomic.Int64, now func() time.Time) {
	clock = &atomic.Int64{}
	clock.Store(start.UnixMilli())
	return clock, func() time.Time { return time.UnixMilli(clock.Load()).UTC() }
}

// TestIdempotencyKeyAgesOut: an Idempotency-Key is remembered for its TTL
// (never less than a report lives); after that the same key starts a new
// report, even with another body, and the aged-out entry is dropped from
// its bucket.
func TestIdempotencyKeyAgesOut(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock, now := testClock(t0)
	srv := redistest.StartTopology(t)
	st, err := store.New(srv.Client(t), store.Options{Secret: secret, Now: now, Retention: 30 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	first, err := st.Accept(ctx, "bank-a", domain.OrgBank, "k", mustSub(t, "NL91ABNA0417164300", "phishing", ""))
	if err != nil {
		t.Fatal(err)
	}
	clock.Add((20 * 24 * time.Hour).Milliseconds())
	if _, err := st.Accept(ctx, "bank-a", domain.OrgBank, "k", mustSub(t, "NL91ABNA0417164300", "other", "")); domain.ErrorCode(err) != domain.CodeConflict {
		t.Fatalf("the key reused with another body within its TTL: %v, want a conflict", err)
	}
	clock.Add((20 * 24 * time.Hour).Milliseconds()) // 40 days: past retention and the key's TTL
	again, err := st.Accept(ctx, "bank-a", domain.OrgBank, "k", mustSub(t, "DE89370400440532013000", "other", ""))
	if err != nil || again.Replayed || again.ReportCount != 1 {
		t.Fatalf("the key after its TTL: %+v %v, want a new report", again, err)
	}
	if again.ID != first.ID {
		t.Errorf("the report id changed: %s, was %s", again.ID, first.ID)
	}
	if _, err := st.ReportStatus(ctx, again.ID); err != nil {
		t.Errorf("the new report: %v", err)
	}
}
