package strictjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

// FuzzCheckFieldsMatchesTokenWalk holds the byte scanner of checkFields
// to the walk over encoding/json's token stream it replaced: for any
// UTF-8 body, both refuse the same field with the same message, or
// neither refuses one.
func FuzzCheckFieldsMatchesTokenWalk(f *testing.F) {
	for _, s := range []string{
		`{"iban":"NL91ABNA0417164300","category":"phishing"}`,
		`{"iban":"x","iban":"y"}`, `{"ib\u0061n":"x","iban":"y"}`, `{"IBAN":"x"}`, `{"":1}`, `{"a":1,}`, `{"a" 1}`,
		`{"amount":{"value":"1","value":"2"}}`, `{"ibans":["a",1,{"x":1,"x":2}]}`, `[{"a":1,"a":2}]`, `{"iban":-0.5e+3}`,
		`{"iban":01}`, `{"iban":tru}`, `{"iban":"\ud800"}`, `{"iban":"a` + "\x01" + `"}`, `  {"category" :  null , "iban":[]}  `,
		`{"x":{"a":1,"a":2}}`, `{"description":"\"","description":1}`, `{"iban":"\\"}`, `{"ibans":[],"ibans":[]}`,
	} {
		f.Add([]byte(s))
	}
	types := []reflect.Type{reflect.TypeFor[*reportShape](), reflect.TypeFor[*batchShape]()}
	f.Fuzz(func(t *testing.T, body []byte) {
		if !utf8.Valid(body) {
			return
		}
		for _, typ := range types {
			got, want := checkFields(body, typ), tokenWalk(body, typ)
			if (got == nil) != (want == nil) || (got != nil && !cmp.Equal(got.Error(), want.Error())) {
				t.Fatalf("%s on %q: scanner %v, token walk %v", typ, body, got, want)
			}
		}
	})
}

// tokenWalk is checkFields as it was, over json.Decoder.Token.
func tokenWalk(body []byte, t reflect.Type) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	err := walkTokens(dec, t, "")
	var de *Error
	if errors.As(err, &de) {
		return err
	}
	return nil
}

func walkTokens(dec *json.Decoder, t reflect.Type, path string) error {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	switch tok {
	case json.Delim('{'):
		var fields map[string]reflect.Type
		if t != nil && t.Kind() == reflect.Struct {
			fields = jsonFields(t)
		}
		seen := map[string]bool{}
		for dec.More() {
			k, err := dec.Token()
			if err != nil {
				return err
			}
			name, _ := k.(string)
			field := name
			if path != "" {
				field = path + "." + name
			}
			if name == "" {
				field = "body"
			}
			if seen[name] {
				return invalid(field, fmt.Sprintf("field %q appears more than once", name))
			}
			seen[name] = true
			var ft reflect.Type
			if fields != nil {
				var ok bool
				if ft, ok = fields[name]; !ok {
					return invalid(field, fmt.Sprintf("unknown field %q", name))
				}
			} else if t != nil && t.Kind() == reflect.Map {
				ft = t.Elem()
			}
			if err := walkTokens(dec, ft, field); err != nil {
				return err
			}
		}
		_, err = dec.Token()
		return err
	case json.Delim('['):
		var et reflect.Type
		if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
			et = t.Elem()
		}
		for dec.More() {
			if err := walkTokens(dec, et, path); err != nil {
				return err
			}
		}
		_, err = dec.Token()
		return err
	}
	return nil
}

// reportShape and batchShape have the shapes of the API's report and
// batch lookup bodies.
type reportShape struct {
	IBAN       *string `json:"iban"`
	Category   *string `json:"category"`
	OccurredAt *string `json:"occurred_at"`
	Amount     *struct {
		Value    string `json:"value"`
		Currency string `json:"currency"`
	} `json:"amount"`
	Reference   *string `json:"reference"`
	Description *string `json:"description"`
}

type batchShape struct {
	IBANs *[]string `json:"ibans"`
}
