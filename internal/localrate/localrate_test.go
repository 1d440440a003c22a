package localrate

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/mulegate/mulegate/internal/domain"
)

type countingLimiter struct {
	calls int
	allow bool
}

func (c *countingLimiter) Allow(_ context.Context, _ string, _ domain.RateClass, lim domain.RateLimit, cost int) (domain.RateDecision, error) {
	c.calls++
	return domain.RateDecision{Allowed: c.allow, Limit: lim}, nil
}

// TestLocalGate: once this process alone has spent an org's burst, a
// flood is refused without asking the shared limit; what the shared limit
// refused is not spent locally; peeks always go through.
func TestLocalGate(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	shared := &countingLimiter{allow: true}
	g := New(shared)
	g.now = func() time.Time { return now }
	lim := domain.RateLimit{PerSecond: 10, Burst: 5}
	ctx := context.Background()
	for n := range 5 {
		if d, _ := g.Allow(ctx, "m", domain.RateLookups, lim, 1); !d.Allowed {
			t.Fatalf("request %d refused within the burst", n)
		}
	}
	d, _ := g.Allow(ctx, "m", domain.RateLookups, lim, 1)
	if d.Allowed || shared.calls != 5 || d.RetryAfter <= 0 {
		t.Fatalf("after the burst: allowed %v, shared calls %d, retry after %v", d.Allowed, shared.calls, d.RetryAfter)
	}
	if _, _ = g.Allow(ctx, "m", domain.RateLookups, lim, 0); shared.calls != 5 {
		t.Error("a peek right after an answer asked the shared limit again")
	}
	now = now.Add(250 * time.Millisecond) // two tokens back
	if _, _ = g.Allow(ctx, "m", domain.RateLookups, lim, 0); shared.calls != 6 {
		t.Error("a peek 250 ms later did not reach the shared limit")
	}
	if d, _ := g.Allow(ctx, "m", domain.RateLookups, lim, 1); !d.Allowed {
		t.Error("refused after a token came back")
	}
	// The shared limit refuses (other processes spent it): nothing is
	// spent here, so this process keeps asking.
	shared.allow = false
	other := domain.RateLimit{PerSecond: 10, Burst: 2}
	for range 5 {
		g.Allow(ctx, "b", domain.RateWrites, other, 1)
	}
	if shared.calls != 7+5 {
		t.Errorf("shared calls %d: refusals of the shared limit were spent locally", shared.calls)
	}
}

// budgetLimiter is a shared bucket with a fixed number of tokens left.
type budgetLimiter struct {
	left  int
	asked []int
}

func (b *budgetLimiter) Allow(_ context.Context, _ string, _ domain.RateClass, lim domain.RateLimit, cost int) (domain.RateDecision, error) {
	b.asked = append(b.asked, cost)
	if cost > b.left {
		return domain.RateDecision{Limit: lim, Remaining: b.left, RetryAfter: time.Second}, nil
	}
	b.left -= cost
	return domain.RateDecision{Allowed: true, Limit: lim, Remaining: b.left}, nil
}

// TestLeases: an org with a high limit takes ten tokens per shared call
// and spends them locally; near the limit it asks for its own cost only,
// so no process ever spends more than the shared bucket gave; an unused
// lease is given up after a second.
func TestLeases(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	shared := &budgetLimiter{left: 40}
	g := New(shared)
	g.now = func() time.Time { return now }
	lim := domain.RateLimit{PerSecond: 1000, Burst: 2000} // lease: 10
	ctx := context.Background()
	served := 0
	for range 45 {
		if d, _ := g.Allow(ctx, "b", domain.RateLookups, lim, 1); d.Allowed {
			served++
		}
		now = now.Add(time.Millisecond)
	}
	if served != 40 {
		t.Errorf("served %d of 45 with 40 shared tokens", served)
	}
	// Three leases of 10 (the third leaves 10, fewer than two leases),
	// then single tokens: 10 granted, 5 refused.
	want := []int{10, 10, 10}
	for range 15 {
		want = append(want, 1)
	}
	if !slices.Equal(shared.asked, want) {
		t.Errorf("shared bucket asked for %v, want %v", shared.asked, want)
	}
	if shared.left != 0 {
		t.Errorf("%d shared tokens left unspent", shared.left)
	}

	// A lease not used within its life is given up.
	shared.left = 100
	shared.asked = nil
	g.Allow(ctx, "c", domain.RateLookups, lim, 1) // takes 10, 9 leased
	now = now.Add(2 * time.Second)
	g.Allow(ctx, "c", domain.RateLookups, lim, 1)
	if len(shared.asked) != 2 {
		t.Errorf("a lease outlived its second: shared asked %v", shared.asked)
	}
}
