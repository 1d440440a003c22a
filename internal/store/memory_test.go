package store_test

import (
	"context"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/mulegate/mulegate/internal/iban"
	"github.com/mulegate/mulegate/internal/redistest"
	"github.com/mulegate/mulegate/internal/report"
	"github.com/mulegate/mulegate/internal/store"
)

var memIBANs = flag.Int("ibans", 0, "TestMemoryPerIBAN: how many distinct IBANs to report (0: skip)")

// TestMemoryPerIBAN measures Redis memory per reported IBAN, for sizing:
// N distinct IBANs get one report each, held by a bank (so with an open
// review and the holder's sealed IBAN). A measurement, not a check:
//
//	go test ./internal/store -run TestMemoryPerIBAN -v -args -ibans=1000000
func TestMemoryPerIBAN(t *testing.T) {
	if *memIBANs == 0 {
		t.Skip("measurement only: pass -ibans N")
	}
	srv := redistest.Start(t)
	rdb := srv.Client(t)
	st, _ := store.New(rdb, store.Options{Secret: secret, HolderOf: func(iban.IBAN) string { return "bank-h" }})
	ctx := context.Background()
	used := func() int64 {
		for _, l := range strings.Split(rdb.Info(ctx, "memory").Val(), "\r\n") {
			if v, ok := strings.CutPrefix(l, "used_memory:"); ok {
				n, _ := strconv.ParseInt(v, 10, 64)
				return n
			}
		}
		return 0
	}
	before := used()
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Go(func() {
			for n := w; n < *memIBANs; n += 16 {
				i := nlIBAN(n)
				if _, err := st.Accept(ctx, "bank-a", report.OrgBank, fmt.Sprint("m", n), report.Submission{IBAN: i, Category: "phishing"}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	withOutbox := used()
	// Forwarded reports leave the outbox: measure the steady state too.
	for p := range st.Partitions() {
		rdb.Del(ctx, st.OutboxKey(p))
	}
	steady := used()
	n := float64(*memIBANs)
	t.Logf("%d IBANs, one report each: %.0f bytes per IBAN with the report still in the outbox, %.0f bytes per IBAN once forwarded (used_memory %d -> %d -> %d)",
		*memIBANs, float64(withOutbox-before)/n, float64(steady-before)/n, before, withOutbox, steady)
}

// nlIBAN makes the n-th valid Dutch IBAN (bank ABNA, account n).
func nlIBAN(n int) iban.IBAN {
	i, err := iban.FromBBAN("NL", fmt.Sprintf("ABNA%010d", n))
	if err != nil {
		panic(err)
	}
	return i
}
