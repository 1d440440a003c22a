package forward

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/mulegate/mulegate/internal/waitfor"
)

func failing() Result { return Result{Outcome: Retry} }
func working() Result { return Result{Outcome: Delivered} }

// TestBreakerOpensAndProbes: consecutive failures open the breaker; while
// open nothing is let through; after open_for one probe at a time decides
// between closing and opening again.
func TestBreakerOpensAndProbes(t *testing.T) {
	trips := 0
	b := newBreaker(BreakerConfig{Failures: 2, OpenFor: 150 * time.Millisecond, Probes: 1}, nil, func(bool) { trips++ })
	for range 2 {
		if _, err := b.do(failing); err != nil {
			t.Fatalf("a failing call: %v", err)
		}
	}
	if b.State() != "open" || trips != 1 {
		t.Fatalf("after 2 failures: %s, %d trips", b.State(), trips)
	}
	if b.pausedFor() <= 0 {
		t.Error("an open breaker does not pause the workers")
	}
	called := false
	if _, err := b.do(func() Result { called = true; return working() }); !errors.Is(err, errNotNow) || called {
		t.Fatalf("an open breaker let a call through (err %v)", err)
	}
	waitfor.Until(t, "half_open after open_for", 5*time.Second, func() bool { return b.State() == "half_open" })
	failingProbeIsAlone(t, b)
	if b.State() != "open" || trips != 2 {
		t.Fatalf("after a failed probe: %s, %d trips; want open again", b.State(), trips)
	}
	time.Sleep(200 * time.Millisecond)
	if _, err := b.do(working); err != nil {
		t.Fatal(err)
	}
	if b.State() != "closed" {
		t.Errorf("after a good probe: %s, want closed", b.State())
	}
}

// TestSharedTripProbesOneAtATime: a trip shared by another process pauses
// this one until T, then lets one probe at a time through until a call
// succeeds; a failed probe pauses again.
func TestSharedTripProbesOneAtATime(t *testing.T) {
	shared := 0
	b := newBreaker(BreakerConfig{Failures: 100, OpenFor: 150 * time.Millisecond}, nil, func(s bool) {
		if s {
			shared++
		}
	})
	b.sharedTrip(Trip{ID: "t1", Left: 100 * time.Millisecond})
	if b.State() != "open" || shared != 1 || b.pausedFor() <= 0 {
		t.Fatalf("after a shared trip: %s, shared %d, paused %v", b.State(), shared, b.pausedFor())
	}
	b.sharedTrip(Trip{ID: "t0", Left: 0})         // one that is over changes nothing
	b.sharedTrip(Trip{ID: "t1", Left: time.Hour}) // the same trip read again does not extend it
	if shared != 1 || b.pausedFor() > 100*time.Millisecond {
		t.Errorf("a trip that is over, or one already applied, was applied again: shared %d, paused %v", shared, b.pausedFor())
	}
	time.Sleep(120 * time.Millisecond)
	if b.State() != "half_open" {
		t.Fatalf("after the shared pause: %s, want half_open", b.State())
	}
	failingProbeIsAlone(t, b)
	if b.pausedFor() <= 0 {
		t.Fatal("a failed probe did not pause again")
	}
	time.Sleep(200 * time.Millisecond)
	if _, err := b.do(working); err != nil {
		t.Fatal(err)
	}
	if b.State() != "closed" {
		t.Errorf("after a good probe: %s, want closed", b.State())
	}
}

// failingProbeIsAlone runs one probe that fails and checks that a second
// call while it runs is refused: one probe at a time.
func failingProbeIsAlone(t *testing.T, b *breaker) {
	t.Helper()
	started, release := make(chan struct{}), make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		_, _ = b.do(func() Result { close(started); <-release; return failing() })
	})
	<-started
	if _, err := b.do(working); !errors.Is(err, errNotNow) {
		t.Errorf("a second call during the probe: %v, want errNotNow", err)
	}
	close(release)
	wg.Wait()
}

// TestSharedTripIgnoresClocks (issue 21.7): a trip is honoured for its
// duration from the moment a process learns of it, whatever the clocks
// say: the message carries no time. Before, a replica compared another's
// "open until" with its own clock, so one running ahead by more than
// open_for ignored the trip.
func TestSharedTripIgnoresClocks(t *testing.T) {
	shared := make(chan Trip, 4) // the share runs in its own goroutine
	a := newBreaker(BreakerConfig{Failures: 1, OpenFor: 300 * time.Millisecond}, func(tr Trip) { shared <- tr }, nil)
	if _, err := a.do(failing); err != nil {
		t.Fatal(err)
	}
	var trip Trip
	select {
	case trip = <-shared:
	case <-time.After(5 * time.Second):
		t.Fatal("no trip shared")
	}
	if trip.Left != 300*time.Millisecond || trip.ID == "" || len(shared) != 0 {
		t.Fatalf("shared %+v (and %d more), want one trip of 300ms with an id", trip, len(shared))
	}
	b := newBreaker(BreakerConfig{Failures: 100, OpenFor: time.Second}, nil, nil)
	b.sharedTrip(trip)
	if d := b.pausedFor(); d <= 250*time.Millisecond || d > 300*time.Millisecond {
		t.Errorf("the other process pauses %v, want the trip's 300ms from now", d)
	}
	a.sharedTrip(trip) // its own echo
	if d := a.pausedFor(); d > 300*time.Millisecond {
		t.Errorf("its own echo extended the pause to %v", d)
	}
}
