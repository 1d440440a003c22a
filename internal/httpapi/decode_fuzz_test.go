package httpapi

import (
	"errors"
	"testing"
	"time"

	"github.com/mulegate/mulegate/internal/domain"
)

// FuzzDecodeReport drives the report body decoder and validation with
// arbitrary bytes: it must never panic, and every failure must be a domain
// error that names a field, so the client learns what to fix.
func FuzzDecodeReport(f *testing.F) {
	for _, s := range []string{
		`{"iban":"NL91ABNA0417164300","category":"phishing"}`,
		`{"iban":"NL91 ABNA 0417 1643 00","category":"marketplace_fraud","occurred_at":"2026-01-02T03:04:05Z","amount":{"value":"249.95","currency":"EUR"},"reference":"r","description":"d"}`,
		`{"iban":12}`, `{"colour":"red"}`, `{`, `[]`, `null`, `{"amount":{"value":1}}`, `{}{}`,
		`{"iban":"NL91ABNA0417164300","iban":"DE89370400440532013000","category":"phishing"}`,
		`{"IBAN":"NL91ABNA0417164300","category":"phishing"}`, `{"":1}`,
		"{\"iban\":\"NL91ABNA0417164300\",\"category\":\"phishing\",\"description\":\"\xff\"}",
		`{"iban":"NL91ABNA0417164300","category":"phishing","amount":{"value":"1","value":"2","currency":"EUR"}}`,
	} {
		f.Add([]byte(s))
	}
	now := time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, body []byte) {
		var req reportRequest
		err := decodeJSON(body, &req)
		if err == nil {
			_, err = req.submission(now, 30*time.Second)
		}
		if err == nil {
			return
		}
		var de *domain.Error
		if !errors.As(err, &de) || de.Field == "" {
			t.Fatalf("error %v is not a domain error naming a field", err)
		}
		if de.Code != domain.CodeInvalid && de.Code != domain.CodeInvalidIBAN {
			t.Fatalf("unexpected code %s", de.Code)
		}
	})
}

// FuzzDecodeBatch does the same for the batch lookup body.
func FuzzDecodeBatch(f *testing.F) {
	for _, s := range []string{`{"ibans":["NL91ABNA0417164300"]}`, `{"ibans":[1]}`, `{"ibans":null}`, `{"x":1}`, `{"ibans":"NL"}`,
		`{"ibans":[],"ibans":["NL91ABNA0417164300"]}`, `{"IBANS":["NL91ABNA0417164300"]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		_, err := decodeBatchJSON(body)
		if err == nil {
			return
		}
		var de *domain.Error
		if !errors.As(err, &de) || de.Field == "" || de.Code != domain.CodeInvalid {
			t.Fatalf("error %v is not an invalid_request naming a field", err)
		}
	})
}

func TestProblemForHidesInternals(t *testing.T) {
	t.Parallel()
	status, code, detail := problemFor(domain.Unavailable("store: lookup", errors.New("dial tcp 10.1.2.3:6379: connection refused")))
	if status != 503 || code != "store_unavailable" || detail == "" {
		t.Fatalf("got %d %s %q", status, code, detail)
	}
	for _, err := range []error{errors.New("secret internal 10.1.2.3"), domain.Internal("x", errors.New("10.1.2.3"))} {
		status, code, detail := problemFor(err)
		if status != 500 || code != "internal" || detail != "internal error; quote the request id when reporting it" {
			t.Fatalf("got %d %s %q", status, code, detail)
		}
	}
}
