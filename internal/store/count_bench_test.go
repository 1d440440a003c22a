package store

import (
	"testing"
	"time"

	"github.com/mulegate/mulegate/internal/domain"
)

// BenchmarkCountBook: what counting one book costs, for a book of five
// reports from five banks as a hit looks (the perf harness's IBAN), with
// and without amounts and a returned recovery (Part 3): the difference is
// what amounts and recovered add to a lookup.
func BenchmarkCountBook(b *testing.B) {
	now := time.Now()
	for _, withAmounts := range []bool{false, true} {
		name := "plain"
		if withAmounts {
			name = "amounts"
		}
		var kv []string
		for n := range 5 {
			r := record{Received: now.Add(-time.Duration(n) * 24 * time.Hour), Category: "phishing", Source: domain.OrgBank,
				Org: "bank-" + string(rune('a'+n)), N: int64(n + 1), Status: domain.StatusForwarded, Holder: "bank-h", BookHolder: true,
				RespondBy: now.Add(7 * 24 * time.Hour), Review: domain.ReviewOpen}
			if withAmounts {
				r.Amount = domain.Amount{Value: "249.95", Currency: "EUR"}
				if n == 0 {
					r.Recovery, r.Recovered = domain.RecoveryReturned, domain.Amount{Value: "100.00", Currency: "EUR"}
				}
			}
			core, _, err := r.encode()
			if err != nil {
				b.Fatal(err)
			}
			kv = append(kv, string(rune('A'+n))+"123456789012345", core)
		}
		kv = append(kv, "j", "bank-h\x1fsealed", "w", formatW(now.UnixMilli(), now.Add(-5*24*time.Hour).UnixMilli(), 5))
		p := domain.PeriodsAt(now, 730*24*time.Hour)
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				c := countBook(kv, p)
				if c.ReportCount != 5 {
					b.Fatal(c.ReportCount)
				}
			}
		})
	}
}
