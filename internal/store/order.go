package store

import (
	"context"
	"errors"
	"strings"

	"github.com/mulegate/mulegate/internal/outbox"
	"github.com/redis/go-redis/v9"
)

// Order per report. Every outbox entry of a report (the report, then its
// review and recovery events) is on the report's partition, in the order
// the steps happened. A consumer group delivers entries in that order but
// spreads consecutive ones over its consumers (several gateways, several
// workers), and an entry whose write failed stays pending while later
// ones go on. So before an entry's step is written (into a bank's feed,
// or to the police store), the relay asks whether an earlier entry of the
// same report is still pending in its group: if one is, this one waits.
// Delivery is in order, so every earlier entry was delivered before this
// one and is either pending (not done yet) or done; nothing is kept per
// report for this.

// HolderReady says whether the holders' relay may write e's step now: no
// earlier entry of its report is pending in the holders' group.
func (s *Outbox) HolderReady(ctx context.Context, e outbox.Entry) (bool, error) {
	return s.ready(ctx, holderGroup, e)
}

// ForwarderReady says whether e may go to the police store now: no
// earlier entry of its report is pending in the forwarders' group.
func (s *Outbox) ForwarderReady(ctx context.Context, e outbox.Entry) (bool, error) {
	return s.ready(ctx, forwarderGroup, e)
}

func (s *conn) ready(ctx context.Context, group string, e outbox.Entry) (bool, error) {
	n, err := earlierPendingScript.Run(ctx, s.rdb, []string{s.OutboxKey(e.Partition)},
		earlierPendingArgs{Group: group, Entry: e.StreamID, ReportID: e.ReportID}.argv()...).Int()
	if err != nil {
		if strings.HasPrefix(err.Error(), "NOGROUP") {
			return true, nil
		}
		return false, s.fail(opOutbox, "outbox: order check", err)
	}
	return n == 0, nil
}

// PendingForHolders returns the entries the holders' relay consumer holds
// (deferred or failed), oldest first, so it finishes them before it
// takes new ones.
func (s *Outbox) PendingForHolders(ctx context.Context, partition int, consumer string, count int) ([]outbox.Entry, error) {
	res, err := s.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{
		Group: holderGroup, Consumer: consumer, Streams: []string{s.OutboxKey(partition), "0"},
		Count: int64(count), Block: -1,
	}).Result()
	if errors.Is(err, redis.Nil) || (err != nil && strings.HasPrefix(err.Error(), "NOGROUP")) {
		return nil, nil
	}
	if err != nil {
		return nil, s.fail(opOutbox, "outbox: read own pending", err)
	}
	var out []outbox.Entry
	for _, st := range res {
		for _, m := range st.Messages {
			if len(m.Values) == 0 {
				// Deleted while pending (it cannot be: both groups must be
				// done first); acknowledge it away.
				_ = s.rdb.XAck(ctx, s.OutboxKey(partition), holderGroup, m.ID).Err()
				continue
			}
			out = append(out, s.entries(partition, []redis.XMessage{m})...)
		}
	}
	return out, nil
}
