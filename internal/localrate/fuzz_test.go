package localrate

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/mulegate/mulegate/internal/domain"
)

// bucket is a shared limit that counts what it grants: a token bucket
// on the test's clock.
type bucket struct {
	now     func() time.Time
	tokens  float64
	at      time.Time
	granted int
}

func (b *bucket) Allow(_ context.Context, _ string, _ domain.RateClass, lim domain.RateLimit, cost int) (domain.RateDecision, error) {
	now := b.now()
	if b.at.IsZero() {
		b.tokens, b.at = float64(lim.Burst), now
	}
	b.tokens = math.Min(float64(lim.Burst), b.tokens+now.Sub(b.at).Seconds()*float64(lim.PerSecond))
	b.at = now
	if cost > 0 && b.tokens >= float64(cost) {
		b.tokens -= float64(cost)
		b.granted += cost
		return domain.RateDecision{Allowed: true, Limit: lim, Remaining: int(b.tokens)}, nil
	}
	return domain.RateDecision{Allowed: cost == 0, Limit: lim, Remaining: int(b.tokens), RetryAfter: time.Millisecond}, nil
}

// FuzzGateNeverAllowsMoreThanShared: whatever the sequence of requests
// (costs, peeks, pauses) and the limit, the requests the gate lets
// through never cost more than the shared limit granted (leases
// included).
func FuzzGateNeverAllowsMoreThanShared(f *testing.F) {
	f.Add(uint16(100), uint16(20), []byte{1, 1, 1, 1, 200, 1, 1})
	f.Add(uint16(1000), uint16(100), []byte{0, 5, 9, 3, 255, 64, 1, 1, 1, 128})
	f.Add(uint16(5), uint16(1), []byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, rate, burst uint16, ops []byte) {
		if rate == 0 || burst == 0 || len(ops) > 2000 {
			return
		}
		now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
		clock := func() time.Time { return now }
		shared := &bucket{now: clock}
		g := New(shared)
		g.now = clock
		lim := domain.RateLimit{PerSecond: int(rate), Burst: int(burst)}
		allowed := 0
		for _, op := range ops {
			now = now.Add(time.Duration(op&0x3f) * time.Millisecond) // up to 63 ms between requests
			cost := int(op >> 6)                                     // 0 (a peek) to 3
			d, err := g.Allow(context.Background(), "org", domain.RateLookups, lim, cost)
			if err != nil {
				t.Fatal(err)
			}
			if d.Allowed {
				allowed += cost
			}
		}
		if allowed > shared.granted {
			t.Fatalf("the gate let through %d, the shared limit granted %d", allowed, shared.granted)
		}
	})
}
