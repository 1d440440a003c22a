package httpapi

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/mulegate/mulegate/internal/auth"
	"github.com/mulegate/mulegate/internal/domain"
	"github.com/mulegate/mulegate/internal/iban"
	"github.com/prometheus/client_golang/prometheus"
)

// Fakes of the small interfaces the API takes: the handlers are tested
// here without Redis (cmd/mulegate tests them again over real TLS, a
// real store and the real binary).

type fakeStore struct {
	accepted  []domain.Submission
	acceptErr error
	counts    domain.Counts
	statusErr error
	status    domain.ReportStatus
}

func (f *fakeStore) Accept(_ context.Context, _ string, _ domain.OrgType, _ string, s domain.Submission) (domain.Accepted, error) {
	if f.acceptErr != nil {
		return domain.Accepted{}, f.acceptErr
	}
	f.accepted = append(f.accepted, s)
	return domain.Accepted{ID: strings.Repeat("ab", 16), IBAN: s.IBAN, ReportCount: int64(len(f.accepted))}, nil
}

func (f *fakeStore) ReportStatus(context.Context, string) (domain.ReportStatus, error) {
	return f.status, f.statusErr
}

func (f *fakeStore) ReportStatuses(_ context.Context, ids []string) ([]*domain.ReportStatus, error) {
	out := make([]*domain.ReportStatus, len(ids))
	for n := range out {
		st := f.status
		out[n] = &st
	}
	return out, f.statusErr
}

func (f *fakeStore) Review(context.Context, string, domain.Caller, domain.ReviewRequest) (domain.ReportStatus, bool, error) {
	return f.status, false, f.statusErr
}

func (f *fakeStore) Recover(context.Context, string, domain.Caller, domain.RecoveryStep, domain.RecoveryPolicy) (
	domain.Recovery, domain.ReportStatus, bool, error) {
	return domain.Recovery{}, f.status, false, f.statusErr
}

func (f *fakeStore) Onward(context.Context, domain.Caller, string, domain.ReportStatus, []domain.Transfer, domain.ChainLink) (
	[]domain.Accepted, error) {
	return nil, f.statusErr
}

func (f *fakeStore) HolderOf(iban.IBAN) string { return "" }

func (f *fakeStore) Chain(context.Context, domain.ReportStatus) (string, []domain.ReportStatus, error) {
	return "", nil, f.statusErr
}

func (f *fakeStore) LookupKey(context.Context, domain.IBANKey) (domain.Counts, error) {
	return f.counts, f.statusErr
}

func (f *fakeStore) LookupKeysInto(_ context.Context, _ []domain.IBANKey, out []domain.Counts) error {
	for i := range out {
		out[i] = f.counts
	}
	return f.statusErr
}

func (f *fakeStore) ChangeMarker(context.Context, iban.IBAN, domain.Caller, string, *domain.Marker) (*domain.Marker, error) {
	return nil, nil
}

func (f *fakeStore) Lookups(context.Context, iban.IBAN) ([]domain.OrgLookups, error) { return nil, nil }

func (f *fakeStore) SetHolderStatus(context.Context, iban.IBAN, domain.HolderStatus) error {
	return nil
}

func (f *fakeStore) DeleteHolderStatus(context.Context, iban.IBAN) error { return nil }

func (f *fakeStore) ClearIBAN(context.Context, iban.IBAN, domain.Clear, domain.Risk, string) (int64, error) {
	return 0, nil
}

func (f *fakeStore) WithdrawClear(context.Context, iban.IBAN) (domain.Clear, error) {
	return domain.Clear{}, nil
}

func (f *fakeStore) Lookup(context.Context, iban.IBAN) (domain.Counts, error) {
	return domain.Counts{}, nil
}

func init() { gin.SetMode(gin.TestMode) } // the program sets release mode; tests stay quiet

type allowAll struct{}

func (allowAll) Allow(_ context.Context, _ string, _ domain.RateClass, lim domain.RateLimit, _ int) (domain.RateDecision, error) {
	return domain.RateDecision{Allowed: true, Limit: lim, Remaining: lim.Burst}, nil
}

// tokens are the test's tokens: the token is the org's name.
type tokens map[string]auth.Principal

func (t tokens) VerifyWith(tok string, _ auth.ClientCert) (auth.Principal, error) {
	if p, ok := t[tok]; ok {
		return p, nil
	}
	return auth.Principal{}, &auth.Error{Code: auth.CodeUnauthenticated, Msg: "invalid token"}
}

type nopAudit struct{}

func (nopAudit) Audit(AuditEntry) error { return nil }
func (nopAudit) Healthy() bool          { return true }
func (nopAudit) Refused()               {}

func testAPI(t *testing.T, st *fakeStore) http.Handler {
	t.Helper()
	return NewAPI(testDeps(st))
}

// testDeps are the test API's dependencies over st, for a test to change.
func testDeps(st *fakeStore) Deps {
	principal := func(org string, typ domain.OrgType, scopes auth.Scope) auth.Principal {
		return auth.Principal{Subject: org, Org: auth.Org{ID: org, Type: typ}, Scopes: scopes, Expires: time.Now().Add(time.Hour)}
	}
	return Deps{
		Reports: st, IBANs: st, Limiter: allowAll{}, Audit: nopAudit{},
		Verifier: tokens{
			"bank-a": principal("bank-a", domain.OrgBank, auth.ScopeIBANsRead|auth.ScopeReportsWrite|auth.ScopeReportsRead),
			"reader": principal("reader", domain.OrgBank, auth.ScopeIBANsRead),
		},
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Metrics: NewMetrics(prometheus.NewRegistry()),
		KeyOf:        func(i iban.IBAN) domain.IBANKey { return domain.IBANKey{Pseudonym: i.String()} },
		ValidPurpose: func(string) bool { return true }, MaxBatch: 100, MaxBodyBytes: 16 << 10, MaxBatchBodyBytes: 64 << 10,
		RequestTimeout: time.Second,
	}
}

// TestHandlers: each row is one request and what the client must get
// back; the store is a fake, so a row that must change nothing also
// checks that the store was not asked.
func TestHandlers(t *testing.T) {
	leaf := &x509.Certificate{Raw: []byte("client certificate")}
	const report1 = `{"iban":"NL91ABNA0417164300","category":"phishing"}`
	for _, tc := range []struct {
		name               string
		method, path, body string
		token, ctype, idem string
		noCert             bool
		store              fakeStore
		status             int
		code               string // the problem's code ("" for a success)
		accepted           int    // reports the store took
	}{
		{name: "202/accepted", method: "POST", path: "/v1/reports", body: report1, token: "bank-a", idem: "k1", status: 202, accepted: 1},
		{name: "422/bad checksum", method: "POST", path: "/v1/reports", body: `{"iban":"NL00ABNA0417164300","category":"phishing"}`,
			token: "bank-a", idem: "k1", status: 422, code: "invalid_iban"},
		{name: "400/unknown category", method: "POST", path: "/v1/reports", body: `{"iban":"NL91ABNA0417164300","category":"spam"}`,
			token: "bank-a", idem: "k1", status: 400, code: "invalid_request"},
		{name: "400/repeated field", method: "POST", path: "/v1/reports",
			body: `{"iban":"NL91ABNA0417164300","iban":"DE89370400440532013000","category":"phishing"}`, token: "bank-a", idem: "k1",
			status: 400, code: "invalid_request"},
		{name: "415/not JSON", method: "POST", path: "/v1/reports", body: report1, ctype: "text/plain", token: "bank-a", idem: "k1",
			status: 415, code: "unsupported_media_type"},
		{name: "400/no idempotency key", method: "POST", path: "/v1/reports", body: report1, token: "bank-a", status: 400,
			code: "idempotency_key_required"},
		{name: "422/key reused", method: "POST", path: "/v1/reports", body: report1, token: "bank-a", idem: "k1",
			store: fakeStore{acceptErr: &domain.Error{Code: domain.CodeConflict, Field: "Idempotency-Key", Msg: "reused"}}, status: 422, code: "idempotency_conflict"},
		{name: "503/store down", method: "POST", path: "/v1/reports", body: report1, token: "bank-a", idem: "k1",
			store: fakeStore{acceptErr: domain.Unavailable("accept", io.ErrUnexpectedEOF)}, status: 503, code: "store_unavailable"},
		{name: "401/no certificate", method: "GET", path: "/v1/ibans/NL91ABNA0417164300", token: "bank-a", noCert: true, status: 401,
			code: "unauthenticated"},
		{name: "401/bad token", method: "GET", path: "/v1/ibans/NL91ABNA0417164300", token: "forged", status: 401, code: "unauthenticated"},
		{name: "403/no scope", method: "POST", path: "/v1/reports", body: report1, token: "reader", idem: "k1", status: 403, code: "forbidden"},
		{name: "200/lookup", method: "GET", path: "/v1/ibans/NL91ABNA0417164300", token: "bank-a", store: fakeStore{counts: domain.Counts{ReportCount: 3}},
			status: 200},
		{name: "422/lookup of a bad IBAN", method: "GET", path: "/v1/ibans/NL00ABNA0417164300", token: "bank-a", status: 422, code: "invalid_iban"},
		{name: "404/unknown report", method: "GET", path: "/v1/reports/" + strings.Repeat("cd", 16), token: "bank-a",
			store: fakeStore{statusErr: &domain.Error{Code: domain.CodeNotFound, Msg: "no such report"}}, status: 404, code: "not_found"},
		{name: "404/no route", method: "GET", path: "/v1/nothing", token: "bank-a", status: 404, code: "not_found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := tc.store
			api := testAPI(t, &st)
			req := httptest.NewRequest(tc.method, tc.path, strings.NewReader(tc.body))
			if !tc.noCert {
				req.TLS = &tls.ConnectionState{VerifiedChains: [][]*x509.Certificate{{leaf}}}
			}
			req.Header.Set("Authorization", "Bearer "+tc.token)
			if tc.body != "" {
				ct := tc.ctype
				if ct == "" {
					ct = "application/json"
				}
				req.Header.Set("Content-Type", ct)
			}
			if tc.idem != "" {
				req.Header.Set("Idempotency-Key", tc.idem)
			}
			rec := httptest.NewRecorder()
			api.ServeHTTP(rec, req)
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.status, rec.Body)
			}
			var body map[string]any
			_ = json.Unmarshal(rec.Body.Bytes(), &body)
			if tc.code != "" {
				if ct := rec.Header().Get("Content-Type"); ct != "application/problem+json" || body["code"] != tc.code {
					t.Errorf("problem %s %v, want application/problem+json with code %s", ct, body, tc.code)
				}
			}
			if tc.status == 503 && rec.Header().Get("Retry-After") == "" {
				t.Error("503 without Retry-After")
			}
			if len(st.accepted) != tc.accepted {
				t.Errorf("the store took %d reports, want %d", len(st.accepted), tc.accepted)
			}
			if tc.name == "200/lookup" && body["report_count"] != float64(3) {
				t.Errorf("lookup body %v, want report_count 3", body)
			}
		})
	}
}

func (f *fakeStore) AccessRecord(context.Context, iban.IBAN) (domain.AccessRecord, error) {
	return domain.AccessRecord{}, nil
}
