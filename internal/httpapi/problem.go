package httpapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"
	"github.com/mulegate/mulegate/internal/auth"
	"github.com/mulegate/mulegate/internal/domain"
)

// Problem is an RFC 9457 problem details body. Code is mulegate's stable
// snake_case identifier; Instance is the request id.
type Problem struct {
	Type     string `json:"type"`
	Title    string `json:"title"`
	Status   int    `json:"status"`
	Detail   string `json:"detail"`
	Instance string `json:"instance"`
	Code     string `json:"code"`
}

// apiError is an error that already knows its HTTP answer.
type apiError struct {
	status int
	code   string
	detail string
}

func (e *apiError) Error() string { return e.code + ": " + e.detail }

func newAPIError(status int, code, detail string) *apiError {
	return &apiError{status: status, code: code, detail: detail}
}

// domainStatus maps domain error codes to HTTP statuses and problem codes.
var domainStatus = map[domain.Code]struct {
	status int
	code   string
}{
	domain.CodeInvalid:      {http.StatusBadRequest, "invalid_request"},
	domain.CodeInvalidIBAN:  {http.StatusUnprocessableEntity, "invalid_iban"},
	domain.CodeNotFound:     {http.StatusNotFound, "not_found"},
	domain.CodeConflict:     {http.StatusUnprocessableEntity, "idempotency_conflict"},
	domain.CodeUnavailable:  {http.StatusServiceUnavailable, "store_unavailable"},
	domain.CodeUnroutable:   {http.StatusUnprocessableEntity, "unroutable_iban"},
	domain.CodeInternal:     {http.StatusInternalServerError, "internal"},
	domain.CodeForbidden:    {http.StatusForbidden, "forbidden"},
	domain.CodeInvalidState: {http.StatusConflict, "invalid_state"},
}

var titles = map[string]string{
	"invalid_request":          "The request is invalid",
	"invalid_iban":             "The IBAN is invalid",
	"not_found":                "Not found",
	"idempotency_conflict":     "Idempotency-Key reused with a different request",
	"idempotency_key_required": "Idempotency-Key header required",
	"store_unavailable":        "The report store is unavailable",
	"unroutable_iban":          "No bank is registered for this IBAN",
	"internal":                 "Internal error",
	"unauthenticated":          "Authentication required",
	"token_expired":            "The token has expired",
	"token_not_bound":          "The token is not bound to this client certificate",
	"forbidden":                "Forbidden",
	"unsupported_media_type":   "Unsupported media type",
	"payload_too_large":        "Payload too large",
	"method_not_allowed":       "Method not allowed",
	"rate_limited":             "Too many requests",
	"invalid_state":            "Not allowed in the report's current state",
}

// problemFor turns any error into its HTTP answer. Unknown errors are 500
// and say nothing about their cause.
func problemFor(err error) (status int, code, detail string) {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae.status, ae.code, ae.detail
	}
	var authErr *auth.Error
	if errors.As(err, &authErr) {
		return http.StatusUnauthorized, authErr.Code, authErr.Msg
	}
	var de *domain.Error
	if errors.As(err, &de) {
		m, ok := domainStatus[de.Code]
		if !ok { // an unknown code is a bug: answer as internal
			m = domainStatus[domain.CodeInternal]
		}
		if m.code == "internal" {
			return m.status, m.code, internalDetail // the message may hold the cause
		}
		return m.status, m.code, de.Msg
	}
	return http.StatusInternalServerError, "internal", internalDetail
}

const internalDetail = "internal error; quote the request id when reporting it"

// writeProblem is the only place an error becomes an HTTP answer. A 5xx
// logs its cause (which may hold internal detail) and tells the client
// nothing internal.
func writeProblem(c *gin.Context, err error) {
	status, code, detail := problemFor(err)
	rid := requestID(c)
	if status >= 500 {
		logger(c).Error("request failed", "code", code, "err", err.Error())
	}
	switch status {
	case http.StatusUnauthorized:
		v := `Bearer realm="mulegate"`
		if code != "unauthenticated" || c.GetHeader("Authorization") != "" {
			v += `, error="invalid_token"`
		}
		c.Header("WWW-Authenticate", v)
	case http.StatusServiceUnavailable, http.StatusTooManyRequests:
		if c.Writer.Header().Get("Retry-After") == "" {
			c.Header("Retry-After", strconv.Itoa(1))
		}
	}
	title := titles[code]
	if title == "" {
		title = http.StatusText(status)
	}
	body, _ := json.Marshal(Problem{
		Type: "urn:mulegate:problem:" + code, Title: title, Status: status,
		Detail: detail, Instance: "urn:request:" + rid, Code: code,
	})
	stateOf(c).problem = code
	c.Data(status, "application/problem+json", body)
	c.Abort()
}
