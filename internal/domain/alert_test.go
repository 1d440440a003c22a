package domain

import (
	"errors"
	"testing"
	"time"

	"github.com/mulegate/mulegate/internal/iban"
)

func TestRouter(t *testing.T) {
	t.Parallel()
	r := NewRouter(map[string]map[string][]string{
		"bank-nl": {"NL": {"ABNA"}},
		"bank-de": {"DE": {"37040044"}},
		"bank-be": {"BE": {"539"}},
		"bank-fr": {"FR": {"20041"}},
		"bank-ch": {"CH": {"00762"}}, // non-euro SEPA
		"bank-gb": {"GB": {"nwbk"}},  // case-insensitive config
	})
	for _, tt := range []struct{ iban, want string }{
		{"NL91ABNA0417164300", "bank-nl"},
		{"DE89370400440532013000", "bank-de"},
		{"BE68539007547034", "bank-be"},
		{"FR1420041010050500013M02606", "bank-fr"},
		{"CH9300762011623852957", "bank-ch"},
		{"GB29NWBK60161331926819", "bank-gb"},
		{"IT60X0542811101000000123456", ""},
	} {
		i, err := iban.Parse(tt.iban)
		if err != nil {
			t.Fatal(err)
		}
		got, err := r.Route(i)
		if tt.want == "" {
			if ErrorCode(err) != CodeUnroutable {
				t.Errorf("%s: %q, %v; want unroutable", tt.iban, got, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%s routed to %q (%v), want %q", tt.iban, got, err, tt.want)
		}
	}
}

func TestNewAlertSubmission(t *testing.T) {
	t.Parallel()
	now := time.Now()
	past, future := now.Add(-time.Minute), now.Add(time.Hour)
	for _, tt := range []struct {
		name                string
		iban, sev, msg, ref string
		exp                 *time.Time
		code                Code
		field               string
	}{
		{"ok", "NL91ABNA0417164300", "critical", "freeze", "case-1", &future, "", ""},
		{"bad severity", "NL91ABNA0417164300", "urgent", "m", "r", nil, CodeInvalid, "severity"},
		{"no message", "NL91ABNA0417164300", "info", " ", "r", nil, CodeInvalid, "message"},
		{"no reference", "NL91ABNA0417164300", "info", "m", "", nil, CodeInvalid, "reference"},
		{"expired", "NL91ABNA0417164300", "info", "m", "r", &past, CodeInvalid, "expires_at"},
		{"bad iban", "NL00ABNA0417164300", "info", "m", "r", nil, CodeInvalidIBAN, "iban"},
	} {
		_, err := NewAlertSubmission(tt.iban, tt.sev, tt.msg, tt.ref, tt.exp, now)
		if tt.code == "" {
			if err != nil {
				t.Errorf("%s: %v", tt.name, err)
			}
			continue
		}
		var de *Error
		ok := errors.As(err, &de)
		if !ok || de.Code != tt.code || de.Field != tt.field {
			t.Errorf("%s: %v, want %s on %s", tt.name, err, tt.code, tt.field)
		}
	}
}
