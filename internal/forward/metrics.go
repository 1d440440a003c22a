package forward

import (
	"context"
	"strconv"
	"time"

	"github.com/mulegate/mulegate/internal/domain"
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the forwarding metrics.
type Metrics struct {
	attempts *prometheus.CounterVec
	latency  prometheus.Histogram
	trips    *prometheus.CounterVec
	events   *prometheus.CounterVec
	reg      prometheus.Registerer
}

// NewMetrics registers the forwarding metrics in reg.
// NewEventsWritten registers mulegate_events_written_total{type} (every
// event type from 0): the holders' relay and the API (alert.created) both
// count into it.
func NewEventsWritten(reg prometheus.Registerer) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "mulegate_events_written_total", Help: "Events written into the banks' feeds (by the holders' relay, and alerts by the API), by type.",
	}, []string{"type"})
	reg.MustRegister(c)
	for _, t := range domain.EventTypes {
		c.WithLabelValues(string(t))
	}
	return c
}

// NewMetrics registers the relay's metrics; events is the shared
// mulegate_events_written_total (nil: registered here).
func NewMetrics(reg prometheus.Registerer, events *prometheus.CounterVec) *Metrics {
	m := &Metrics{
		reg: reg,
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mulegate_forward_attempts_total",
			Help: "Delivery attempts to the police store by result (forwarded, rejected, retry).",
		}, []string{"result"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "mulegate_forward_duration_seconds", Help: "Police store call latency.",
			Buckets: []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}),
		trips: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mulegate_police_breaker_trips_total",
			Help: "Police breaker trips, by whether this process tripped (local) or another one did (shared).",
		}, []string{"source"}),
	}
	if events == nil {
		events = NewEventsWritten(reg)
	}
	m.events = events
	reg.MustRegister(m.attempts, m.latency, m.trips)
	// Closed label sets exist from the start at 0.
	for _, o := range []Outcome{Delivered, Rejected, Retry} {
		m.attempts.WithLabelValues(o.String())
	}
	for _, src := range []string{"local", "shared"} {
		m.trips.WithLabelValues(src)
	}
	return m
}

func (m *Metrics) observe(o Outcome, d time.Duration) {
	m.attempts.WithLabelValues(o.String()).Inc()
	m.latency.Observe(d.Seconds())
}

func (m *Metrics) eventWritten(t domain.EventType) { m.events.WithLabelValues(string(t)).Inc() }

func (m *Metrics) trip(shared bool) {
	if shared {
		m.trips.WithLabelValues("shared").Inc()
	} else {
		m.trips.WithLabelValues("local").Inc()
	}
}

// bind adds the metrics that read the relay's live state: the breaker
// state and, at scrape time, the outbox depth and oldest age per partition.
func (m *Metrics) bind(r *Relay) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "mulegate_police_breaker_state",
		Help: "Police breaker state: 0 closed, 1 half-open, 2 open.",
	}, func() float64 {
		switch r.BreakerState() {
		case "open":
			return 2
		case "half_open":
			return 1
		}
		return 0
	}), &outboxCollector{ob: r.ob})
}

var (
	depthDesc = prometheus.NewDesc("mulegate_outbox_depth", "Reports waiting in an outbox partition (queued or in flight).", []string{"partition"}, nil)
	ageDesc   = prometheus.NewDesc("mulegate_outbox_oldest_age_seconds", "Age of the oldest report in an outbox partition (0 when empty).", []string{"partition"}, nil)
)

// outboxCollector reads the outbox at scrape time: one pipelined round
// trip per Redis node, only when Prometheus asks.
type outboxCollector struct{ ob Outbox }

func (c *outboxCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- depthDesc
	ch <- ageDesc
}

func (c *outboxCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	stats, err := c.ob.OutboxStats(ctx)
	if err != nil {
		return
	}
	now := time.Now()
	for _, s := range stats {
		p := strconv.Itoa(s.Partition)
		ch <- prometheus.MustNewConstMetric(depthDesc, prometheus.GaugeValue, float64(s.Depth), p)
		age := 0.0
		if !s.Oldest.IsZero() {
			age = now.Sub(s.Oldest).Seconds()
		}
		ch <- prometheus.MustNewConstMetric(ageDesc, prometheus.GaugeValue, age, p)
	}
}
