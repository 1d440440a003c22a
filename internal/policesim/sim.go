package policesim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Faults are the injected faults. The zero value is a healthy store.
type Faults struct {
	// Down drops every connection without an answer (the caller sees a
	// connection reset or EOF), as a store that is down would.
	Down bool `json:"down"`
	// LatencyMS delays every answer.
	LatencyMS int `json:"latency_ms"`
	// ErrorRate answers 503 to this fraction (0..1) of reports.
	ErrorRate float64 `json:"error_rate"`
	// RejectRate answers 422 to this fraction of reports.
	RejectRate float64 `json:"reject_rate"`
	// RejectReferencePrefix answers 422 to reports whose reference starts
	// with it (deterministic rejections for tests).
	RejectReferencePrefix string `json:"reject_reference_prefix"`
	// Status answers every report with this HTTP status (a 3xx with a
	// Location header pointing back at /reports), as a misconfigured or
	// moved store would: 301, 401, 403, 404, 429…
	Status int `json:"status"`
}

// Record is what the store holds about one report id.
type Record struct {
	ReportID        string            `json:"report_id"`
	PoliceReference string            `json:"police_reference"`
	Deliveries      int               `json:"deliveries"` // successful POSTs for this id
	Posts           int               `json:"posts"`      // every POST for this id, whatever the answer
	Events          []json.RawMessage `json:"events"`     // review events, in the order received, once per event
	FirstReceivedAt time.Time         `json:"first_received_at"`
	Body            json.RawMessage   `json:"body"`
	// TraceParent is the W3C traceparent header of the first delivery
	// ("" when the caller sent none).
	TraceParent string `json:"traceparent,omitempty"`
}

// Stats counts everything the store saw.
type Stats struct {
	Unique      int   `json:"unique"`      // distinct report ids held
	Deliveries  int64 `json:"deliveries"`  // 2xx answers to POST /reports
	Requests    int64 `json:"requests"`    // POST /reports requests received
	Connections int64 `json:"connections"` // TCP connections accepted
	Dropped     int64 `json:"dropped"`     // requests dropped while down
	Errors      int64 `json:"errors"`      // injected 5xx
	Rejected    int64 `json:"rejected"`    // 4xx answers (injected or contract violations)
}

// Sim is the simulated police store.
type Sim struct {
	mu        sync.Mutex
	faults    Faults
	records   map[string]*Record
	posts     map[string]int // POSTs per Idempotency-Key, whatever the answer
	eventKeys map[string]bool
	next      int

	deliveries, requests, conns, dropped, errs, rejected atomic.Int64
}

// New returns a healthy, empty store.
func New(f Faults) *Sim {
	return &Sim{faults: f, records: map[string]*Record{}, posts: map[string]int{}, eventKeys: map[string]bool{}}
}

// ConnState is for http.Server.ConnState: it counts connection attempts
// that reached the store, including those it drops while down.
func (s *Sim) ConnState(_ net.Conn, st http.ConnState) {
	if st == http.StateNew {
		s.conns.Add(1)
	}
}

// Handler serves POST /reports and the /_sim/ admin endpoints.
func (s *Sim) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /reports", s.postReport)
	mux.HandleFunc("POST /reports/{id}/events", s.postEvent)
	mux.HandleFunc("GET /_sim/faults", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, s.Faults()) })
	mux.HandleFunc("PUT /_sim/faults", func(w http.ResponseWriter, r *http.Request) {
		var f Faults
		dec := json.NewDecoder(io.LimitReader(r.Body, 1<<16))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&f); err != nil {
			writeJSON(w, 400, map[string]string{"error": err.Error()})
			return
		}
		s.SetFaults(f)
		writeJSON(w, 200, f)
	})
	mux.HandleFunc("GET /_sim/stats", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, s.Stats()) })
	mux.HandleFunc("GET /_sim/reports", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string]any{"reports": s.Records()})
	})
	mux.HandleFunc("GET /_sim/reports/{id}", func(w http.ResponseWriter, r *http.Request) {
		rec, ok := s.Record(r.PathValue("id"))
		if !ok {
			writeJSON(w, 404, map[string]string{"error": "no such report"})
			return
		}
		writeJSON(w, 200, rec)
	})
	mux.HandleFunc("POST /_sim/reset", func(w http.ResponseWriter, r *http.Request) {
		s.Reset()
		writeJSON(w, 200, map[string]string{"status": "reset"})
	})
	return mux
}

// Faults returns the current faults.
func (s *Sim) Faults() Faults {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.faults
}

// SetFaults replaces the faults.
func (s *Sim) SetFaults(f Faults) {
	s.mu.Lock()
	s.faults = f
	s.mu.Unlock()
}

// Reset forgets every report and counter (faults stay).
func (s *Sim) Reset() {
	s.mu.Lock()
	s.records = map[string]*Record{}
	s.posts = map[string]int{}
	s.eventKeys = map[string]bool{}
	s.mu.Unlock()
	for _, c := range []*atomic.Int64{&s.deliveries, &s.requests, &s.conns, &s.dropped, &s.errs, &s.rejected} {
		c.Store(0)
	}
}

// Stats returns the counters.
func (s *Sim) Stats() Stats {
	s.mu.Lock()
	n := len(s.records)
	s.mu.Unlock()
	return Stats{Unique: n, Deliveries: s.deliveries.Load(), Requests: s.requests.Load(), Connections: s.conns.Load(),
		Dropped: s.dropped.Load(), Errors: s.errs.Load(), Rejected: s.rejected.Load()}
}

// Records returns every record, oldest first.
func (s *Sim) Records() []Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Record, 0, len(s.records))
	for _, r := range s.records {
		rec := *r
		rec.Posts = s.posts[r.ReportID]
		rec.Events = append([]json.RawMessage{}, r.Events...)
		out = append(out, rec)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].PoliceReference < out[j].PoliceReference })
	return out
}

// Record returns one record.
func (s *Sim) Record(id string) (Record, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.records[id]
	if !ok {
		return Record{ReportID: id, Posts: s.posts[id]}, s.posts[id] > 0
	}
	rec := *r
	rec.Posts = s.posts[id]
	rec.Events = append([]json.RawMessage{}, r.Events...)
	return rec, true
}

// wire is the police store contract's body; unknown fields are refused so
// that a gateway sending more than the contract is caught.
type wire struct {
	ReportID     string          `json:"report_id"`
	IBAN         string          `json:"iban"`
	Category     string          `json:"category"`
	OccurredAt   string          `json:"occurred_at,omitempty"`
	Amount       json.RawMessage `json:"amount,omitempty"`
	Reference    string          `json:"reference,omitempty"`
	Description  string          `json:"description,omitempty"`
	ReporterOrg  string          `json:"reporter_org"`
	ReporterType string          `json:"reporter_type"`
	ReceivedAt   string          `json:"received_at"`
	// Part 3: a linked report's chain (absent for hop 0).
	SourceReportID string `json:"source_report_id,omitempty"`
	RootReportID   string `json:"root_report_id,omitempty"`
	Hop            int    `json:"hop,omitempty"`
}

func (s *Sim) postReport(w http.ResponseWriter, r *http.Request) {
	s.requests.Add(1)
	key := r.Header.Get("Idempotency-Key")
	s.countPost(key)
	if s.injectFault(w, r) {
		return
	}
	body, ok := s.checkContract(w, r, key)
	if !ok {
		return
	}
	ref, seen := s.record(key, body, r.Header.Get("traceparent"))
	s.deliveries.Add(1)
	status := http.StatusCreated
	if seen {
		status = http.StatusOK
	}
	writeJSON(w, status, map[string]string{"police_reference": ref})
}

func (s *Sim) countPost(key string) {
	if key == "" || len(key) > 255 {
		return
	}
	s.mu.Lock()
	s.posts[key]++
	s.mu.Unlock()
}

// injectFault plays the configured faults; true when it answered (or
// dropped) the request.
func (s *Sim) injectFault(w http.ResponseWriter, r *http.Request) bool {
	f := s.Faults()
	if f.Down {
		s.dropped.Add(1)
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				conn.Close()
				return true
			}
		}
		panic(http.ErrAbortHandler)
	}
	if f.LatencyMS > 0 {
		select {
		case <-time.After(time.Duration(f.LatencyMS) * time.Millisecond):
		case <-r.Context().Done():
			return true
		}
	}
	if f.Status != 0 {
		if f.Status >= 300 && f.Status < 400 {
			w.Header().Set("Location", "/reports")
		}
		if f.Status >= 400 {
			s.rejected.Add(1)
		}
		writeJSON(w, f.Status, map[string]string{"error": "injected status", "detail": "internal host db-7.police.internal:5432"})
		return true
	}
	if f.ErrorRate > 0 && rand.Float64() < f.ErrorRate {
		s.errs.Add(1)
		writeJSON(w, 503, map[string]string{"error": "injected failure"})
		return true
	}
	return false
}

// checkContract refuses (4xx) what breaks the wire contract, and the
// injected rejections; it returns the body of an acceptable report.
func (s *Sim) checkContract(w http.ResponseWriter, r *http.Request, key string) ([]byte, bool) {
	reject := func(status int, msg string) ([]byte, bool) {
		s.rejected.Add(1)
		writeJSON(w, status, map[string]string{"error": msg})
		return nil, false
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		return reject(415, "Content-Type must be application/json")
	}
	if key == "" {
		return reject(400, "Idempotency-Key required")
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return nil, false
	}
	var in wire
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		return reject(400, "body does not match the wire contract: "+err.Error())
	}
	switch {
	case in.ReportID != key:
		return reject(400, "report_id must equal the Idempotency-Key")
	case in.IBAN == "" || in.Category == "" || in.ReporterOrg == "" || in.ReporterType == "" || in.ReceivedAt == "":
		return reject(400, "iban, category, reporter_org, reporter_type and received_at are required")
	}
	f := s.Faults()
	if (f.RejectReferencePrefix != "" && strings.HasPrefix(in.Reference, f.RejectReferencePrefix)) ||
		(f.RejectRate > 0 && rand.Float64() < f.RejectRate) {
		return reject(422, "report refused by the police store")
	}
	return body, true
}

// record keeps a report once per id; seen says it was known before.
func (s *Sim) record(key string, body []byte, traceParent string) (ref string, seen bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, seen := s.records[key]
	if !seen {
		s.next++
		rec = &Record{ReportID: key, PoliceReference: fmt.Sprintf("POL-%08d", s.next), FirstReceivedAt: time.Now().UTC(), Body: body,
			TraceParent: traceParent}
		s.records[key] = rec
	}
	rec.Deliveries++
	return rec.PoliceReference, seen
}

// eventWire is a review event as the wire contract has it.
type eventWire struct {
	ReportID  string `json:"report_id"`
	Event     string `json:"event"`
	At        string `json:"at"`
	ByOrg     string `json:"by_org"`
	Result    string `json:"result,omitempty"`
	FraudType string `json:"fraud_type,omitempty"`
	Details   string `json:"details,omitempty"`
	Reason    string `json:"reason,omitempty"`
	// Recovery steps (Part 3).
	Amount *struct {
		Value    string `json:"value"`
		Currency string `json:"currency"`
	} `json:"amount,omitempty"`
	Reference string `json:"reference,omitempty"`
}

// eventNames are the events a report may have: review outcomes and
// recovery steps.
var eventNames = map[string]bool{"acknowledged": true, "closed": true, "cancelled": true, "recovery.requested": true,
	"recovery.held": true, "recovery.returned": true, "recovery.rejected": true, "recovery.released": true}

// postEvent records a review event of a known report, once per
// Idempotency-Key (<report_id>:<event>). An event for a report the store
// does not have is 404: the gateway sends a report's events after it.
func (s *Sim) postEvent(w http.ResponseWriter, r *http.Request) {
	s.requests.Add(1)
	if s.injectFault(w, r) {
		return
	}
	id, key := r.PathValue("id"), r.Header.Get("Idempotency-Key")
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return
	}
	var in eventWire
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		s.rejected.Add(1)
		writeJSON(w, 400, map[string]string{"error": "body does not match the event contract: " + err.Error()})
		return
	}
	switch {
	case in.ReportID != id || key != id+":"+in.Event:
		s.rejected.Add(1)
		writeJSON(w, 400, map[string]string{"error": "report_id must match the path and Idempotency-Key must be <report_id>:<event>"})
		return
	case !eventNames[in.Event]:
		s.rejected.Add(1)
		writeJSON(w, 422, map[string]string{"error": "event must be acknowledged, closed, cancelled or a recovery step (recovery.requested|held|returned|rejected|released)"})
		return
	}
	s.mu.Lock()
	rec, ok := s.records[id]
	if ok && !s.eventKeys[key] {
		s.eventKeys[key] = true
		rec.Events = append(rec.Events, body)
	}
	s.mu.Unlock()
	if !ok {
		writeJSON(w, 404, map[string]string{"error": "no such report"})
		return
	}
	s.deliveries.Add(1)
	writeJSON(w, 200, map[string]string{"status": "recorded"})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
