package main

import (
	"os"
	"time"

	"github.com/mulegate/mulegate/internal/audit"
	"github.com/mulegate/mulegate/internal/config"
	"github.com/mulegate/mulegate/internal/httpapi"
	"github.com/mulegate/mulegate/internal/store"
	"github.com/prometheus/client_golang/prometheus"
)

// The gateway's own metrics that are read from its parts at scrape time
// (the audit trail, the feeds, the CRLs).

// auditor hands the API's audit entries to the trail's writer; it is the
// evidence trail signed answers name (origin#seq).
type auditor struct {
	w      *audit.Writer
	origin func() string // the current tree's (a rotation changes it)
}

func (a auditor) Audit(e httpapi.AuditEntry) error {
	_, err := a.AuditSeq(e)
	return err
}

func (a auditor) AuditSeq(e httpapi.AuditEntry) (uint64, error) {
	return a.w.WriteSeq(audit.Record{Time: e.Time, RequestID: e.RequestID, Org: e.Org, OrgType: e.OrgType, Sub: e.Sub,
		Thumbprint: e.Thumbprint, Method: e.Method, Route: e.Route, Action: e.Action, ReportID: e.ReportID,
		Pseudonyms: e.Pseudonyms, Purpose: e.Purpose, Actor: e.Actor, Status: e.Status, Risk: e.Risk, Count: e.Count, BodySHA256: e.BodySHA256})
}

func (a auditor) Sync() error {
	_, _, err := a.w.Sync()
	return err
}

func (a auditor) Origin() string { return a.origin() }

// evidenceOrigin is evidence.origin, by default mulegate/<hostname>.
func evidenceOrigin(cfg config.Config) string {
	if cfg.Evidence.Origin != "" {
		return cfg.Evidence.Origin
	}
	h, err := os.Hostname()
	if err != nil || h == "" {
		h = "localhost"
	}
	return "mulegate/" + h
}

func (a auditor) Healthy() bool { return a.w.Healthy() }

func (a auditor) Refused() { a.w.Refused.Add(1) }

// registerAudit is mulegate_audit_records_total{result="written|failed"}
// (failed: the sink could not take the record, and the request was
// answered 503) and mulegate_audit_refused_total (requests refused while
// the trail could not be written).
func registerAudit(reg prometheus.Registerer, w *audit.Writer) {
	for _, r := range []struct {
		result string
		n      func() int64
	}{{"written", w.Written.Load}, {"failed", w.Failed.Load}} {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "mulegate_audit_records_total", Help: "Audit records written to the trail, and those the sink could not take (the request got 503).",
			ConstLabels: prometheus.Labels{"result": r.result},
		}, func() float64 { return float64(r.n()) }))
	}
	reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "mulegate_audit_refused_total", Help: "Requests refused with 503 because the audit trail could not be written.",
	}, func() float64 { return float64(w.Refused.Load()) }))
}

// eventsTrimmed is mulegate_events_trimmed_total{bank}: events trimmed
// from a bank's feed because it held events.max_per_bank (a bank that
// does not read its feed, or an org that writes too much).
type eventsTrimmed struct {
	st    *store.Store
	banks func() []string // every registered bank has a series, 0 until a trim
	desc  *prometheus.Desc
}

func newEventsTrimmed(st *store.Store, banks func() []string) eventsTrimmed {
	return eventsTrimmed{st: st, banks: banks, desc: prometheus.NewDesc("mulegate_events_trimmed_total",
		"Events trimmed from a bank's feed because it held events.max_per_bank (oldest first).", []string{"bank"}, nil)}
}

func (e eventsTrimmed) Describe(ch chan<- *prometheus.Desc) { ch <- e.desc }

func (e eventsTrimmed) Collect(ch chan<- prometheus.Metric) {
	counts := e.st.EventsTrimmed()
	for _, bank := range e.banks() {
		ch <- prometheus.MustNewConstMetric(e.desc, prometheus.CounterValue, float64(counts[bank]), bank)
	}
}

// registerCRLAge is mulegate_crl_age_seconds: how old the newest loaded
// CRL is (0 when none is configured), to alert on CRLs nobody refreshes.
func registerCRLAge(reg prometheus.Registerer, t *httpapi.ServerTLS) {
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "mulegate_crl_age_seconds", Help: "Age of the newest loaded client CRL (its thisUpdate), 0 when none is configured.",
	}, func() float64 {
		u := t.CRLUpdated.Load()
		if u == 0 {
			return 0
		}
		return time.Since(time.Unix(u, 0)).Seconds()
	}))
}
