package domain

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mulegate/mulegate/internal/iban"
)

// TestTransfersAndLinks: an onward request's transfers are checked entry
// by entry (the code and the field a client must fix), and the chain
// place of the linked reports follows from the source's.
func TestTransfersAndLinks(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	own, _ := iban.Parse("NL91ABNA0417164300")
	pol := ChainPolicy{MaxHops: 5, MaxTransfers: 2}
	s := func(v string) *string { return &v }
	eur := &Amount{Value: "100", Currency: "EUR"}
	ok := RawTransfer{IBAN: s("DE89370400440532013000"), Amount: eur, At: s("2026-12-01T11:00:00Z")}
	for _, tc := range []struct {
		name  string
		raw   []RawTransfer
		code  Code
		field string
	}{
		{"one", []RawTransfer{ok}, "", ""},
		{"none", nil, CodeInvalid, "transfers"},
		{"too many", []RawTransfer{ok, ok, ok}, CodeInvalid, "transfers"},
		{"a bad IBAN", []RawTransfer{ok, {IBAN: s("DE00370400440532013000"), Amount: eur, At: ok.At}}, CodeInvalidIBAN, "transfers[1].iban"},
		{"its own IBAN", []RawTransfer{{IBAN: s("NL91 ABNA 0417 1643 00"), Amount: eur, At: ok.At}}, CodeInvalid, "transfers[0].iban"},
		{"a bad amount", []RawTransfer{{IBAN: ok.IBAN, Amount: &Amount{Value: "1.001", Currency: "EUR"}, At: ok.At}}, CodeInvalid, "transfers[0].amount.value"},
		{"in the future", []RawTransfer{{IBAN: ok.IBAN, Amount: eur, At: s("2026-12-02T00:00:00Z")}}, CodeInvalid, "transfers[0].at"},
		{"no time", []RawTransfer{{IBAN: ok.IBAN, Amount: eur}}, CodeInvalid, "transfers[0]"},
	} {
		got, err := NewTransfers(tc.raw, own, now, 30*time.Second, pol)
		var de *Error
		switch {
		case tc.code == "" && (err != nil || len(got) != len(tc.raw)):
			t.Errorf("%s: %v %+v", tc.name, err, got)
		case tc.code != "" && (!errors.As(err, &de) || de.Code != tc.code || de.Field != tc.field):
			t.Errorf("%s: %v, want %s naming %s", tc.name, err, tc.code, tc.field)
		}
	}
	if l, err := Link("src", "", 0, pol); err != nil || l.RootID != "src" || l.Hop != 1 {
		t.Errorf("from a report of hop 0: %+v %v", l, err)
	}
	if l, err := Link("src", "root", 3, pol); err != nil || l.RootID != "root" || l.Hop != 4 {
		t.Errorf("from hop 3: %+v %v", l, err)
	}
	if _, err := Link("src", "root", 5, pol); ErrorCode(err) != CodeInvalid {
		t.Errorf("past max_hops: %v", err)
	}
	tr, _ := NewTransfers([]RawTransfer{ok}, own, now, 0, pol)
	sub := tr[0].Submission(ChainLink{SourceID: "src", RootID: "src", Hop: 1})
	if sub.Category != CategoryMoneyMule || sub.Amount.Value != "100.00" || sub.Chain.Hop != 1 || string(sub.Canonical()) == "" {
		t.Errorf("the linked report: %+v", sub)
	}
}

// TestLinkedToConfirmedRisk (SPEC Part 3, precise point 7): one hop from
// a confirmed mule raises one org's report to medium, the exception to
// the two voices, with its reason in order; all disputed still caps it.
func TestLinkedToConfirmedRisk(t *testing.T) {
	p := RiskPolicy{Thresholds: RiskThresholds{Low: 1, Medium: 2, High: 5}, EscalateReporters: 3}
	c := Counts{ReportCount: 1, ReporterCount: 1, Review: ReviewCounts{Open: 1}, ConfirmedUpstream: true}
	if r, why := p.Rate(c); r != RiskMedium || strings.Join(why, ",") != "linked_to_confirmed" {
		t.Errorf("one report one hop from a confirmed mule: %s %v, want medium, linked_to_confirmed", r, why)
	}
	c.ConfirmedUpstream = false
	if r, _ := p.Rate(c); r != RiskLow {
		t.Errorf("without it: %s, want low", r)
	}
	c = Counts{ReportCount: 1, ReporterCount: 1, Review: ReviewCounts{Confirmed: 1}, ConfirmedUpstream: true}
	if r, why := p.Rate(c); r != RiskHigh || strings.Join(why, ",") != "confirmed,linked_to_confirmed" {
		t.Errorf("confirmed too: %s %v", r, why)
	}
	c = Counts{ReportCount: 2, ReporterCount: 2, Review: ReviewCounts{Disputed: 2}, ConfirmedUpstream: true}
	if r, _ := p.Rate(c); r != RiskLow {
		t.Errorf("all disputed: %s, want low", r)
	}
}
