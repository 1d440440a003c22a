package httpapi

import (
	"errors"
	"testing"
	"time"

	"github.com/mulegate/mulegate/internal/domain"
	"github.com/mulegate/mulegate/internal/iban"
)

// part3Bodies are the Part 3 request bodies, each read as its handler
// reads it (decodeJSON, then the domain's constructor); the fuzz input's
// first byte picks one.
var part3Bodies = []struct {
	name   string
	decode func(body []byte, now time.Time) ([]domain.Amount, error)
}{
	{"recovery", func(b []byte, _ time.Time) ([]domain.Amount, error) {
		var r recoveryRequestBody
		if err := decodeJSON(b, &r); err != nil {
			return nil, err
		}
		s, err := domain.NewRecoveryRequest(r.Amount, deref(r.Details), r.Payment, deref(r.ReturnTo))
		if err == nil && s.ReturnTo != "" {
			if i, perr := iban.Parse(s.ReturnTo); perr != nil || i.String() != s.ReturnTo {
				return nil, errors.New("return_to not kept in its normal form: " + s.ReturnTo)
			}
		}
		return []domain.Amount{s.Amount}, err
	}},
	{"hold", func(b []byte, _ time.Time) ([]domain.Amount, error) {
		var r recoveryHoldBody
		if err := decodeJSON(b, &r); err != nil {
			return nil, err
		}
		s, err := domain.NewRecoveryHold(r.Amount)
		return []domain.Amount{s.Amount}, err
	}},
	{"return", func(b []byte, _ time.Time) ([]domain.Amount, error) {
		var r recoveryReturnBody
		if err := decodeJSON(b, &r); err != nil {
			return nil, err
		}
		s, err := domain.NewRecoveryReturn(r.Amount, deref(r.Reference))
		return []domain.Amount{s.Amount}, err
	}},
	{"reject", func(b []byte, _ time.Time) ([]domain.Amount, error) {
		var r recoveryRejectBody
		if err := decodeJSON(b, &r); err != nil {
			return nil, err
		}
		_, err := domain.NewRecoveryReject(deref(r.Reason), deref(r.Details))
		return nil, err
	}},
	{"onward", func(b []byte, now time.Time) ([]domain.Amount, error) {
		var r onwardBody
		if err := decodeJSON(b, &r); err != nil {
			return nil, err
		}
		if r.Transfers == nil {
			return nil, domain.Invalid("transfers", "transfers is required")
		}
		own, _ := iban.Parse("NL91ABNA0417164300")
		ts, err := domain.NewTransfers(*r.Transfers, own, now, 30*time.Second, domain.ChainPolicy{MaxHops: 5, MaxTransfers: 50})
		var out []domain.Amount
		for _, t := range ts {
			if t.IBAN == own || t.At.After(now.Add(30*time.Second)) {
				return nil, errors.New("a transfer the rules refuse was taken: " + t.IBAN.String())
			}
			out = append(out, t.Amount)
		}
		return out, err
	}},
	{"clear", func(b []byte, now time.Time) ([]domain.Amount, error) {
		var r clearRequest
		if err := decodeJSON(b, &r); err != nil {
			return nil, err
		}
		_, err := domain.NewClear(r.Reason, r.Details, "police-nl", now)
		return nil, err
	}},
	{"status", func(b []byte, now time.Time) ([]domain.Amount, error) {
		var r statusRequest
		if err := decodeJSON(b, &r); err != nil {
			return nil, err
		}
		_, err := domain.NewHolderStatus(r.Status, r.Details, now)
		return nil, err
	}},
	{"marker", func(b []byte, now time.Time) ([]domain.Amount, error) {
		var r markerRequest
		if err := decodeJSON(b, &r); err != nil {
			return nil, err
		}
		_, err := r.marker(domain.Caller{Org: "police-nl", Type: domain.OrgPolice}, now)
		return nil, err
	}},
}

// FuzzDecodePart3 drives the Part 3 bodies (recovery and its steps,
// onward transfers, clear, holder status, marker) with arbitrary bytes:
// none may panic, every refusal is a 400/422 domain error naming the
// field to fix, and every amount taken is in its normal form (so that
// "the same body" compares normalised amounts, Precise point 2).
func FuzzDecodePart3(f *testing.F) {
	for n, s := range []string{
		`{"amount":{"value":"100","currency":"EUR"},"details":"d","payment":{"end_to_end_id":"e2e","uetr":"u","value_date":"2026-12-01"},"return_to":"DE89 3704 0044 0532 0130 00"}`,
		`{"amount":{"value":"60.5","currency":"EUR"}}`,
		`{"amount":{"value":"1000","currency":"JPY"},"reference":"ref-1"}`,
		`{"reason":"no_funds","details":"empty"}`,
		`{"transfers":[{"iban":"DE89370400440532013000","amount":{"value":"5","currency":"EUR"},"at":"2026-01-01T00:00:00Z"}]}`,
		`{"reason":"court_ruling","details":"case 1"}`,
		`{"status":"collection_account","details":"psp"}`,
		`{"fraud_type":"mule_account"}`,
		`{"amount":{"value":"0.001","currency":"KWD"}}`, `{"amount":{"value":"00012.10","currency":"EUR"}}`,
		`{"transfers":[]}`, `{"transfers":null}`, `{"amount":null}`, `{"amount":{"value":1e3,"currency":"EUR"}}`,
	} {
		f.Add(byte(n), []byte(s))
	}
	now := time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, kind byte, body []byte) {
		b := part3Bodies[int(kind)%len(part3Bodies)]
		amounts, err := b.decode(body, now)
		if err != nil {
			var de *domain.Error
			if !errors.As(err, &de) || de.Field == "" || (de.Code != domain.CodeInvalid && de.Code != domain.CodeInvalidIBAN) {
				t.Fatalf("%s: error %v is not an invalid_request/invalid_iban naming a field", b.name, err)
			}
			return
		}
		for _, a := range amounts {
			again, err := domain.NewAmount(a, "amount")
			if err != nil || again != a {
				t.Fatalf("%s: amount %+v taken but not in its normal form (%+v, %v)", b.name, a, again, err)
			}
		}
	})
}
