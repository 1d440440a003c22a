package forward

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

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
// "open until T" for the others (share), and when another process trips,
// this one pauses until T and then lets one probe at a time through until
// a call succeeds.
type breaker struct {
	cb      *gobreaker.CircuitBreaker[Result]
	openFor time.Duration
	share   func(until time.Time)
	onTrip  func(shared bool)

	pausedUntil atomic.Int64 // Unix ms; a shared trip or our own
	ownUntil    atomic.Int64 // Unix ms of our last own trip, to ignore its echo
	probing     atomic.Bool
	probe       sync.Mutex
}

func newBreaker(cfg BreakerConfig, share func(time.Time), onTrip func(shared bool)) *breaker {
	if cfg.Failures == 0 {
		cfg.Failures = 5
	}
	if cfg.OpenFor <= 0 {
		cfg.OpenFor = 5 * time.Second
	}
	b := &breaker{openFor: cfg.OpenFor, share: share, onTrip: onTrip}
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
			until := time.Now().Add(cfg.OpenFor)
			b.ownUntil.Store(until.UnixMilli())
			b.pauseUntil(until)
			if b.onTrip != nil {
				b.onTrip(false)
			}
			if b.share != nil {
				go b.share(until)
			}
		},
	})
	return b
}

func (b *breaker) pauseUntil(t time.Time) {
	ms := t.UnixMilli()
	for {
		cur := b.pausedUntil.Load()
		if ms <= cur || b.pausedUntil.CompareAndSwap(cur, ms) {
			return
		}
	}
}

// sharedTrip applies a trip recorded by another process.
func (b *breaker) sharedTrip(until time.Time) {
	if until.UnixMilli() == b.ownUntil.Load() || !until.After(time.Now()) {
		return
	}
	b.pauseUntil(until)
	b.probing.Store(true)
	if b.onTrip != nil {
		b.onTrip(true)
	}
}

// pausedFor is how long the breaker stays paused (open here or
// elsewhere): the workers wait that long instead of hammering the police
// store.
func (b *breaker) pausedFor() time.Duration {
	return time.Until(time.UnixMilli(b.pausedUntil.Load()))
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
			b.pauseUntil(time.Now().Add(b.openFor))
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
	if time.Now().UnixMilli() < b.pausedUntil.Load() {
		return "open"
	}
	if b.probing.Load() {
		return "half_open"
	}
	return "closed"
}
