package domain

import (
	"errors"
	"testing"
)

// TestAmountRules: values are checked against the currency's minor
// digits and normalised; anything else is refused naming the field.
func TestAmountRules(t *testing.T) {
	for _, tc := range []struct {
		value, currency, want string // want "" for refused
	}{
		{"249.95", "EUR", "249.95"}, {"249.9", "EUR", "249.90"}, {"249", "EUR", "249.00"}, {"0249.95", "EUR", "249.95"},
		{"1200", "JPY", "1200"}, {"12.5", "BHD", "12.500"}, {"0.01", "EUR", "0.01"}, {"999999999999999.99", "EUR", "999999999999999.99"},
		{"1200.0", "JPY", ""}, {"249.955", "EUR", ""}, {"0", "EUR", ""}, {"0.00", "EUR", ""}, {"-1", "EUR", ""}, {"1e3", "EUR", ""},
		{".5", "EUR", ""}, {"5.", "EUR", ""}, {"1,00", "EUR", ""}, {"1000000000000000", "EUR", ""}, {"1", "XXX", ""}, {"1", "eur", ""},
		{"1", "XAU", ""}, {" 1", "EUR", ""},
	} {
		got, err := NewAmount(Amount{Value: tc.value, Currency: tc.currency}, "amount")
		if tc.want == "" {
			if err == nil {
				t.Errorf("%s %s accepted as %+v", tc.value, tc.currency, got)
			} else if de := (*Error)(nil); !errors.As(err, &de) || (de.Field != "amount.value" && de.Field != "amount.currency") {
				t.Errorf("%s %s: error %v does not name the amount's field", tc.value, tc.currency, err)
			}
			continue
		}
		if err != nil || got.Value != tc.want {
			t.Errorf("%s %s: %+v %v, want %s", tc.value, tc.currency, got, err, tc.want)
		}
	}
}

// TestSumsAreExact: sums never lose a cent, in any currency, however
// many amounts of the largest size are added (past 2^64 minor units).
func TestSumsAreExact(t *testing.T) {
	var s Sums
	s.Add(Amount{Value: "0.10", Currency: "EUR"})
	s.Add(Amount{Value: "0.20", Currency: "EUR"})
	s.Add(Amount{Value: "1200", Currency: "JPY"})
	s.Add(Amount{Value: "1.005", Currency: "BHD"})
	s.Add(Amount{Value: "bad", Currency: "EUR"}) // stored before the rule: left out
	want := map[string]string{"BHD": "1.005", "EUR": "0.30", "JPY": "1200"}
	if len(s) != 3 {
		t.Fatalf("sums %+v", s)
	}
	for i, c := range s {
		if string(c.AppendValue([]byte("x"))) != "x"+want[c.Currency] {
			t.Errorf("%s: AppendValue %q, want %q", c.Currency, c.AppendValue([]byte("x")), want[c.Currency])
		}
		if c.Value() != want[c.Currency] || (i > 0 && s[i-1].Currency >= c.Currency) {
			t.Errorf("%s: %s, want %s (in currency order)", c.Currency, c.Value(), want[c.Currency])
		}
	}
	var large Sums
	for range 200 { // 2 * 10^19 minor units: past 2^64
		large.Add(Amount{Value: "999999999999999.99", Currency: "EUR"})
	}
	var small Sums
	small.Add(Amount{Value: "0.05", Currency: "BHD"})
	small.Add(Amount{Value: "0.01", Currency: "EUR"})
	small.Add(Amount{Value: "7", Currency: "JPY"})
	for _, c := range small {
		if got := string(c.AppendValue(nil)); got != c.Value() {
			t.Errorf("%s: AppendValue %q, Value %q", c.Currency, got, c.Value())
		}
	}
	if got := string(large[0].AppendValue(nil)); got != "199999999999999998.00" {
		t.Errorf("AppendValue past 2^64: %s", got)
	}
	if got := large[0].Value(); got != "199999999999999998.00" {
		t.Errorf("two hundred of the largest: %s", got)
	}
}
