package forward

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mulegate/mulegate/internal/domain"
	"github.com/mulegate/mulegate/internal/outbox"
)

// Outbox is the outbox the forwarders work off (internal/store).
type Outbox interface {
	Partitions() int
	EnsureGroups(ctx context.Context) error
	ReadOutbox(ctx context.Context, partition int, consumer string, count int) ([]outbox.Entry, error)
	ClaimStale(ctx context.Context, partition int, consumer, cursor string, minIdle time.Duration, count int) ([]outbox.Entry, string, error)
	MarkForwarded(ctx context.Context, e outbox.Entry, policeRef string, at time.Time) error
	MarkRejected(ctx context.Context, e outbox.Entry, reason string) error
	ReportForwardingStatus(ctx context.Context, e outbox.Entry) (domain.Status, error)
	SourceSettled(ctx context.Context, e outbox.Entry) (bool, error)
	ForwarderReady(ctx context.Context, e outbox.Entry) (bool, error)
	ParkEvent(ctx context.Context, e outbox.Entry) (bool, error)
	RecordAttempt(ctx context.Context, e outbox.Entry, consumer, reason string) (owned bool, err error)
	Hold(ctx context.Context, e outbox.Entry, consumer string) (owned bool, err error)
	Release(ctx context.Context, partition int, consumer string, visibility time.Duration, streamIDs ...string) error
	DropIdleConsumers(ctx context.Context, partition int, minIdle time.Duration) (int, error)
	DropConsumers(ctx context.Context, names []string) error
	OutboxStats(ctx context.Context) ([]outbox.Stats, error)
	WakeUps(ctx context.Context) (<-chan int, func() error)
}

// Trips share the police breaker's trips between gateway processes.
type Trips interface {
	BreakerTrips(ctx context.Context) (<-chan Trip, func() error)
	ShareBreakerTrip(ctx context.Context, t Trip) error
	SharedBreakerTrip(ctx context.Context) (Trip, error)
}

// Store is what the relay uses of the store: the outbox, the shared
// breaker trips and the holders' feeds (store.Store is one).
type Store interface {
	Outbox
	Trips
	Feed
}

// Config configures the relay.
type Config struct {
	Workers int // concurrent deliveries in this process
	Batch   int // entries taken from a partition at a time
	// VisibilityTimeout: an entry held this long by a consumer that does
	// not report progress is taken over (XAUTOCLAIM): its worker died.
	// A live worker renews its claim every third of it while it retries
	// or waits for the breaker, and a call lasts at most the police
	// timeout, which config keeps below it.
	VisibilityTimeout time.Duration
	// SweepInterval: how often every partition is checked even without a
	// wake-up (wake-ups are pub/sub, which a reconnect can miss).
	SweepInterval  time.Duration
	BackoffInitial time.Duration
	BackoffMax     time.Duration
	Breaker        BreakerConfig
	// EscalateReporters is how many distinct reporters within 30 days
	// announce iban.threshold to the holder (review.escalate_reporters,
	// default 3).
	EscalateReporters int64
	// CorrectionsLookback: an org that looked an IBAN up this long before
	// a clear gets its iban.corrected (corrections.lookback, 90 days).
	CorrectionsLookback time.Duration
}

func (c *Config) defaults() {
	if c.Workers <= 0 {
		c.Workers = 4
	}
	if c.Batch <= 0 {
		c.Batch = 32
	}
	if c.VisibilityTimeout <= 0 {
		c.VisibilityTimeout = 30 * time.Second
	}
	if c.SweepInterval <= 0 {
		c.SweepInterval = 10 * time.Second
	}
	if c.BackoffInitial <= 0 {
		c.BackoffInitial = 200 * time.Millisecond
	}
	if c.BackoffMax <= 0 {
		c.BackoffMax = 20 * time.Second
	}
	if c.EscalateReporters <= 0 {
		c.EscalateReporters = 3
	}
	if c.CorrectionsLookback <= 0 {
		c.CorrectionsLookback = 90 * 24 * time.Hour
	}
}

// Relay moves reports from the outbox to the police store.
type Relay struct {
	cfg      Config
	ob       Store
	client   *Client
	br       *breaker
	log      *slog.Logger
	m        *Metrics
	consumer string

	jobs    chan job
	queued  []atomic.Bool // a read job for partition p is queued
	claimed atomic.Bool   // a claim sweep is queued
}

type job struct {
	partition int
	claim     bool
}

// New builds a relay. m may be nil.
func New(cfg Config, ob Store, client *Client, log *slog.Logger, m *Metrics) *Relay {
	cfg.defaults()
	host, _ := os.Hostname()
	var rnd [4]byte
	_, _ = crand.Read(rnd[:])
	r := &Relay{
		cfg: cfg, ob: ob, client: client, log: log, m: m,
		consumer: host + "-" + hex.EncodeToString(rnd[:]),
		jobs:     make(chan job, ob.Partitions()*2+8),
		queued:   make([]atomic.Bool, ob.Partitions()),
	}
	r.br = newBreaker(cfg.Breaker, func(t Trip) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if err := ob.ShareBreakerTrip(ctx, t); err != nil {
			log.Warn("could not share the police breaker trip", "err", err)
		}
	}, func(shared bool) {
		log.Warn("police breaker open: forwarders pause", "shared_by_another_process", shared, "open_for", cfg.Breaker.OpenFor.String())
		if m != nil {
			m.trip(shared)
		}
	})
	if m != nil {
		m.bind(r)
	}
	return r
}

// BreakerState is the police breaker's state for /readyz and metrics.
func (r *Relay) BreakerState() string { return r.br.State() }

// runFeedLanes runs the holders' relay as Workers lanes, each draining
// its own share of the partitions (partition p is lane p mod lanes'), so
// that one slow entry (a threshold judged over a long book) holds up its
// partitions only, and the round trips of different partitions overlap.
// A report's entries are all in its IBAN's partition: its order holds.
// The lanes share the relay's consumer name (a partition is read by one
// lane only).
func (r *Relay) runFeedLanes(ctx context.Context, wg *sync.WaitGroup, wake <-chan int) {
	lanes := min(max(1, r.cfg.Workers), r.ob.Partitions())
	wakes := make([]chan int, lanes)
	for l := range lanes {
		wakes[l] = make(chan int, r.ob.Partitions())
		var parts []int
		for p := l; p < r.ob.Partitions(); p += lanes {
			parts = append(parts, p)
		}
		lane := &feedRelay{feed: r.ob, r: r, consumer: r.consumer + "-feed", parts: parts,
			escalate: r.cfg.EscalateReporters, log: r.log.Warn, m: r.m}
		wg.Go(func() { lane.run(ctx, wakes[l]) })
	}
	wg.Go(func() {
		defer func() {
			for _, w := range wakes {
				close(w)
			}
		}()
		for {
			select {
			case <-ctx.Done():
				return
			case p, ok := <-wake:
				if !ok {
					return
				}
				select {
				case wakes[p%lanes] <- p:
				default: // the lane has wake-ups queued; its sweep catches up
				}
			}
		}
	})
}

// Run forwards until ctx ends. In-flight deliveries finish; entries not yet
// answered stay pending in Redis and are claimed by another worker after
// the visibility timeout.
func (r *Relay) Run(ctx context.Context) error {
	if !r.waitForOutbox(ctx) {
		return nil
	}
	r.readSharedTrip(ctx)
	wake, closeWake := r.ob.WakeUps(ctx)
	defer r.closing("wake-up subscription", closeWake)
	trips, closeTrips := r.ob.BreakerTrips(ctx)
	defer r.closing("breaker trip subscription", closeTrips)

	var wg sync.WaitGroup
	names := make([]string, r.cfg.Workers)
	for i := range r.cfg.Workers {
		names[i] = r.consumer + "-w" + strconv.Itoa(i)
		consumer := names[i]
		wg.Go(func() { r.worker(ctx, consumer) })
	}
	defer r.dropOwnConsumers(append(names, r.consumer+"-feed"))
	feedWake, closeFeedWake := r.ob.WakeUps(ctx)
	defer r.closing("feed wake-up subscription", closeFeedWake)
	r.runFeedLanes(ctx, &wg, feedWake)
	r.sweep(true)
	sweep := time.NewTicker(r.cfg.SweepInterval)
	defer sweep.Stop()
	claim := time.NewTicker(r.cfg.VisibilityTimeout / 2)
	defer claim.Stop()
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case p, ok := <-wake:
			if !ok {
				wake = nil
				continue
			}
			r.enqueue(p)
		case t, ok := <-trips:
			if !ok {
				trips = nil
				continue
			}
			r.br.sharedTrip(t)
		case <-sweep.C:
			// Pub/sub can miss a message during a reconnect: the sweep
			// re-reads the outbox and the shared breaker trip too.
			r.readSharedTrip(ctx)
			r.sweep(false)
		case <-claim.C:
			r.sweep(true)
		}
	}
	wg.Wait()
	return nil
}

// closing closes a subscription at shutdown and logs a failure (the
// connection is dropped either way).
func (r *Relay) closing(what string, close func() error) {
	if err := close(); err != nil {
		r.log.Warn("closing the "+what+" failed", "err", err)
	}
}

// waitForOutbox creates the consumer groups, retrying until Redis answers;
// false if ctx ended first.
func (r *Relay) waitForOutbox(ctx context.Context) bool {
	for attempt := 0; ; attempt++ {
		err := r.ob.EnsureGroups(ctx)
		if err == nil {
			return true
		}
		r.log.Warn("outbox not ready; retrying", "err", err)
		if !sleep(ctx, r.backoff(attempt)) {
			return false
		}
	}
}

// readSharedTrip applies a trip another process recorded in Redis.
func (r *Relay) readSharedTrip(ctx context.Context) {
	if t, err := r.ob.SharedBreakerTrip(ctx); err == nil {
		r.br.sharedTrip(t)
	}
}

// dropOwnConsumers removes this relay's consumers that hold nothing when
// it stops; the ones holding released entries are removed by whichever
// relay takes those entries over (see cleanup).
func (r *Relay) dropOwnConsumers(names []string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := r.ob.DropConsumers(ctx, names); err != nil {
		r.log.Warn("could not remove this relay's consumers at shutdown", "err", err)
	}
}

// sweep queues a read of every partition, and with claim a claim sweep.
func (r *Relay) sweep(claim bool) {
	for p := range r.queued {
		r.enqueue(p)
	}
	if claim && !r.claimed.Swap(true) {
		r.jobs <- job{partition: -1, claim: true}
	}
}

func (r *Relay) enqueue(p int) {
	if p < 0 || p >= len(r.queued) || r.queued[p].Swap(true) {
		return
	}
	select {
	case r.jobs <- job{partition: p}:
	default:
		r.queued[p].Store(false) // the queue is full of work already
	}
}

func (r *Relay) worker(ctx context.Context, consumer string) {
	for {
		var j job
		select {
		case <-ctx.Done():
			return
		case j = <-r.jobs:
		}
		if j.claim {
			r.claimed.Store(false)
			for p := range r.queued {
				r.reclaim(ctx, consumer, p)
			}
			continue
		}
		r.queued[j.partition].Store(false)
		r.drain(ctx, consumer, j.partition)
	}
}

// drain takes batches of new entries from one partition until it is empty.
func (r *Relay) drain(ctx context.Context, consumer string, p int) {
	for ctx.Err() == nil {
		entries, err := r.ob.ReadOutbox(ctx, p, consumer, r.cfg.Batch)
		if err != nil {
			if ctx.Err() == nil {
				r.log.Warn("outbox read failed; will retry", "partition", p, "err", err)
			}
			return // the next sweep retries
		}
		r.deliverAll(ctx, consumer, entries)
		if len(entries) < r.cfg.Batch {
			return
		}
	}
}

// reclaim walks a partition's whole pending list (XAUTOCLAIM's cursor),
// takes over the entries of dead workers and delivers them, then removes
// consumers that stopped and hold nothing.
func (r *Relay) reclaim(ctx context.Context, consumer string, p int) {
	for cursor := "0-0"; ctx.Err() == nil; {
		entries, next, err := r.ob.ClaimStale(ctx, p, consumer, cursor, r.cfg.VisibilityTimeout, r.cfg.Batch)
		if err != nil {
			if ctx.Err() == nil {
				r.log.Warn("outbox claim failed; will retry", "partition", p, "err", err)
			}
			return
		}
		r.deliverAll(ctx, consumer, entries)
		if cursor = next; cursor == "0-0" {
			break
		}
	}
	if ctx.Err() != nil {
		return
	}
	if _, err := r.ob.DropIdleConsumers(ctx, p, 2*r.cfg.VisibilityTimeout); err != nil {
		r.log.Warn("could not remove idle consumers", "partition", p, "err", err)
	}
}

// deliverAll delivers a batch in order. An entry that waited in the batch
// is first re-claimed: if another worker took it over meanwhile, it is
// theirs.
func (r *Relay) deliverAll(ctx context.Context, consumer string, entries []outbox.Entry) {
	for i, e := range entries {
		if ctx.Err() != nil {
			r.release(consumer, entries[i:]...)
			return
		}
		if i > 0 {
			if owned, err := r.ob.Hold(ctx, e, consumer); err != nil || !owned {
				continue // not ours any more, or Redis is down: the claim sweep sorts it out
			}
		}
		r.deliver(ctx, consumer, e)
	}
}

// release hands entries back on shutdown (see Outbox.Release).
func (r *Relay) release(consumer string, entries ...outbox.Entry) {
	if len(entries) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	ids := make([]string, len(entries))
	for i, e := range entries {
		ids[i] = e.StreamID
	}
	if err := r.ob.Release(ctx, entries[0].Partition, consumer, r.cfg.VisibilityTimeout, ids...); err != nil {
		r.log.Warn("could not release outbox entries on shutdown; they are taken over after the visibility timeout", "err", err)
	}
}

// deliver forwards one entry until the police store has answered for good,
// the relay stops, or another worker took the entry over. While it waits
// (backoff, an open breaker) it renews its claim. On shutdown a call
// already in flight is finished and its outcome recorded (bounded by the
// police timeout and a short grace); an entry that is waiting for a retry
// is released to the other workers.
func (r *Relay) deliver(ctx context.Context, consumer string, e outbox.Entry) {
	for attempt := 0; ; {
		if ctx.Err() != nil || !r.holdWhile(ctx, consumer, e, r.br.pausedFor) {
			r.release(consumer, e)
			return
		}
		switch r.gate(ctx, e) {
		case skip: // nothing to send: done with it
			r.finish(ctx, func(c context.Context) error { return r.ob.MarkForwarded(c, e, "", time.Now()) })
			return
		case parked: // out of the outbox, kept with its rejected report
			return
		case later:
			if !r.waitRetry(ctx, consumer, e, &attempt) {
				return
			}
			continue
		}
		start := time.Now()
		// The call is not cut by shutdown (its answer would be lost); the
		// client's timeout bounds it.
		callCtx := context.WithoutCancel(ctx)
		res, err := r.br.do(func() Result { return r.client.Send(callCtx, e) })
		if errors.Is(err, errNotNow) {
			// Another probe is running: wait for its verdict.
			pause := time.Now().Add(50 * time.Millisecond)
			if !r.holdWhile(ctx, consumer, e, func() time.Duration { return time.Until(pause) }) {
				r.release(consumer, e)
				return
			}
			continue
		}
		if r.m != nil {
			r.m.observe(res.Outcome, time.Since(start))
		}
		switch res.Outcome {
		case Delivered:
			r.finish(ctx, func(c context.Context) error { return r.ob.MarkForwarded(c, e, res.PoliceRef, time.Now()) })
			return
		case Rejected:
			r.log.Warn("police store rejected a report", "report_id", e.ReportID, "status", res.Status)
			r.finish(ctx, func(c context.Context) error { return r.ob.MarkRejected(c, e, res.Reason) })
			return
		}
		if !r.recordRetry(callCtx, consumer, e, res.Reason) || !r.waitRetry(ctx, consumer, e, &attempt) {
			return
		}
	}
}

type gateVerdict int

const (
	send   gateVerdict = iota
	skip               // a feed-only entry: nothing to send
	later              // an event whose report (or an earlier event of it) has not reached the store yet
	parked             // an event whose report the store refused: kept for "outbox requeue"
)

// gate decides what to do with an entry before calling the store.
func (r *Relay) gate(ctx context.Context, e outbox.Entry) gateVerdict {
	switch e.Kind {
	case outbox.KindFeed, outbox.KindUpstream, outbox.KindCorrect: // for the feeds and the linked reports only
		return skip
	case outbox.KindEvent:
		return r.eventReady(ctx, e)
	}
	// A linked report goes after the report it came from (another IBAN's
	// outbox partition): the police must know the source first.
	if ok, err := r.ob.SourceSettled(ctx, e); err != nil || !ok {
		return later
	}
	return send
}

// recordRetry notes a failed attempt and renews the claim; false when
// another worker took the entry over (it is theirs now).
func (r *Relay) recordRetry(ctx context.Context, consumer string, e outbox.Entry, reason string) bool {
	if e.Kind == outbox.KindEvent {
		reason = "" // an event's failures are not the report's: only renew the claim
	}
	owned, err := r.ob.RecordAttempt(ctx, e, consumer, reason)
	if err != nil {
		r.log.Warn("could not record a forward attempt", "err", err)
		return true
	}
	return owned
}

// waitRetry holds e through the next backoff; false (with e released)
// on shutdown or when e is no longer ours.
func (r *Relay) waitRetry(ctx context.Context, consumer string, e outbox.Entry, attempt *int) bool {
	retryAt := time.Now().Add(r.backoff(*attempt))
	*attempt++
	if !r.holdWhile(ctx, consumer, e, func() time.Duration { return time.Until(retryAt) }) {
		r.release(consumer, e)
		return false
	}
	return true
}

// eventReady says whether a review event may go to the police store:
// only after its report did (the store must know the report first) and
// after the report's earlier events (in order, whatever worker holds
// them). An event of a report the store refused is parked with it: "outbox
// requeue" puts it back after the report.
func (r *Relay) eventReady(ctx context.Context, e outbox.Entry) gateVerdict {
	st, err := r.ob.ReportForwardingStatus(ctx, e)
	switch {
	case err != nil:
		return later
	case st == domain.StatusRejected:
		ok, err := r.ob.ParkEvent(ctx, e)
		if err != nil || !ok {
			return later // not parked (Redis, or requeued meanwhile): look again
		}
		r.log.Warn("review event kept aside: the police store refused its report; outbox requeue puts it back", "report_id", e.ReportID)
		return parked
	case st != domain.StatusForwarded:
		return later
	}
	if ready, err := r.ob.ForwarderReady(ctx, e); err != nil || !ready {
		return later
	}
	return send
}

// holdWhile waits as long as left() is positive, renewing the claim on e
// every third of the visibility timeout. It returns false on shutdown or
// when e is no longer this consumer's.
func (r *Relay) holdWhile(ctx context.Context, consumer string, e outbox.Entry, left func() time.Duration) bool {
	every := r.cfg.VisibilityTimeout / 3
	renewed := time.Now()
	for {
		d := left()
		if d <= 0 {
			return true
		}
		if !sleep(ctx, min(d, every-time.Since(renewed))) {
			return false
		}
		if time.Since(renewed) >= every {
			owned, err := r.ob.Hold(ctx, e, consumer)
			if err == nil && !owned {
				return false
			}
			renewed = time.Now()
		}
	}
}

// finishGrace bounds how long recording an outcome may hold up shutdown.
const finishGrace = 3 * time.Second

// finish records a final outcome, retrying while Redis is unavailable: the
// police store already has the report, and a redelivery after a lost
// acknowledgement is harmless (the store de-duplicates by report id). It
// gives up after a minute, or finishGrace after shutdown began; the entry
// is then delivered again by whoever claims it, and the store answers
// with the same reference.
func (r *Relay) finish(ctx context.Context, mark func(context.Context) error) {
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	stop := context.AfterFunc(ctx, func() { time.AfterFunc(finishGrace, cancel) })
	defer stop()
	for attempt := 0; ; attempt++ {
		err := mark(fctx)
		if err == nil || fctx.Err() != nil {
			return
		}
		r.log.Warn("could not record a forward outcome; retrying", "err", err)
		if !sleep(fctx, r.backoff(attempt)) {
			return
		}
	}
}

// backoff is capped exponential with jitter in [d/2, d).
func (r *Relay) backoff(attempt int) time.Duration {
	d := r.cfg.BackoffInitial << min(attempt, 20)
	if d <= 0 || d > r.cfg.BackoffMax {
		d = r.cfg.BackoffMax
	}
	return d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
