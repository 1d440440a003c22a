package store

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/mulegate/mulegate/internal/outbox"

	"github.com/mulegate/mulegate/internal/domain"
	"github.com/redis/go-redis/v9"
)

// The outbox: one stream per partition ("mg:{pK}:outbox"), read by the
// consumer group forwarderGroup. An entry stays in its stream until the
// police store has answered for good (forwarded or rejected); then one
// script records the outcome on the report and acknowledges and deletes
// the entry, so the outbox does not grow without bound.
const (
	forwarderGroup = "forwarders"
	// holderGroup reads the same entries to tell the holding bank (its
	// event feed). An entry is deleted only once both groups are done
	// with it.
	holderGroup = "holders"
	// WakeChannel carries the partition number of every newly queued
	// report, so idle forwarders sleep instead of polling 64 streams.
	WakeChannel = "mg:outbox:wake"
	// BreakerChannel and breakerKey share a tripped police breaker
	// between gateway processes: the trip's id, and how long it lasts
	// (the message's milliseconds, the key's own expiry), never a time.
	BreakerChannel = "mg:breaker:police"
	breakerKey     = "mg:breaker:police:trip"
)

// ParkEvent keeps an event of a rejected report aside for requeue and
// takes it out of the outbox; false when the report is not rejected (any
// more).
func (s *Outbox) ParkEvent(ctx context.Context, e outbox.Entry) (bool, error) {
	k := s.entryBook(e)
	n, err := parkScript.Run(ctx, s.rdb, []string{s.OutboxKey(e.Partition), k.book(), rejectedKey(k.tag), parkedKey(k.tag)},
		parkArgs{Group: forwarderGroup, Entry: e.StreamID, ID: rawID(e.ReportID), ReportID: e.ReportID, EventKey: e.Key,
			Body: s.blobs.seal(adOutbox(e.ReportID), e.Body), OtherGroup: holderGroup, Event: e.Event, TTL: s.ttlSeconds()}.argv()...).Int()
	if err != nil {
		return false, s.fail(opOutbox, "outbox: park script", err)
	}
	return n == 1, nil
}

// EnsureGroups creates the consumer group on every outbox partition (and
// the stream, if it does not exist yet). Safe to call repeatedly.
func (s *Outbox) EnsureGroups(ctx context.Context) error {
	for p := range s.opt.Partitions {
		for _, g := range []string{forwarderGroup, holderGroup} {
			// "0-0", not "0": every Redis reads it as the start, and the
			// group's last-delivered id is then always "ms-seq" (miniredis
			// reported "0" back, which the scripts could not read).
			err := s.rdb.XGroupCreateMkStream(ctx, s.OutboxKey(p), g, "0-0").Err()
			if err != nil && !strings.HasPrefix(err.Error(), "BUSYGROUP") {
				return s.fail(opOutbox, "outbox: create group", err)
			}
		}
	}
	return nil
}

// ReadOutbox takes up to count new entries of a partition for consumer.
// It does not block: forwarders wait on the wake channel instead.
func (s *Outbox) ReadOutbox(ctx context.Context, partition int, consumer string, count int) ([]outbox.Entry, error) {
	return s.readGroup(ctx, forwarderGroup, partition, consumer, count)
}

// ReadForHolders takes up to count new entries of a partition for the
// holders' feed relay.
func (s *Outbox) ReadForHolders(ctx context.Context, partition int, consumer string, count int) ([]outbox.Entry, error) {
	return s.readGroup(ctx, holderGroup, partition, consumer, count)
}

// ClaimForHolders takes over entries another feed relay held for longer
// than minIdle (it died), walking the whole pending list.
func (s *Outbox) ClaimForHolders(ctx context.Context, partition int, consumer string, minIdle time.Duration, count int) ([]outbox.Entry, error) {
	var out []outbox.Entry
	for cursor := "0-0"; ; {
		msgs, next, err := s.rdb.XAutoClaim(ctx, &redis.XAutoClaimArgs{Stream: s.OutboxKey(partition), Group: holderGroup,
			Consumer: consumer, MinIdle: minIdle, Start: cursor, Count: int64(count)}).Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			if strings.HasPrefix(err.Error(), "NOGROUP") {
				return out, s.EnsureGroups(ctx)
			}
			return out, s.fail(opOutbox, "outbox: claim for holders", err)
		}
		out = append(out, s.entries(partition, msgs)...)
		if next == "" || next == "0-0" {
			return out, nil
		}
		cursor = next
	}
}

// DoneForHolders records that the holder's feed has the entry; the entry
// leaves the outbox once the forwarders are done with it too.
func (s *Outbox) DoneForHolders(ctx context.Context, e outbox.Entry) error {
	return s.DoneForHoldersMany(ctx, []outbox.Entry{e})
}

func (s *Outbox) readGroup(ctx context.Context, group string, partition int, consumer string, count int) ([]outbox.Entry, error) {
	res, err := s.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{
		Group: group, Consumer: consumer, Streams: []string{s.OutboxKey(partition), ">"},
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
		return nil, s.fail(opOutbox, "outbox: read", err)
	}
	var out []outbox.Entry
	for _, st := range res {
		out = append(out, s.entries(partition, st.Messages)...)
	}
	return out, nil
}

// ClaimStale takes over entries that another consumer has held for longer
// than minIdle: that consumer died mid-flight (or is stuck), and the
// report must still reach the police. It scans the pending list from
// cursor ("0-0" to start) and returns the cursor to continue from, "0-0"
// once the whole list was walked.
func (s *Outbox) ClaimStale(ctx context.Context, partition int, consumer, cursor string, minIdle time.Duration, count int) ([]outbox.Entry, string, error) {
	key := s.OutboxKey(partition)
	if cursor == "" {
		cursor = "0-0"
	}
	msgs, next, err := s.rdb.XAutoClaim(ctx, &redis.XAutoClaimArgs{
		Stream: key, Group: forwarderGroup, Consumer: consumer, MinIdle: minIdle, Start: cursor, Count: int64(count),
	}).Result()
	if errors.Is(err, redis.Nil) {
		return nil, "0-0", nil
	}
	if err != nil && strings.HasPrefix(err.Error(), "NOGROUP") {
		return nil, "0-0", s.EnsureGroups(ctx)
	}
	if err != nil {
		return nil, "0-0", s.fail(opOutbox, "outbox: claim", err)
	}
	if next == "" {
		next = "0-0"
	}
	return s.entries(partition, msgs), next, nil
}

// DropIdleConsumers removes the consumers of a partition that have been
// idle for longer than minIdle and hold nothing: workers of processes
// that stopped.
func (s *Outbox) DropIdleConsumers(ctx context.Context, partition int, minIdle time.Duration) (int, error) {
	key := s.OutboxKey(partition)
	dropped := 0
	for _, group := range []string{forwarderGroup, holderGroup} {
		cs, err := s.rdb.XInfoConsumers(ctx, key, group).Result()
		if err != nil {
			if strings.HasPrefix(err.Error(), "NOGROUP") || strings.Contains(err.Error(), "no such key") {
				continue
			}
			return dropped, s.fail(opOutbox, "outbox: list consumers", err)
		}
		for _, c := range cs {
			if c.Pending > 0 || c.Idle < minIdle {
				continue
			}
			n, err := dropConsumerScript.Run(ctx, s.rdb, []string{key}, dropConsumerArgs{Group: group, Consumer: c.Name}.argv()...).Int()
			if err != nil {
				return dropped, s.fail(opOutbox, "outbox: drop consumer script", err)
			}
			dropped += n
		}
	}
	return dropped, nil
}

// DropConsumers removes the named consumers (of either group) of every
// partition that hold nothing (a relay's own workers, at shutdown), in
// one pipelined round trip per node.
func (s *Outbox) DropConsumers(ctx context.Context, names []string) error {
	err := s.pipelined(ctx, func(p redis.Pipeliner) error {
		for part := range s.opt.Partitions {
			for _, n := range names {
				for _, group := range []string{forwarderGroup, holderGroup} {
					dropConsumerScript.EvalSha(ctx, p, []string{s.OutboxKey(part)}, dropConsumerArgs{Group: group, Consumer: n}.argv()...)
				}
			}
		}
		return nil
	})
	if err != nil {
		return s.fail(opOutbox, "outbox: drop consumer script", err)
	}
	return nil
}

func (s *conn) entries(partition int, msgs []redis.XMessage) []outbox.Entry {
	out := make([]outbox.Entry, 0, len(msgs))
	for _, m := range msgs {
		id, _ := m.Values["id"].(string)
		body, _ := m.Values["body"].(string)
		if id == "" {
			// A deleted or foreign entry: acknowledge it away below.
			_ = s.rdb.XAck(context.Background(), s.OutboxKey(partition), forwarderGroup, m.ID).Err()
			continue
		}
		kind, _ := m.Values["kind"].(string)
		key, _ := m.Values["key"].(string) // "" for a report: its id (the client's default)
		e := outbox.Entry{Partition: partition, StreamID: m.ID, ReportID: id, Kind: outbox.Kind(kind), Key: key}
		// A body that does not open stays empty: the police store refuses
		// it (400) and it is kept aside as rejected, never sent garbled.
		e.Body, _ = s.blobs.open(adOutbox(id), body)
		e.Pseudonym, _ = m.Values["ps"].(string)
		e.TraceParent, _ = m.Values["tp"].(string)
		e.Holder, _ = m.Values["h"].(string)
		e.Event, _ = m.Values["ev"].(string)
		if ib, _ := m.Values["ib"].(string); ib != "" {
			if b, err := s.blobs.open(adIBAN(id), ib); err == nil {
				e.IBAN = string(b)
			}
		}
		if rb, ok := m.Values["rb"].(string); ok {
			e.RespondBy = msTime(rb)
		}
		e.PoliceOnly = m.Values["ro"] == "1"
		e.Source, _ = m.Values["src"].(string)
		if kids, _ := m.Values["kids"].(string); kids != "" {
			e.Children = splitIDs(kids)
		}
		if e.Kind == outbox.KindCorrect {
			e.ClearReason, _ = m.Values["cr"].(string)
			e.PreviousRisk, _ = m.Values["pr"].(string)
			ca, _ := m.Values["ca"].(string)
			e.ClearedAt, _ = strconv.ParseInt(ca, 10, 64)
		}
		if ft, _ := m.Values["ft"].(string); ft != "" {
			e.FeedTo, _ = m.Values["to"].(string)
			fd, _ := m.Values["fd"].(string)
			if b, err := s.blobs.open(adFeed(key), fd); err == nil {
				e.FeedType, e.FeedData = ft, b
			}
		}
		if dl, ok := m.Values["dl"].(string); ok {
			e.Deadline = msTime(dl)
		}
		e.Requester, _ = m.Values["rq"].(string)
		out = append(out, e)
	}
	return out
}

// MarkForwarded records that the police store has the report (or the
// review event).
func (s *Outbox) MarkForwarded(ctx context.Context, e outbox.Entry, policeRef string, at time.Time) error {
	return s.finish(ctx, e, domain.StatusForwarded, policeRef, at, "")
}

// MarkRejected records that the police store refused the report for good.
// A refused review event is only removed: the report keeps its status.
func (s *Outbox) MarkRejected(ctx context.Context, e outbox.Entry, reason string) error {
	return s.finish(ctx, e, domain.StatusRejected, "", time.Time{}, reason)
}

// ReportForwardingStatus is the police status of the report an entry
// belongs to (queued, forwarded, rejected); a review event waits until its
// report is no longer queued.
func (s *Outbox) ReportForwardingStatus(ctx context.Context, e outbox.Entry) (domain.Status, error) {
	k := s.entryBook(e)
	rec, err := s.rdb.HGet(ctx, k.book(), rawID(e.ReportID)).Result()
	if errors.Is(err, redis.Nil) {
		return domain.StatusRejected, nil // the report is gone (expired): nothing to attach the event to
	}
	if err != nil {
		return "", s.fail(opOutbox, "outbox: report status", err)
	}
	r, err := decodeRecord(rec, "", "")
	if err != nil {
		return "", domain.Internal("outbox: report status", err)
	}
	return r.Status, nil
}

// SourceSettled says whether a linked report may go to the police store:
// the police have (or refused) the report it came from, which is on
// another IBAN's slot. A report without a source, or whose source is gone
// (past retention), is settled.
func (s *Outbox) SourceSettled(ctx context.Context, e outbox.Entry) (bool, error) {
	if e.Source == "" {
		return true, nil
	}
	k, err := s.locate(ctx, e.Source)
	if domain.ErrorCode(err) == domain.CodeNotFound {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	rec, err := s.rdb.HGet(ctx, k.book(), rawID(e.Source)).Result()
	if errors.Is(err, redis.Nil) {
		return true, nil
	}
	if err != nil {
		return false, s.fail(opOutbox, "outbox: source status", err)
	}
	r, err := decodeRecord(rec, "", "")
	if err != nil {
		return false, domain.Internal("outbox: source status", err)
	}
	return r.Status != domain.StatusQueued, nil
}

// entryBook names the book of an entry's report (its "ps"), always on
// the entry's own slot (its stream's).
func (s *conn) entryBook(e outbox.Entry) ibanKeys {
	return ibanKeys{tag: s.tags[e.Partition], part: e.Partition, pseudo: e.Pseudonym}
}

func (s *conn) finish(ctx context.Context, e outbox.Entry, st domain.Status, ref string, at time.Time, reason string) error {
	code := statusCodes.code(string(st))
	k := ibanKeys{tag: s.tags[e.Partition], part: e.Partition}
	if e.Kind != outbox.KindReport {
		code = "event" // a review event or a feed entry: only leaves the outbox
	} else {
		k = s.entryBook(e)
	}
	body := ""
	if st == domain.StatusRejected {
		body = s.blobs.seal(adOutbox(e.ReportID), e.Body)
	}
	err := finishScript.Run(ctx, s.rdb, []string{s.OutboxKey(e.Partition), k.book(), rejectedKey(k.tag)},
		finishArgs{Group: forwarderGroup, Entry: e.StreamID, Status: code, Ref: ref, At: at.UnixMilli(), Error: reason,
			ReportID: e.ReportID, Body: body, TTL: s.ttlSeconds(), OtherGroup: holderGroup, ID: rawID(e.ReportID)}.argv()...).Err()
	if err != nil {
		return s.fail(opOutbox, "outbox: finish script", err)
	}
	return nil
}

// RecordAttempt notes a failed attempt that will be retried and renews
// the consumer's claim. owned is false when another consumer has taken
// the entry over: the caller must let it go.
func (s *Outbox) RecordAttempt(ctx context.Context, e outbox.Entry, consumer, reason string) (owned bool, err error) {
	return s.hold(ctx, e, consumer, reason)
}

// Hold renews the consumer's claim on an entry it is still working on;
// owned is false when another consumer has taken it over.
func (s *Outbox) Hold(ctx context.Context, e outbox.Entry, consumer string) (owned bool, err error) {
	return s.hold(ctx, e, consumer, "")
}

func (s *conn) hold(ctx context.Context, e outbox.Entry, consumer, reason string) (bool, error) {
	k := s.entryBook(e)
	n, err := holdScript.Run(ctx, s.rdb, []string{s.OutboxKey(e.Partition), k.book()},
		holdArgs{Group: forwarderGroup, Entry: e.StreamID, Consumer: consumer, Error: reason, ID: rawID(e.ReportID)}.argv()...).Int()
	if err != nil {
		return false, s.fail(opOutbox, "outbox: hold script", err)
	}
	return n == 1, nil
}

// Requeue puts a rejected report back in the outbox; false if the report
// is not (or no longer) rejected.
func (s *Outbox) Requeue(ctx context.Context, id string) (bool, error) {
	k, err := s.locate(ctx, id)
	if err != nil {
		return false, err
	}
	return s.requeue(ctx, k, id)
}

func (s *conn) requeue(ctx context.Context, k ibanKeys, id string) (bool, error) {
	n, err := requeueScript.Run(ctx, s.rdb, []string{s.OutboxKey(k.part), k.book(), rejectedKey(k.tag), parkedKey(k.tag)},
		requeueArgs{ReportID: id, Wake: WakeChannel, Partition: k.part, ID: rawID(id), Pseudonym: k.pseudo}.argv()...).Int()
	if err != nil {
		return false, s.fail(opOutbox, "outbox: requeue script", err)
	}
	return n == 1, nil
}

// RequeueAllRejected puts every rejected report back in the outbox and
// returns their ids.
func (s *Outbox) RequeueAllRejected(ctx context.Context) ([]string, error) {
	var out []string
	for part, tag := range s.tags {
		ids, err := s.rdb.HKeys(ctx, rejectedKey(tag)).Result()
		if err != nil {
			return out, s.fail(opOutbox, "outbox: list rejected", err)
		}
		for _, id := range ids {
			k, err := s.locate(ctx, id)
			if domain.ErrorCode(err) == domain.CodeNotFound {
				// The report expired: its body still goes back to the police.
				k, err = ibanKeys{tag: tag, part: part}, nil
			}
			if err != nil {
				return out, err
			}
			ok, err := s.requeue(ctx, k, id)
			if err != nil {
				return out, err
			}
			if ok {
				out = append(out, id)
			}
		}
	}
	return out, nil
}

// Release hands entries back on shutdown: their idle time is set past
// the visibility timeout, so the next claim sweep of any other worker
// takes them over at once instead of after a full timeout.
func (s *Outbox) Release(ctx context.Context, partition int, consumer string, visibility time.Duration, streamIDs ...string) error {
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
		return s.fail(opOutbox, "outbox: release", err)
	}
	return nil
}

// OutboxStats reports each partition's depth and the age of its oldest
// entry, with one pipelined round trip per Redis node.
func (s *Outbox) OutboxStats(ctx context.Context) ([]outbox.Stats, error) {
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
		return nil, s.fail(opOutbox, "outbox: stats", err)
	}
	out := make([]outbox.Stats, n)
	for i := range n {
		out[i] = outbox.Stats{Partition: i, Depth: lens[i].Val()}
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
func (s *Outbox) WakeUps(ctx context.Context) (<-chan int, func() error) {
	return s.subscribeInts(ctx, WakeChannel)
}

// BreakerTrips subscribes to shared breaker trips ("<id> <ms left>").
func (s *Breaker) BreakerTrips(ctx context.Context) (<-chan outbox.Trip, func() error) {
	sub := s.rdb.Subscribe(ctx, BreakerChannel)
	out := make(chan outbox.Trip, 16)
	go func() {
		defer close(out)
		for m := range sub.Channel() {
			id, ms, ok := strings.Cut(m.Payload, " ")
			v, err := strconv.ParseInt(ms, 10, 64)
			if !ok || err != nil || id == "" || v <= 0 {
				continue
			}
			select {
			case out <- outbox.Trip{ID: id, Left: time.Duration(v) * time.Millisecond}:
			default:
			}
		}
	}()
	return out, sub.Close
}

func (s *conn) subscribeInts(ctx context.Context, channel string) (<-chan int, func() error) {
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

// ShareBreakerTrip records that the police breaker is open for t.Left
// and tells the other gateway processes. The key holds the trip's id and
// expires with it (Redis' own clock): a process that reads it learns how
// long the trip still lasts, never a time it would compare with its own
// clock.
func (s *Breaker) ShareBreakerTrip(ctx context.Context, t outbox.Trip) error {
	if t.Left <= 0 || t.ID == "" {
		return nil
	}
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, breakerKey, t.ID, t.Left)
		p.Publish(ctx, BreakerChannel, t.ID+" "+strconv.FormatInt(t.Left.Milliseconds(), 10))
		return nil
	})
	if err != nil {
		return s.fail(opBreaker, "breaker: share", err)
	}
	return nil
}

// SharedBreakerTrip returns the trip another process recorded and how
// long it still lasts (Redis' PTTL), or the zero Trip.
func (s *Breaker) SharedBreakerTrip(ctx context.Context) (outbox.Trip, error) {
	var id *redis.StringCmd
	var ttl *redis.DurationCmd
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		id = p.Get(ctx, breakerKey)
		ttl = p.PTTL(ctx, breakerKey)
		return nil
	})
	if errors.Is(err, redis.Nil) {
		return outbox.Trip{}, nil
	}
	if err != nil {
		return outbox.Trip{}, s.fail(opBreaker, "breaker: read", err)
	}
	if ttl.Val() <= 0 {
		return outbox.Trip{}, nil
	}
	return outbox.Trip{ID: id.Val(), Left: ttl.Val()}, nil
}
