package forward

import (
	"sync"
	"testing"
	"time"
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
	if _, err := b.do(func() Result { called = true; return working() }); err != errNotNow || called {
		t.Fatalf("an open breaker let a call through (err %v)", err)
	}
	time.Sleep(200 * time.Millisecond)
	if b.State() != "half_open" {
		t.Fatalf("after open_for: %s, want half_open", b.State())
	}
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
	b.sharedTrip(time.Now().Add(100 * time.Millisecond))
	if b.State() != "open" || shared != 1 || b.pausedFor() <= 0 {
		t.Fatalf("after a shared trip: %s, shared %d, paused %v", b.State(), shared, b.pausedFor())
	}
	b.sharedTrip(time.Now().Add(-time.Second)) // one in the past changes nothing
	if shared != 1 {
		t.Error("a trip in the past was applied")
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
	if _, err := b.do(working); err != errNotNow {
		t.Errorf("a second call during the probe: %v, want errNotNow", err)
	}
	close(release)
	wg.Wait()
}
