package httpapi

import (
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/mulegate/mulegate/internal/iban"
	"github.com/mulegate/mulegate/internal/report"
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
	Status     int
	Risk       []string
}

// Auditor takes audit entries (internal/audit, wired in cmd); it must not
// block the request.
type Auditor interface {
	Audit(AuditEntry)
}

// keyOf is how the store knows an IBAN (its keyed pseudonym and
// partition).
type keyOf func(iban.IBAN) report.IBANKey

// auditIBANs records the IBANs a request was about and returns their
// keys, computed here once for the audit record, the lookup log and the
// store's reads (a pseudonym is an HMAC: a batch holds up to 1000).
func auditIBANs(c *gin.Context, ibans ...iban.IBAN) []report.IBANKey {
	return stateOf(c).auditIBANs(ibans...)
}

func (st *reqState) auditIBANs(ibans ...iban.IBAN) []report.IBANKey {
	keys := make([]report.IBANKey, len(ibans))
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
	Looked(org string, orgType report.OrgType, ibans []report.IBANKey, at time.Time)
}

// auditTrail writes one entry per /v1 request after it is answered,
// refused ones included (a 401 has no org; it has the certificate
// thumbprint when there was one), and counts answered lookups in the
// lookup log.
func auditTrail(a Auditor, key keyOf, looked LookupLog, actions map[routeKey]string) gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		st := stateOf(c)
		st.keyOf = key
		c.Next()
		route := routeOf(c)
		p := st.principal
		e := AuditEntry{Time: start.UTC(), RequestID: st.id, Org: p.Org.ID, OrgType: string(p.Org.Type), Sub: p.Subject,
			Method: methodLabel(c.Request.Method), Route: route, Action: actions[routeKey{c.Request.Method, route}],
			ReportID: c.Param("id"), Purpose: st.purpose, Status: c.Writer.Status()}
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
			keys := st.keys
			e.Pseudonyms = make([]string, len(keys))
			for n, k := range keys {
				e.Pseudonyms[n] = k.Pseudonym
			}
			if looked != nil && e.Status == http.StatusOK && (e.Action == "lookup" || e.Action == "lookup_batch") {
				looked.Looked(p.Org.ID, p.Org.Type, keys, start)
			}
		}
		e.Risk = st.risks
		a.Audit(e)
	}
}

// purpose reads X-Purpose: payment_check, onboarding, investigation,
// monitoring or other; absent is unspecified; anything else is 400.
func purpose(valid func(string) bool) gin.HandlerFunc {
	return func(c *gin.Context) {
		v, present, err := singleHeader(c, "X-Purpose")
		if err == nil && present && !valid(v) {
			err = report.Invalid("X-Purpose", "X-Purpose must be payment_check, onboarding, investigation, monitoring or other")
		}
		if err != nil {
			writeProblem(c, err)
			return
		}
		if present {
			stateOf(c).purpose = v
		}
		c.Next()
	}
}
