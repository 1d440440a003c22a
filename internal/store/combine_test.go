package store_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/mulegate/mulegate/internal/domain"
	"github.com/mulegate/mulegate/internal/redistest"
	"github.com/mulegate/mulegate/internal/store"
)

// TestCombinedIntakeCountsExactly: on a single Redis, concurrent reports
// are accepted in combined batches (fewer script calls than reports), and
// each is still answered as if it ran alone: exact counts, every replay
// recognised, every reuse of a key for another IBAN a conflict.
func TestCombinedIntakeCountsExactly(t *testing.T) {
	if redistest.Topology() == "cluster" {
		t.Skip("intake is combined on a single Redis only")
	}
	srv := redistest.Start(t)
	rdb := srv.Client(t)
	st, err := store.New(rdb, store.Options{Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	const workers, each, ibans = 32, 40, 20
	sub := func(n int) domain.Submission { return domain.Submission{IBAN: nlIBAN(n % ibans), Category: "phishing"} }
	run := func(f func(n int) error) {
		t.Helper()
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				for n := w * each; n < (w+1)*each; n++ {
					if err := f(n); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
	}
	rdb.ConfigResetStat(ctx)
	run(func(n int) error {
		a, err := st.Accept(ctx, "bank-a", domain.OrgBank, fmt.Sprint("k", n), sub(n))
		if err == nil && a.Replayed {
			err = fmt.Errorf("report %d: a first submission answered as a replay", n)
		}
		return err
	})
	if calls := evalshaCalls(t, rdb.Info(ctx, "commandstats").Val()); calls >= workers*each {
		t.Errorf("%d script calls for %d reports: none combined", calls, workers*each)
	}
	run(func(n int) error {
		a, err := st.Accept(ctx, "bank-a", domain.OrgBank, fmt.Sprint("k", n), sub(n))
		if err == nil && !a.Replayed {
			err = fmt.Errorf("report %d again: not a replay", n)
		}
		return err
	})
	run(func(n int) error {
		_, err := st.Accept(ctx, "bank-a", domain.OrgBank, fmt.Sprint("k", n), sub(n+1))
		if domain.ErrorCode(err) != domain.CodeConflict {
			return fmt.Errorf("report %d's key for another IBAN: %w, want a conflict", n, err)
		}
		return nil
	})
	for n := range ibans {
		if c, err := st.Lookup(ctx, nlIBAN(n)); err != nil || c.ReportCount != workers*each/ibans {
			t.Errorf("IBAN %d: %d reports (%v), want %d", n, c.ReportCount, err, workers*each/ibans)
		}
	}
}

func evalshaCalls(t *testing.T, stats string) int {
	t.Helper()
	for _, l := range strings.Split(stats, "\r\n") {
		if v, ok := strings.CutPrefix(l, "cmdstat_evalsha:calls="); ok {
			n, _ := strconv.Atoi(v[:strings.IndexByte(v, ',')])
			return n
		}
	}
	return 0
}
