package httpapi

import (
	"testing"
	"time"

	"github.com/mulegate/mulegate/internal/domain"
	"github.com/mulegate/mulegate/internal/iban"
)

// BenchmarkAppendLookup: rendering one lookup answer, with the amounts
// windows empty (no report has an amount) and with one currency in every
// window and something recovered (Part 3).
func BenchmarkAppendLookup(b *testing.B) {
	ib, _ := iban.Parse("NL91ABNA0417164300")
	now := time.Now().UTC()
	c := domain.Counts{ReportCount: 5, ReporterCount: 5, Last30Days: 5, First: now, Last: now, Watermark: now}
	c.ByCategory.Add("phishing", 5)
	c.BySource.Add("bank", 5)
	for w, d := range domain.WindowDays {
		c.Windows[w] = domain.Window{Days: d, Reports: 5, Reporters: 5}
	}
	withAmounts := c
	for w := range withAmounts.Amounts {
		withAmounts.Amounts[w].Add(domain.Amount{Value: "1249.75", Currency: "EUR"})
	}
	withAmounts.Recovered.Add(domain.Amount{Value: "100.00", Currency: "EUR"})
	views := map[string]View{"": NewView(nil), "marketplace-": NewView([]string{"by_source", "marker.by_type", "cleared.reason"})}
	for vname, v := range views {
		for name, counts := range map[string]domain.Counts{"plain": c, "amounts": withAmounts} {
			l := domain.Lookup{IBAN: ib, Counts: counts, Risk: "high", Reasons: []string{"count>=5"}}
			b.Run(vname+name, func(b *testing.B) {
				b.ReportAllocs()
				buf := make([]byte, 0, 2048)
				for b.Loop() {
					buf = v.appendLookup(buf[:0], l)
				}
			})
		}
	}
}
