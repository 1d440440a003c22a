package httpapi

import (
	"errors"
	"slices"
	"testing"

	"github.com/mulegate/mulegate/internal/domain"
)

// batchBodies are bodies a bank sends and bodies it should not: the fast
// path takes the first group, and must leave the second to strictjson.
var batchBodies = struct{ taken, left []string }{
	taken: []string{
		`{"ibans":["NL91ABNA0417164300"]}`,
		` { "ibans" : [ "NL91ABNA0417164300" , "DE89370400440532013000" ] } ` + "\n",
		"{\r\n\t\"ibans\":\r\n\t[\r\n\t\t\"NL91ABNA0417164300\",\r\n\t\t\"x\"\r\n\t]\r\n}",
		`{"ibans":[]}`,
		`{"ibans":[""]}`,
		`{"ibans":["NL91 ABNA 0417 1643 00","nl91abna0417164300"]}`,
	},
	left: []string{
		`{"ibans":null}`,
		`{"ibans":["NL91ABNA0417164300"],"x":1}`,
		`{"ibans":[],"ibans":["NL91ABNA0417164300"]}`,
		`{"IBANS":["NL91ABNA0417164300"]}`,
		`{"ibans":["NL91\u0041BNA0417164300"]}`,
		`{"ibans":["NL91ABNA0417164300",]}`,
		`{"ibans":["NL91ABNA0417164300" "DE89370400440532013000"]}`,
		`{"ibans":["NL91ABNA0417164300",,"DE89370400440532013000"]}`,
		`{"ibans":[,"NL91ABNA0417164300"]}`,
		`{"ibans":["NL91ABNA0417164300"]}x`,
		`{"ibans":["NL91ABNA0417164300"]`,
		`{"ibans":["NL91ABNA04171643é"]}`,
		`{"ibans":[1]}`,
		`{"ibans":"NL91ABNA0417164300"}`,
		`["NL91ABNA0417164300"]`,
		"{\"ibans\":[\"NL91ABNA0417164300\"]}\x00",
		"\xef\xbb\xbf{\"ibans\":[\"NL91ABNA0417164300\"]}",
		"{\"ibans\":[\"NL91ABNA\t0417164300\"]}",
		``,
	},
}

// TestBatchFastPath: the bodies the fast path takes read as strictjson
// reads them; the others are left to strictjson, which answers them as
// before (a list, or a 400 naming the field).
func TestBatchFastPath(t *testing.T) {
	t.Parallel()
	for _, body := range batchBodies.taken {
		list, ok := fastIBANList([]byte(body))
		if !ok {
			t.Errorf("%q: not taken", body)
			continue
		}
		var req batchRequest
		if err := decodeJSON([]byte(body), &req); err != nil || req.IBANs == nil || !slices.Equal(*req.IBANs, list) {
			t.Errorf("%q: fast path %q, strictjson %v (%v)", body, list, req.IBANs, err)
		}
	}
	for _, body := range batchBodies.left {
		if list, ok := fastIBANList([]byte(body)); ok {
			t.Errorf("%q: taken as %q", body, list)
		}
	}
	_, err := decodeBatchJSON([]byte(`{"ibans":["NL91ABNA0417164300"],"ibans":[]}`))
	var de *domain.Error
	if !errors.As(err, &de) || de.Field != "ibans" {
		t.Fatalf("a repeated ibans field: %v", err)
	}
	req, err := decodeBatchJSON([]byte(`{"ibans":["NL91\u0041BNA0417164300"]}`))
	if err != nil || req.IBANs == nil || !slices.Equal(*req.IBANs, []string{"NL91ABNA0417164300"}) {
		t.Fatalf("escaped IBAN: %v %v", req.IBANs, err)
	}
}

// FuzzBatchFastPath: whatever the body, the fast path either leaves it
// alone or reads it exactly as strictjson does.
func FuzzBatchFastPath(f *testing.F) {
	for _, s := range append(batchBodies.taken, batchBodies.left...) {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		list, ok := fastIBANList(body)
		if !ok {
			return
		}
		var req batchRequest
		if err := decodeJSON(body, &req); err != nil || req.IBANs == nil || !slices.Equal(*req.IBANs, list) {
			t.Fatalf("%q: fast path %q, strictjson %v (%v)", body, list, req.IBANs, err)
		}
	})
}
