package iban

import (
	"errors"
	"strings"
	"testing"
)

func TestRegistryExamplesAreValid(t *testing.T) {
	t.Parallel()
	if got := len(Countries()); got < 89 {
		t.Fatalf("registry has %d countries, want the full ISO 13616 list (>= 89)", got)
	}
	for _, code := range Countries() {
		ex := Example(code)
		t.Run(code, func(t *testing.T) {
			got, err := Parse(ex)
			if err != nil {
				t.Fatalf("Parse(%q) = %v, want valid", ex, err)
			}
			if got.String() != ex || got.Country() != code {
				t.Fatalf("Parse(%q) = %q country %q", ex, got, got.Country())
			}
		})
	}
}

func TestBankCode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		iban, want string
	}{
		{"NL91ABNA0417164300", "ABNA"},
		{"DE89370400440532013000", "37040044"},
		{"BE68539007547034", "539"},
		{"FR1420041010050500013M02606", "20041"},
		{"IT60X0542811101000000123456", "05428"},
		{"ES9121000418450200051332", "2100"},
		{"AT611904300234573201", "19043"},
		{"GB29NWBK60161331926819", "NWBK"},
		{"CH9300762011623852957", "00762"},
		{"PL61109010140000071219812874", "109"},
		{"SE4550000000058398257466", "500"},
		{"LU280019400644750000", "001"},
		{"IE29AIBK93115212345678", "AIBK"},
		{"PT50000201231234567890154", "0002"},
	}
	for _, tt := range tests {
		t.Run(tt.iban, func(t *testing.T) {
			i, err := Parse(tt.iban)
			if err != nil {
				t.Fatal(err)
			}
			if got := i.BankCode(); got != tt.want {
				t.Errorf("BankCode() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestParseRejects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		input string
		rule  Rule
	}{
		{"empty", "", RuleEmpty},
		{"only spaces", "   ", RuleEmpty},
		{"unknown country", "XX91ABNA0417164300", RuleCountry},
		{"digits for country", "1291ABNA0417164300", RuleCountry},
		{"too short", "NL91ABNA041716430", RuleLength},
		{"too long", "NL91ABNA04171643000", RuleLength},
		{"absurdly long", strings.Repeat("A", 200), RuleLength},
		{"bad checksum", "NL92ABNA0417164300", RuleChecksum},
		{"swapped digits", "NL91ABNA0417164030", RuleChecksum},
		{"letters in NL account", "NL91ABNA04171643AA", RuleFormat},
		{"digits in NL bank code", "NL91AB1A0417164300", RuleFormat},
		{"check digits 00", "NL00ABNA0417164300", RuleCheckDigits},
		{"check digits 01", "NL01ABNA0417164300", RuleCheckDigits},
		{"check digits 99", "NL99ABNA0417164300", RuleCheckDigits},
		{"letters as check digits", "NLAAABNA0417164300", RuleCheckDigits},
		{"full-width digits", "NL９１ABNA0417164300", RuleCharacters},
		{"cyrillic A", "NL91АBNA0417164300", RuleCharacters},
		{"punctuation", "NL91-ABNA-0417-1643-00", RuleCharacters},
		{"tab", "NL91\tABNA0417164300", RuleCharacters},
		{"nbsp", "NL91\u00a0ABNA0417164300", RuleCharacters},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(tt.input)
			var ie *Error
			if !errors.As(err, &ie) {
				t.Fatalf("Parse(%q) error = %v, want *Error", tt.input, err)
			}
			if ie.Rule != tt.rule {
				t.Errorf("rule = %q (%s), want %q", ie.Rule, ie.Detail, tt.rule)
			}
			if strings.Contains(ie.Error(), "ABNA0417") {
				t.Errorf("error repeats the input: %q", ie.Error())
			}
		})
	}
}

// Check digits 00/01/99 are refused even when mod-97 happens to pass:
// build such an IBAN by brute force over account numbers.
func TestCheckDigitRangeEvenWhenChecksumPasses(t *testing.T) {
	t.Parallel()
	for _, cd := range []string{"00", "01", "99"} {
		found := false
		for n := 0; n < 100000 && !found; n++ {
			s := "NL" + cd + "ABNA" + pad10(n)
			if mod97(s) == 1 {
				found = true
				_, err := Parse(s)
				var ie *Error
				if !errors.As(err, &ie) || ie.Rule != RuleCheckDigits {
					t.Errorf("Parse(%s) = %v, want check_digits", s, err)
				}
			}
		}
		if !found {
			t.Fatalf("no mod-97-valid IBAN with check digits %s found", cd)
		}
	}
}

func pad10(n int) string {
	s := itoa(n)
	return strings.Repeat("0", 10-len(s)) + s
}

func TestNormalize(t *testing.T) {
	t.Parallel()
	got, err := Parse("  nl91 abna 0417 1643 00 ")
	if err != nil {
		t.Fatal(err)
	}
	if got.String() != "NL91ABNA0417164300" {
		t.Errorf("got %q", got)
	}
}

func TestMasked(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"NL91ABNA0417164300", "NL91ABNA******4300"},
		{"DE89370400440532013000", "DE8937040044******3000"},
		{"BE68539007547034", "BE68539*****7034"},
		{"NO9386011117947", "NO93860****7947"},
	}
	for _, tt := range tests {
		i, err := Parse(tt.in)
		if err != nil {
			t.Fatal(err)
		}
		if got := i.Masked(); got != tt.want {
			t.Errorf("Masked(%s) = %s, want %s", tt.in, got, tt.want)
		}
		if got := Mask(tt.in); got != tt.want {
			t.Errorf("Mask(%s) = %s, want %s", tt.in, got, tt.want)
		}
	}
	if got := Mask("short"); got != "*****" {
		t.Errorf("Mask(short) = %q", got)
	}
}

func BenchmarkParse(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse("NL91ABNA0417164300"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseWithSpaces(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse("nl91 abna 0417 1643 00"); err != nil {
			b.Fatal(err)
		}
	}
}

// TestFromBBAN: the check digits FromBBAN computes are the published
// ones, and a BBAN of the wrong shape is refused like Parse refuses it.
func TestFromBBAN(t *testing.T) {
	for _, want := range []string{"NL91ABNA0417164300", "DE89370400440532013000", "BE68539007547034", "GB29NWBK60161331926819"} {
		got, err := FromBBAN(want[:2], want[4:])
		if err != nil || got.String() != want {
			t.Errorf("FromBBAN(%s, %s) = %v, %v; want %s", want[:2], want[4:], got, err, want)
		}
	}
	if _, err := FromBBAN("NL", "ABNA04171643"); err == nil {
		t.Error("a Dutch BBAN of the wrong length was accepted")
	}
}
