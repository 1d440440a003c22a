package httpapi

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/mulegate/mulegate/internal/auth"
	"github.com/mulegate/mulegate/internal/domain"
	"github.com/mulegate/mulegate/internal/iban"
	"github.com/mulegate/mulegate/internal/localrate"
)

// What the API needs from storage, one interface per service of the
// store (store.Reports, store.IBANs, store.Feeds; the limits are
// limiter, dayLimiter and streamSlots).
type (
	// Reports are intake, a report's status and its review.
	Reports interface {
		reportAccepter
		reportReader
		reviewer
		recoverer
		onwarder
		chainReader
	}
	// IBANs are lookups, markers and the lookup log.
	IBANs interface {
		lookuper
		markerStore
		lookupsReader
		correctStore
		recordStore
	}
	// Feeds are the banks' alerts and events.
	Feeds interface {
		alertStore
		eventStore
		workLister
	}
)

// Deps are the API's dependencies and limits.
type Deps struct {
	Reports      Reports
	Recovery     domain.RecoveryPolicy // recovery.hold_within, recovery.answer_within
	Chains       domain.ChainPolicy    // chains.max_hops, chains.max_transfers
	IBANs        IBANs
	Feeds        Feeds // nil: no alert or event routes
	Router       alertRouter
	AlertWaiter  alertWaiter
	AlertOptions AlertOptions
	Done         <-chan struct{} // closed when the server shuts down (ends SSE streams)
	// AtDrain, if set, is handed the work to do once the server has
	// answered its last request: the refused-request gate's last
	// aggregate audit records, for refusals made while the requests
	// drained. The caller runs it before it closes the audit trail.
	AtDrain      func(work func())
	Verifier     tokenVerifier
	Log          *slog.Logger
	Metrics      *Metrics
	Risk         domain.RiskPolicy
	Views        map[domain.OrgType]View
	Limiter      limiter
	DayLimiter   dayLimiter    // writes per UTC day (nil: none)
	Slots        streamSlots   // SSE streams and long polls per org (nil: none)
	WriteTimeout time.Duration // api.write_timeout: a stream reader that does not read is cut after it
	Audit        Auditor
	// Signer signs answers on Prefer: signed (nil: the preference is
	// ignored); Audit must then be an EvidenceTrail.
	Signer AnswerSigner
	// EvidenceKeys is the JWKS of GET /v1/evidence/keys (nil: none).
	EvidenceKeys func() ([]byte, error)
	// Tree is the audit trail's Merkle tree (nil: none).
	Tree EvidenceTree
	// EventWritten counts an event the API writes into a feed (an alert's
	// alert.created; nil: none).
	EventWritten      func(domain.EventType)
	KeyOf             func(iban.IBAN) domain.IBANKey // the IBAN's keyed pseudonym and partition (the store's KeyOf)
	ValidPurpose      func(string) bool
	LookupLog         LookupLog
	MaxBatch          int
	MaxBodyBytes      int64
	MaxBatchBodyBytes int64
	ClockSkew         time.Duration // allowed future skew for occurred_at
	// RefusedPerSecond and RefusedBurst limit refused requests (401, 403,
	// 429) per client certificate (limits.refused_per_second, 0: off).
	RefusedPerSecond, RefusedBurst int
	// TLS is the listener's swappable TLS: open connections are checked
	// against its current CRLs and CAs after each reload (nil: not).
	TLS            *ServerTLS
	RequestTimeout time.Duration
	Now            func() time.Time
}

// startRefusedGate builds the refused-request gate: it writes its
// aggregate records every second until Done, and once more in the work
// it hands to AtDrain.
func startRefusedGate(d Deps) *refusedGate {
	g := newRefusedGate(d.RefusedPerSecond, d.RefusedBurst, d.Audit, d.Log.Warn)
	if g != nil && d.Done != nil {
		go g.run(d.Done)
	}
	if g != nil && d.AtDrain != nil {
		d.AtDrain(func() { g.flush(time.Now()) })
	}
	return g
}

// NewAPI builds the /v1 API. Gin's mode is the program's to set, once
// (cmd/mulegate sets release mode). Middleware order: recovery, request id,
// access log (masked), audit trail (every answer, routed or not), client
// certificate, token, then per route the rate limit, X-Purpose and the
// scope (for /v1/reports/{id}/…: the party check, then the scope).
func NewAPI(d Deps) http.Handler {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.KeyOf == nil {
		panic("httpapi: Deps.KeyOf is required (the store's reads and the audit trail use it)")
	}
	r := gin.New()
	r.HandleMethodNotAllowed = true
	r.RedirectTrailingSlash = false
	r.RedirectFixedPath = false
	actions := map[routeKey]string{} // filled below, read-only once serving
	refused := startRefusedGate(d)
	r.Use(tracing(), withRequestID(d.Log), recovery(), accessLog(d.Metrics), auditTrail(d.Audit, d.KeyOf, d.LookupLog, actions, refused, d.Signer))

	// Every route is rate limited per org before its scope check, so that
	// every authenticated answer carries the RateLimit headers: lookups
	// (a batch costs one per IBAN, charged once it is decoded), writes
	// (reports, reviews, cancels, alerts, markers; onward transfers one
	// per linked report, the rest charged once the body is decoded), and
	// one lookup for every read of data (a page of a feed or a work list
	// one per 100 items asked for, chargePage); a free peek at the lookups
	// bucket for /limits and the evidence keys and checkpoint.
	rd := rateDeps{l: localrate.New(d.Limiter), day: d.DayLimiter, metrics: d.Metrics, deadline: &sharedDeadline{timeout: d.RequestTimeout}}
	lookup, write, peek := limited(rd, domain.RateLookups, 1), limited(rd, domain.RateWrites, 1), limited(rd, domain.RateLookups, 0)
	// No route, no such method: authenticated and limited like any
	// request (401, then 429, then the 404 or 405, with the RateLimit
	// headers), and audited.
	r.NoRoute(clientCert(d.TLS), bearer(d.Verifier), peek, func(c *gin.Context) {
		writeProblem(c, newAPIError(http.StatusNotFound, "not_found", "no such resource"))
	})
	r.NoMethod(clientCert(d.TLS), bearer(d.Verifier), peek, func(c *gin.Context) {
		writeProblem(c, newAPIError(http.StatusMethodNotAllowed, "method_not_allowed", "method not allowed on this resource"))
	})
	need := requireScope
	v1 := v1Routes{g: r.Group("/v1", clientCert(d.TLS), bearer(d.Verifier)), actions: actions, purpose: purpose(d.ValidPurpose)}
	v1.handle("GET", "/limits", "limits_read", peek, handleLimits(rd))
	v1.handle("GET", "/evidence/keys", "evidence_keys", peek, handleEvidenceKeys(d.EvidenceKeys))
	v1.handle("GET", "/evidence/checkpoint", "evidence_checkpoint", peek, handleCheckpoint(d.Tree))
	v1.handle("GET", "/evidence/proof", "evidence_proof", lookup, handleProof(d.Tree))
	v1.handle("GET", "/evidence/consistency", "evidence_consistency", lookup, handleConsistency(d.Tree))

	ld := lookupDeps{store: d.IBANs, risk: d.Risk, views: d.Views, rate: rd, maxBatch: d.MaxBatch,
		bodyLimit: d.MaxBatchBodyBytes, timeout: d.RequestTimeout}
	v1.handle("GET", "/ibans/:iban", "lookup", lookup, need(auth.ScopeIBANsRead), handleLookup(ld))
	v1.handle("POST", "/ibans/lookup", "lookup_batch", peek, need(auth.ScopeIBANsRead), handleBatchLookup(ld))
	v1.handle("GET", "/ibans/:iban/lookups", "lookups_read", lookup, need(auth.ScopeAuditRead), handleLookupsOf(ld))

	md := markerDeps{store: d.IBANs, router: d.Router, bodyLimit: d.MaxBodyBytes, timeout: d.RequestTimeout, now: d.Now}
	v1.handle("PUT", "/ibans/:iban/marker", "marker_set", write, need(auth.ScopeMarkersWrite), handlePutMarker(md))
	v1.handle("DELETE", "/ibans/:iban/marker", "marker_lift", write, need(auth.ScopeMarkersWrite), handleDeleteMarker(md))

	cd := correctDeps{store: d.IBANs, router: d.Router, risk: d.Risk, bodyLimit: d.MaxBodyBytes, timeout: d.RequestTimeout, now: d.Now}
	v1.handle("PUT", "/ibans/:iban/status", "status_set", write, need(auth.ScopeIBANsStatus), handlePutStatus(cd))
	v1.handle("DELETE", "/ibans/:iban/status", "status_clear", write, need(auth.ScopeIBANsStatus), handleDeleteStatus(cd))
	v1.handle("POST", "/ibans/:iban/clear", "clear", write, need(auth.ScopeIBANsClear), handleClear(cd))
	v1.handle("DELETE", "/ibans/:iban/clear", "clear_withdraw", write, need(auth.ScopeIBANsClear), handleWithdrawClear(cd))
	v1.handle("GET", "/ibans/:iban/record", "record", lookup, handleRecord(cd, d.IBANs))

	reportRoutes(v1, d, rd, lookup, write)

	if d.Feeds != nil {
		pa := postAlertDeps{store: d.Feeds, router: d.Router, metrics: d.Metrics, eventWritten: d.EventWritten, bodyLimit: d.MaxBodyBytes,
			timeout: d.RequestTimeout, now: d.Now}
		v1.handle("POST", "/alerts", "alert", write, need(auth.ScopeAlertsWrite), handlePostAlert(pa))
		fd := feedDeps{waiter: d.AlertWaiter, opt: d.AlertOptions, timeout: d.RequestTimeout, done: d.Done, slots: d.Slots,
			writeTimeout: d.WriteTimeout, metrics: d.Metrics, rate: rd}
		alerts, events := alertFeed(d.Feeds, d.Metrics), eventFeed(d.Feeds, d.Metrics)
		v1.handle("GET", "/alerts", "alerts_read", lookup, need(auth.ScopeAlertsRead), handleFeed(alerts, fd))
		v1.handle("GET", "/alerts/stream", "alerts_read", lookup, need(auth.ScopeAlertsRead), handleFeedStream(alerts, fd))
		v1.handle("GET", "/events", "events_read", lookup, need(auth.ScopeEventsRead), handleFeed(events, fd))
		v1.handle("GET", "/events/stream", "events_read", lookup, need(auth.ScopeEventsRead), handleFeedStream(events, fd))
		wd := workDeps{lists: d.Feeds, reports: d.Reports, rate: rd, timeout: d.RequestTimeout, now: d.Now}
		v1.handle("GET", "/reviews", "reviews_read", lookup, need(auth.ScopeReportsReview), handleWorkList(wd, reviewsQuery))
		v1.handle("GET", "/recoveries", "recoveries_read", lookup, need(auth.ScopeRecoveriesWrite), handleWorkList(wd, recoveriesQuery))
	}
	return r
}

// reportRoutes registers /v1/reports and the routes of one report:
// status, review, onward transfers and the chain, recovery. For
// /v1/reports/{id}/…: the rate limit (reads spend the lookups bucket),
// then 404 for a non-party, then the scope (reportParty).
func reportRoutes(v1 v1Routes, d Deps, rd rateDeps, lookup, write gin.HandlerFunc) {
	rp := reportDeps{store: d.Reports, bodyLimit: d.MaxBodyBytes, skew: d.ClockSkew, timeout: d.RequestTimeout, now: d.Now}
	v1.handle("POST", "/reports", "report", write, requireScope(auth.ScopeReportsWrite), handleSubmitReport(rp))
	party := func(want auth.Scope) gin.HandlerFunc { return reportParty(rp, want, false) }
	// The root report's reporter is a party of a linked report's status
	// and recovery (recovery follows the chain).
	withRoot := func(want auth.Scope) gin.HandlerFunc { return reportParty(rp, want, true) }
	v1.handle("GET", "/reports/:id", "report_read", lookup, withRoot(auth.ScopeReportsRead), handleReportStatus(rp))
	rv := reviewDeps{store: d.Reports, metrics: d.Metrics, bodyLimit: d.MaxBodyBytes, timeout: d.RequestTimeout, now: d.Now}
	review := party(auth.ScopeReportsReview)
	v1.handle("POST", "/reports/:id/acknowledge", "acknowledge", write, review, handleReview(rv, domain.ActionAcknowledge))
	v1.handle("POST", "/reports/:id/close", "close", write, review, handleReview(rv, domain.ActionClose))
	v1.handle("POST", "/reports/:id/cancel", "cancel", write, party(auth.ScopeReportsWrite), handleReview(rv, domain.ActionCancel))
	cd := chainDeps{store: d.Reports, rate: rd, policy: d.Chains, bodyLimit: d.MaxBatchBodyBytes, skew: d.ClockSkew, timeout: d.RequestTimeout, now: d.Now}
	v1.handle("POST", "/reports/:id/onward", "onward", write, party(auth.ScopeChainsWrite), handleOnward(cd))
	v1.handle("GET", "/reports/:id/chain", "chain_read", lookup, party(auth.ScopeChainsRead), handleChain(d.Reports, rd, d.RequestTimeout))
	rc := recoveryDeps{store: d.Reports, policy: d.Recovery, metrics: d.Metrics, bodyLimit: d.MaxBodyBytes, timeout: d.RequestTimeout, now: d.Now}
	recover := withRoot(auth.ScopeRecoveriesWrite)
	for path, a := range map[string]domain.RecoveryAction{"/recovery": domain.RecoveryRequest, "/recovery/hold": domain.RecoveryHold,
		"/recovery/return": domain.RecoveryReturn, "/recovery/reject": domain.RecoveryReject, "/recovery/release": domain.RecoveryRelease} {
		v1.handle("POST", "/reports/:id"+path, "recovery_"+string(a), write, recover, handleRecovery(rc, a))
	}
}

// routeKey is a route by method and template.
type routeKey struct{ method, route string }

// v1Routes registers the /v1 routes, each with the action its audit
// record names (auditTrail reads them; anything else is "other").
type v1Routes struct {
	g       *gin.RouterGroup
	actions map[routeKey]string
	purpose gin.HandlerFunc
}

// handle registers a route: its rate limit (limit), then X-Purpose, then
// h (the scope or party check, the handler).
func (r v1Routes) handle(method, path, action string, limit gin.HandlerFunc, h ...gin.HandlerFunc) {
	r.g.Handle(method, path, append([]gin.HandlerFunc{limit, r.purpose}, h...)...)
	r.actions[routeKey{method, r.g.BasePath() + path}] = action
}
