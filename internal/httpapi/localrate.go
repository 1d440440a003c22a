package httpapi

import (
	"context"
	"sync"
	"time"

	"github.com/mulegate/mulegate/internal/report"
)

// localGate refuses, without a Redis round trip, what the shared limit
// would refuse anyway: each process keeps, per org and class, a GCRA
// bucket with the org's own limit, spent only by requests the shared
// limit (Redis) let through. This process alone has then served at least
// as much as its bucket shows, so when it is empty the shared bucket,
// which counts every process, is empty too. A flood is turned away at
// the cost of a map lookup instead of a Redis call.
type localGate struct {
	next limiter
	mu   sync.Mutex
	tat  map[string]time.Time // theoretical arrival time per org/class
	now  func() time.Time
}

func newLocalGate(next limiter) *localGate {
	return &localGate{next: next, tat: map[string]time.Time{}, now: time.Now}
}

// Allow answers from the local bucket when it is empty, else asks the
// shared limit and, when that allows, spends the local bucket too.
func (g *localGate) Allow(ctx context.Context, org string, class report.RateClass, lim report.RateLimit, cost int) (report.RateDecision, error) {
	if cost > 0 && lim.PerSecond > 0 {
		if wait, ok := g.check(org+"/"+string(class), lim, cost, false); !ok {
			return report.RateDecision{Limit: lim, RetryAfter: wait, ResetAfter: time.Duration(lim.Burst) * time.Second / time.Duration(lim.PerSecond)}, nil
		}
	}
	dec, err := g.next.Allow(ctx, org, class, lim, cost)
	if err == nil && dec.Allowed && cost > 0 && lim.PerSecond > 0 {
		g.check(org+"/"+string(class), lim, cost, true)
	}
	return dec, err
}

// check runs GCRA on the local bucket: whether cost tokens are there now
// (and how long until they would be), spending them when spend is set.
func (g *localGate) check(key string, lim report.RateLimit, cost int, spend bool) (time.Duration, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	interval := time.Second / time.Duration(lim.PerSecond)
	tat := g.tat[key]
	if tat.Before(now) {
		tat = now
	}
	next := tat.Add(time.Duration(cost) * interval)
	allowAt := next.Add(-time.Duration(lim.Burst) * interval)
	if allowAt.After(now) {
		return allowAt.Sub(now), false
	}
	if spend {
		g.tat[key] = next
	}
	return 0, true
}
