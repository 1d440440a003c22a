package httpapi

import (
	"log/slog"

	"github.com/gin-gonic/gin"
	"github.com/mulegate/mulegate/internal/auth"
	"github.com/mulegate/mulegate/internal/domain"
	"github.com/mulegate/mulegate/internal/iban"
)

// stateKey is the gin key of a request's state: a type of no size, so
// finding it hashes nothing.
type stateKey struct{}

// reqState is what the middleware and handlers of one request leave for
// one another (request-scoped values, never dependencies). It is kept
// under one gin key rather than one key per value: gin's map of keys
// would otherwise take a dozen entries per request and grow past its
// first eight.
type reqState struct {
	id        string
	log       *slog.Logger // the server's; logger(c) adds the request id
	reqLog    *slog.Logger // logger(c)'s, made when first asked for
	cert      *auth.ClientCert
	principal auth.Principal
	problem   string    // the problem code answered, if any
	iban      iban.IBAN // the request's IBAN, masked in the access log (only when a line is written)
	purpose   string    // X-Purpose, when sent
	actor     string    // X-Actor, when sent
	// keyOf is the pseudonymiser auditTrail set for this request; keys
	// are the keys of the IBANs it was about (keysSet: it named IBANs,
	// perhaps none valid) and risks their risks, for the audit trail.
	keyOf   keyOf
	keys    []domain.IBANKey
	keysSet bool
	risks   []string
	// report is the report of a /v1/reports/{id} route as reportParty
	// read it (the caller is one of its parties).
	report *domain.ReportStatus
	// suppressed: refused at once by refusedGate (counted in an
	// aggregate record and log line, not one of its own).
	suppressed bool
	// A signed answer's body hash and the sequence number its audit
	// record got.
	bodySHA256 string
	auditSeq   uint64
	// Room for what most requests need one of, so that it costs no
	// allocation of its own: the response writer auditTrail puts in
	// front, the X-Request-ID header's value, and a single IBAN's key,
	// pseudonym and risk.
	audit        auditWriter
	idHeader     [1]string
	oneKey       [1]domain.IBANKey
	onePseudonym [1]string
	oneRisk      [1]string
}

// stateOf is the request's state, made when first asked for. It is read
// from gin's Keys without gin's lock (Get takes a read lock every time,
// and a request asks a dozen times): only the request's own goroutine
// touches its state.
func stateOf(c *gin.Context) *reqState {
	if v, ok := c.Keys[stateKey{}].(*reqState); ok {
		return v
	}
	s := &reqState{}
	c.Set(stateKey{}, s)
	return s
}

// room is a slice of n elements: one's when n is at most 1 (a request
// about a single IBAN allocates nothing), else a new one.
func room[T any](one *[1]T, n int) []T {
	if n <= 1 {
		return one[:n]
	}
	return make([]T, n)
}
