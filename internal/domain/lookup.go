package domain

import (
	"strconv"
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

// Window is one of the lookup's statistics windows.
type Window struct {
	Days      int
	Reports   int64 // counted reports accepted within the window
	Reporters int64 // distinct orgs among them
}

// WindowDays are the statistics windows, by acceptance time.
var WindowDays = [4]int{7, 30, 90, 365}

// ReviewCounts split the counted reports by their holder's review:
// open (open or acknowledged), confirmed (closed agreed), disputed
// (closed disagreed). Unrouted reports are in none.
type ReviewCounts struct{ Open, Confirmed, Disputed int64 }

// Marker is a police or bank statement that an IBAN is fraudulent.
type Marker struct {
	FraudType    FraudType
	ByType       OrgType // police or bank
	ByOrg        string
	RegisteredAt time.Time
	Details      string
}

// Counts is what the store knows about one IBAN. Cancelled reports are in
// no count but Cancelled; reports past retention are in none.
type Counts struct {
	ReportCount   int64
	ReporterCount int64
	Last30Days    int64
	ByCategory    Tally
	BySource      Tally
	First, Last   time.Time // zero when never reported
	Review        ReviewCounts
	Cancelled     int64
	Windows       [4]Window // WindowDays, in order
	// Amounts are, per window, the sums of the counted reports' amounts
	// per currency; Recovered the sums of what their recoveries returned.
	Amounts   [4]Sums
	Recovered Sums
	// Chain: the counted reports about the IBAN that are linked reports
	// (hop >= 1, onward transfers) and their smallest hop (0: none).
	LinkedReports int64
	MinHop        int
	// ConfirmedUpstream: a counted linked report about the IBAN has a
	// source its holder confirmed (closed agreed, another org's report).
	ConfirmedUpstream bool
	Marker            *Marker
	Watermark         time.Time // the newest change reflected; zero when none
	// HolderStatus is the holding bank's word on the account (nil: none).
	HolderStatus *HolderStatus
	// Cleared is the police's clear (nil: none), ClearedCount the reports
	// it covers (in no other count).
	Cleared      *Clear
	ClearedCount int64
	// ScoreSum is S of the score's formula (Score makes it 0–100).
	ScoreSum float64
}

// Tally is a count per name (a lookup's by_category or by_source), in
// name order. It holds a handful of names, so a slice searched in order
// costs less than a map: a lookup builds two.
type Tally []NameCount

// NameCount is one name's count in a Tally.
type NameCount struct {
	Name string
	N    int64
}

// Add counts n more for name.
func (t *Tally) Add(name string, n int64) {
	s := *t
	i := 0
	for i < len(s) && s[i].Name < name {
		i++
	}
	if i < len(s) && s[i].Name == name {
		s[i].N += n
		return
	}
	s = append(s, NameCount{})
	copy(s[i+1:], s[i:])
	s[i] = NameCount{Name: name, N: n}
	*t = s
}

// Of is name's count (0 when it has none).
func (t Tally) Of(name string) int64 {
	for _, e := range t {
		if e.Name == name {
			return e.N
		}
	}
	return 0
}

// Map is the tally as a map (empty, not nil, for an empty tally).
func (t Tally) Map() map[string]int64 {
	m := make(map[string]int64, len(t))
	for _, e := range t {
		m[e.Name] = e.N
	}
	return m
}

// Lookup is the answer to "how many reports cite this IBAN".
type Lookup struct {
	IBAN iban.IBAN
	Counts
	Risk    Risk
	Reasons []string
	Score   int // 0–100, beside the risk
}

// MinVoicesAboveLow is how many distinct reporting orgs it takes for an
// IBAN to rate above low on counts alone: one org filing under many keys
// cannot make an account look like a confirmed mule.
const MinVoicesAboveLow = 2

// RiskPolicy is how counts become a risk: the Part 1 thresholds on
// report_count, and how many distinct reporters within 30 days escalate
// an IBAN to at least medium (review.escalate_reporters).
type RiskPolicy struct {
	Thresholds        RiskThresholds
	EscalateReporters int64
}

// DefaultRiskPolicy is the spec's.
var DefaultRiskPolicy = RiskPolicy{Thresholds: DefaultRiskThresholds, EscalateReporters: 3}

// countAtLeast and reportersAtLeast are the reasons "count>=N" and
// "reporters>=N" for the usual thresholds, made once (Rate runs for
// every IBAN looked up).
var countAtLeast, reportersAtLeast [64]string

func init() {
	for n := range countAtLeast {
		countAtLeast[n] = "count>=" + strconv.Itoa(n)
		reportersAtLeast[n] = "reporters>=" + strconv.Itoa(n)
	}
}

// atLeast is name+n, from made if n is there.
func atLeast(made []string, name string, n int64) string {
	if n >= 0 && n < int64(len(made)) {
		return made[n]
	}
	return name + strconv.FormatInt(n, 10)
}

// Rate applies the risk rules in order: a marker makes it high; else a
// confirmed report makes it high; else the thresholds on report_count,
// raised to at least medium at EscalateReporters distinct reporters in 30
// days, and kept at low at most when one org alone reported it or every
// counted report was disputed by the holder. Reasons lists every rule
// whose condition holds, in the order marker, confirmed, reporters>=N,
// count>=N, all_disputed.
func (p RiskPolicy) Rate(c Counts) (Risk, []string) {
	reasons := []string{}
	d30 := c.Windows[1].Reporters
	allDisputed := c.ReportCount > 0 && c.Review.Disputed == c.ReportCount
	if c.Marker != nil {
		reasons = append(reasons, "marker")
	}
	if c.Review.Confirmed > 0 {
		reasons = append(reasons, "confirmed")
	}
	if c.ConfirmedUpstream {
		reasons = append(reasons, "linked_to_confirmed")
	}
	if p.EscalateReporters > 0 && d30 >= p.EscalateReporters {
		reasons = append(reasons, atLeast(reportersAtLeast[:], "reporters>=", p.EscalateReporters))
	}
	if c.ReportCount >= p.Thresholds.High {
		reasons = append(reasons, atLeast(countAtLeast[:], "count>=", p.Thresholds.High))
	}
	if allDisputed {
		reasons = append(reasons, "all_disputed")
	}
	if c.Marker != nil || c.Review.Confirmed > 0 {
		return RiskHigh, reasons
	}
	risk := p.Thresholds.Rate(c.ReportCount)
	if p.EscalateReporters > 0 && d30 >= p.EscalateReporters && rank(risk) < rank(RiskMedium) {
		risk = RiskMedium
	}
	if c.ReporterCount < MinVoicesAboveLow && rank(risk) > rank(RiskLow) {
		risk = RiskLow // two voices before medium (Part 2)
	}
	if c.ConfirmedUpstream && rank(risk) < rank(RiskMedium) {
		risk = RiskMedium // one hop from a confirmed mule: an exception to the two voices
	}
	if allDisputed && rank(risk) > rank(RiskLow) {
		risk = RiskLow
	}
	if h := c.HolderStatus; h != nil && h.Status == StatusCollectionAccount && rank(risk) > rank(RiskLow) {
		// A payment provider's collection account: unrelated payers'
		// reports; listed only when the cap lowered the risk.
		risk = RiskLow
		reasons = append(reasons, "collection_account")
	}
	return risk, reasons
}

func rank(r Risk) int {
	switch r {
	case RiskLow:
		return 1
	case RiskMedium:
		return 2
	case RiskHigh:
		return 3
	}
	return 0
}

// NewLookup rates counts for an IBAN.
func NewLookup(i iban.IBAN, c Counts, p RiskPolicy) Lookup {
	for n, d := range WindowDays {
		c.Windows[n].Days = d
	}
	risk, reasons := p.Rate(c)
	return Lookup{IBAN: i, Counts: c, Risk: risk, Reasons: reasons, Score: Score(c.ScoreSum, c.Marker != nil)}
}
