package httpapi

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/google/go-cmp/cmp"
	"github.com/mulegate/mulegate/internal/auth"
	"github.com/mulegate/mulegate/internal/domain"
)

// TestProblemFor documents how every kind of error becomes an answer: the
// status, the stable code, the title and the detail a client sees, and
// that a 5xx never shows its cause.
func TestProblemFor(t *testing.T) {
	t.Parallel()
	const secret = "dial tcp 10.1.2.3:6379: connection refused"
	internalDetail := "internal error; quote the request id when reporting it"
	for _, tc := range []struct {
		name string
		err  error
		want Problem
	}{
		{"400/invalid", domain.Invalid("iban", "iban is required"),
			Problem{Status: 400, Code: "invalid_request", Title: "The request is invalid", Detail: "iban is required"}},
		{"422/invalid iban", &domain.Error{Code: domain.CodeInvalidIBAN, Field: "iban", Msg: "checksum: mod-97 is 3"},
			Problem{Status: 422, Code: "invalid_iban", Title: "The IBAN is invalid", Detail: "checksum: mod-97 is 3"}},
		{"404/not found", &domain.Error{Code: domain.CodeNotFound, Msg: "no such report"},
			Problem{Status: 404, Code: "not_found", Title: "Not found", Detail: "no such report"}},
		{"422/conflict", &domain.Error{Code: domain.CodeConflict, Msg: "reused"},
			Problem{Status: 422, Code: "idempotency_conflict", Title: "Idempotency-Key reused with a different request", Detail: "reused"}},
		{"422/unroutable", &domain.Error{Code: domain.CodeUnroutable, Msg: "no bank"},
			Problem{Status: 422, Code: "unroutable_iban", Title: "No bank is registered for this IBAN", Detail: "no bank"}},
		{"503/unavailable", domain.Unavailable("store: lookup", errors.New(secret)),
			Problem{Status: 503, Code: "store_unavailable", Title: "The report store is unavailable", Detail: "the report store is unavailable, retry later"}},
		{"500/internal", domain.Internal("store: script", errors.New(secret)),
			Problem{Status: 500, Code: "internal", Title: "Internal error", Detail: internalDetail}},
		{"500/unknown domain code", &domain.Error{Code: "mystery", Msg: secret},
			Problem{Status: 500, Code: "internal", Title: "Internal error", Detail: internalDetail}},
		{"500/plain error", errors.New(secret),
			Problem{Status: 500, Code: "internal", Title: "Internal error", Detail: internalDetail}},
		{"500/wrapped plain error", fmt.Errorf("lookup: %w", errors.New(secret)),
			Problem{Status: 500, Code: "internal", Title: "Internal error", Detail: internalDetail}},
		{"401/auth", &auth.Error{Code: auth.CodeTokenExpired, Msg: "the token has expired"},
			Problem{Status: 401, Code: "token_expired", Title: "The token has expired", Detail: "the token has expired"}},
		{"415/api error", newAPIError(http.StatusUnsupportedMediaType, "unsupported_media_type", "Content-Type must be application/json"),
			Problem{Status: 415, Code: "unsupported_media_type", Title: "Unsupported media type", Detail: "Content-Type must be application/json"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := httptest.NewRecorder()
			c, _ := gin.CreateTestContext(w)
			c.Request = httptest.NewRequest("GET", "/v1/x", nil)
			stateOf(c).id = "rid-1"
			writeProblem(c, tc.err)
			var got Problem
			if err := decodeJSON(w.Body.Bytes(), &got); err != nil {
				t.Fatal(err)
			}
			tc.want.Type = "urn:mulegate:problem:" + tc.want.Code
			tc.want.Instance = "urn:request:rid-1"
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("problem (-want +got):\n%s", diff)
			}
			if w.Code != tc.want.Status || w.Header().Get("Content-Type") != "application/problem+json" {
				t.Errorf("status %d, Content-Type %q", w.Code, w.Header().Get("Content-Type"))
			}
			if strings.Contains(w.Body.String(), "10.1.2.3") {
				t.Errorf("the answer leaks the cause: %s", w.Body.String())
			}
			if tc.want.Status == 503 && w.Header().Get("Retry-After") != "1" {
				t.Error("503 without Retry-After")
			}
			if tc.want.Status == 401 && !strings.HasPrefix(w.Header().Get("WWW-Authenticate"), "Bearer") {
				t.Error("401 without WWW-Authenticate: Bearer")
			}
		})
	}
}
