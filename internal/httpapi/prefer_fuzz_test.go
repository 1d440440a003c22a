package httpapi

import (
	"strings"
	"testing"
)

// FuzzPrefer: any Prefer header value is read without panicking;
// "signed" is found as its own preference wherever RFC 7240 puts it, and
// not inside another preference's value.
func FuzzPrefer(f *testing.F) {
	f.Add("signed")
	f.Add("return=minimal, signed; x=1")
	f.Add(";;,,=signed")
	f.Add("wait=10")
	f.Fuzz(func(t *testing.T, v string) {
		if !preferValueSigned(v + ", signed") {
			t.Errorf("%q, signed: not found", v)
		}
		if !strings.Contains(v, ",") && preferValueSigned("respond-async="+v) {
			t.Errorf("respond-async=%q read as signed", v)
		}
	})
}
