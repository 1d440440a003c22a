package store

import (
	"context"
	"encoding/json"
	"strconv"
	"time"

	"github.com/mulegate/mulegate/internal/domain"
	"github.com/mulegate/mulegate/internal/iban"
)

// Marker returns an IBAN's marker, nil when there is none.
func (s *IBANs) Marker(ctx context.Context, i iban.IBAN) (*domain.Marker, error) {
	vals, err := s.rdb.HMGet(ctx, s.keysFor(i).book(), "m:ft", "m:bt", "m:by", "m:at", "m:det").Result()
	if err != nil {
		return nil, s.fail(opReport, "marker: read", err)
	}
	var m markerFields
	for n, f := range []string{"m:ft", "m:bt", "m:by", "m:at", "m:det"} {
		if v, ok := vals[n].(string); ok {
			m.set(f, v)
		}
	}
	return m.marker(), nil
}

// ChangeMarker sets (m != nil) or lifts (m == nil) an IBAN's marker for
// caller, if the domain allows it (domain.MarkerChange) against the
// marker there is now; a concurrent change makes it decide again. It
// returns the marker before the change.
func (s *IBANs) ChangeMarker(ctx context.Context, i iban.IBAN, c domain.Caller, holder string, m *domain.Marker) (*domain.Marker, error) {
	k := s.keysFor(i)
	for attempt := 0; attempt < 5; attempt++ {
		old, err := s.Marker(ctx, i)
		if err != nil {
			return nil, err
		}
		if err := domain.MarkerChange(old, c, holder, m != nil); err != nil {
			return old, err
		}
		expected := ""
		if old != nil {
			expected = formatMs(old.RegisteredAt)
		}
		now := s.now().Truncate(time.Millisecond) // as the watermark stores it
		args := markerArgs{Expected: expected, Now: now.UnixMilli(), TTL: s.ttlSeconds(), Wake: WakeChannel, Partition: k.part, Pseudo: k.pseudo}
		if c.Type == domain.OrgPolice && holder != "" {
			typ, ev := domain.EventMarkerRegistered, markerEvent{IBAN: i.String()}
			if m != nil {
				ev.FraudType, ev.RegisteredAt = string(m.FraudType), m.RegisteredAt.UTC().Format(time.RFC3339Nano)
			} else {
				typ, ev.CancelledAt = domain.EventMarkerCancelled, now.UTC().Format(time.RFC3339Nano)
			}
			if args.Subject, args.Body, err = s.markerFeed(k, ev, now); err != nil {
				return old, err
			}
			args.Holder, args.Event = holder, string(typ)
		}
		if m != nil {
			args.Fields = []any{"m:ft", string(m.FraudType), "m:bt", string(m.ByType), "m:by", m.ByOrg,
				"m:at", m.RegisteredAt.UnixMilli(), "m:det", m.Details}
		}
		v, err := s.runReplicated(ctx, markerScript, []string{k.book(), s.OutboxKey(k.part)}, args.argv()...)
		if err != nil {
			return old, s.fail(opReport, "marker script", err)
		}
		if words, ok := v.([]any); ok && len(words) > 0 {
			s.spreadWords(ctx, k, words[1:])
			return old, nil
		}
	}
	return nil, domain.Unavailable("marker", errTooManyChanges)
}

// markerFeed is the feed entry that tells a holder of a marker change
// made at at (ev): its id, the IBAN's pseudonym and the time, and its
// sealed body. Setting or lifting a marker and a clear that lifts one
// queue it.
func (s *IBANs) markerFeed(k ibanKeys, ev markerEvent, at time.Time) (subject, body string, err error) {
	data, err := json.Marshal(ev)
	if err != nil {
		return "", "", domain.Internal("marker: encode", err)
	}
	subject = k.pseudo + ":" + strconv.FormatInt(at.UnixMilli(), 10)
	return subject, s.blobs.seal(adOutbox(subject), data), nil
}

// markerEvent is the data of a marker.registered or marker.cancelled event.
type markerEvent struct {
	IBAN         string `json:"iban"`
	FraudType    string `json:"fraud_type,omitempty"`
	RegisteredAt string `json:"registered_at,omitempty"`
	CancelledAt  string `json:"cancelled_at,omitempty"`
}
