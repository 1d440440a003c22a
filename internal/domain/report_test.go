package domain

import (
	"errors"
	"testing"
	"time"
)

func TestRate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		count int64
		want  Risk
	}{{0, RiskNone}, {1, RiskLow}, {2, RiskMedium}, {4, RiskMedium}, {5, RiskHigh}, {1000, RiskHigh}}
	for _, tt := range tests {
		if got := DefaultRiskThresholds.Rate(tt.count); got != tt.want {
			t.Errorf("Rate(%d) = %s, want %s", tt.count, got, tt.want)
		}
	}
}

func TestNewSubmission(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	future := now.Add(time.Hour)
	past := now.Add(-time.Hour)
	long := make([]byte, 2001)
	for i := range long {
		long[i] = 'x'
	}
	tests := []struct {
		name      string
		iban, cat string
		at        *time.Time
		amount    *Amount
		ref, desc string
		code      Code
		field     string
	}{
		{"ok", "NL91ABNA0417164300", "phishing", &past, &Amount{"249.95", "EUR"}, "case-1", "text", "", ""},
		{"missing iban", "", "phishing", nil, nil, "", "", CodeInvalid, "iban"},
		{"missing category", "NL91ABNA0417164300", "", nil, nil, "", "", CodeInvalid, "category"},
		{"bad category", "NL91ABNA0417164300", "bogus", nil, nil, "", "", CodeInvalid, "category"},
		{"future", "NL91ABNA0417164300", "phishing", &future, nil, "", "", CodeInvalid, "occurred_at"},
		{"bad amount", "NL91ABNA0417164300", "phishing", nil, &Amount{"-1", "EUR"}, "", "", CodeInvalid, "amount.value"},
		{"bad currency", "NL91ABNA0417164300", "phishing", nil, &Amount{"1.00", "eur"}, "", "", CodeInvalid, "amount.currency"},
		{"long description", "NL91ABNA0417164300", "phishing", nil, nil, "", string(long), CodeInvalid, "description"},
		{"long reference", "NL91ABNA0417164300", "phishing", nil, nil, string(long[:129]), "", CodeInvalid, "reference"},
		{"bad iban", "NL92ABNA0417164300", "phishing", nil, nil, "", "", CodeInvalidIBAN, "iban"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewSubmission(tt.iban, tt.cat, tt.at, tt.amount, tt.ref, tt.desc, now, 30*time.Second)
			if tt.code == "" {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			var de *Error
			if !errors.As(err, &de) || de.Code != tt.code || de.Field != tt.field {
				t.Fatalf("err = %#v, want code %s field %s", err, tt.code, tt.field)
			}
		})
	}
}

func TestCanonicalIgnoresIBANFormatting(t *testing.T) {
	t.Parallel()
	now := time.Now()
	a, _ := NewSubmission("NL91ABNA0417164300", "phishing", nil, nil, "r", "", now, 0)
	b, _ := NewSubmission("nl91 abna 0417 1643 00", "phishing", nil, nil, "r", "", now, 0)
	c, _ := NewSubmission("NL91ABNA0417164300", "phishing", nil, nil, "other-ref", "", now, 0)
	if string(a.Canonical()) != string(b.Canonical()) {
		t.Error("same report with different IBAN spacing has different fingerprints")
	}
	if string(a.Canonical()) == string(c.Canonical()) {
		t.Error("different reports share a fingerprint")
	}
}
