package store_test

import (
	"context"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mulegate/mulegate/internal/domain"
	"github.com/mulegate/mulegate/internal/iban"
	"github.com/mulegate/mulegate/internal/redistest"
	"github.com/mulegate/mulegate/internal/store"
)

var memIBANs = flag.Int("ibans", 0, "TestMemoryPerIBAN: how many distinct IBANs to report (0: skip)")

// TestMemoryPerIBAN measures Redis memory per reported IBAN, for sizing:
// N distinct IBANs get one report each, held by a bank (so with an open
// review and the holder's sealed IBAN), forwarded to the police (status,
// time and a police reference on the record, the outbox entry gone);
// then a tenth of them get a second report from another org, forwarded
// too. A measurement, not a check:
//
//	go test ./internal/store -run TestMemoryPerIBAN -v -timeout 30m -args -ibans=1000000
func TestMemoryPerIBAN(t *testing.T) {
	if *memIBANs == 0 {
		t.Skip("measurement only: pass -ibans N")
	}
	srv := redistest.Start(t)
	rdb := srv.Client(t)
	st, _ := store.New(rdb, store.Options{Secret: secret, HolderOf: func(iban.IBAN) string { return "bank-h" }})
	ctx := context.Background()
	if err := st.EnsureGroups(ctx); err != nil {
		t.Fatal(err)
	}
	used := func() int64 {
		for _, l := range strings.Split(rdb.Info(ctx, "memory").Val(), "\r\n") {
			if v, ok := strings.CutPrefix(l, "used_memory:"); ok {
				n, _ := strconv.ParseInt(v, 10, 64)
				return n
			}
		}
		return 0
	}
	submit := func(org string, every int) {
		var wg sync.WaitGroup
		for w := range 16 {
			wg.Go(func() {
				for n := w * every; n < *memIBANs; n += 16 * every {
					sub := domain.Submission{IBAN: nlIBAN(n), Category: "phishing"}
					if _, err := st.Accept(ctx, org, domain.OrgBank, fmt.Sprint("m", n), sub); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
	}
	var ref atomic.Int64
	forward := func() {
		var wg sync.WaitGroup
		for p := range st.Partitions() {
			wg.Go(func() {
				// The holders' relay and the forwarders both take each
				// entry; it leaves the outbox once both are done.
				for {
					es, err := st.ReadForHolders(ctx, p, "mem", 500)
					if err != nil || len(es) == 0 {
						break
					}
					for _, e := range es {
						if err := st.DoneForHolders(ctx, e); err != nil {
							t.Error(err)
							return
						}
					}
				}
				for {
					es, err := st.ReadOutbox(ctx, p, "mem", 500)
					if err != nil || len(es) == 0 {
						return
					}
					for _, e := range es {
						if err := st.MarkForwarded(ctx, e, fmt.Sprintf("POL-%08d", ref.Add(1)), time.Now()); err != nil {
							t.Error(err)
							return
						}
					}
				}
			})
		}
		wg.Wait()
	}
	// Where it goes, by key kind: MEMORY USAGE summed over every key
	// (samples 0: exact; a listpack counts at its allocated size).
	kinds := func() map[string]int64 {
		out := map[string]int64{}
		iter := rdb.Scan(ctx, 0, "*", 1000).Iterator()
		for iter.Next(ctx) {
			k := iter.Val()
			kind := "other"
			switch {
			case strings.Contains(k, ":b:"):
				kind = "book"
			case strings.Contains(k, ":ix:"):
				kind = "report index"
			case strings.HasPrefix(k, "mg:{d:"):
				kind = "idempotency bucket"
			case strings.HasSuffix(k, ":outbox"):
				kind = "outbox"
			}
			u, _ := rdb.MemoryUsage(ctx, k, 0).Result()
			out[kind] += u
		}
		return out
	}
	before := used()
	submit("bank-a", 1)
	queued := used()
	forward()
	one := used()
	atOne := kinds()
	submit("bank-b", 10)
	forward()
	two := used()
	atTwo := kinds()
	n := float64(*memIBANs)
	t.Logf("%d IBANs, one report each: %.0f bytes per IBAN with the report still in the outbox, %.0f once forwarded; "+
		"a second report on every tenth: %.0f bytes per further report (used_memory %d -> %d -> %d -> %d)",
		*memIBANs, float64(queued-before)/n, float64(one-before)/n, float64(two-one)/float64((*memIBANs+9)/10),
		before, queued, one, two)
	further := float64((*memIBANs + 9) / 10)
	var inOne, inTwo int64
	for _, kind := range []string{"book", "report index", "idempotency bucket", "outbox", "other"} {
		inOne, inTwo = inOne+atOne[kind], inTwo+atTwo[kind]
		t.Logf("%-18s %6.1f bytes per IBAN with one report, %6.1f more per further report (MEMORY USAGE)",
			kind, float64(atOne[kind])/n, float64(atTwo[kind]-atOne[kind])/further)
	}
	t.Logf("%-18s %6.1f bytes per IBAN with one report, %6.1f more per further report (main dict slots, allocator)",
		"outside the keys", float64(one-before-inOne)/n, float64((two-one)-(inTwo-inOne))/further)
}

// nlIBAN makes the n-th valid Dutch IBAN (bank ABNA, account n).
func nlIBAN(n int) iban.IBAN {
	i, err := iban.FromBBAN("NL", fmt.Sprintf("ABNA%010d", n))
	if err != nil {
		panic(err)
	}
	return i
}

// TestRecoveryBytes measures what a funds recovery adds to Redis: the
// book of a reported IBAN (one report with an amount, forwarded, the
// outbox drained) before the recovery and after it was requested, held
// and returned (the recovery kept sealed in the book, its state and what
// it returned in the record). A measurement, not a check:
//
//	go test ./internal/store -run TestRecoveryBytes -v
func TestRecoveryBytes(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client(t)
	st, err := store.New(rdb, store.Options{Secret: secret, HolderOf: func(iban.IBAN) string { return "bank-h" }})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	i := nlIBAN(7)
	acc, err := st.Accept(ctx, "bank-v", domain.OrgBank, "rb-1", domain.Submission{IBAN: i, Category: "phishing",
		Amount: &domain.Amount{Value: "1200.00", Currency: "EUR"}})
	if err != nil {
		t.Fatal(err)
	}
	book := st.BookKey(i)
	size := func() int64 { return rdb.MemoryUsage(ctx, book, 0).Val() }
	before := size()
	pol := domain.RecoveryPolicy{HoldWithin: time.Hour, AnswerWithin: 7 * 24 * time.Hour}
	ret := "GB82WEST12345698765432"
	steps := []struct {
		c domain.Caller
		s func() (domain.RecoveryStep, error)
	}{
		{domain.Caller{Org: "bank-v", Type: domain.OrgBank}, func() (domain.RecoveryStep, error) {
			return domain.NewRecoveryRequest(&domain.Amount{Value: "1200", Currency: "EUR"}, "paid at 14:02 to a fake helpdesk",
				&domain.Payment{EndToEndID: "E2E-20261203-000001"}, ret)
		}},
		{domain.Caller{Org: "bank-h", Type: domain.OrgBank}, func() (domain.RecoveryStep, error) {
			return domain.NewRecoveryHold(&domain.Amount{Value: "800", Currency: "EUR"})
		}},
		{domain.Caller{Org: "bank-h", Type: domain.OrgBank}, func() (domain.RecoveryStep, error) {
			return domain.NewRecoveryReturn(&domain.Amount{Value: "800", Currency: "EUR"}, "RET-0001")
		}},
	}
	for _, s := range steps {
		step, err := s.s()
		if err != nil {
			t.Fatal(err)
		}
		if _, _, _, err := st.Recover(ctx, acc.ID, s.c, step, pol); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("the book: %d bytes before the recovery, %d after it was requested, held and returned (+%d); encoding %s",
		before, size(), size()-before, rdb.ObjectEncoding(ctx, book).Val())
}

// TestChainBytes measures what following the money adds to Redis (a
// documented measurement, docs/perf/history.md): the book of an onward
// IBAN with one linked report next to one with a plain report of the same
// amount, and a source's book before and after it names 1, then 50,
// linked reports.
func TestChainBytes(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client(t)
	st, err := store.New(rdb, store.Options{Secret: secret, HolderOf: func(iban.IBAN) string { return "bank-h" }})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	size := func(i iban.IBAN) (int64, string) {
		return rdb.MemoryUsage(ctx, st.BookKey(i), 0).Val(), rdb.ObjectEncoding(ctx, st.BookKey(i)).Val()
	}
	accept := func(n int, key string) domain.ReportStatus {
		a, err := st.Accept(ctx, "bank-v", domain.OrgBank, key, domain.Submission{IBAN: nlIBAN(n), Category: "phishing",
			Amount: &domain.Amount{Value: "1200.00", Currency: "EUR"}})
		if err != nil {
			t.Fatal(err)
		}
		r, err := st.ReportStatus(ctx, a.ID)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	holder := domain.Caller{Org: "bank-h", Type: domain.OrgBank}
	pol := domain.ChainPolicy{MaxHops: 5, MaxTransfers: 50}
	onward := func(src domain.ReportStatus, key string, first, n int) {
		link, _ := domain.Link(src.ID, "", 0, pol)
		link.RootReporter = src.ReporterOrg
		ts := make([]domain.Transfer, n)
		for k := range ts {
			ts[k] = domain.Transfer{IBAN: nlIBAN(first + k), Amount: domain.Amount{Value: "1000.00", Currency: "EUR"}, At: time.Now().Add(-time.Minute)}
		}
		if _, err := st.Onward(ctx, holder, key, src, ts, link); err != nil {
			t.Fatal(err)
		}
	}
	// A plain report of the same amount, for comparison.
	plain, plainEnc := func() (int64, string) { accept(100, "cb-plain"); return size(nlIBAN(100)) }()
	one := accept(1, "cb-1")
	before, _ := size(nlIBAN(1))
	onward(one, "cb-1-on", 200, 1)
	after1, enc1 := size(nlIBAN(1))
	linked, linkedEnc := size(nlIBAN(200))
	src, err := st.ReportStatus(ctx, one.ID)
	if err != nil || len(src.Children) != 1 {
		t.Fatalf("the source's linked reports: %v %v", src.Children, err)
	}
	up, version, err := st.SourceWord(ctx, one.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SetUpstream(ctx, src.Children[0], up, version); err != nil {
		t.Fatal(err)
	}
	worded, wordedEnc := size(nlIBAN(200))
	fifty := accept(2, "cb-2")
	before50, _ := size(nlIBAN(2))
	onward(fifty, "cb-2-on", 300, 50)
	after50, enc50 := size(nlIBAN(2))
	t.Logf("an onward IBAN's book with one linked report: %d bytes (%s); with a plain report of the same amount: %d (%s): +%d",
		linked, linkedEnc, plain, plainEnc, linked-plain)
	// The chain fields keep raw ids so that a linked report's book, and a
	// source naming one, stay in Redis' compact encoding (in hex they did
	// not: 480 bytes).
	if linkedEnc != "listpack" || wordedEnc != "listpack" || enc1 != "listpack" {
		t.Errorf("a chain's books left listpack: linked %s, with its word %s, source %s", linkedEnc, wordedEnc, enc1)
	}
	t.Logf("the onward IBAN's book once its source's word was written into it: %d bytes (+%d, %s)", worded, worded-linked, wordedEnc)
	t.Logf("a source's book: %d bytes; naming 1 linked report %d (+%d, %s); another source naming 50: %d -> %d (+%d, %s)",
		before, after1, after1-before, enc1, before50, after50, after50-before50, enc50)
}
