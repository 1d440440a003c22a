package store

import (
	"context"
	"encoding/json"
	"strconv"
	"time"

	"github.com/mulegate/mulegate/internal/iban"
	"github.com/mulegate/mulegate/internal/report"
	"github.com/redis/go-redis/v9"
)

// markerScript sets or lifts an IBAN's marker (the m:* fields of its
// book) if it is still the one the domain decided on (compare and set on
// its registration time), and moves the IBAN's watermark.
//
// When the police act on an IBAN a bank holds, the same step queues a
// feed entry on the IBAN's outbox partition, from which the holders'
// relay writes marker.registered or marker.cancelled into that bank's
// feed: the bank hears of it even if this process dies right after.
//
// KEYS: book, outbox
// ARGV: expected registration ms ("" for none), now ms, ttl s, holder
// ("" for no feed entry), event type, event subject, event data, wake
// channel, partition, then field/value pairs to set (none: lift)
// Returns 1 when applied, 0 when the marker changed meanwhile.
var markerScript = redis.NewScript(recordLua + `
local b = KEYS[1]
local at = redis.call('HGET', b, 'm:at') or ''
if at ~= ARGV[1] then return 0 end
if ARGV[4] ~= '' then
  redis.call('XADD', KEYS[2], '*', 'id', ARGV[6], 'kind', 'feed', 'h', ARGV[4], 'ev', ARGV[5], 'body', ARGV[7])
  redis.call('PUBLISH', ARGV[8], ARGV[9])
end
redis.call('HDEL', b, 'm:ft', 'm:bt', 'm:by', 'm:at', 'm:det')
for k = 10, #ARGV, 2 do
  if ARGV[k + 1] ~= '' then redis.call('HSET', b, ARGV[k], ARGV[k + 1]) end
end
local wm, lo, nc = getw(b)
setw(b, tonumber(ARGV[2]), lo, nc)
-- A marker keeps its book for the retention after its last write; once
-- lifted, a book with records is retired by the report index (prune).
if #ARGV < 10 and lo then redis.call('PERSIST', b) else redis.call('EXPIRE', b, ARGV[3]) end
return 1
`)

// Marker returns an IBAN's marker, nil when there is none.
func (s *Store) Marker(ctx context.Context, i iban.IBAN) (*report.Marker, error) {
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
// caller, if the domain allows it (report.MarkerChange) against the
// marker there is now; a concurrent change makes it decide again. It
// returns the marker before the change.
func (s *Store) ChangeMarker(ctx context.Context, i iban.IBAN, c report.Caller, holder string, m *report.Marker) (*report.Marker, error) {
	k := s.keysFor(i)
	for attempt := 0; attempt < 5; attempt++ {
		old, err := s.Marker(ctx, i)
		if err != nil {
			return nil, err
		}
		if err := report.MarkerChange(old, c, holder, m != nil); err != nil {
			return old, err
		}
		expected := ""
		if old != nil {
			expected = formatMs(old.RegisteredAt)
		}
		now := s.now()
		feedHolder, typ, data := "", report.EventMarkerRegistered, []byte("{}")
		if c.Type == report.OrgPolice && holder != "" {
			feedHolder = holder
			ev := markerEvent{IBAN: i.String()}
			if m != nil {
				ev.FraudType, ev.RegisteredAt = string(m.FraudType), m.RegisteredAt.UTC().Format(time.RFC3339Nano)
			} else {
				typ, ev.CancelledAt = report.EventMarkerCancelled, now.UTC().Format(time.RFC3339Nano)
			}
			if data, err = json.Marshal(ev); err != nil {
				return old, report.Internal("marker: encode", err)
			}
		}
		subject := k.pseudo + ":" + strconv.FormatInt(now.UnixMilli(), 10)
		args := []any{expected, now.UnixMilli(), s.ttlSeconds(), feedHolder, string(typ), subject, s.blobs.seal(adOutbox(subject), data), WakeChannel, k.part}
		if m != nil {
			args = append(args, "m:ft", string(m.FraudType), "m:bt", string(m.ByType), "m:by", m.ByOrg,
				"m:at", m.RegisteredAt.UnixMilli(), "m:det", m.Details)
		}
		v, err := s.runReplicated(ctx, markerScript, []string{k.book(), s.OutboxKey(k.part)}, args...)
		if err != nil {
			return old, s.fail(opReport, "marker script", err)
		}
		if n, _ := v.(int64); n == 1 {
			return old, nil
		}
	}
	return nil, report.Unavailable("marker", errTooManyChanges)
}

// markerEvent is the data of a marker.registered or marker.cancelled event.
type markerEvent struct {
	IBAN         string `json:"iban"`
	FraudType    string `json:"fraud_type,omitempty"`
	RegisteredAt string `json:"registered_at,omitempty"`
	CancelledAt  string `json:"cancelled_at,omitempty"`
}
