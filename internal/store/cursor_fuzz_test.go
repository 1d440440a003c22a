package store_test

import (
	"context"
	"testing"

	"github.com/mulegate/mulegate/internal/redistest"
	"github.com/mulegate/mulegate/internal/store"
	"github.com/redis/go-redis/v9"
)

// FuzzValidCursor: a feed cursor the gateway accepts never makes Redis
// fail (SPEC Part 3, exact parsing: a cursor it cannot parse, or one
// beyond any it could issue, is 400, never 500). Every accepted cursor is
// used as a feed page uses it, the exclusive start of an XRANGE, against
// a real redis-server.
func FuzzValidCursor(f *testing.F) {
	for _, s := range []string{"0-0", "1-0", "1796415976021-0", "1796415976021-1", "18446744073709551615-18446744073709551615",
		"00001-0", "+1-0", "1-+0", "-1-0", "1-", "-", "", "1", "1-0-0", " 1-0", "1-0 ", "0x1-0", "1796415976021-281474976710655",
		"1796415976021-281474976710656", "1796415976021-18446744073709551615", "99999999999999-0", "١-٠"} {
		f.Add(s)
	}
	rdb := redistest.Start(f).Client(f)
	ctx := context.Background()
	if err := rdb.XAdd(ctx, &redis.XAddArgs{Stream: "feed", Values: []string{"k", "v"}}).Err(); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, c string) {
		if !store.ValidCursor(c) {
			return
		}
		if err := rdb.XRangeN(ctx, "feed", "("+c, "+", 1).Err(); err != nil {
			t.Fatalf("accepted cursor %q: XRANGE (%s: %v", c, c, err)
		}
	})
}
