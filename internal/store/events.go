package store

import (
	"context"
	"encoding/hex"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/mulegate/mulegate/internal/domain"
	"github.com/mulegate/mulegate/internal/iban"
	"github.com/redis/go-redis/v9"
)

// Events: each bank org has one durable, ordered feed of what it must act
// on, a stream "mg:{a:ORG}:events" (the alert hash tag, so an alert and
// its alert.created event are written by one script), bounded by age (the
// event retention, XADD MINID) and by size (EventsMaxPerBank, oldest
// trimmed first). An event's event_id is stable across redeliveries:
// "mg:{a:ORG}:eidx" holds the ids of the events in the feed, scored by
// when they were added, trimmed with the feed, so a writer that repeats
// itself (a relay that crashed after writing, before acknowledging) never
// adds a second entry, and the ids live no longer than the events they
// guard. A stream entry id is the event's cursor.
//
//	mg:{a:ORG}:events   stream  the bank's events, oldest first
//	mg:{a:ORG}:eidx     zset    event id, by when it was added (ms)
//
// An entry's fields (layout 5): event_id (its 16 bytes), type (a code of
// eventCodes; receivedCode: see there), data (sealed under the event id's
// nonce, in the compact form of compact.go) and at (ms; left out when it
// is within a second of the entry id's time, which then stands for it).
// The event id set holds the raw ids of the events it records.

// EventID is the stable id of an event about a subject (a report id, an
// IBAN pseudonym with a time…): the same event written twice has one id.
func (s *conn) EventID(typ domain.EventType, subject string) string {
	return s.derivedID("event", string(typ), subject)
}

// AppendEvent adds an event to bankOrg's feed, once per event id; added
// is false when it was there already. With an error, added says whether
// it was written before the error.
func (s *Feeds) AppendEvent(ctx context.Context, bankOrg string, e domain.Event) (added bool, err error) {
	out, err := s.AppendEvents(ctx, []OrgEvent{{Org: bankOrg, Event: e}})
	return len(out) == 1 && out[0], err
}

// OrgEvent is an event for one org's feed. A report.received that opens
// a review names its report and deadline: the review goes into the org's
// due set with the event (append_event.lua), and the due set keeps it
// for as long as the event, open or closed, as the event's record of
// having been written (the event id set does not hold it).
type OrgEvent struct {
	Org       string
	Event     domain.Event
	ReportID  string
	RespondBy time.Time
}

func (oe OrgEvent) keys() []string {
	return []string{eventStream(oe.Org), eventIDs(oe.Org), dueKey(oe.Org)}
}

// appendArgs are the append_event script's arguments for oe at now.
func (s *Feeds) appendArgs(oe OrgEvent, now time.Time) []any {
	retention, e := s.opt.EventRetention, oe.Event
	a := appendEventArgs{EventID: rawID(e.ID), MinID: strconv.FormatInt(now.Add(-retention).UnixMilli(), 10), Type: eventCode(e.Type),
		Created: e.CreatedAt.UnixMilli(), TTL: int64((retention + 24*time.Hour) / time.Second), Channel: AlertChannel, Bank: oe.Org,
		Now: now.UnixMilli(), MaxLen: s.opt.EventsMaxPerBank}
	if oe.ReportID != "" && !oe.RespondBy.IsZero() {
		a.DueID, a.DueBy, a.DueGone, a.ClosedGone = workMember(oe.ReportID), oe.RespondBy.UnixMilli(), s.dueGone(now), s.closedGone(now)
		a.DueTTL = s.ttlSeconds()
		if e.Type == domain.EventReportReceived && e.ID == s.EventID(e.Type, oe.ReportID) {
			if data, dropped := compactJSONWithout(e.Data, "report_id", oe.ReportID); dropped {
				a.EventID, a.Type, a.Data = a.DueID, receivedCode, s.sealCompact(oe.Org, e.ID, data)
			}
		}
	}
	if a.Data == "" {
		a.Data = s.sealEventData(oe.Org, e.ID, e.Data)
	}
	return a.argv()
}

// receivedCode is the type of a report.received entry whose event_id
// field holds its report's raw id, not the event's, and whose data leaves
// out the report_id: both follow from the report id (the event id is
// EventID of it), so the entry does not repeat them (16 bytes less).
const receivedCode = "s"

// withReportID puts the report_id an entry left out back first into its
// data (a JSON object).
func withReportID(data []byte, reportID string) []byte {
	out := make([]byte, 0, len(data)+48)
	out = append(append(append(out, `{"report_id":"`...), reportID...), '"')
	if len(data) > 2 {
		out = append(out, ',')
	}
	return append(out, data[1:]...)
}

// appended reads the append_event script's answer: whether the event
// was new (and counts what it trimmed).
func (s *Feeds) appended(bankOrg string, v any) (bool, error) {
	out, _ := v.([]any)
	if len(out) != 3 {
		return false, domain.Internal("append event: parse", errUnexpected(v))
	}
	n, _ := out[0].(int64)
	trimmed, _ := out[2].(int64)
	s.countTrimmed(bankOrg, trimmed)
	return n == 1, nil
}

// sealEventData seals an event's data, in the compact form, for its
// place in org's feed.
func (s *conn) sealEventData(org, eventID string, data []byte) string {
	return s.sealCompact(org, eventID, compactJSON(data))
}

// sealCompact seals data already in the compact form.
func (s *conn) sealCompact(org, eventID string, compact []byte) string {
	if raw := rawID(eventID); raw != "" {
		return s.blobs.sealForID(adEvent(org, eventID), raw, compact)
	}
	return s.blobs.seal(adEvent(org, eventID), compact)
}

// eventCodes are the short codes feed entries name their types by.
// Append only: a code, once written, means its type for the retention.
var eventCodes = map[domain.EventType]string{
	domain.EventReportReceived: "r", domain.EventReportCancelled: "c", domain.EventAlertCreated: "a",
	domain.EventIBANThreshold: "t", domain.EventMarkerRegistered: "m", domain.EventMarkerCancelled: "M",
	domain.EventReportReviewed: "v", domain.EventRecoveryRequested: "q", domain.EventRecoveryHeld: "h",
	domain.EventRecoveryReturned: "R", domain.EventRecoveryRejected: "j", domain.EventRecoveryReleased: "l",
	domain.EventIBANCorrected: "x",
}

var eventTypes = func() map[string]domain.EventType {
	m := make(map[string]domain.EventType, len(eventCodes))
	for t, c := range eventCodes {
		m[c] = t
	}
	return m
}()

// eventCode is how a feed entry names t: its code, or its name if it has
// none.
func eventCode(t domain.EventType) string {
	if c, ok := eventCodes[t]; ok {
		return c
	}
	return string(t)
}

// eventType reads a feed entry's type: a code or a name.
func eventType(v string) domain.EventType {
	if v == receivedCode {
		return domain.EventReportReceived
	}
	if t, ok := eventTypes[v]; ok {
		return t
	}
	return domain.EventType(v)
}

// countTrimmed adds to the bank's count of events trimmed for size.
func (s *conn) countTrimmed(org string, n int64) {
	if n <= 0 {
		return
	}
	c, _ := s.trimmed.LoadOrStore(org, new(atomic.Int64))
	c.(*atomic.Int64).Add(n)
}

// EventsTrimmed is, per bank, how many events were trimmed from its feed
// because it held events.max_per_bank (by this process).
func (s *Feeds) EventsTrimmed() map[string]int64 {
	out := map[string]int64{}
	s.trimmed.Range(func(k, v any) bool {
		out[k.(string)] = v.(*atomic.Int64).Load()
		return true
	})
	return out
}

// Events returns up to limit events of bankOrg after the cursor
// (exclusive; "" for the beginning), oldest first, of the given types
// (all when empty), leaving out events older than the retention. It
// follows the rules of Alerts: next moves past skipped entries, more says
// there is more to read.
func (s *Feeds) Events(ctx context.Context, bankOrg, after string, limit int, types map[domain.EventType]bool) (events []domain.Event, next string, more bool, err error) {
	oldest := s.now().Add(-s.opt.EventRetention)
	keep := func(m redis.XMessage) (domain.Event, bool) {
		e := s.eventFrom(bankOrg, m)
		return e, !e.CreatedAt.Before(oldest) && (len(types) == 0 || types[e.Type])
	}
	return scanStream(ctx, s.conn, eventStream(bankOrg), after, limit, keep)
}

// LastEventCursor is the cursor of bankOrg's newest event ("0-0" if
// none), so a stream that starts now sends only what comes after.
func (s *Feeds) LastEventCursor(ctx context.Context, bankOrg string) (string, error) {
	return s.lastCursor(ctx, eventStream(bankOrg))
}

// eventFrom reads a feed entry, opening its sealed data (an entry that
// does not open has an empty object).
func (s *conn) eventFrom(org string, m redis.XMessage) domain.Event {
	e := domain.Event{Cursor: m.ID, CreatedAt: cursorTime(m.ID)}
	e.ID, _ = m.Values["event_id"].(string)
	typ, _ := m.Values["type"].(string)
	e.Type = eventType(typ)
	reportID := ""
	if typ == receivedCode && len(e.ID) == 16 {
		reportID = hex.EncodeToString([]byte(e.ID))
		e.ID = s.EventID(domain.EventReportReceived, reportID)
	}
	raw := rawID(e.ID)
	if len(e.ID) == 16 {
		raw, e.ID = e.ID, hex.EncodeToString([]byte(e.ID))
	}
	data, _ := m.Values["data"].(string)
	var err error
	if e.Data, err = s.blobs.openForID(adEvent(org, e.ID), raw, data); err == nil {
		e.Data, err = expandJSON(e.Data)
	}
	switch {
	case err != nil || len(e.Data) < 2 || e.Data[0] != '{':
		e.Data = []byte("{}")
	case reportID != "":
		e.Data = withReportID(e.Data, reportID)
	}
	if at, ok := m.Values["at"].(string); ok {
		if t := msTime(at); !t.IsZero() {
			e.CreatedAt = t
		}
	}
	return e
}

// ThresholdCrossing says whether an IBAN has just reached n distinct
// reporters within 30 days: at or above n and not yet marked as crossed.
// Below n the mark is lifted, so the next crossing is announced again
// (after cancellations, or once old reports leave the window). It returns
// the counts it judged by.
func (s *IBANs) ThresholdCrossing(ctx context.Context, raw string, n int64) (bool, domain.Counts, error) {
	crossed, counts, err := s.ThresholdCrossings(ctx, []string{raw}, n)
	if err != nil {
		return false, domain.Counts{}, err
	}
	return crossed[0], counts[0], nil
}

// MarkThresholdCrossed records that the crossing was announced.
func (s *IBANs) MarkThresholdCrossed(ctx context.Context, raw string) error {
	i, err := iban.Parse(raw)
	if err != nil {
		return domain.Internal("threshold: parse", err)
	}
	// The flag lives in the book, so it goes with the IBAN's reports; a
	// book that expired meanwhile is not made again (it would have no TTL).
	if err := thresholdScript.Run(ctx, s.rdb, []string{s.keysFor(i).book()}).Err(); err != nil {
		return s.fail(opAlerts, "threshold: mark", err)
	}
	return nil
}

// TrackDue records a review the holder owes (open), or that it owes it
// no more (closed, cancelled, cleared): the report stays in the due set,
// scored minus when it closed, as its report.received's record.
func (s *Feeds) TrackDue(ctx context.Context, holder, reportID string, respondBy time.Time, open bool) error {
	now, key := s.now(), dueKey(holder)
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		if !open {
			p.ZAddXX(ctx, key, redis.Z{Score: -float64(now.UnixMilli()), Member: workMember(reportID)})
			return nil
		}
		p.ZAdd(ctx, key, redis.Z{Score: float64(respondBy.UnixMilli()), Member: workMember(reportID)})
		p.ZRemRangeByScore(ctx, key, "0", s.dueGone(now))
		p.ZRemRangeByScore(ctx, key, s.closedGone(now), "(0")
		p.Expire(ctx, key, time.Duration(s.ttlSeconds())*time.Second)
		return nil
	})
	if err != nil {
		return s.fail(opAlerts, "reviews due: write", err)
	}
	return nil
}

// closedGone is the score above which (up to 0) a closed review's entry
// has outlived its report.received: closed before the event retention.
func (s *conn) closedGone(now time.Time) string {
	return "(" + strconv.FormatInt(-now.Add(-s.opt.EventRetention).UnixMilli(), 10)
}

// dueGone is the deadline score below which (down to 0) a review can no
// longer be answered: its report (accepted RespondWithin before its
// deadline) is past retention.
func (s *conn) dueGone(now time.Time) string {
	return "(" + strconv.FormatInt(now.Add(-s.opt.Retention+s.opt.RespondWithin).UnixMilli(), 10)
}

// ReviewBacklog counts, per bank, the open reviews it owes and those
// past their deadline, in one pipelined round trip per node. Reviews of
// reports past retention leave the set first.
func (s *Feeds) ReviewBacklog(ctx context.Context, banks []string) (open, overdue map[string]int64, err error) {
	t := s.now()
	now, gone := strconv.FormatInt(t.UnixMilli(), 10), s.dueGone(t)
	late := make([]*redis.IntCmd, len(banks))
	all := make([]*redis.IntCmd, len(banks))
	_, err = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for n, b := range banks {
			p.ZRemRangeByScore(ctx, dueKey(b), "0", gone)
			late[n] = p.ZCount(ctx, dueKey(b), "0", "("+now)
			all[n] = p.ZCount(ctx, dueKey(b), "0", "+inf")
		}
		return nil
	})
	if err != nil {
		return nil, nil, s.fail(opAlerts, "reviews due: read", err)
	}
	open, overdue = make(map[string]int64, len(banks)), make(map[string]int64, len(banks))
	for n, b := range banks {
		open[b], overdue[b] = all[n].Val(), late[n].Val()
	}
	return open, overdue, nil
}

// TrackRecovery records what a holder owes next on a recovery (hold_by
// while requested, answer_by while held), or forgets it (a zero deadline:
// the recovery is final): in the holder's list (the overdue recoveries
// gauge, GET /v1/recoveries?role=holder) and the requester's
// (role=requester; "" when the entry predates it).
func (s *Feeds) TrackRecovery(ctx context.Context, holder, requester, reportID string, deadline time.Time) error {
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, key := range []string{recoveriesDueKey(holder), recoveriesAskedKey(requester)} {
			switch {
			case key == recoveriesAskedKey(""):
			case deadline.IsZero():
				p.ZRem(ctx, key, workMember(reportID))
			default:
				p.ZAdd(ctx, key, redis.Z{Score: float64(deadline.UnixMilli()), Member: workMember(reportID)})
				p.ZRemRangeByScore(ctx, key, "-inf", s.dueGone(s.now()))
				p.Expire(ctx, key, time.Duration(s.ttlSeconds())*time.Second)
			}
		}
		return nil
	})
	if err != nil {
		return s.fail(opAlerts, "recoveries due: write", err)
	}
	return nil
}

// The work lists (due, rdue, rreq) hold each report by its raw id (16
// bytes; layout 4's hex ids are rewritten by "mulegate migrate"). Raw ids
// sort as their hex forms do, so the cursor holds.
func workMember(reportID string) string {
	if raw := rawID(reportID); raw != "" {
		return raw
	}
	return reportID
}

// WorkList reads one page of an org's work list, earliest deadline first,
// after a cursor (WorkCursor of the last item read; "" from the start),
// with deadlines before dueBefore only (zero: all). The lists are kept by
// the holders' relay: a report is in them within about a second.
func (s *Feeds) WorkList(ctx context.Context, list domain.WorkList, org string, after domain.WorkCursor, limit int, dueBefore time.Time) ([]domain.WorkItem, error) {
	key := map[domain.WorkList]func(string) string{domain.ReviewsDue: dueKey, domain.RecoveriesHeld: recoveriesDueKey,
		domain.RecoveriesAsked: recoveriesAskedKey}[list](org)
	by := redis.ZRangeBy{Min: "0", Max: "+inf", Count: int64(limit) + 1} // closed reviews score below 0
	if !after.IsZero() {
		by.Min = strconv.FormatInt(after.Due, 10)
	}
	if !dueBefore.IsZero() {
		by.Max = "(" + strconv.FormatInt(dueBefore.UnixMilli(), 10)
	}
	var out []domain.WorkItem
	for {
		rows, err := s.rdb.ZRangeByScoreWithScores(ctx, key, &by).Result()
		if err != nil {
			return nil, s.fail(opAlerts, "work list: read", err)
		}
		for _, r := range rows {
			id, _ := r.Member.(string)
			if len(id) == 16 {
				id = hex.EncodeToString([]byte(id))
			}
			due := int64(r.Score)
			if !after.IsZero() && due == after.Due && id <= after.ID {
				continue // at the cursor's deadline: members come in order
			}
			if len(out) == limit {
				return out, nil
			}
			out = append(out, domain.WorkItem{ReportID: id, Due: time.UnixMilli(due).UTC()})
		}
		if int64(len(rows)) < by.Count {
			return out, nil
		}
		by.Offset += by.Count
	}
}

// RecoveriesOverdue counts, per bank, the recoveries it has not held or
// answered by their deadline.
func (s *Feeds) RecoveriesOverdue(ctx context.Context, banks []string) (map[string]int64, error) {
	now := "(" + strconv.FormatInt(s.now().UnixMilli(), 10)
	late := make([]*redis.IntCmd, len(banks))
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for n, b := range banks {
			late[n] = p.ZCount(ctx, recoveriesDueKey(b), "-inf", now)
		}
		return nil
	})
	if err != nil {
		return nil, s.fail(opAlerts, "recoveries due: read", err)
	}
	out := make(map[string]int64, len(banks))
	for n, b := range banks {
		out[b] = late[n].Val()
	}
	return out, nil
}
