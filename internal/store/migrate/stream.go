package migrate

import (
	"context"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// rewriteStream rewrites the entries of a stream that fix changes (it
// edits e.Values in place and says whether it did), keeping every entry
// id, the stream's TTL, and each consumer group's last-delivered id and
// pending entries (their consumer, idle time and delivery count), so the
// forwarders and the relay go on exactly where they were. It writes a
// copy under the same hash tag and renames it over the stream; run with
// the gateways stopped (an entry added meanwhile would be lost). It
// returns how many entries fix changed (0: the stream is left as it is).
func rewriteStream(ctx context.Context, rdb redis.UniversalClient, key string, fix func(e redis.XMessage) bool) (int, error) {
	msgs, err := rdb.XRange(ctx, key, "-", "+").Result()
	if err != nil {
		return 0, err
	}
	n := 0
	for _, e := range msgs {
		if fix(e) {
			n++
		}
	}
	if n == 0 {
		return 0, nil
	}
	groups, err := rdb.XInfoGroups(ctx, key).Result()
	if err != nil {
		return 0, err
	}
	ttl, err := rdb.PTTL(ctx, key).Result()
	if err != nil {
		return 0, err
	}
	tmp := key + ":migrating"
	if err := rdb.Del(ctx, tmp).Err(); err != nil {
		return 0, err
	}
	for _, e := range msgs {
		if err := rdb.XAdd(ctx, &redis.XAddArgs{Stream: tmp, ID: e.ID, Values: e.Values}).Err(); err != nil {
			return 0, err
		}
	}
	for _, g := range groups {
		if err := copyGroup(ctx, rdb, key, tmp, g, msgs); err != nil {
			return 0, err
		}
	}
	if err := rdb.Rename(ctx, tmp, key).Err(); err != nil {
		return 0, err
	}
	if ttl > 0 {
		return n, rdb.PExpire(ctx, key, ttl).Err()
	}
	return n, nil
}

// copyGroup makes group g on the copy as it is on the stream: the copy's
// entries up to g's last-delivered id are delivered to a transient
// consumer, the ones g has pending are claimed by their own consumer with
// their idle time and delivery count, the rest acknowledged.
func copyGroup(ctx context.Context, rdb redis.UniversalClient, from, to string, g redis.XInfoGroup, msgs []redis.XMessage) error {
	if err := rdb.XGroupCreate(ctx, to, g.Name, "0-0").Err(); err != nil {
		return err
	}
	pending := map[string]redis.XPendingExt{}
	if g.Pending > 0 {
		ps, err := rdb.XPendingExt(ctx, &redis.XPendingExtArgs{Stream: from, Group: g.Name, Start: "-", End: "+", Count: g.Pending}).Result()
		if err != nil {
			return err
		}
		for _, p := range ps {
			pending[p.ID] = p
		}
	}
	delivered := 0
	for _, e := range msgs {
		if !after(e.ID, g.LastDeliveredID) {
			delivered++
		}
	}
	const mover = "mulegate-migrate"
	if delivered > 0 {
		got, err := rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: g.Name, Consumer: mover, Streams: []string{to, ">"},
			Count: int64(delivered), Block: -1}).Result()
		if err != nil {
			return err
		}
		if err := settle(ctx, rdb, to, g.Name, got, pending); err != nil {
			return err
		}
	}
	if err := rdb.XGroupDelConsumer(ctx, to, g.Name, mover).Err(); err != nil {
		return err
	}
	return rdb.XGroupSetID(ctx, to, g.Name, g.LastDeliveredID).Err()
}

// settle hands each entry read for the copy's group back to the consumer
// that had it pending, or acknowledges it.
func settle(ctx context.Context, rdb redis.UniversalClient, stream, group string, got []redis.XStream, pending map[string]redis.XPendingExt) error {
	for _, s := range got {
		for _, e := range s.Messages {
			p, ok := pending[e.ID]
			if !ok {
				if err := rdb.XAck(ctx, stream, group, e.ID).Err(); err != nil {
					return err
				}
				continue
			}
			err := rdb.Do(ctx, "XCLAIM", stream, group, p.Consumer, 0, e.ID,
				"IDLE", p.Idle.Milliseconds(), "RETRYCOUNT", p.RetryCount, "JUSTID").Err()
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// after says whether stream id a comes after b ("ms-seq").
func after(a, b string) bool {
	am, as := splitID(a)
	bm, bs := splitID(b)
	if am != bm {
		return am > bm
	}
	return as > bs
}

func splitID(id string) (ms, seq uint64) {
	m, s, _ := strings.Cut(id, "-")
	ms, err := strconv.ParseUint(m, 10, 64)
	if err != nil {
		return 0, 0
	}
	seq, _ = strconv.ParseUint(s, 10, 64)
	return ms, seq
}
