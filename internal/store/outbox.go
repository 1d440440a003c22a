package store

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/mulegate/mulegate/internal/report"
	"github.com/redis/go-redis/v9"
)

// The outbox: one stream per partition ("mg:{pK}:outbox"), read by the
// consumer group forwarderGroup. An entry stays in its stream until the
// police store has answered for good (forwarded or rejected); then one
// script records the outcome on the report and acknowledges and deletes
// the entry, so the outbox does not grow without bound.
const (
	forwarderGroup = "forwarders"
	// WakeChannel carries the partition number of every newly queued
	// report, so idle forwarders sleep instead of polling 64 streams.
	WakeChannel = "mg:outbox:wake"
	// BreakerChannel and breakerKey share a tripped police breaker
	// between gateway processes: "open until" as Unix milliseconds.
	BreakerChannel = "mg:breaker:police"
	breakerKey     = "mg:breaker:police:open_until"
)

// finishScript records a final outcome (forwarded or rejected) on the
// report and removes the entry from the outbox, atomically, on one slot.
//
// KEYS: stream, report
// ARGV: group, entry id, status, police reference, forwarded at ms, error
var finishScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[2]) == 1 then
  redis.call('HINCRBY', KEYS[2], 'at', 1)
  if ARGV[3] == 'forwarded' then
    redis.call('HSET', KEYS[2], 'st', 'forwarded', 'pref', ARGV[4], 'fwd', ARGV[5])
    redis.call('HDEL', KEYS[2], 'err')
  else
    redis.call('HSET', KEYS[2], 'st', ARGV[3], 'err', ARGV[6])
  end
end
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[1], ARGV[2])
return 1
`)

// attemptScript records a failed attempt that will be retried, and resets
// the entry's idle time for this consumer, so that a worker that is still
// retrying is not mistaken for a dead one by XAUTOCLAIM.
//
// KEYS: stream, report
// ARGV: group, entry id, consumer, error
var attemptScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[2]) == 1 then
  redis.call('HINCRBY', KEYS[2], 'at', 1)
  redis.call('HSET', KEYS[2], 'err', ARGV[4])
end
redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[3], 0, ARGV[2], 'JUSTID')
return 1
`)

// EnsureGroups creates the consumer group on every outbox partition (and
// the stream, if it does not exist yet). Safe to call repeatedly.
func (s *Store) EnsureGroups(ctx context.Context) error {
	for p := range s.opt.Partitions {
		err := s.rdb.XGroupCreateMkStream(ctx, s.OutboxKey(p), forwarderGroup, "0").Err()
		if err != nil && !strings.HasPrefix(err.Error(), "BUSYGROUP") {
			return s.fail("outbox: create group", err)
		}
	}
	return nil
}

// ReadOutbox takes up to count new entries of a partition for consumer.
// It does not block: forwarders wait on the wake channel instead.
func (s *Store) ReadOutbox(ctx context.Context, partition int, consumer string, count int) ([]report.OutboxEntry, error) {
	res, err := s.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{
		Group: forwarderGroup, Consumer: consumer, Streams: []string{s.OutboxKey(partition), ">"},
		Count: int64(count), Block: -1,
	}).Result()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil && strings.HasPrefix(err.Error(), "NOGROUP") {
		// Redis lost the group (a restart without AOF, a flush): make it again.
		if gerr := s.EnsureGroups(ctx); gerr != nil {
			return nil, gerr
		}
		return nil, nil
	}
	if err != nil {
		return nil, s.fail("outbox: read", err)
	}
	var out []report.OutboxEntry
	for _, st := range res {
		out = append(out, s.entries(partition, st.Messages)...)
	}
	return out, nil
}

// ClaimStale takes over entries that another consumer has held for longer
// than minIdle: that consumer died mid-flight (or is stuck), and the
// report must still reach the police.
func (s *Store) ClaimStale(ctx context.Context, partition int, consumer string, minIdle time.Duration, count int) ([]report.OutboxEntry, error) {
	key := s.OutboxKey(partition)
	msgs, _, err := s.rdb.XAutoClaim(ctx, &redis.XAutoClaimArgs{
		Stream: key, Group: forwarderGroup, Consumer: consumer, MinIdle: minIdle, Start: "0-0", Count: int64(count),
	}).Result()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil && strings.HasPrefix(err.Error(), "NOGROUP") {
		return nil, s.EnsureGroups(ctx)
	}
	if err != nil {
		return nil, s.fail("outbox: claim", err)
	}
	return s.entries(partition, msgs), nil
}

func (s *Store) entries(partition int, msgs []redis.XMessage) []report.OutboxEntry {
	out := make([]report.OutboxEntry, 0, len(msgs))
	for _, m := range msgs {
		id, _ := m.Values["id"].(string)
		body, _ := m.Values["body"].(string)
		if id == "" {
			// A deleted or foreign entry: acknowledge it away below.
			_ = s.rdb.XAck(context.Background(), s.OutboxKey(partition), forwarderGroup, m.ID).Err()
			continue
		}
		out = append(out, report.OutboxEntry{Partition: partition, StreamID: m.ID, ReportID: id, Body: []byte(body)})
	}
	return out
}

// MarkForwarded records that the police store has the report.
func (s *Store) MarkForwarded(ctx context.Context, e report.OutboxEntry, policeRef string, at time.Time) error {
	return s.finish(ctx, e, report.StatusForwarded, policeRef, at, "")
}

// MarkRejected records that the police store refused the report for good.
func (s *Store) MarkRejected(ctx context.Context, e report.OutboxEntry, reason string) error {
	return s.finish(ctx, e, report.StatusRejected, "", time.Time{}, reason)
}

func (s *Store) finish(ctx context.Context, e report.OutboxEntry, st report.Status, ref string, at time.Time, reason string) error {
	tag := s.tags[e.Partition]
	err := finishScript.Run(ctx, s.rdb, []string{s.OutboxKey(e.Partition), reportKey(tag, e.ReportID)},
		forwarderGroup, e.StreamID, string(st), ref, at.UnixMilli(), reason).Err()
	if err != nil {
		return s.fail("outbox: finish", err)
	}
	return nil
}

// RecordAttempt notes a failed attempt that will be retried.
func (s *Store) RecordAttempt(ctx context.Context, e report.OutboxEntry, consumer, reason string) error {
	tag := s.tags[e.Partition]
	err := attemptScript.Run(ctx, s.rdb, []string{s.OutboxKey(e.Partition), reportKey(tag, e.ReportID)},
		forwarderGroup, e.StreamID, consumer, reason).Err()
	if err != nil {
		return s.fail("outbox: attempt", err)
	}
	return nil
}

// Release hands entries back on shutdown: their idle time is set past
// the visibility timeout, so the next claim sweep of any other worker
// takes them over at once instead of after a full timeout.
func (s *Store) Release(ctx context.Context, partition int, consumer string, visibility time.Duration, streamIDs ...string) error {
	if len(streamIDs) == 0 {
		return nil
	}
	args := []any{"XCLAIM", s.OutboxKey(partition), forwarderGroup, consumer, 0}
	for _, id := range streamIDs {
		args = append(args, id)
	}
	args = append(args, "IDLE", (visibility + time.Second).Milliseconds(), "JUSTID")
	err := s.rdb.Do(ctx, args...).Err()
	if err != nil && !errors.Is(err, redis.Nil) {
		return s.fail("outbox: release", err)
	}
	return nil
}

// OutboxStats reports each partition's depth and the age of its oldest
// entry, with one pipelined round trip per Redis node.
func (s *Store) OutboxStats(ctx context.Context) ([]report.OutboxStats, error) {
	n := s.opt.Partitions
	lens := make([]*redis.IntCmd, n)
	firsts := make([]*redis.XMessageSliceCmd, n)
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i := range n {
			lens[i] = p.XLen(ctx, s.OutboxKey(i))
			firsts[i] = p.XRangeN(ctx, s.OutboxKey(i), "-", "+", 1)
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, s.fail("outbox: stats", err)
	}
	out := make([]report.OutboxStats, n)
	for i := range n {
		out[i] = report.OutboxStats{Partition: i, Depth: lens[i].Val()}
		if msgs := firsts[i].Val(); len(msgs) > 0 {
			if ms, err := strconv.ParseInt(strings.SplitN(msgs[0].ID, "-", 2)[0], 10, 64); err == nil {
				out[i].Oldest = time.UnixMilli(ms)
			}
		}
	}
	return out, nil
}

// WakeUps subscribes to the wake channel: each message is the partition
// of a newly queued report. The returned function closes the subscription.
func (s *Store) WakeUps(ctx context.Context) (<-chan int, func() error) {
	return s.subscribeInts(ctx, WakeChannel)
}

// BreakerTrips subscribes to shared breaker trips ("open until" ms).
func (s *Store) BreakerTrips(ctx context.Context) (<-chan int64, func() error) {
	sub := s.rdb.Subscribe(ctx, BreakerChannel)
	out := make(chan int64, 16)
	go func() {
		defer close(out)
		for m := range sub.Channel() {
			if v, err := strconv.ParseInt(m.Payload, 10, 64); err == nil {
				select {
				case out <- v:
				default:
				}
			}
		}
	}()
	return out, sub.Close
}

func (s *Store) subscribeInts(ctx context.Context, channel string) (<-chan int, func() error) {
	sub := s.rdb.Subscribe(ctx, channel)
	out := make(chan int, 1024)
	go func() {
		defer close(out)
		for m := range sub.Channel() {
			if v, err := strconv.Atoi(m.Payload); err == nil {
				select {
				case out <- v:
				default: // a full queue already means "there is work"
				}
			}
		}
	}()
	return out, sub.Close
}

// ShareBreakerTrip records that the police breaker is open until t and
// tells the other gateway processes.
func (s *Store) ShareBreakerTrip(ctx context.Context, until time.Time) error {
	ms := until.UnixMilli()
	ttl := time.Until(until)
	if ttl <= 0 {
		return nil
	}
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, breakerKey, ms, ttl)
		p.Publish(ctx, BreakerChannel, ms)
		return nil
	})
	if err != nil {
		return s.fail("breaker: share", err)
	}
	return nil
}

// SharedBreakerOpenUntil returns the "open until" another process
// recorded, or the zero time.
func (s *Store) SharedBreakerOpenUntil(ctx context.Context) (time.Time, error) {
	v, err := s.rdb.Get(ctx, breakerKey).Int64()
	if errors.Is(err, redis.Nil) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, s.fail("breaker: read", err)
	}
	return time.UnixMilli(v), nil
}
