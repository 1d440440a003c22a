package httpapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/mulegate/mulegate/internal/domain"
	"github.com/mulegate/mulegate/internal/iban"
)

// AuditEntry is what the audit trail records of one /v1 request. It holds
// IBAN pseudonyms, never IBANs.
type AuditEntry struct {
	Time       time.Time
	RequestID  string
	Org        string
	OrgType    string
	Sub        string
	Thumbprint string
	Method     string
	Route      string
	Action     string
	ReportID   string
	Pseudonyms []string
	Purpose    string
	Actor      string // X-Actor: the person at the caller's keyboard
	Status     int
	Risk       []string
	Count      int64  // an aggregate record's number of requests
	BodySHA256 string // a signed answer's body
}

// Auditor writes audit entries to the trail (internal/audit, wired in
// cmd). Audit returns once the entry is in the sink (written, not yet
// synced); an error means it is not. Healthy is false while the sink
// cannot write; Refused counts a request refused for that reason.
type Auditor interface {
	Audit(AuditEntry) error
	Healthy() bool
	Refused()
}

// keyOf is how the store knows an IBAN (its keyed pseudonym and
// partition).
type keyOf func(iban.IBAN) domain.IBANKey

// auditIBANs records the IBANs a request was about and returns their
// keys, computed here once for the audit record, the lookup log and the
// store's reads (a pseudonym is an HMAC: a batch holds up to 1000).
func auditIBANs(c *gin.Context, ibans ...iban.IBAN) []domain.IBANKey {
	return stateOf(c).auditIBANs(ibans...)
}

func (st *reqState) auditIBANs(ibans ...iban.IBAN) []domain.IBANKey {
	keys := room(&st.oneKey, len(ibans))
	for n, i := range ibans {
		keys[n] = st.keyOf(i)
	}
	st.keys, st.keysSet = keys, true
	return keys
}

// auditKeyOf is the pseudonymiser auditTrail set for this request (on
// every /v1 request): a handler that computes the keys itself (a batch,
// in parts) sets the request state's keys itself.
func auditKeyOf(c *gin.Context) keyOf { return stateOf(c).keyOf }

// LookupLog counts who looked which IBAN up, for GET
// /v1/ibans/{iban}/lookups (buffered; it must not block).
type LookupLog interface {
	Looked(org string, orgType domain.OrgType, ibans []domain.IBANKey, at time.Time)
}

// auditTrail writes one record per request before its response leaves:
// the record is committed when the handler's first byte would be written
// (or when it wrote nothing), so a process killed at any moment has a
// record of every answer it sent, a panicking handler's 500 included
// (recovery writes it through the same writer). A record the sink cannot
// take replaces the answer with 503 store_unavailable, and while the sink
// is broken new requests get that 503 at once: nothing is served
// unaudited. Refused requests (401, 403, 429) are limited per client
// certificate (refusedGate); beyond the limit they share one aggregate
// record per certificate and second. Answered lookups are counted in the
// lookup log.
func auditTrail(a Auditor, key keyOf, looked LookupLog, actions map[routeKey]string, refused *refusedGate, signer AnswerSigner) gin.HandlerFunc {
	trail, _ := a.(EvidenceTrail)
	if signer == nil || trail == nil {
		signer = nil
	}
	return func(c *gin.Context) {
		start := time.Now()
		st := stateOf(c)
		st.keyOf = key
		if !a.Healthy() {
			a.Refused()
			writeProblem(c, domain.Unavailable("audit", errAuditBroken))
			return
		}
		if refused != nil && refused.over(c, st, start) {
			// Counted in the certificate's aggregate record, not one each.
			c.Header("Retry-After", "1")
			writeProblem(c, newAPIError(http.StatusTooManyRequests, "rate_limited", "too many refused requests from this client certificate; slow down"))
			return
		}
		w := &st.audit // in the request's state: no allocation of its own
		*w = auditWriter{ResponseWriter: c.Writer, requestID: st.id, c: c, a: a, st: st, start: start, actions: actions}
		if signer != nil && len(c.Request.Header["Prefer"]) > 0 && prefersSigned(c.Request.Header) &&
			signedActions[actions[routeKey{c.Request.Method, c.FullPath()}]] {
			w.signing = &signing{signer: signer, trail: trail}
		}
		c.Writer = w
		c.Next()
		if w.signing != nil {
			w.sign(c, st, time.Now())
		}
		w.WriteHeaderNow() // a handler that wrote nothing: its record, then its header
		status := w.Status()
		if refused != nil {
			refused.answered(st, status, start)
		}
		if looked != nil && st.keysSet && status == http.StatusOK && !w.failed {
			if action := actions[routeKey{c.Request.Method, routeOf(c)}]; action == "lookup" || action == "lookup_batch" {
				looked.Looked(st.principal.Org.ID, st.principal.Org.Type, st.keys, start)
			}
		}
	}
}

var errAuditBroken = errors.New("the audit trail cannot be written")

// commitAudit writes the request's record; false if the sink did not
// take it.
func commitAudit(c *gin.Context, a Auditor, st *reqState, start time.Time, actions map[routeKey]string) bool {
	route := routeOf(c)
	p := st.principal
	e := AuditEntry{Time: start.UTC(), RequestID: st.id, Org: p.Org.ID, OrgType: string(p.Org.Type), Sub: p.Subject,
		Method: methodLabel(c.Request.Method), Route: route, Action: actions[routeKey{c.Request.Method, route}],
		ReportID: c.Param("id"), Purpose: st.purpose, Actor: st.actor, Status: c.Writer.Status()}
	if e.Action == "" {
		e.Action = "other"
	}
	if e.Purpose == "" {
		e.Purpose = "unspecified"
	}
	if st.cert != nil {
		e.Thumbprint = st.cert.Thumbprint
	}
	if st.keysSet {
		e.Pseudonyms = room(&st.onePseudonym, len(st.keys))
		for n, k := range st.keys {
			e.Pseudonyms[n] = k.Pseudonym
		}
	}
	e.Risk = st.risks
	e.BodySHA256 = st.bodySHA256
	var err error
	if t, ok := a.(EvidenceTrail); ok && st.bodySHA256 != "" {
		st.auditSeq, err = t.AuditSeq(e)
	} else {
		err = a.Audit(e)
	}
	if err != nil {
		logger(c).Error("audit record not written: answering 503", "err", err.Error())
		return false
	}
	return true
}

// auditWriter holds a response back until its audit record is written:
// the first byte (or header) the handler sends commits the record first.
// If the record cannot be written, the answer becomes 503
// store_unavailable and whatever the handler writes after is dropped.
type auditWriter struct {
	gin.ResponseWriter
	requestID string
	// what commitAudit needs, kept here rather than in a closure
	c         *gin.Context
	a         Auditor
	st        *reqState
	start     time.Time
	actions   map[routeKey]string
	committed bool
	failed    bool
	// signing holds a signed answer's body back until its record is
	// synced (signed.go); nil otherwise.
	signing *signing
}

func (w *auditWriter) ensure() bool {
	if !w.committed {
		w.committed = true
		if !commitAudit(w.c, w.a, w.st, w.start, w.actions) {
			w.failed = true
			h := w.ResponseWriter.Header()
			for k := range h {
				if k != "X-Request-Id" {
					delete(h, k)
				}
			}
			h.Set("Content-Type", "application/problem+json")
			h.Set("Retry-After", "1")
			w.ResponseWriter.WriteHeader(http.StatusServiceUnavailable)
			body, _ := json.Marshal(Problem{Type: "urn:mulegate:problem:store_unavailable", Title: titles["store_unavailable"],
				Status: http.StatusServiceUnavailable, Detail: "the gateway cannot record this request in its audit trail; retry later",
				Instance: "urn:request:" + w.requestID, Code: "store_unavailable"})
			_, _ = w.ResponseWriter.Write(body)
		}
	}
	return !w.failed
}

func (w *auditWriter) Write(b []byte) (int, error) {
	if w.signing != nil {
		w.signing.body = append(w.signing.body, b...)
		return len(b), nil
	}
	if !w.ensure() {
		return len(b), nil
	}
	return w.ResponseWriter.Write(b)
}

func (w *auditWriter) WriteString(s string) (int, error) {
	if w.signing != nil {
		w.signing.body = append(w.signing.body, s...)
		return len(s), nil
	}
	if !w.ensure() {
		return len(s), nil
	}
	return w.ResponseWriter.WriteString(s)
}

func (w *auditWriter) WriteHeaderNow() {
	if w.signing != nil {
		return // sent with the signed body
	}
	if w.ensure() {
		w.ResponseWriter.WriteHeaderNow()
	}
}

func (w *auditWriter) Flush() {
	if w.signing != nil {
		return
	}
	if w.ensure() {
		w.ResponseWriter.Flush()
	}
}

func (w *auditWriter) Status() int {
	if w.failed {
		return http.StatusServiceUnavailable
	}
	return w.ResponseWriter.Status()
}

// purpose reads X-Purpose (payment_check, onboarding, investigation,
// monitoring or other; absent is unspecified) and X-Actor (the person at
// the caller's keyboard: 1-128 visible ASCII characters; absent is none);
// anything else is 400 and changes nothing.
func purpose(valid func(string) bool) gin.HandlerFunc {
	return func(c *gin.Context) {
		v, present, err := singleHeader(c, "X-Purpose")
		if err == nil && present && !valid(v) {
			err = domain.Invalid("X-Purpose", "X-Purpose must be payment_check, onboarding, investigation, monitoring or other")
		}
		var actor string
		var named bool
		if err == nil {
			actor, named, err = singleHeader(c, "X-Actor")
			if err == nil && named && !domain.ValidActor(actor) {
				err = domain.Invalid("X-Actor", "X-Actor must be 1-128 visible ASCII characters (the user's name, no spaces)")
			}
		}
		if err != nil {
			writeProblem(c, err)
			return
		}
		if present {
			stateOf(c).purpose = v
		}
		if named {
			stateOf(c).actor = actor
		}
		c.Next()
	}
}

// Unwrap lets http.ResponseController reach the connection (write
// deadlines of long polls and streams). Writing goes through w.
func (w *auditWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
