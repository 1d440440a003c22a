package domain

import (
	"math"
	"testing"
	"time"
)

// TestScore: the SPEC's formula, S = Σ w × 0.5^(age/half-life) over
// counted reports (w: 1 open, 3 closed agreed, 0.2 closed disagreed,
// halved for a linked report), score = round(100 × (1 − e^(−S/3))), 100
// with a marker, nothing for a cancelled or cleared report; worked by
// hand for each row.
func TestScore(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	ago := func(days float64) int64 { return now.Add(-time.Duration(days * 24 * float64(time.Hour))).UnixMilli() }
	open := func(days float64) Counted { return Counted{Received: ago(days), Org: "a", Review: ReviewOpen} }
	closed := func(days float64, r Result, hop int) Counted {
		return Counted{Received: ago(days), Org: "a", Review: ReviewClosed, Result: r, Hop: hop}
	}
	for _, c := range []struct {
		name    string
		reports []Counted
		clear   *Clear
		marker  bool
		s       float64
		want    int
	}{
		{"none", nil, nil, false, 0, 0},
		{"one open today: S=1, 100(1-e^-1/3)=28.35", []Counted{open(0)}, nil, false, 1, 28},
		{"one open 90 days ago: S=0.5", []Counted{open(90)}, nil, false, 0.5, 15},
		{"one open 180 days ago: S=0.25", []Counted{open(180)}, nil, false, 0.25, 8},
		{"one agreed today: S=3, 100(1-e^-1)=63.21", []Counted{closed(0, ResultAgreed, 0)}, nil, false, 3, 63},
		{"one disagreed today: S=0.2", []Counted{closed(0, ResultDisagreed, 0)}, nil, false, 0.2, 6},
		{"a linked open today: S=0.5", []Counted{{Received: ago(0), Org: "a", Review: ReviewOpen, Hop: 1}}, nil, false, 0.5, 15},
		{"a linked agreed 90 days ago: S=0.75", []Counted{closed(90, ResultAgreed, 2)}, nil, false, 0.75, 22},
		{"three open today, two agreed 90 days ago: S=3+3=6", []Counted{open(0), open(0), open(0), closed(90, ResultAgreed, 0), closed(90, ResultAgreed, 0)},
			nil, false, 6, 86},
		{"a cancelled one adds nothing", []Counted{open(0), {Received: ago(0), Org: "b", Review: ReviewCancelled}}, nil, false, 1, 28},
		{"a cleared one adds nothing", []Counted{open(10), open(0)}, &Clear{At: now.Add(-5 * 24 * time.Hour)}, false, 1, 28},
		{"a marker makes it 100", []Counted{open(0)}, nil, true, 1, 100},
	} {
		p := PeriodsAt(now, 730*24*time.Hour)
		k := p.Counter()
		k.Cleared(c.clear)
		for _, r := range c.reports {
			k.Add(r)
		}
		got := k.Counts()
		if math.Abs(got.ScoreSum-c.s) > 1e-9 {
			t.Errorf("%s: S = %v, want %v", c.name, got.ScoreSum, c.s)
		}
		if s := Score(got.ScoreSum, c.marker); s != c.want {
			t.Errorf("%s: score %d, want %d", c.name, s, c.want)
		}
	}
}

// TestCollectionAccountCap (SPEC Part 3, precise point 7): a collection
// account's risk is at most low, and says so only when the cap lowered
// it; a marker or a confirmed report is not capped.
func TestCollectionAccountCap(t *testing.T) {
	ca := &HolderStatus{Status: StatusCollectionAccount}
	many := Counts{ReportCount: 12, ReporterCount: 5, Windows: [4]Window{{}, {Reporters: 5}}}
	for _, c := range []struct {
		name    string
		c       Counts
		want    Risk
		reasons string
	}{
		{"capped", func() Counts { c := many; c.HolderStatus = ca; return c }(), RiskLow, "collection_account"},
		{"low already: not listed", Counts{ReportCount: 1, ReporterCount: 1, HolderStatus: ca}, RiskLow, ""},
		{"a confirmed report is not capped", func() Counts { c := many; c.HolderStatus = ca; c.Review.Confirmed = 1; return c }(), RiskHigh, ""},
		{"account_closed is shown only", func() Counts { c := many; c.HolderStatus = &HolderStatus{Status: StatusAccountClosed}; return c }(), RiskHigh, ""},
	} {
		risk, reasons := DefaultRiskPolicy.Rate(c.c)
		last := ""
		if len(reasons) > 0 {
			last = reasons[len(reasons)-1]
		}
		if risk != c.want || (c.reasons != "" && last != c.reasons) || (c.reasons == "" && last == "collection_account") {
			t.Errorf("%s: %s %v", c.name, risk, reasons)
		}
	}
}

// TestDecayIsHalvingPerHalfLife: Decay is 0.5^(age/half-life) as the
// SPEC writes it, within two ulps of math.Pow over ten years of ages every
// ten minutes, for three half-lives; and the score of a book of such reports
// is the one math.Pow gives.
func TestDecayIsHalvingPerHalfLife(t *testing.T) {
	t.Parallel()
	now := int64(1764547200000)
	for _, hl := range []float64{7, 30, 365} {
		var ours, pow float64
		const day = int64(msPerDay)
		for age := int64(0); age < 10*365*day; age += 600_000 {
			got := Decay(now-age, now, hl)
			want := math.Pow(0.5, float64(age)/msPerDay/hl)
			if ulp := math.Nextafter(want, 2) - want; math.Abs(got-want) > 2*ulp {
				t.Fatalf("half-life %v, age %d ms: %v, math.Pow %v", hl, age, got, want)
			}
			if age%(37*day) < 600_000 {
				ours, pow = ours+got, pow+want
			}
		}
		if Score(ours, false) != Score(pow, false) {
			t.Errorf("half-life %v: score %d, with math.Pow %d", hl, Score(ours, false), Score(pow, false))
		}
	}
	if Decay(now+1000, now, 30) != 1 {
		t.Error("a report from the future decays")
	}
}
