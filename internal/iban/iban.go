package iban

import (
	"strconv"
	"strings"
)

// Rule names which ISO 13616 rule an input broke. It is part of the API:
// clients see it in the invalid_iban detail.
type Rule string

const (
	RuleEmpty       Rule = "empty"
	RuleCharacters  Rule = "characters"
	RuleCountry     Rule = "country"
	RuleLength      Rule = "length"
	RuleCheckDigits Rule = "check_digits"
	RuleFormat      Rule = "bban_format"
	RuleChecksum    Rule = "checksum"
)

// Error says why an input is not a valid IBAN. Its message never repeats
// the input, so it is safe to log and to return to any caller.
type Error struct {
	Rule   Rule
	Detail string
}

func (e *Error) Error() string { return "invalid IBAN: " + e.Detail }

// MaxInputLen bounds the raw input accepted before normalisation, so that a
// hostile client cannot make the parser walk megabytes.
const MaxInputLen = 64

// IBAN is a validated, normalised IBAN. The zero value is not valid.
type IBAN struct {
	s       string
	country *country
}

// String returns the normalised electronic form (no spaces, upper case).
func (i IBAN) String() string { return i.s }

// Country returns the ISO 3166 country code.
func (i IBAN) Country() string { return i.s[:2] }

// BankCode returns the national bank identifier (NL: 4 letters, DE: the
// 8-digit BLZ, BE: 3 digits, FR: 5 digits…) as the registry defines it.
func (i IBAN) BankCode() string {
	start := 4 + i.country.bankStart
	return i.s[start : start+i.country.bankLen]
}

// Masked keeps the country, check digits, bank code and the last four
// characters and hides the rest, e.g. NL91ABNA******4300. It is the only
// form of an IBAN that may appear in logs.
func (i IBAN) Masked() string { return mask(i.s, 4+i.country.bankStart+i.country.bankLen) }

// Mask masks any string the way Masked does for an IBAN, for inputs that
// did not validate (they are still logged without their middle).
func Mask(s string) string {
	n := Normalize(s)
	if len(n) > MaxInputLen {
		n = n[:MaxInputLen]
	}
	keep := 4
	if c, ok := registry[prefix2(n)]; ok {
		keep = 4 + c.bankStart + c.bankLen
	}
	return mask(n, keep)
}

func prefix2(s string) string {
	if len(s) < 2 {
		return s
	}
	return s[:2]
}

func mask(s string, keepFront int) string {
	if len(s) <= 8 {
		return strings.Repeat("*", len(s))
	}
	if keepFront > len(s)-8 {
		keepFront = len(s) - 8
	}
	if keepFront < 0 {
		keepFront = 0
	}
	hidden := len(s) - keepFront - 4
	return s[:keepFront] + strings.Repeat("*", hidden) + s[len(s)-4:]
}

// Normalize removes ASCII spaces and upper-cases ASCII letters. It touches
// nothing else: a full-width digit or a Cyrillic letter stays as it is and
// then fails validation, rather than being silently mapped to ASCII.
func Normalize(s string) string {
	clean := true
	for i := 0; i < len(s); i++ {
		if b := s[i]; b == ' ' || (b >= 'a' && b <= 'z') {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ':
			continue
		case c >= 'a' && c <= 'z':
			c -= 'a' - 'A'
		}
		b.WriteByte(c)
	}
	return b.String()
}

// Parse normalises and validates s. The error is an *Error naming the rule
// that failed.
func Parse(s string) (IBAN, error) {
	if len(s) > MaxInputLen {
		return IBAN{}, &Error{RuleLength, "longer than any IBAN (at most 34 characters)"}
	}
	n := Normalize(s)
	if n == "" {
		return IBAN{}, &Error{RuleEmpty, "empty"}
	}
	for i := 0; i < len(n); i++ {
		if !isDigit(n[i]) && !isUpper(n[i]) {
			return IBAN{}, &Error{RuleCharacters, "only ASCII letters, digits and spaces are allowed"}
		}
	}
	if len(n) < 2 || !isUpper(n[0]) || !isUpper(n[1]) {
		return IBAN{}, &Error{RuleCountry, "must start with a two-letter country code"}
	}
	c, ok := registry[n[:2]]
	if !ok {
		return IBAN{}, &Error{RuleCountry, "country code " + n[:2] + " is not in the ISO 13616 IBAN registry"}
	}
	if len(n) != c.length {
		return IBAN{}, &Error{RuleLength, c.code + " IBANs have " + itoa(c.length) + " characters, got " + itoa(len(n))}
	}
	if !isDigit(n[2]) || !isDigit(n[3]) {
		return IBAN{}, &Error{RuleCheckDigits, "check digits (positions 3-4) must be digits"}
	}
	if cd := int(n[2]-'0')*10 + int(n[3]-'0'); cd < 2 || cd > 98 {
		return IBAN{}, &Error{RuleCheckDigits, "check digits must be between 02 and 98"}
	}
	for i, class := range c.classes {
		ch := n[4+i]
		var okc bool
		switch class {
		case 'n':
			okc = isDigit(ch)
		case 'a':
			okc = isUpper(ch)
		default:
			okc = isDigit(ch) || isUpper(ch)
		}
		if !okc {
			return IBAN{}, &Error{RuleFormat, "character " + itoa(5+i) + " must be " + className(class) + " for " + c.code}
		}
	}
	if mod97(n) != 1 {
		return IBAN{}, &Error{RuleChecksum, "mod-97 checksum does not match"}
	}
	return IBAN{s: n, country: c}, nil
}

// Valid reports whether s is a valid IBAN.
func Valid(s string) bool {
	_, err := Parse(s)
	return err == nil
}

// mod97 computes the ISO 7064 MOD 97-10 remainder of the rearranged IBAN
// (BBAN, then country and check digits) with letters as 10..35.
func mod97(n string) int {
	r := 0
	step := func(ch byte) {
		if isDigit(ch) {
			r = (r*10 + int(ch-'0')) % 97
			return
		}
		v := int(ch-'A') + 10
		r = (r*100 + v) % 97
	}
	for i := 4; i < len(n); i++ {
		step(n[i])
	}
	for i := 0; i < 4; i++ {
		step(n[i])
	}
	return r
}

func className(class byte) string {
	switch class {
	case 'n':
		return "a digit"
	case 'a':
		return "an upper-case letter"
	}
	return "a letter or digit"
}

func isDigit(b byte) bool { return b >= '0' && b <= '9' }
func isUpper(b byte) bool { return b >= 'A' && b <= 'Z' }

func itoa(n int) string { return strconv.Itoa(n) }

// FromBBAN builds the IBAN of a country's BBAN, computing its check
// digits (ISO 13616: 98 minus the MOD 97-10 remainder with "00"), and
// validates it like Parse. Load tools and tests use it to make many
// distinct valid IBANs.
func FromBBAN(country, bban string) (IBAN, error) {
	s := Normalize(country + "00" + bban)
	if len(s) < 5 {
		return IBAN{}, &Error{Rule: "length", Detail: "too short"}
	}
	cd := 98 - mod97(s)
	return Parse(s[:2] + string([]byte{byte('0' + cd/10), byte('0' + cd%10)}) + s[4:])
}
