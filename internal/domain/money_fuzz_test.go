package domain

import (
	"math/big"
	"strings"
	"testing"
)

// FuzzAmountsSum: any comma-separated list of values in one of a few
// currencies. Every value NewAmount takes is in its normal form (taking
// it again changes nothing) and is the same number as the input, and the
// sum of those taken, written by AppendValue and by Value, is their exact
// decimal sum (checked with math/big, not with the code under test).
func FuzzAmountsSum(f *testing.F) {
	for _, s := range []string{"249.95,0.05", "1200", "999999999999999.99,999999999999999.99", "0.001,12.5", "00012.10,.5,5.,1e3,-1"} {
		for c := range byte(4) {
			f.Add(c, s)
		}
	}
	currencies := []string{"EUR", "JPY", "BHD", "CLF"}
	f.Fuzz(func(t *testing.T, which byte, list string) {
		cur := currencies[int(which)%len(currencies)]
		digits, _ := MinorDigits(cur)
		scale := new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(digits)), nil))
		var sums Sums
		want := new(big.Rat)
		for _, v := range strings.Split(list, ",") {
			a, err := NewAmount(Amount{Value: v, Currency: cur}, "amount")
			if err != nil {
				continue
			}
			if again, err := NewAmount(a, "amount"); err != nil || again != a {
				t.Fatalf("%q %s taken as %q, which is not its normal form (%q, %v)", v, cur, a.Value, again.Value, err)
			}
			in, ok := new(big.Rat).SetString(v)
			got, _ := new(big.Rat).SetString(a.Value)
			if !ok || got == nil || in.Cmp(got) != 0 || in.Sign() <= 0 {
				t.Fatalf("%q %s taken as %q, another number", v, cur, a.Value)
			}
			if units := new(big.Rat).Mul(in, scale); !units.IsInt() {
				t.Fatalf("%q %s taken with more than %d decimals", v, cur, digits)
			}
			sums.Add(a)
			want.Add(want, in)
		}
		if len(sums) == 0 {
			return
		}
		if w := want.FloatString(digits); sums[0].Value() != w || string(sums[0].AppendValue(nil)) != w {
			t.Fatalf("the sum of %q in %s: Value %s, AppendValue %s, want %s", list, cur, sums[0].Value(), sums[0].AppendValue(nil), w)
		}
	})
}
