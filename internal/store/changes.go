package store

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/mulegate/mulegate/internal/domain"
	"github.com/mulegate/mulegate/internal/outbox"
)

// Changes to a report after intake: the holder's review actions, the
// reporter's cancel, and the steps of its funds recovery. The domain
// decides each against the report as read; the change script applies it
// on the IBAN's slot if the record is still the one it was decided on
// (a concurrent change makes it read and decide again), with the outbox
// entries that tell the police store and the feeds, after the report's
// own entry and in the order they happened.

// entry is an outbox entry's field/value pairs, as Store.entries reads
// them back.
type entry []string

// eventEntry is a report's event for the police store (kind "event"),
// with what the holders' relay reads: the holder, the event's name and
// the IBAN sealed for the holder's feed.
func (s *conn) eventEntry(k ibanKeys, id, name string, body []byte, holder, ibanText string) entry {
	return entry{"id", id, "ps", k.pseudo, "kind", "event", "key", id + ":" + name, "body", s.blobs.seal(adOutbox(id), body),
		"h", holder, "ev", name, "ib", s.sealIBAN(id, ibanText)}
}

// feed adds a feed event for org (its type and its data, sealed), which
// the holders' relay writes into that org's feed.
func (s *conn) feed(e entry, to string, typ domain.EventType, data any) (entry, error) {
	b, err := json.Marshal(data)
	if err != nil {
		return nil, err
	}
	return append(e, "to", to, "ft", string(typ), "fd", s.blobs.seal(adFeed(e.key()), b)), nil
}

// key is the entry's police idempotency key.
func (e entry) key() string {
	for i := 0; i+1 < len(e); i += 2 {
		if e[i] == "key" {
			return e[i+1]
		}
	}
	return ""
}

// packEntries packs outbox entries for the change script: per entry the
// number of its strings, then each string's length and bytes ("3:2:id…"),
// so sealed (binary) values pass unchanged.
func packEntries(entries []entry) string {
	var b strings.Builder
	for _, e := range entries {
		b.WriteString(strconv.Itoa(len(e)))
		b.WriteByte(':')
		for _, v := range e {
			b.WriteString(strconv.Itoa(len(v)))
			b.WriteByte(':')
			b.WriteString(v)
		}
	}
	return b.String()
}

// change is one decided change: the record to write over the one read,
// the report's own fields to set ("" deletes), the not-cancelled count's
// change, and the entries to queue.
type change struct {
	rec       record
	fields    []any
	uncounted int
	entries   []entry
}

// apply runs the change script; false when the record changed meanwhile.
func (s *conn) apply(ctx context.Context, k ibanKeys, id string, old bookRecord, c change, now time.Time) (bool, error) {
	raw := rawID(id)
	core, rest, err := c.rec.encode()
	if err == nil && len(core) > maxRecord && c.rec.PoliceRef != "" {
		// Too long for the book's compact encoding: the police reference
		// goes to its own field, as the finish script does.
		c.fields = append(c.fields, "p:"+raw, c.rec.PoliceRef)
		c.rec.PoliceRef, c.rec.RefSpilled = "", true
		core, rest, err = c.rec.encode()
	}
	if err != nil {
		return false, domain.Internal("change: record", err)
	}
	args := changeArgs{ID: raw, Expected: old.core, Record: core, Uncounted: c.uncounted, Now: now.UnixMilli(),
		Entries: packEntries(c.entries), Wake: WakeChannel, Partition: k.part, Fields: append(c.fields, "x:"+raw, rest)}
	v, err := s.runReplicated(ctx, changeScript, []string{k.book(), s.OutboxKey(k.part)}, args.argv()...)
	if err != nil {
		return false, s.fail(opReport, "change script", err)
	}
	n, _ := v.(int64)
	return n == 1, nil
}

// Review applies a review action (acknowledge, close, cancel) for caller.
// Closing tells the reporter (report.reviewed); cancelling releases an
// open recovery. changed is false for a repeat of an action already
// applied.
func (s *Reports) Review(ctx context.Context, id string, caller domain.Caller, req domain.ReviewRequest) (st domain.ReportStatus, changed bool, err error) {
	for range 5 {
		var k ibanKeys
		var old bookRecord
		if st, k, old, err = s.readReport(ctx, id); err != nil {
			return st, false, err
		}
		now := s.now()
		next, changed, err := st.Review.Apply(st.PartiesOf(caller), req, now)
		if err != nil || !changed {
			return st, false, err
		}
		if req.Action != domain.ActionCancel {
			if err := st.RefuseCleared(); err != nil {
				return st, false, err
			}
		}
		c, rel, err := s.reviewChange(k, st, old, caller, req, next, now)
		if err != nil {
			return st, false, err
		}
		if ok, err := s.apply(ctx, k, id, old, c, now); err != nil || ok {
			if err == nil && len(st.Children) > 0 {
				s.spreadWord(ctx, k, id, st.Children)
			}
			st.Review = next
			if rel != nil {
				st.Recovery = rel
			}
			return st, err == nil, err
		}
	}
	return st, false, domain.Unavailable("review", errTooManyChanges)
}

// reviewChange is what a review action writes and queues; rel is the
// recovery a cancel released (nil for none).
func (s *Reports) reviewChange(k ibanKeys, st domain.ReportStatus, old bookRecord, caller domain.Caller, req domain.ReviewRequest,
	next domain.Review, now time.Time) (c change, rel *domain.Recovery, err error) {
	id, raw := st.ID, rawID(st.ID)
	body, err := json.Marshal(outbox.NewPoliceEvent(id, caller.Org, next, req))
	if err != nil {
		return c, nil, domain.Internal("review: encode", err)
	}
	c.rec = old.rec
	c.rec.Review, c.rec.Ack, c.rec.Closed, c.rec.Cancels, c.rec.Result, c.rec.FraudType =
		next.State, next.AcknowledgedAt, next.ClosedAt, next.CancelledAt, next.Result, next.FraudType
	c.fields = []any{"d:" + raw, next.Details, "c:" + raw, next.CancelReason}
	if st.Review.State != domain.ReviewCancelled && next.State == domain.ReviewCancelled {
		c.uncounted = -1
	}
	e := s.eventEntry(k, id, outbox.PoliceEventName(req.Action), body, st.Review.Holder, st.IBAN)
	if req.Action == domain.ActionClose {
		e, err = s.feed(e, st.ReporterOrg, domain.EventReportReviewed, reviewedData{ReportID: id, IBAN: st.IBAN,
			Result: string(next.Result), FraudType: string(next.FraudType), ClosedAt: rfc3339(next.ClosedAt)})
		if err != nil {
			return c, nil, domain.Internal("review: encode", err)
		}
	}
	c.entries = []entry{e}
	if len(st.Children) > 0 {
		// The linked reports hear whether this report confirms them now.
		c.entries = append(c.entries, upstreamEntry(k, st))
	}
	if req.Action == domain.ActionCancel && st.Recovery != nil {
		if r, ok := st.Recovery.ReleaseOnCancel(now); ok {
			if err := s.recoveryChange(&c, k, st, r, caller.Org); err != nil {
				return c, nil, err
			}
			rel = &r
		}
	}
	return c, rel, nil
}

// Recover applies a recovery step for caller (the domain decides:
// domain.ApplyRecovery); changed is false for an identical repeat.
func (s *Reports) Recover(ctx context.Context, id string, caller domain.Caller, step domain.RecoveryStep, pol domain.RecoveryPolicy) (
	rec domain.Recovery, st domain.ReportStatus, changed bool, err error) {
	for range 5 {
		var k ibanKeys
		var old bookRecord
		if st, k, old, err = s.readReport(ctx, id); err != nil {
			return rec, st, false, err
		}
		now := s.now()
		rc := domain.RecoveryCase{Parties: st.PartiesOf(caller), Caller: caller, Holder: st.Review.Holder, Review: st.Review,
			Amount: st.Amount, Recovery: st.Recovery, ReportedBy: st.ReporterOrg}
		next, changed, err := domain.ApplyRecovery(rc, step, now, pol)
		if err != nil || !changed {
			return next, st, false, err
		}
		if err := st.RefuseCleared(); err != nil {
			return next, st, false, err
		}
		c := change{rec: old.rec}
		if err := s.recoveryChange(&c, k, st, next, caller.Org); err != nil {
			return next, st, false, err
		}
		if ok, err := s.apply(ctx, k, id, old, c, now); err != nil || ok {
			st.Recovery = &next
			return next, st, err == nil, err
		}
	}
	return rec, st, false, domain.Unavailable("recovery", errTooManyChanges)
}

// recoveryChange adds a recovery step to c: the recovery kept (sealed),
// its state and what it returned in the record, and the step's entry:
// for the police store, and for the feed of the other side (the holder
// hears of the requester's steps, the requester of the holder's).
func (s *Reports) recoveryChange(c *change, k ibanKeys, st domain.ReportStatus, r domain.Recovery, byOrg string) error {
	id := st.ID
	b, err := encodeRecovery(r)
	if err != nil {
		return domain.Internal("recovery: encode", err)
	}
	c.rec.Recovery, c.rec.Recovered = r.State, r.Returned
	c.fields = append(c.fields, "r:"+rawID(id), s.blobs.seal(adRecovery(id), b))
	body, err := json.Marshal(outbox.NewPoliceRecoveryEvent(id, byOrg, r))
	if err != nil {
		return domain.Internal("recovery: encode", err)
	}
	name := outbox.RecoveryEventName(r.State)
	e := s.eventEntry(k, id, name, body, st.Review.Holder, st.IBAN)
	to, data := r.RequestedBy, recoveryData(st, r)
	if r.State == domain.RecoveryRequested || r.State == domain.RecoveryReleased {
		to = st.Review.Holder
	}
	if e, err = s.feed(e, to, domain.EventType(name), data); err != nil {
		return domain.Internal("recovery: encode", err)
	}
	c.entries = append(c.entries, append(e, "dl", deadline(r), "rq", r.RequestedBy))
	return nil
}

// deadline is what the holder owes next, ms ("" when nothing: final), for
// the overdue recoveries gauge.
func deadline(r domain.Recovery) string {
	switch r.State {
	case domain.RecoveryRequested:
		return formatMs(r.HoldBy)
	case domain.RecoveryHeld:
		return formatMs(r.AnswerBy)
	}
	return ""
}

// reviewedData is report.reviewed's data (for the reporter).
type reviewedData struct {
	ReportID  string `json:"report_id"`
	IBAN      string `json:"iban"`
	Result    string `json:"result"`
	FraudType string `json:"fraud_type,omitempty"`
	ClosedAt  string `json:"closed_at"`
}

// recoveryEventData is the data of a recovery.* feed event.
type recoveryEventData struct {
	ReportID    string         `json:"report_id"`
	IBAN        string         `json:"iban"`
	Amount      *domain.Amount `json:"amount,omitempty"`
	ReporterOrg string         `json:"reporter_org,omitempty"`
	HoldBy      string         `json:"hold_by,omitempty"`
	AnswerBy    string         `json:"answer_by,omitempty"`
	Reason      string         `json:"reason,omitempty"`
	Reference   string         `json:"reference,omitempty"`
	Partial     *bool          `json:"partial,omitempty"`
}

func recoveryData(st domain.ReportStatus, r domain.Recovery) recoveryEventData {
	d := recoveryEventData{ReportID: st.ID, IBAN: st.IBAN}
	switch r.State {
	case domain.RecoveryRequested:
		d.Amount, d.ReporterOrg, d.HoldBy, d.AnswerBy = &r.Requested, st.ReporterOrg, rfc3339(r.HoldBy), rfc3339(r.AnswerBy)
	case domain.RecoveryHeld:
		d.Amount = &r.Held
	case domain.RecoveryReturned:
		partial := r.Partial()
		d.Amount, d.Reference, d.Partial = &r.Returned, r.ReturnReference, &partial
	case domain.RecoveryRejected, domain.RecoveryReleased:
		d.Reason = r.Reason
	}
	return d
}

func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }
