package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/mulegate/mulegate/internal/domain"
)

// TestLookupLogCountsOnceWhenPartOfAFlushFails: when the write of one
// IBAN's lookups fails (on a Cluster: its node is down) the others' are
// written once; only the failed one is kept and written by a later flush.
// Before, the whole batch was kept and the written counts were added
// again at every flush while the failure lasted.
func TestLookupLogCountsOnceWhenPartOfAFlushFails(t *testing.T) {
	st, srv := mustStore(t, nil)
	ctx := context.Background()
	rdb := srv.Client(t)
	good, bad := nlIBAN(1), nlIBAN(2)
	if err := rdb.Set(ctx, st.LookupLogKey(bad), "not a hash", 0).Err(); err != nil {
		t.Fatal(err)
	}
	log := st.NewLookupLog()
	log.Looked("bank-a", domain.OrgBank, []domain.IBANKey{st.KeyOf(good), st.KeyOf(bad)}, time.Now())
	for range 3 {
		if err := log.Flush(ctx); err == nil {
			t.Fatal("a flush with an unwritable IBAN: no error")
		}
	}
	count := func(i int) int64 {
		got, err := st.Lookups(ctx, nlIBAN(i))
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 {
			t.Fatalf("lookups of IBAN %d: %+v", i, got)
		}
		return got[0].Lookups
	}
	if n := count(1); n != 1 {
		t.Errorf("the IBAN looked up once counts %d lookups after three flushes of which its part succeeded", n)
	}
	if err := rdb.Del(ctx, st.LookupLogKey(bad)).Err(); err != nil {
		t.Fatal(err)
	}
	if err := log.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if n, m := count(1), count(2); n != 1 || m != 1 {
		t.Errorf("once Redis takes it: %d and %d lookups, want 1 and 1", n, m)
	}
}
