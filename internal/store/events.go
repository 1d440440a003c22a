package store

import (
	"context"
	"strconv"
	"time"

	"github.com/mulegate/mulegate/internal/iban"
	"github.com/mulegate/mulegate/internal/report"
	"github.com/redis/go-redis/v9"
)

// Events: each bank org has one durable, ordered feed of what it must act
// on, a stream "mg:{a:ORG}:events" (the alert hash tag, so an alert and
// its alert.created event are written by one script), trimmed by age to
// the event retention (XADD MINID). An event's event_id is stable across
// redeliveries: "mg:{a:ORG}:eids" maps event ids to stream entries, so a
// writer that repeats itself (a relay that crashed after writing, before
// acknowledging) never adds a second entry. A stream entry id is the
// event's cursor.
//
//	mg:{a:ORG}:events   stream  the bank's events, oldest first
//	mg:{a:ORG}:eids     hash    event id -> stream entry id

func eventStream(org string) string { return "mg:{a:" + org + "}:events" }
func eventIDs(org string) string    { return "mg:{a:" + org + "}:eids" }

// appendEventScript adds an event to a bank's feed once per event id.
//
// KEYS: events stream, event ids
// ARGV: event id, min id, type, data (JSON), created ms, ttl s, channel, bank org
// Returns {1, cursor} when added, {0, cursor} when it was there already.
var appendEventScript = redis.NewScript(`
local existing = redis.call('HGET', KEYS[2], ARGV[1])
if existing then return {0, existing} end
local id = redis.call('XADD', KEYS[1], 'MINID', ARGV[2], '*', 'event_id', ARGV[1], 'type', ARGV[3],
  'data', ARGV[4], 'at', ARGV[5])
redis.call('HSET', KEYS[2], ARGV[1], id)
redis.call('EXPIRE', KEYS[2], ARGV[6])
redis.call('EXPIRE', KEYS[1], ARGV[6])
redis.call('PUBLISH', ARGV[7], ARGV[8])
return {1, id}
`)

// EventID is the stable id of an event about a subject (a report id, an
// IBAN pseudonym with a time…): the same event written twice has one id.
func (s *Store) EventID(typ report.EventType, subject string) string {
	return s.derivedID("event", string(typ), subject)
}

// AppendEvent adds an event to bankOrg's feed, once per event id; added
// is false when it was there already.
func (s *Store) AppendEvent(ctx context.Context, bankOrg string, e report.Event, retention time.Duration) (added bool, err error) {
	now := s.now()
	v, err := s.runReplicated(ctx, appendEventScript, []string{eventStream(bankOrg), eventIDs(bankOrg)},
		e.ID, strconv.FormatInt(now.Add(-retention).UnixMilli(), 10), string(e.Type), string(e.Data),
		e.CreatedAt.UnixMilli(), int64((retention+24*time.Hour)/time.Second), AlertChannel, bankOrg)
	if err != nil {
		return false, s.fail(opAlerts, "append event script", err)
	}
	out, _ := v.([]any)
	if len(out) != 2 {
		return false, report.Internal("append event: parse", errUnexpected(v))
	}
	n, _ := out[0].(int64)
	return n == 1, nil
}

// Events returns up to limit events of bankOrg after the cursor
// (exclusive; "" for the beginning), oldest first, of the given types
// (all when empty), leaving out events older than the retention. It
// follows the rules of Alerts: next moves past skipped entries, more says
// there is more to read.
func (s *Store) Events(ctx context.Context, bankOrg, after string, limit int, types map[report.EventType]bool, retention time.Duration) (events []report.Event, next string, more bool, err error) {
	oldest := s.now().Add(-retention)
	keep := func(m redis.XMessage) (report.Event, bool) {
		e := eventFrom(m)
		return e, !e.CreatedAt.Before(oldest) && (len(types) == 0 || types[e.Type])
	}
	return scanStream(ctx, s, eventStream(bankOrg), after, limit, keep)
}

// LastEventCursor is the cursor of bankOrg's newest event ("0-0" if
// none), so a stream that starts now sends only what comes after.
func (s *Store) LastEventCursor(ctx context.Context, bankOrg string) (string, error) {
	return s.lastCursor(ctx, eventStream(bankOrg))
}

func eventFrom(m redis.XMessage) report.Event {
	e := report.Event{Cursor: m.ID, CreatedAt: cursorTime(m.ID)}
	e.ID, _ = m.Values["event_id"].(string)
	typ, _ := m.Values["type"].(string)
	e.Type = report.EventType(typ)
	data, _ := m.Values["data"].(string)
	e.Data = []byte(data)
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
func (s *Store) ThresholdCrossing(ctx context.Context, raw string, n int64) (bool, report.Counts, error) {
	i, err := iban.Parse(raw)
	if err != nil {
		return false, report.Counts{}, report.Internal("threshold: parse", err)
	}
	c, err := s.Lookup(ctx, i)
	if err != nil {
		return false, c, err
	}
	book := s.keysFor(i).book()
	if c.Windows[1].Reporters < n {
		if err := s.rdb.HDel(ctx, book, "t").Err(); err != nil {
			return false, c, s.fail(opAlerts, "threshold: re-arm", err)
		}
		return false, c, nil
	}
	exists, err := s.rdb.HExists(ctx, book, "t").Result()
	if err != nil {
		return false, c, s.fail(opAlerts, "threshold: read", err)
	}
	return !exists, c, nil
}

// thresholdScript sets the book's threshold flag if the book exists.
var thresholdScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HSET', KEYS[1], 't', '1') end
return 1
`)

// MarkThresholdCrossed records that the crossing was announced.
func (s *Store) MarkThresholdCrossed(ctx context.Context, raw string) error {
	i, err := iban.Parse(raw)
	if err != nil {
		return report.Internal("threshold: parse", err)
	}
	// The flag lives in the book, so it goes with the IBAN's reports; a
	// book that expired meanwhile is not made again (it would have no TTL).
	if err := thresholdScript.Run(ctx, s.rdb, []string{s.keysFor(i).book()}).Err(); err != nil {
		return s.fail(opAlerts, "threshold: mark", err)
	}
	return nil
}

// dueKey is a bank's open reviews by deadline: report id -> respond_by
// ms, kept by the holders' relay (added with report.received, removed
// when the review is closed or the report cancelled).
func dueKey(org string) string { return "mg:{a:" + org + "}:due" }

// TrackDue records (open) or forgets a review the holder owes.
func (s *Store) TrackDue(ctx context.Context, holder, reportID string, respondBy time.Time, open bool) error {
	var err error
	if open {
		_, err = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			p.ZAdd(ctx, dueKey(holder), redis.Z{Score: float64(respondBy.UnixMilli()), Member: reportID})
			p.Expire(ctx, dueKey(holder), time.Duration(s.ttlSeconds())*time.Second)
			return nil
		})
	} else {
		err = s.rdb.ZRem(ctx, dueKey(holder), reportID).Err()
	}
	if err != nil {
		return s.fail(opAlerts, "reviews due: write", err)
	}
	return nil
}

// ReviewBacklog counts, per bank, the open reviews it owes and those
// past their deadline, in one pipelined round trip per node.
func (s *Store) ReviewBacklog(ctx context.Context, banks []string) (open, overdue map[string]int64, err error) {
	now := strconv.FormatInt(s.now().UnixMilli(), 10)
	late := make([]*redis.IntCmd, len(banks))
	all := make([]*redis.IntCmd, len(banks))
	_, err = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for n, b := range banks {
			late[n] = p.ZCount(ctx, dueKey(b), "-inf", "("+now)
			all[n] = p.ZCard(ctx, dueKey(b))
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
