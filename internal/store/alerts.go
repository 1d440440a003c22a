package store

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mulegate/mulegate/internal/domain"
	"github.com/redis/go-redis/v9"
)

// Alerts: one stream per bank org, "mg:{a:ORG}:alerts", trimmed by age
// (XADD MINID) to the alert retention. A stream entry id is the alert's
// cursor in the bank's feed. With an Idempotency-Key, the alert id is
// derived from (police org, key) and "mg:{a:ORG}:aids" maps it to its
// stream entry, so a repeated request never adds a second alert.
//
//	mg:{a:ORG}:alerts   stream  the bank's alerts, oldest first
//	mg:{a:ORG}:aids     hash    idempotent alert id -> stream entry id
//	mg:aidem:ID         hash    idempotency record: fingerprint (h), bank org (v)
const AlertChannel = "mg:alerts:new"

// PostAlert stores an alert for bankOrg. With an idempotency key, a repeat
// of the same request returns the first alert (replayed) and another
// request under the same key is a conflict.
func (s *Feeds) PostAlert(ctx context.Context, bankOrg, policeOrg, idemKey string, a domain.AlertSubmission) (domain.Alert, bool, error) {
	now := s.now()
	retention, eventRetention := s.opt.AlertRetention, s.opt.EventRetention
	id := randomID()
	idempotent := "0"
	if idemKey != "" {
		id = s.derivedID("alert", policeOrg, idemKey)
		if err := s.claim(ctx, opAlerts, "mg:aidem:"+id, a.Canonical(), bankOrg, max(s.opt.IdempotencyTTL, retention)+24*time.Hour); err != nil {
			return domain.Alert{}, false, err
		}
		idempotent = "1"
	}
	data, err := json.Marshal(alertCreated{AlertID: id, IBAN: a.IBAN.String(), Severity: string(a.Severity), Message: a.Message,
		Reference: a.Reference, CreatedAt: now.UTC().Format(time.RFC3339Nano), ExpiresAt: formatTimePtr(a.ExpiresAt)})
	if err != nil {
		return domain.Alert{}, false, domain.Internal("post alert: encode", err)
	}
	eventID := s.EventID(domain.EventAlertCreated, id)
	args := postAlertArgs{AlertID: id, Idempotent: idempotent, MinID: strconv.FormatInt(now.Add(-retention).UnixMilli(), 10),
		TTL: int64((retention + 24*time.Hour) / time.Second), Channel: AlertChannel, Bank: bankOrg,
		EventID: rawID(eventID), EventData: s.sealEventData(bankOrg, eventID, data),
		EventsMinID: strconv.FormatInt(now.Add(-eventRetention).UnixMilli(), 10),
		EventsTTL:   int64((eventRetention + 24*time.Hour) / time.Second), Now: now.UnixMilli(), EventsMax: s.opt.EventsMaxPerBank,
		Entry: []any{"iban", s.blobs.seal(adAlert(bankOrg, id), []byte(a.IBAN.String())), "severity", string(a.Severity),
			"message", a.Message, "reference", a.Reference, "police", policeOrg}}
	if a.ExpiresAt != nil {
		args.Entry = append(args.Entry, "expires", a.ExpiresAt.UnixMilli())
	}
	keys := []string{alertStream(bankOrg), alertIDs(bankOrg), eventStream(bankOrg), eventIDs(bankOrg)}
	v, err := s.runReplicated(ctx, postAlertScript, keys, args.argv()...)
	if err != nil {
		return domain.Alert{}, false, s.fail(opAlerts, "post alert script", err)
	}
	out, _ := v.([]any)
	if len(out) != 3 {
		return domain.Alert{}, false, domain.Internal("post alert: parse", errUnexpected(v))
	}
	trimmed, _ := out[2].(int64)
	s.countTrimmed(bankOrg, trimmed)
	fresh, _ := out[0].(int64)
	cursor, _ := out[1].(string)
	al := domain.Alert{ID: id, Cursor: cursor, BankOrg: bankOrg, IBAN: a.IBAN.String(), Severity: a.Severity,
		Message: a.Message, Reference: a.Reference, CreatedAt: cursorTime(cursor), ExpiresAt: a.ExpiresAt}
	return al, fresh == 0, nil
}

// alertCreated is the data of an alert.created event: the alert as
// /v1/alerts shows it (its cursor there aside).
type alertCreated struct {
	AlertID   string `json:"alert_id"`
	IBAN      string `json:"iban"`
	Severity  string `json:"severity"`
	Message   string `json:"message"`
	Reference string `json:"reference"`
	CreatedAt string `json:"created_at"`
	ExpiresAt string `json:"expires_at,omitempty"`
}

func formatTimePtr(t *time.Time) string {
	if t == nil {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// ValidCursor reports whether c can be a feed cursor: a Redis stream id,
// two unsigned 64-bit numbers. Anything else is the caller's mistake (400),
// never a Redis error.
func ValidCursor(c string) bool {
	ms, seq, ok := strings.Cut(c, "-")
	if !ok || ms == "" || seq == "" || strings.HasPrefix(ms, "+") || strings.HasPrefix(seq, "+") {
		return false
	}
	m, err1 := strconv.ParseUint(ms, 10, 64)
	q, err2 := strconv.ParseUint(seq, 10, 64)
	// Beyond any cursor the gateway could issue: a time more than a day
	// ahead of this clock (Redis stamps entries by its own clock, which
	// may run a little ahead), or a sequence no stream reaches. Such a
	// cursor reaches no Redis command (its successor overflows there).
	return err1 == nil && err2 == nil && m <= uint64(time.Now().Add(24*time.Hour).UnixMilli()) && q < 1<<48
}

func cursorTime(c string) time.Time {
	ms, _ := strconv.ParseInt(strings.SplitN(c, "-", 2)[0], 10, 64)
	return time.UnixMilli(ms).UTC()
}

// scanBudget bounds how many stream entries one page reads. A page that
// ends on the budget returns what it found with a cursor past everything
// it skipped, so a feed never stalls behind expired or filtered entries.
const scanBudget = 2000

// Alerts returns up to limit alerts of bankOrg after the cursor (exclusive;
// "" for the beginning), oldest first, leaving out expired alerts and
// alerts older than the retention. next is the cursor to continue from:
// the last alert returned when the page is full, else the last entry read
// (expired ones included), else after itself. more says that the stream
// has entries past next that this call did not read.
func (s *Feeds) Alerts(ctx context.Context, bankOrg, after string, limit int) (alerts []domain.Alert, next string, more bool, err error) {
	now := s.now()
	oldest := now.Add(-s.opt.AlertRetention)
	keep := func(m redis.XMessage) (domain.Alert, bool) {
		a := s.alertFrom(bankOrg, m)
		return a, !a.CreatedAt.Before(oldest) && (a.ExpiresAt == nil || a.ExpiresAt.After(now))
	}
	return scanStream(ctx, s.conn, alertStream(bankOrg), after, limit, keep)
}

// scanStream reads a feed stream after a cursor and keeps up to limit
// items that keep accepts, within scanBudget entries.
func scanStream[T any](ctx context.Context, s *conn, key, after string, limit int, keep func(redis.XMessage) (T, bool)) (out []T, next string, more bool, err error) {
	next = after
	out = make([]T, 0, limit)
	chunk := max(limit, 100)
	for read := 0; len(out) < limit; {
		if read >= scanBudget {
			return out, next, true, nil
		}
		start := "-"
		if next != "" {
			start = "(" + next
		}
		msgs, err := s.rdb.XRangeN(ctx, key, start, "+", int64(chunk)).Result()
		if err != nil {
			return nil, after, false, s.fail(opAlerts, "feed: read", err)
		}
		read += len(msgs)
		for n, m := range msgs {
			next = m.ID
			item, ok := keep(m)
			if !ok {
				continue
			}
			out = append(out, item)
			if len(out) == limit {
				return out, next, n < len(msgs)-1 || len(msgs) == chunk, nil
			}
		}
		if len(msgs) < chunk {
			break // the end of the stream
		}
	}
	return out, next, false, nil
}

// alertFrom reads an alert entry, opening its sealed IBAN.
func (s *conn) alertFrom(bankOrg string, m redis.XMessage) domain.Alert {
	a := domain.Alert{Cursor: m.ID, BankOrg: bankOrg, CreatedAt: cursorTime(m.ID)}
	a.ID, _ = m.Values["alert_id"].(string)
	ib, _ := m.Values["iban"].(string)
	if b, err := s.blobs.open(adAlert(bankOrg, a.ID), ib); err == nil {
		a.IBAN = string(b)
	}
	sev, _ := m.Values["severity"].(string)
	a.Severity = domain.Severity(sev)
	a.Message, _ = m.Values["message"].(string)
	a.Reference, _ = m.Values["reference"].(string)
	if v, ok := m.Values["expires"].(string); ok {
		if ms, err := strconv.ParseInt(v, 10, 64); err == nil {
			t := time.UnixMilli(ms).UTC()
			a.ExpiresAt = &t
		}
	}
	return a
}

// LastAlertCursor is the cursor of bankOrg's newest alert ("0-0" if
// none), so a stream that starts now sends only what comes after.
func (s *Feeds) LastAlertCursor(ctx context.Context, bankOrg string) (string, error) {
	return s.lastCursor(ctx, alertStream(bankOrg))
}

func (s *conn) lastCursor(ctx context.Context, key string) (string, error) {
	msgs, err := s.rdb.XRevRangeN(ctx, key, "+", "-", 1).Result()
	if err != nil {
		return "", s.fail(opAlerts, "feed: read", err)
	}
	if len(msgs) == 0 {
		return "0-0", nil
	}
	return msgs[0].ID, nil
}

// AlertHub tells waiting long polls and streams in this process that a
// bank has a new alert. One Redis subscription serves every waiter, so a
// waiting client costs no Redis connection.
type AlertHub struct {
	rdb redis.UniversalClient
	mu  sync.Mutex
	ch  map[string]chan struct{}
}

// NewAlertHub makes a hub; Run must run for it to hear anything.
func (s *Feeds) NewAlertHub() *AlertHub {
	return &AlertHub{rdb: s.rdb, ch: map[string]chan struct{}{}}
}

// Wait returns a channel that is closed at the next alert for org.
func (h *AlertHub) Wait(org string) <-chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	c, ok := h.ch[org]
	if !ok {
		c = make(chan struct{})
		h.ch[org] = c
	}
	return c
}

func (h *AlertHub) notify(org string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if c, ok := h.ch[org]; ok {
		close(c)
		delete(h.ch, org)
	}
}

// Run listens until ctx ends. Waiters re-check on their own every few
// seconds too, since pub/sub can miss a message during a reconnect.
func (h *AlertHub) Run(ctx context.Context) error {
	sub := h.rdb.Subscribe(ctx, AlertChannel)
	defer func() { _ = sub.Close() }() // shutting down: the connection goes either way
	ch := sub.Channel()
	for {
		select {
		case <-ctx.Done():
			return nil
		case m, ok := <-ch:
			if !ok {
				return nil
			}
			h.notify(m.Payload)
		}
	}
}
