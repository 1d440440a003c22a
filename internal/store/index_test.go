package store_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mulegate/mulegate/internal/domain"
	"github.com/mulegate/mulegate/internal/redistest"
	"github.com/mulegate/mulegate/internal/store"
)

// TestReportIndexFillsLowLevelsFirst: a partition's report index keeps
// its entries in a few full buckets, not one key per report: every
// report is indexed exactly once, the lowest level's buckets fill to 64
// entries and no bucket below the top level holds more, the top level
// stays empty while the levels below it have room; every report is found
// by its id, also one whose entry is where layout 5 kept it (the top
// level); and a prune past retention retires every entry and every
// bucket.
func TestReportIndexFillsLowLevelsFirst(t *testing.T) {
	clock, now := testClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	rdb := redistest.StartTopology(t).Client(t)
	// One partition: 700 reports are as many per partition as 45,000
	// are in the default 64.
	st, err := store.New(rdb, store.Options{Secret: secret, Now: now, Retention: 30 * 24 * time.Hour, Partitions: 1})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	const n = 700
	ids := make([]string, n)
	for r := range n {
		sub := domain.Submission{IBAN: nlIBAN(r % 50), Category: "phishing"}
		a, err := st.Accept(ctx, "bank-a", domain.OrgBank, fmt.Sprintf("ix-%d", r), sub)
		if err != nil {
			t.Fatal(err)
		}
		ids[r] = a.ID
	}

	type bucket struct {
		name    string
		entries int64
	}
	buckets := func() []bucket {
		var out []bucket
		err := st.EachKey(ctx, "mg:*:ix:*", func(k string) error {
			l, err := rdb.HLen(ctx, k).Result()
			if err != nil {
				return err
			}
			out = append(out, bucket{k, l - 2}) // besides lo and ex
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	var total, full2 int64
	for _, b := range buckets() {
		total += b.entries
		_, rest, ok := strings.Cut(b.name, ":ix:")
		if !ok {
			t.Fatalf("bucket %q has no :ix: part", b.name)
		}
		level, _, lower := strings.Cut(rest, ":")
		switch {
		case !lower:
			t.Errorf("top-level bucket %q holds %d entries while the levels below have room", b.name, b.entries)
		case b.entries > 64:
			t.Errorf("bucket %q holds %d entries, more than 64", b.name, b.entries)
		case level == "L2" && b.entries == 64:
			full2++
		}
	}
	if total != n {
		t.Errorf("the index holds %d entries for %d reports", total, n)
	}
	if full2 != 4 {
		t.Errorf("%d of level 2's 4 buckets are full after %d reports, want all", full2, n)
	}

	// An entry where layout 5 kept it: the id's first byte's bucket.
	raw := store.RawID(ids[0])
	levels := st.IndexBucketsOf(nlIBAN(0), ids[0])
	top := levels[len(levels)-1]
	var from string
	for _, b := range buckets() {
		if v, err := rdb.HGet(ctx, b.name, raw).Result(); err == nil {
			from = b.name
			if err := rdb.HSet(ctx, top, raw, v, "lo", 0, "ex", 0).Err(); err != nil {
				t.Fatal(err)
			}
			if err := rdb.HDel(ctx, b.name, raw).Err(); err != nil {
				t.Fatal(err)
			}
			break
		}
	}
	if from == "" {
		t.Fatal("the first report is in no bucket")
	}
	for _, b := range levels[:len(levels)-1] {
		if ok, err := rdb.HExists(ctx, b, raw).Result(); err != nil || ok {
			t.Fatalf("the moved entry is still in %s (%v)", b, err)
		}
	}
	for _, id := range ids {
		if _, err := st.ReportStatus(ctx, id); err != nil {
			t.Fatalf("report %s: %v", id, err)
		}
	}

	clock.Add((32 * 24 * time.Hour).Milliseconds())
	pruned, err := st.Prune(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if pruned != n {
		t.Errorf("Prune retired %d reports, want %d", pruned, n)
	}
	if left := buckets(); len(left) != 0 {
		t.Errorf("after the prune %d index buckets are left, e.g. %q", len(left), left[0].name)
	}
	if _, err := st.ReportStatus(ctx, ids[1]); domain.ErrorCode(err) != domain.CodeNotFound {
		t.Errorf("a pruned report: %v, want not found", err)
	}
}
