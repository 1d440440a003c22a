package httpapi

import (
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mulegate/mulegate/internal/domain"
	"github.com/mulegate/mulegate/internal/jsonw"
)

// The lookup answer is the hottest body the gateway writes, so it is
// appended by hand instead of through encoding/json's reflection (and,
// for a view that omits fields, instead of a marshal, unmarshal and
// marshal again). The output is what encoding/json writes for lookupJSON
// (fields in struct order, map keys sorted, <, > and & escaped), minus
// the fields the view omits; TestAppendLookupMatchesEncodingJSON holds
// it to that.

// View leaves lookup fields out of the answers an org type gets (no
// tipping-off: by default a marketplace does not learn by_source or who
// set a marker). Omitted fields are absent, not null.
type View struct {
	omit         []string // top-level fields left out: a few at most, compared in turn (cheaper than a map's hash for each field)
	markerByType bool     // leave out marker.by_type
	clearReason  bool     // leave out cleared.reason (police information)
}

// NewView makes a view from field names (top-level lookup fields, or
// "marker.by_type").
func NewView(omit []string) View {
	var v View
	for _, f := range omit {
		switch f {
		case "marker.by_type":
			v.markerByType = true
			continue
		case "cleared.reason":
			v.clearReason = true
			continue
		}
		if !slices.Contains(v.omit, f) {
			v.omit = append(v.omit, f)
		}
	}
	return v
}

// counts is what this view rates: a view that hides who set a marker
// (the marketplaces' by default) also hides a police marker altogether,
// from the answer and from the risk. Hiding only by_type is not enough:
// a marker on an IBAN that no registered bank holds can only be the
// police's, and a marketplace that reported the IBAN sees it unrouted.
// A bank's marker stays (without by_type).
func (v View) counts(c domain.Counts) domain.Counts {
	if v.markerByType && c.Marker != nil && c.Marker.ByType == domain.OrgPolice {
		c.Marker = nil
	}
	return c
}

// appendLookup appends l as this view shows it.
func (v View) appendLookup(b []byte, l domain.Lookup) []byte {
	w := objWriter{b: append(b, '{'), omit: v.omit}
	if w.field("iban") {
		w.b = jsonw.AppendString(w.b, l.IBAN.String())
	}
	if w.field("country") {
		w.b = jsonw.AppendString(w.b, l.IBAN.Country())
	}
	if w.field("bank_code") {
		w.b = jsonw.AppendString(w.b, l.IBAN.BankCode())
	}
	w.int("report_count", l.ReportCount)
	w.int("reporter_count", l.ReporterCount)
	w.int("reports_last_30_days", l.Last30Days)
	if w.field("by_category") {
		w.b = appendCounts(w.b, l.ByCategory)
	}
	if w.field("by_source") {
		w.b = appendCounts(w.b, l.BySource)
	}
	w.time("first_reported_at", l.First)
	w.time("last_reported_at", l.Last)
	if w.field("risk") {
		w.b = jsonw.AppendString(w.b, string(l.Risk))
	}
	if w.field("review") {
		w.b = append(w.b, `{"open":`...)
		w.b = strconv.AppendInt(w.b, l.Review.Open, 10)
		w.b = append(w.b, `,"confirmed":`...)
		w.b = strconv.AppendInt(w.b, l.Review.Confirmed, 10)
		w.b = append(w.b, `,"disputed":`...)
		w.b = strconv.AppendInt(w.b, l.Review.Disputed, 10)
		w.b = append(w.b, '}')
	}
	w.int("cancelled_count", l.Cancelled)
	if w.field("stats") {
		w.b = appendStats(w.b, l.Windows)
	}
	if w.field("amounts") {
		w.b = appendAmounts(w.b, l.Amounts)
	}
	if w.field("recovered") {
		w.b = appendSums(w.b, l.Recovered)
	}
	if w.field("chain") {
		w.b = append(w.b, `{"linked_reports":`...)
		w.b = strconv.AppendInt(w.b, l.LinkedReports, 10)
		w.b = append(w.b, `,"min_hop":`...)
		if l.MinHop == 0 {
			w.b = append(w.b, "null"...)
		} else {
			w.b = strconv.AppendInt(w.b, int64(l.MinHop), 10)
		}
		w.b = append(w.b, `,"confirmed_upstream":`...)
		w.b = strconv.AppendBool(w.b, l.ConfirmedUpstream)
		w.b = append(w.b, '}')
	}
	if w.field("marker") {
		w.b = v.appendMarker(w.b, l.Marker)
	}
	v.appendCorrections(&w, l.Counts)
	w.int("score", int64(l.Score))
	if w.field("risk_reasons") {
		if l.Reasons == nil {
			w.b = append(w.b, "null"...)
		} else {
			w.b = append(w.b, '[')
			for n, r := range l.Reasons {
				if n > 0 {
					w.b = append(w.b, ',')
				}
				w.b = jsonw.AppendString(w.b, r)
			}
			w.b = append(w.b, ']')
		}
	}
	w.time("watermark", l.Watermark)
	return append(w.b, '}')
}

// appendCorrections writes the holder's status and the police's clear
// (each absent when none) and cleared_count.
func (v View) appendCorrections(w *objWriter, c domain.Counts) {
	if h := c.HolderStatus; h != nil && w.field("holder_status") {
		w.b = append(w.b, `{"status":`...)
		w.b = jsonw.AppendString(w.b, string(h.Status))
		w.b = append(w.b, `,"since":`...)
		w.b = jsonw.AppendString(w.b, h.Since.UTC().Format(time.RFC3339Nano))
		w.b = append(w.b, '}')
	}
	if cl := c.Cleared; cl != nil && w.field("cleared") {
		w.b = append(w.b, `{"at":`...)
		w.b = jsonw.AppendString(w.b, cl.At.UTC().Format(time.RFC3339Nano))
		if !v.clearReason {
			w.b = append(w.b, `,"reason":`...)
			w.b = jsonw.AppendString(w.b, string(cl.Reason))
		}
		w.b = append(w.b, '}')
	}
	w.int("cleared_count", c.ClearedCount)
}

func (v View) appendMarker(b []byte, m *domain.Marker) []byte {
	if m == nil {
		return append(b, "null"...)
	}
	b = append(b, `{"fraud_type":`...)
	b = jsonw.AppendString(b, string(m.FraudType))
	if m.ByType != "" && !v.markerByType {
		b = append(b, `,"by_type":`...)
		b = jsonw.AppendString(b, string(m.ByType))
	}
	b = append(b, `,"registered_at":`...)
	b = jsonw.AppendString(b, m.RegisteredAt.Format(time.RFC3339Nano))
	return append(b, '}')
}

// objWriter writes the members of one object, skipping omitted ones.
type objWriter struct {
	b     []byte
	omit  []string
	count int
}

// field writes the name of the next member and reports whether to write
// its value (false: the view omits it).
func (w *objWriter) field(name string) bool {
	for _, o := range w.omit {
		if o == name {
			return false
		}
	}
	if w.count > 0 {
		w.b = append(w.b, ',')
	}
	w.count++
	w.b = append(w.b, '"')
	w.b = append(w.b, name...)
	w.b = append(w.b, '"', ':')
	return true
}

func (w *objWriter) int(name string, n int64) {
	if w.field(name) {
		w.b = strconv.AppendInt(w.b, n, 10)
	}
}

// time writes an RFC 3339 time, or null for the zero time.
func (w *objWriter) time(name string, t time.Time) {
	if !w.field(name) {
		return
	}
	if t.IsZero() {
		w.b = append(w.b, "null"...)
		return
	}
	w.b = append(w.b, '"')
	w.b = t.UTC().AppendFormat(w.b, time.RFC3339Nano)
	w.b = append(w.b, '"')
}

func appendCounts(b []byte, t domain.Tally) []byte {
	b = append(b, '{')
	for n, e := range t { // a Tally is in name order, as encoding/json sorts map keys
		if n > 0 {
			b = append(b, ',')
		}
		b = jsonw.AppendString(b, e.Name)
		b = append(b, ':')
		b = strconv.AppendInt(b, e.N, 10)
	}
	return append(b, '}')
}

// statsOrder lists the windows in the order encoding/json sorts their
// keys ("d30" < "d365" < "d7" < "d90"), with each window's key.
var statsOrder = func() []statKey {
	out := make([]statKey, len(domain.WindowDays))
	for w, d := range domain.WindowDays {
		out[w] = statKey{key: "d" + strconv.Itoa(d), w: w}
	}
	slices.SortFunc(out, func(a, b statKey) int { return strings.Compare(a.key, b.key) })
	return out
}()

type statKey struct {
	key string // "d7"…
	w   int    // index in domain.WindowDays
}

// appendStats writes the windows keyed "d7", "d30"….
func appendStats(b []byte, ws [len(domain.WindowDays)]domain.Window) []byte {
	b = append(b, '{')
	for n, o := range statsOrder {
		if n > 0 {
			b = append(b, ',')
		}
		b = jsonw.AppendString(b, o.key)
		b = append(b, `:{"reports":`...)
		b = strconv.AppendInt(b, ws[o.w].Reports, 10)
		b = append(b, `,"reporters":`...)
		b = strconv.AppendInt(b, ws[o.w].Reporters, 10)
		b = append(b, '}')
	}
	return append(b, '}')
}

// appendAmounts writes the windows' sums keyed "d7", "d30"….
func appendAmounts(b []byte, ws [len(domain.WindowDays)]domain.Sums) []byte {
	b = append(b, '{')
	for n, o := range statsOrder {
		if n > 0 {
			b = append(b, ',')
		}
		b = jsonw.AppendString(b, o.key)
		b = append(b, ':')
		b = appendSums(b, ws[o.w])
	}
	return append(b, '}')
}

// appendSums writes sums as {"EUR":"1249.95",…}, in currency order (as
// encoding/json sorts map keys).
func appendSums(b []byte, s domain.Sums) []byte {
	b = append(b, '{')
	for n, c := range s {
		if n > 0 {
			b = append(b, ',')
		}
		b = jsonw.AppendString(b, c.Currency)
		b = append(b, ':', '"')
		b = append(c.AppendValue(b), '"') // digits and a point: nothing to escape
	}
	return append(b, '}')
}
