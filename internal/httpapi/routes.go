package httpapi

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/mulegate/mulegate/internal/auth"
	"github.com/mulegate/mulegate/internal/iban"
	"github.com/mulegate/mulegate/internal/report"
)

// Store is everything the API needs from storage.
type Store interface {
	lookuper
	reportAccepter
	reportReader
	reviewer
	markerStore
	lookupsReader
}

// Deps are the API's dependencies and limits.
type Deps struct {
	Store             Store
	Alerts            alertStore
	Events            eventStore
	EventRetention    time.Duration
	Router            alertRouter
	AlertWaiter       alertWaiter
	AlertOptions      AlertOptions
	Done              <-chan struct{} // closed when the server shuts down (ends SSE streams)
	Verifier          tokenVerifier
	Log               *slog.Logger
	Metrics           *Metrics
	Risk              report.RiskPolicy
	Views             map[report.OrgType]View
	Limiter           limiter
	Audit             Auditor
	Pseudonym         func(iban.IBAN) (string, int) // the IBAN's keyed pseudonym and partition, for the audit trail
	ValidPurpose      func(string) bool
	LookupLog         LookupLog
	MaxBatch          int
	MaxBodyBytes      int64
	MaxBatchBodyBytes int64
	ClockSkew         time.Duration // allowed future skew for occurred_at
	RequestTimeout    time.Duration
	Now               func() time.Time
}

// NewAPI builds the /v1 API. Middleware order: recovery, request id,
// access log (masked), client certificate, token, then a scope check per
// route.
func NewAPI(d Deps) http.Handler {
	gin.SetMode(gin.ReleaseMode)
	if d.Now == nil {
		d.Now = time.Now
	}
	r := gin.New()
	r.HandleMethodNotAllowed = true
	r.RedirectTrailingSlash = false
	r.RedirectFixedPath = false
	r.Use(withRequestID(d.Log), recovery(), accessLog(d.Metrics))
	r.NoRoute(func(c *gin.Context) {
		writeProblem(c, newAPIError(http.StatusNotFound, "not_found", "no such resource"))
	})
	r.NoMethod(func(c *gin.Context) {
		writeProblem(c, newAPIError(http.StatusMethodNotAllowed, "method_not_allowed", "method not allowed on this resource"))
	})

	// Every route is rate limited per org before its scope check, so that
	// every authenticated answer carries the RateLimit headers: lookups
	// (a batch costs one per IBAN, charged once it is decoded), writes
	// (reports, reviews, cancels, alerts, markers), and a free peek at the
	// lookups bucket for reads.
	rd := rateDeps{l: newLocalGate(d.Limiter), metrics: d.Metrics, timeout: d.RequestTimeout}
	lookup, write, peek := limited(rd, report.RateLookups, 1), limited(rd, report.RateWrites, 1), limited(rd, report.RateLookups, 0)
	v1 := r.Group("/v1", auditTrail(d.Audit, d.Pseudonym, d.LookupLog), purpose(d.ValidPurpose), clientCert(), bearer(d.Verifier))
	v1.GET("/limits", peek, handleLimits(rd))
	v1.GET("/ibans/:iban", lookup, requireScope(auth.ScopeIBANsRead), handleLookup(d.Store, d.Risk, d.Views, d.RequestTimeout))
	v1.POST("/ibans/lookup", peek, requireScope(auth.ScopeIBANsRead), handleBatchLookup(d.Store, d.Risk, d.Views, rd, d.MaxBatch, d.MaxBatchBodyBytes, d.RequestTimeout))
	v1.GET("/ibans/:iban/lookups", peek, requireScope(auth.ScopeAuditRead), handleLookupsOf(d.Store, d.RequestTimeout))
	md := markerDeps{store: d.Store, router: d.Router, bodyLimit: d.MaxBodyBytes, timeout: d.RequestTimeout, now: d.Now}
	v1.PUT("/ibans/:iban/marker", write, requireScope(auth.ScopeMarkersWrite), handlePutMarker(md))
	v1.DELETE("/ibans/:iban/marker", write, requireScope(auth.ScopeMarkersWrite), handleDeleteMarker(md))
	v1.POST("/reports", write, requireScope(auth.ScopeReportsWrite), handleSubmitReport(d.Store, d.MaxBodyBytes, d.ClockSkew, d.RequestTimeout, d.Now))
	v1.GET("/reports/:id", peek, requireScope(auth.ScopeReportsRead), handleReportStatus(d.Store, d.RequestTimeout, d.Now))
	rv := reviewDeps{store: d.Store, metrics: d.Metrics, bodyLimit: d.MaxBodyBytes, timeout: d.RequestTimeout, now: d.Now}
	v1.POST("/reports/:id/acknowledge", write, requireScope(auth.ScopeReportsReview), handleReview(rv, report.ActionAcknowledge))
	v1.POST("/reports/:id/close", write, requireScope(auth.ScopeReportsReview), handleReview(rv, report.ActionClose))
	v1.POST("/reports/:id/cancel", write, requireScope(auth.ScopeReportsWrite), handleReview(rv, report.ActionCancel))
	if d.Alerts != nil {
		ao := d.AlertOptions
		v1.POST("/alerts", write, requireScope(auth.ScopeAlertsWrite), handlePostAlert(postAlertDeps{store: d.Alerts, router: d.Router,
			metrics: d.Metrics, retention: ao.Retention, eventRetention: d.EventRetention, bodyLimit: d.MaxBodyBytes, timeout: d.RequestTimeout, now: d.Now}))
		fd := feedDeps{waiter: d.AlertWaiter, opt: ao, timeout: d.RequestTimeout, done: d.Done}
		alerts := alertFeed(d.Alerts, d.Metrics, ao)
		v1.GET("/alerts", peek, requireScope(auth.ScopeAlertsRead), handleFeed(alerts, fd))
		v1.GET("/alerts/stream", peek, requireScope(auth.ScopeAlertsRead), handleFeedStream(alerts, fd, d.Metrics))
		if d.Events != nil {
			events := eventFeed(d.Events, d.Metrics, d.EventRetention)
			v1.GET("/events", peek, requireScope(auth.ScopeEventsRead), handleFeed(events, fd))
			v1.GET("/events/stream", peek, requireScope(auth.ScopeEventsRead), handleFeedStream(events, fd, d.Metrics))
		}
	}
	return r
}
