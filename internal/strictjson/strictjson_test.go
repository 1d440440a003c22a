package strictjson

import (
	"errors"
	"testing"
)

// TestDecodeRefusesWhatParsersReadDifferently: every refusal names the
// field a client has to fix, and a body with one meaning decodes.
func TestDecodeRefusesWhatParsersReadDifferently(t *testing.T) {
	for _, tc := range []struct {
		name, body, field, msg string
	}{
		{"ok", `{"iban":"NL91","amount":{"value":"1","currency":"EUR"}}`, "", ""},
		{"repeated", `{"iban":"a","iban":"b"}`, "iban", `field "iban" appears more than once`},
		{"repeated when unescaped", `{"ib\u0061n":"a","iban":"b"}`, "iban", `field "iban" appears more than once`},
		{"case variant", `{"IBAN":"a"}`, "IBAN", `unknown field "IBAN"`},
		{"unknown nested", `{"amount":{"value":"1","cents":2}}`, "amount.cents", `unknown field "cents"`},
		{"repeated nested", `{"amount":{"value":"1","value":"2"}}`, "amount.value", `field "value" appears more than once`},
		{"wrong type", `{"iban":12}`, "iban", "iban must be a string"},
		{"trailing data", `{}{}`, "body", "the request body must be a single JSON object"},
		{"not UTF-8", "{\"iban\":\"\xff\"}", "body", "the request body is not valid UTF-8"},
		{"empty", "  ", "body", "the request body is empty"},
		{"syntax", `{"iban":}`, "body", "malformed JSON at byte 9"},
		{"not an object", `[]`, "body", "the request body must be a JSON object"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var dst reportShape
			err := Decode([]byte(tc.body), &dst)
			if tc.field == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) || e.Field != tc.field || e.Msg != tc.msg {
				t.Errorf("got %v, want %s: %s", err, tc.field, tc.msg)
			}
		})
	}
}
