package httpapi

import (
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/mulegate/mulegate/internal/auth"
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

// Request-scoped values the handlers leave for the audit trail.
const (
	ctxAuditIBANs = "mulegate.audit_ibans"
	ctxAuditRisks = "mulegate.audit_risks"
	ctxPurpose    = "mulegate.purpose"
)

// auditIBANs records the IBANs a request was about.
func auditIBANs(c *gin.Context, ibans ...iban.IBAN) { c.Set(ctxAuditIBANs, ibans) }

// LookupLog counts who looked which IBAN up, for GET
// /v1/ibans/{iban}/lookups (buffered; it must not block).
type LookupLog interface {
	Looked(org string, orgType report.OrgType, ibans []report.IBANKey, at time.Time)
}

// auditTrail writes one entry per /v1 request after it is answered,
// refused ones included (a 401 has no org; it has the certificate
// thumbprint when there was one), and counts answered lookups in the
// lookup log.
func auditTrail(a Auditor, pseudonym func(iban.IBAN) (string, int), looked LookupLog) gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		c.Next()
		route := routeOf(c)
		p := principal(c)
		e := AuditEntry{Time: start.UTC(), RequestID: requestID(c), Org: p.Org.ID, OrgType: string(p.Org.Type), Sub: p.Subject,
			Method: methodLabel(c.Request.Method), Route: route, Action: auditAction(c.Request.Method, route),
			ReportID: c.Param("id"), Purpose: c.GetString(ctxPurpose), Status: c.Writer.Status()}
		if e.Purpose == "" {
			e.Purpose = "unspecified"
		}
		if id, ok := c.Get(ctxClientCert); ok {
			if cert, _ := id.(*auth.ClientCert); cert != nil {
				e.Thumbprint = cert.Thumbprint
			}
		}
		if v, ok := c.Get(ctxAuditIBANs); ok {
			ibans := v.([]iban.IBAN)
			keys := make([]report.IBANKey, len(ibans))
			e.Pseudonyms = make([]string, len(ibans))
			for n, i := range ibans {
				keys[n].Pseudonym, keys[n].Partition = pseudonym(i)
				e.Pseudonyms[n] = keys[n].Pseudonym
			}
			if looked != nil && e.Status == http.StatusOK && (e.Action == "lookup" || e.Action == "lookup_batch") {
				looked.Looked(p.Org.ID, p.Org.Type, keys, start)
			}
		}
		if v, ok := c.Get(ctxAuditRisks); ok {
			e.Risk = v.([]string)
		}
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
			c.Set(ctxPurpose, v)
		}
		c.Next()
	}
}

// auditAction names what a route does, for the trail.
func auditAction(method, route string) string {
	switch method + " " + route {
	case http.MethodGet + " /v1/ibans/:iban":
		return "lookup"
	case http.MethodPost + " /v1/ibans/lookup":
		return "lookup_batch"
	case http.MethodGet + " /v1/ibans/:iban/lookups":
		return "lookups_read"
	case http.MethodPut + " /v1/ibans/:iban/marker":
		return "marker_set"
	case http.MethodDelete + " /v1/ibans/:iban/marker":
		return "marker_lift"
	case http.MethodPost + " /v1/reports":
		return "report"
	case http.MethodGet + " /v1/reports/:id":
		return "report_read"
	case http.MethodPost + " /v1/reports/:id/acknowledge":
		return "acknowledge"
	case http.MethodPost + " /v1/reports/:id/close":
		return "close"
	case http.MethodPost + " /v1/reports/:id/cancel":
		return "cancel"
	case http.MethodPost + " /v1/alerts":
		return "alert"
	case http.MethodGet + " /v1/alerts", http.MethodGet + " /v1/alerts/stream":
		return "alerts_read"
	case http.MethodGet + " /v1/events", http.MethodGet + " /v1/events/stream":
		return "events_read"
	case http.MethodGet + " /v1/limits":
		return "limits_read"
	}
	return "other"
}
