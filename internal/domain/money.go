package domain

import (
	"math/big"
	"math/bits"
	"slices"
	"strconv"
	"strings"
)

// Money amounts (SPEC Part 3): {"value":"249.95","currency":"EUR"}, the
// currency an ISO 4217 code, the value a positive decimal string with at
// most the currency's minor digits and at most 15 digits before the
// point. Values are kept as normalised strings and summed in minor units,
// exactly: no floating point anywhere.

// minorDigits are the ISO 4217 currencies (funds codes included, precious
// metals and test codes left out) that have other than two minor digits.
var minorDigits = map[string]int{
	"BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0, "PYG": 0, "RWF": 0,
	"UGX": 0, "UYI": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0, "XPF": 0,
	"BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
	"CLF": 4, "UYW": 4,
}

// twoDigits are the ISO 4217 currencies with two minor digits.
var twoDigits = strings.Fields(`AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BOV BRL
	BSD BTN BWP BYN BZD CAD CDF CHE CHF CHW CNY COP COU CRC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR FJD FKP
	GBP GEL GHS GIP GMD GTQ GYD HKD HNL HTG HUF IDR ILS INR IRR JMD KES KGS KHR KPW KYD KZT LAK LBP LKR LRD
	LSL MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD PAB PEN PGK PHP
	PKR PLN QAR RON RSD RUB SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TOP TRY
	TTD TWD TZS UAH USD USN UYU UZS VED VES WST XCD XCG YER ZAR ZMW ZWG`)

func init() {
	for _, c := range twoDigits {
		minorDigits[c] = 2
	}
}

// MinorDigits are a currency's minor digits; false for a code that is
// not an ISO 4217 currency.
func MinorDigits(currency string) (int, bool) {
	d, ok := minorDigits[currency]
	return d, ok
}

// maxIntDigits bounds the digits before the point.
const maxIntDigits = 15

// NewAmount validates an amount and normalises its value: no leading
// zeros, exactly the currency's minor digits ("249.9" EUR is "249.90").
// field names the amount in errors ("amount").
func NewAmount(a Amount, field string) (Amount, error) {
	digits, ok := MinorDigits(a.Currency)
	if !ok {
		return Amount{}, Invalid(field+".currency", field+".currency must be an ISO 4217 currency code like \"EUR\"")
	}
	units, err := parseMinor(a.Value, digits)
	if err != nil || units == 0 {
		return Amount{}, Invalid(field+".value", field+".value must be a positive decimal string like \"249.95\" with at most "+
			strconv.Itoa(digits)+" decimals for "+a.Currency+" and at most 15 digits before the point")
	}
	return Amount{Value: formatMinor(units, digits), Currency: a.Currency}, nil
}

// parseMinor reads a decimal string into minor units.
func parseMinor(v string, digits int) (uint64, error) {
	whole, frac, dot := strings.Cut(v, ".")
	if whole == "" || len(whole) > maxIntDigits || (dot && (frac == "" || len(frac) > digits)) || !allDigits(whole) || !allDigits(frac) {
		return 0, errAmount
	}
	frac += strings.Repeat("0", digits-len(frac))
	return strconv.ParseUint(whole+frac, 10, 64) // at most 15+4 digits: fits
}

var errAmount = Invalid("amount", "malformed amount")

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// formatMinor writes minor units with exactly digits decimals.
func formatMinor(units uint64, digits int) string {
	s := strconv.FormatUint(units, 10)
	if digits == 0 {
		return s
	}
	if len(s) <= digits {
		s = strings.Repeat("0", digits-len(s)+1) + s
	}
	return s[:len(s)-digits] + "." + s[len(s)-digits:]
}

// Minor is a valid amount in minor units (0 for one that does not parse).
func (a Amount) Minor() uint64 {
	d, ok := MinorDigits(a.Currency)
	if !ok {
		return 0
	}
	u, err := parseMinor(a.Value, d)
	if err != nil {
		return 0
	}
	return u
}

// Sums are exact sums of amounts per currency, in currency order. A sum
// is 128 bits wide: no count of amounts overflows it.
type Sums []CurrencySum

// CurrencySum is one currency's sum in minor units.
type CurrencySum struct {
	Currency string
	hi, lo   uint64
}

// Add adds a to its currency's sum; an amount that is not valid (stored
// before Part 3's rule) is left out.
func (s *Sums) Add(a Amount) {
	u := a.Minor()
	if u == 0 {
		return
	}
	i, found := slices.BinarySearchFunc(*s, a.Currency, func(c CurrencySum, cur string) int { return strings.Compare(c.Currency, cur) })
	if !found {
		*s = slices.Insert(*s, i, CurrencySum{Currency: a.Currency})
	}
	c := &(*s)[i]
	var carry uint64
	c.lo, carry = bits.Add64(c.lo, u, 0)
	c.hi += carry
}

// AppendValue appends Value, without allocating for a sum below 2^64
// minor units (a lookup renders several).
func (c CurrencySum) AppendValue(b []byte) []byte {
	if c.hi != 0 {
		return append(b, c.Value()...)
	}
	d, _ := MinorDigits(c.Currency)
	start := len(b)
	b = strconv.AppendUint(b, c.lo, 10)
	if d == 0 {
		return b
	}
	if pad := d + 1 - (len(b) - start); pad > 0 { // at least one digit before the point
		b = append(b, make([]byte, pad)...)
		copy(b[start+pad:], b[start:len(b)-pad])
		for i := range pad {
			b[start+i] = '0'
		}
	}
	b = append(b, 0)
	copy(b[len(b)-d:], b[len(b)-d-1:len(b)-1])
	b[len(b)-d-1] = '.'
	return b
}

// Value is the sum as a decimal string with the currency's minor digits.
func (c CurrencySum) Value() string {
	d, _ := MinorDigits(c.Currency)
	if c.hi == 0 {
		return formatMinor(c.lo, d)
	}
	n := new(big.Int).Lsh(new(big.Int).SetUint64(c.hi), 64)
	n.Or(n, new(big.Int).SetUint64(c.lo))
	s := n.String()
	if d == 0 {
		return s
	}
	return s[:len(s)-d] + "." + s[len(s)-d:]
}

// Less compares amounts of one currency.
func (a Amount) Less(b Amount) bool { return a.Minor() < b.Minor() }
