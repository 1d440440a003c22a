package jsonw

import (
	"encoding/json"
	"testing"
)

// FuzzAppendString: AppendString writes exactly what encoding/json
// writes for any string (seeds in testdata/fuzz/FuzzAppendString).
func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "plain", "count>=5", `a"b\c`, "<script>&", "tab\there\nnew\rline\b\f\x00\x1f\x7f", "é ü €", "\u2028\u2029", "\xff\xfe bad"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, err := json.Marshal(s)
		if err != nil {
			t.Skip()
		}
		if got := AppendString([]byte("x"), s); string(got) != "x"+string(want) {
			t.Fatalf("AppendString(%q) = %s, encoding/json writes %s", s, got[1:], want)
		}
	})
}

func TestAppendStrings(t *testing.T) {
	ss := []string{"count>=5", "marker", `q"`}
	want, _ := json.Marshal(ss)
	if got := AppendStrings(nil, ss); string(got) != string(want) {
		t.Fatalf("AppendStrings = %s, want %s", got, want)
	}
}
