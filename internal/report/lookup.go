package report

import (
	"time"

	"github.com/mulegate/mulegate/internal/iban"
)

// Risk is the coarse rating derived from an IBAN's report count.
type Risk string

const (
	RiskNone   Risk = "none"
	RiskLow    Risk = "low"
	RiskMedium Risk = "medium"
	RiskHigh   Risk = "high"
)

// RiskThresholds are the smallest report counts that rate low, medium and
// high. The defaults follow the spec: 0 none, 1 low, 2–4 medium, ≥5 high.
type RiskThresholds struct {
	Low, Medium, High int64
}

// DefaultRiskThresholds are the spec's thresholds.
var DefaultRiskThresholds = RiskThresholds{Low: 1, Medium: 2, High: 5}

// Rate maps a report count to a risk.
func (t RiskThresholds) Rate(count int64) Risk {
	switch {
	case count >= t.High:
		return RiskHigh
	case count >= t.Medium:
		return RiskMedium
	case count >= t.Low && count > 0:
		return RiskLow
	}
	return RiskNone
}

// Counts is what the store knows about one IBAN.
type Counts struct {
	ReportCount   int64
	ReporterCount int64
	Last30Days    int64
	ByCategory    map[string]int64
	BySource      map[string]int64
	First, Last   time.Time // zero when never reported
}

// Lookup is the answer to "how many reports cite this IBAN".
type Lookup struct {
	IBAN iban.IBAN
	Counts
	Risk Risk
}

// MinVoicesAboveLow is how many distinct reporting orgs it takes for an
// IBAN to rate above low: one org alone, filing under many keys, cannot
// make an account look like a confirmed mule.
const MinVoicesAboveLow = 2

// NewLookup rates counts for an IBAN.
func NewLookup(i iban.IBAN, c Counts, t RiskThresholds) Lookup {
	if c.ByCategory == nil {
		c.ByCategory = map[string]int64{}
	}
	if c.BySource == nil {
		c.BySource = map[string]int64{}
	}
	risk := t.Rate(c.ReportCount)
	if c.ReporterCount < MinVoicesAboveLow && (risk == RiskMedium || risk == RiskHigh) {
		risk = RiskLow
	}
	return Lookup{IBAN: i, Counts: c, Risk: risk}
}
