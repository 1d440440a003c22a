package forward

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mulegate/mulegate/internal/outbox"
	"github.com/sony/gobreaker/v2"
)

// BreakerConfig configures the police store circuit breaker.
type BreakerConfig struct {
	// Failures is how many consecutive failed calls open the breaker.
	Failures uint32
	// OpenFor is how long it stays open before half-open probes.
	OpenFor time.Duration
	// Probes is how many calls may run while half-open.
	Probes uint32
}

// errRetry marks a call the breaker should count as a failure.
var errRetry = errors.New("police store failed")

// errNotNow means the breaker did not let the call through.
var errNotNow = errors.New("breaker open")

// breaker wraps an in-memory gobreaker (no Redis on the call path) and
// adds the shared trip: when this process opens its breaker it records
// the trip for the others (share), and when another process trips, this
// one pauses for what is left of it and then lets one probe at a time
// through until a call succeeds.
//
// A trip travels as an id and a duration, never as a time: each process
// pauses for the trip's duration from the moment it learns of it, by its
// own monotonic clock, so clocks that disagree change nothing. The id
// keeps a process from applying the same trip twice (its own echo, or the
// periodic re-read of one it already honours).
type breaker struct {
	cb      *gobreaker.CircuitBreaker[Result]
	openFor time.Duration
	share   func(Trip)
	onTrip  func(shared bool)
	epoch   time.Time // monotonic reference of pausedUntil

	pausedUntil atomic.Int64 // ns since epoch; a shared trip or our own
	mu          sync.Mutex
	seen        map[string]time.Time // trip ids applied (or our own), until they end
	probing     atomic.Bool
	probe       sync.Mutex
}

// Trip is a breaker trip shared between processes.
type Trip = outbox.Trip

func newBreaker(cfg BreakerConfig, share func(Trip), onTrip func(shared bool)) *breaker {
	if cfg.Failures == 0 {
		cfg.Failures = 5
	}
	if cfg.OpenFor <= 0 {
		cfg.OpenFor = 5 * time.Second
	}
	b := &breaker{openFor: cfg.OpenFor, share: share, onTrip: onTrip, epoch: time.Now(), seen: map[string]time.Time{}}
	b.cb = gobreaker.NewCircuitBreaker[Result](gobreaker.Settings{
		Name:        "police",
		MaxRequests: max(cfg.Probes, 1),
		Timeout:     cfg.OpenFor,
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= cfg.Failures },
		IsExcluded:  func(err error) bool { return errors.Is(err, context.Canceled) },
		OnStateChange: func(_ string, _, to gobreaker.State) {
			if to != gobreaker.StateOpen {
				return
			}
			trip := Trip{ID: newTripID(), Left: cfg.OpenFor}
			b.remember(trip)
			b.pauseFor(cfg.OpenFor)
			if b.onTrip != nil {
				b.onTrip(false)
			}
			if b.share != nil {
				go b.share(trip)
			}
		},
	})
	return b
}

func newTripID() string {
	var r [8]byte
	_, _ = crand.Read(r[:])
	return hex.EncodeToString(r[:])
}

// remember records a trip id as applied; false if it was applied
// already. Ids are kept a minute past the trip's end: the shared key
// expires a little after the trip here (it is written after), and a read
// of it then must not look like a new trip.
func (b *breaker) remember(t Trip) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := time.Now()
	for id, end := range b.seen {
		if now.After(end.Add(time.Minute)) {
			delete(b.seen, id)
		}
	}
	if _, ok := b.seen[t.ID]; ok {
		return false
	}
	b.seen[t.ID] = now.Add(t.Left)
	return true
}

// pauseFor extends the pause to at least d from now (monotonic clock).
func (b *breaker) pauseFor(d time.Duration) {
	ns := int64(time.Since(b.epoch) + d)
	for {
		cur := b.pausedUntil.Load()
		if ns <= cur || b.pausedUntil.CompareAndSwap(cur, ns) {
			return
		}
	}
}

// sharedTrip applies a trip recorded by another process: a pause of its
// remaining duration from now, once per trip id.
func (b *breaker) sharedTrip(t Trip) {
	if t.ID == "" || t.Left <= 0 || !b.remember(t) {
		return
	}
	b.pauseFor(t.Left)
	b.probing.Store(true)
	if b.onTrip != nil {
		b.onTrip(true)
	}
}

// pausedFor is how long the breaker stays paused (open here or
// elsewhere): the workers wait that long instead of hammering the police
// store.
func (b *breaker) pausedFor() time.Duration {
	return time.Duration(b.pausedUntil.Load()) - time.Since(b.epoch)
}

// do runs one call through the breaker. errNotNow means it was not let
// through (open, or another probe is running): wait and try again.
func (b *breaker) do(call func() Result) (Result, error) {
	if b.probing.Load() {
		if !b.probe.TryLock() {
			return Result{}, errNotNow
		}
		defer b.probe.Unlock()
	}
	res, err := b.cb.Execute(func() (Result, error) {
		r := call()
		if r.Outcome == Retry {
			return r, errRetry
		}
		return r, nil
	})
	if errors.Is(err, gobreaker.ErrOpenState) || errors.Is(err, gobreaker.ErrTooManyRequests) {
		return Result{}, errNotNow
	}
	if b.probing.Load() {
		if err == nil {
			b.probing.Store(false) // the store answers again: leave probe mode
		} else {
			b.pauseFor(b.openFor)
		}
	}
	if errors.Is(err, errRetry) {
		err = nil // the Result says Retry; the caller backs off
	}
	return res, err
}

// State is "closed", "half_open" or "open" (open here, or paused by a
// trip another process shared).
func (b *breaker) State() string {
	switch b.cb.State() {
	case gobreaker.StateOpen:
		return "open"
	case gobreaker.StateHalfOpen:
		return "half_open"
	}
	if b.pausedFor() > 0 {
		return "open"
	}
	if b.probing.Load() {
		return "half_open"
	}
	return "closed"
}
