package httpapi

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/mulegate/mulegate/internal/domain"
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the API's Prometheus metrics, registered in the registry
// the caller passes (no global state, so tests can run servers side by
// side).
type Metrics struct {
	requests   *prometheus.CounterVec
	latency    *prometheus.HistogramVec
	tokenCache *prometheus.CounterVec
	tokenHit   prometheus.Counter // tokenCache's two series, resolved once: every request counts one
	tokenMiss  prometheus.Counter
	// authFailures are 401 and 403 answers by status and problem code
	// (a closed set: the codes writeProblem gives).
	authFailures *prometheus.CounterVec

	reviews         *prometheus.CounterVec
	recoveries      *prometheus.CounterVec
	rateLimited     *prometheus.CounterVec
	alertsCreated   prometheus.Counter
	alertsDelivered *prometheus.CounterVec
	eventsDelivered *prometheus.CounterVec
	sseOpen         prometheus.Gauge
}

// NewMetrics registers the HTTP, token-cache and alert metrics in reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mulegate_http_requests_total", Help: "API requests by route, method and status.",
		}, []string{"route", "method", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "mulegate_http_request_duration_seconds", Help: "API request latency by route.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"route", "method"}),
		tokenCache: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mulegate_token_cache_total", Help: "Verified-token cache lookups by result (hit or miss).",
		}, []string{"result"}),
	}
	m.authFailures = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "mulegate_auth_failures_total", Help: "Requests refused with 401 or 403, by status and problem code.",
	}, []string{"status", "code"})
	m.reviews = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "mulegate_reviews_total", Help: "Review actions that changed a report, by action (acknowledge, close, cancel).",
	}, []string{"action"})
	m.recoveries = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "mulegate_recoveries_total", Help: "Recovery steps that changed a recovery, by action (request, hold, return, reject, release).",
	}, []string{"action"})
	m.rateLimited = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "mulegate_rate_limited_total", Help: "Requests refused with 429, by org type and limit (lookups, writes).",
	}, []string{"org_type", "class"})
	m.alertsCreated = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "mulegate_alerts_created_total", Help: "Police alerts stored (replays not counted).",
	})
	m.alertsDelivered = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "mulegate_alerts_delivered_total", Help: "Alerts sent to banks, by channel (feed or stream).",
	}, []string{"via"})
	m.eventsDelivered = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "mulegate_events_delivered_total", Help: "Feed events sent to banks, by type and channel (feed or stream).",
	}, []string{"type", "via"})
	m.sseOpen = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "mulegate_alert_streams_open", Help: "Open Server-Sent Events alert streams.",
	})
	reg.MustRegister(m.requests, m.latency, m.tokenCache, m.authFailures, m.reviews, m.recoveries, m.rateLimited, m.alertsCreated, m.alertsDelivered, m.eventsDelivered, m.sseOpen)
	// Every series of a closed label set exists from the start at 0, so
	// rates and alert rules see it before its first event.
	m.tokenHit, m.tokenMiss = m.tokenCache.WithLabelValues("hit"), m.tokenCache.WithLabelValues("miss")
	for _, a := range []domain.Action{domain.ActionAcknowledge, domain.ActionClose, domain.ActionCancel} {
		m.reviews.WithLabelValues(string(a))
	}
	for _, a := range []domain.RecoveryAction{domain.RecoveryRequest, domain.RecoveryHold, domain.RecoveryReturn, domain.RecoveryReject,
		domain.RecoveryRelease} {
		m.recoveries.WithLabelValues(string(a))
	}
	for _, t := range []domain.OrgType{domain.OrgBank, domain.OrgMarketplace, domain.OrgPolice} {
		for _, c := range []domain.RateClass{domain.RateLookups, domain.RateWrites} {
			m.rateLimited.WithLabelValues(string(t), string(c))
		}
	}
	for _, via := range []string{"feed", "stream"} {
		m.alertsDelivered.WithLabelValues(via)
		for _, t := range domain.EventTypes {
			m.eventsDelivered.WithLabelValues(string(t), via)
		}
	}
	return m
}

func (m *Metrics) observe(route, method string, status int, d time.Duration) {
	method = methodLabel(method)
	m.requests.WithLabelValues(route, method, strconv.Itoa(status)).Inc()
	m.latency.WithLabelValues(route, method).Observe(d.Seconds())
}

// methodLabel keeps the method label to a closed set: any token is a
// valid HTTP method, and a label per invented method would let one client
// grow /metrics (and the gateway's memory) without bound.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions:
		return m
	}
	return "other"
}

// TokenCache counts a token cache hit or miss.
func (m *Metrics) TokenCache(hit bool) {
	if hit {
		m.tokenHit.Inc()
	} else {
		m.tokenMiss.Inc()
	}
}

// ReviewBacklog counts each bank's open reviews and those past their
// deadline.
type ReviewBacklog interface {
	ReviewBacklog(ctx context.Context, banks []string) (open, overdue map[string]int64, err error)
}

var (
	overdueDesc = prometheus.NewDesc("mulegate_reviews_overdue",
		"Open reviews past respond_by, per holding bank (computed at scrape time).", []string{"holder"}, nil)
	openDesc = prometheus.NewDesc("mulegate_reviews_open",
		"Open reviews (not yet closed or cancelled), per holding bank (computed at scrape time).", []string{"holder"}, nil)
)

// backlogCollector reads the review backlog of the registered banks when
// Prometheus scrapes: one pipelined round trip per Redis node.
type backlogCollector struct {
	c     ReviewBacklog
	banks func() []string
}

// RegisterReviewBacklog adds mulegate_reviews_open{holder} and
// mulegate_reviews_overdue{holder} for the banks banks() names (the
// current registry).
func RegisterReviewBacklog(reg prometheus.Registerer, c ReviewBacklog, banks func() []string) {
	reg.MustRegister(&backlogCollector{c: c, banks: banks})
}

func (o *backlogCollector) Describe(ch chan<- *prometheus.Desc) { ch <- overdueDesc; ch <- openDesc }

func (o *backlogCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	open, overdue, err := o.c.ReviewBacklog(ctx, o.banks())
	if err != nil {
		return
	}
	for bank, n := range overdue {
		ch <- prometheus.MustNewConstMetric(overdueDesc, prometheus.GaugeValue, float64(n), bank)
	}
	for bank, n := range open {
		ch <- prometheus.MustNewConstMetric(openDesc, prometheus.GaugeValue, float64(n), bank)
	}
}

// recovered counts a recovery step that changed a recovery.
func (m *Metrics) recovered(a domain.RecoveryAction) {
	if m != nil {
		m.recoveries.WithLabelValues(string(a)).Inc()
	}
}

// RecoveriesOverdue counts, per bank, the recoveries it has not held or
// answered by their deadline.
type RecoveriesOverdue interface {
	RecoveriesOverdue(ctx context.Context, banks []string) (map[string]int64, error)
}

var recoveriesOverdueDesc = prometheus.NewDesc("mulegate_recoveries_overdue",
	"Recoveries a holding bank has not held by hold_by or answered by answer_by (computed at scrape time).", []string{"holder"}, nil)

type recoveriesCollector struct {
	c     RecoveriesOverdue
	banks func() []string
}

// RegisterRecoveriesOverdue adds mulegate_recoveries_overdue{holder} for
// the banks banks() names.
func RegisterRecoveriesOverdue(reg prometheus.Registerer, c RecoveriesOverdue, banks func() []string) {
	reg.MustRegister(&recoveriesCollector{c: c, banks: banks})
}

func (o *recoveriesCollector) Describe(ch chan<- *prometheus.Desc) { ch <- recoveriesOverdueDesc }

func (o *recoveriesCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	overdue, err := o.c.RecoveriesOverdue(ctx, o.banks())
	if err != nil {
		return
	}
	for bank, n := range overdue {
		ch <- prometheus.MustNewConstMetric(recoveriesOverdueDesc, prometheus.GaugeValue, float64(n), bank)
	}
}
