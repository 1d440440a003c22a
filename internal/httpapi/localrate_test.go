package httpapi

import (
	"context"
	"testing"
	"time"

	"github.com/mulegate/mulegate/internal/report"
)

type countingLimiter struct {
	calls int
	allow bool
}

func (c *countingLimiter) Allow(_ context.Context, _ string, _ report.RateClass, lim report.RateLimit, cost int) (report.RateDecision, error) {
	c.calls++
	return report.RateDecision{Allowed: c.allow, Limit: lim}, nil
}

// TestLocalGate: once this process alone has spent an org's burst, a
// flood is refused without asking the shared limit; what the shared limit
// refused is not spent locally; peeks always go through.
func TestLocalGate(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	shared := &countingLimiter{allow: true}
	g := newLocalGate(shared)
	g.now = func() time.Time { return now }
	lim := report.RateLimit{PerSecond: 10, Burst: 5}
	ctx := context.Background()
	for n := range 5 {
		if d, _ := g.Allow(ctx, "m", report.RateLookups, lim, 1); !d.Allowed {
			t.Fatalf("request %d refused within the burst", n)
		}
	}
	d, _ := g.Allow(ctx, "m", report.RateLookups, lim, 1)
	if d.Allowed || shared.calls != 5 || d.RetryAfter <= 0 {
		t.Fatalf("after the burst: allowed %v, shared calls %d, retry after %v", d.Allowed, shared.calls, d.RetryAfter)
	}
	if _, _ = g.Allow(ctx, "m", report.RateLookups, lim, 0); shared.calls != 6 {
		t.Error("a peek did not reach the shared limit")
	}
	now = now.Add(100 * time.Millisecond) // one token back
	if d, _ := g.Allow(ctx, "m", report.RateLookups, lim, 1); !d.Allowed {
		t.Error("refused after a token came back")
	}
	// The shared limit refuses (other processes spent it): nothing is
	// spent here, so this process keeps asking.
	shared.allow = false
	other := report.RateLimit{PerSecond: 10, Burst: 2}
	for range 5 {
		g.Allow(ctx, "b", report.RateWrites, other, 1)
	}
	if shared.calls != 7+5 {
		t.Errorf("shared calls %d: refusals of the shared limit were spent locally", shared.calls)
	}
}
