package domain

import (
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mulegate/mulegate/internal/iban"
)

// TestOneVoiceIsAtMostLow (issue 8.13): one org filing many reports under
// many keys cannot rate an IBAN above low; a second org can.
func TestOneVoiceIsAtMostLow(t *testing.T) {
	t.Parallel()
	i, _ := iban.Parse("NL91ABNA0417164300")
	for _, tc := range []struct {
		name             string
		count, reporters int64
		want             Risk
	}{
		{"none", 0, 0, RiskNone},
		{"one report", 1, 1, RiskLow},
		{"two from one org", 2, 1, RiskLow},
		{"forty from one org", 40, 1, RiskLow},
		{"two from two orgs", 2, 2, RiskMedium},
		{"five from two orgs", 5, 2, RiskHigh},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := NewLookup(i, Counts{ReportCount: tc.count, ReporterCount: tc.reporters}, DefaultRiskPolicy).Risk
			if got != tc.want {
				t.Errorf("risk %q, want %q", got, tc.want)
			}
		})
	}
}

// TestRiskRulesInOrder: the Part 2 rules and the reasons they give.
func TestRiskRulesInOrder(t *testing.T) {
	t.Parallel()
	i, _ := iban.Parse("NL91ABNA0417164300")
	win := func(reporters30 int64) [4]Window { return [4]Window{{}, {Reporters: reporters30}, {}, {}} }
	for _, tc := range []struct {
		name    string
		c       Counts
		risk    Risk
		reasons []string
	}{
		{"marker alone", Counts{Marker: &Marker{FraudType: "mule_account"}}, RiskHigh, []string{"marker"}},
		{"one confirmed from one org", Counts{ReportCount: 1, ReporterCount: 1, Review: ReviewCounts{Confirmed: 1}}, RiskHigh, []string{"confirmed"}},
		{"three reporters in 30 days", Counts{ReportCount: 3, ReporterCount: 3, Windows: win(3)}, RiskMedium, []string{"reporters>=3"}},
		{"five from two orgs", Counts{ReportCount: 5, ReporterCount: 2, Windows: win(2)}, RiskHigh, []string{"count>=5"}},
		{"all disputed", Counts{ReportCount: 5, ReporterCount: 3, Windows: win(3), Review: ReviewCounts{Disputed: 5}}, RiskLow, []string{"reporters>=3", "count>=5", "all_disputed"}},
		{"everything", Counts{ReportCount: 6, ReporterCount: 3, Windows: win(3), Marker: &Marker{}, Review: ReviewCounts{Confirmed: 1}}, RiskHigh, []string{"marker", "confirmed", "reporters>=3", "count>=5"}},
		{"nothing", Counts{}, RiskNone, []string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := NewLookup(i, tc.c, DefaultRiskPolicy)
			if l.Risk != tc.risk || strings.Join(l.Reasons, ",") != strings.Join(tc.reasons, ",") {
				t.Errorf("risk %s reasons %v, want %s %v", l.Risk, l.Reasons, tc.risk, tc.reasons)
			}
		})
	}
}

// TestTallyKeepsNameOrder: a lookup's by_category and by_source are
// written in name order (as encoding/json writes a map), whatever order
// the book's records come in.
func TestTallyKeepsNameOrder(t *testing.T) {
	t.Parallel()
	var tl Tally
	for _, name := range []string{"phishing", "other", "phishing", "helpdesk_fraud", "other", "phishing", "romance_fraud"} {
		tl.Add(name, 1)
	}
	want := Tally{{"helpdesk_fraud", 1}, {"other", 2}, {"phishing", 3}, {"romance_fraud", 1}}
	if len(tl) != len(want) {
		t.Fatalf("tally %v, want %v", tl, want)
	}
	for n := range want {
		if tl[n] != want[n] {
			t.Fatalf("tally %v, want %v", tl, want)
		}
	}
	if tl.Of("phishing") != 3 || tl.Of("ransomware") != 0 || tl.Map()["other"] != 2 {
		t.Errorf("Of/Map disagree with %v", tl)
	}
}

// TestCounterTalliesPastFourNames: the counter keeps four names of each
// tally in place and the rest beyond; either way by_category and
// by_source come out in name order with every report counted, and
// appending to one does not write into the other (they share one
// allocation).
func TestCounterTalliesPastFourNames(t *testing.T) {
	t.Parallel()
	p := PeriodsAt(time.Now(), 730*24*time.Hour)
	for _, cats := range [][]string{
		{"phishing", "other", "phishing"},
		{"phishing", "other", "phishing", "helpdesk_fraud", "other", "romance_fraud", "marketplace_fraud", "investment_fraud", "phishing"},
	} {
		k := p.Counter()
		want := Tally{}
		for n, c := range cats {
			k.Add(Counted{Received: p.Now - int64(n), Org: "bank-a", Category: c, Source: "bank"})
			want.Add(c, 1)
		}
		got := k.Counts()
		if !slices.Equal(got.ByCategory, want) {
			t.Errorf("by_category %v, want %v", got.ByCategory, want)
		}
		if !slices.Equal(got.BySource, Tally{{"bank", int64(len(cats))}}) {
			t.Errorf("by_source %v", got.BySource)
		}
		_ = append(got.ByCategory, NameCount{"zzz", 1})
		if got.BySource[0].Name != "bank" {
			t.Errorf("appending to by_category wrote into by_source: %v", got.BySource)
		}
	}
	empty := p.Counter()
	if c := empty.Counts(); c.ByCategory != nil || c.BySource != nil {
		t.Errorf("no reports: %v %v", c.ByCategory, c.BySource)
	}
}

// TestRiskReasonsPastTheMadeOnes: a threshold beyond the reasons made at
// start reads the same as one within them.
func TestRiskReasonsPastTheMadeOnes(t *testing.T) {
	t.Parallel()
	for _, high := range []int64{5, 63, 64, 1000} {
		p := RiskPolicy{Thresholds: RiskThresholds{Low: 1, Medium: 2, High: high}, EscalateReporters: high}
		c := Counts{ReportCount: high, ReporterCount: high}
		c.Windows[1].Reporters = high
		_, reasons := p.Rate(c)
		want := []string{"reporters>=" + strconv.FormatInt(high, 10), "count>=" + strconv.FormatInt(high, 10)}
		if !slices.Equal(reasons, want) {
			t.Errorf("high %d: reasons %q, want %q", high, reasons, want)
		}
	}
}
