package report

import (
	"testing"

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
			got := NewLookup(i, Counts{ReportCount: tc.count, ReporterCount: tc.reporters}, DefaultRiskThresholds).Risk
			if got != tc.want {
				t.Errorf("risk %q, want %q", got, tc.want)
			}
		})
	}
}
