package store

import (
	"context"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/mulegate/mulegate/internal/report"
)

// Rate limits are GCRA buckets kept by go-redis/redis_rate: one key per
// org and class ("rate:mg:{l:ORG}:lookups"), one script call per check,
// so it works the same on a Redis Cluster.

// Allow spends cost tokens of org's class bucket, or none when cost is 0
// (a peek, for the headers of requests the class does not charge).
// Nothing is spent when the request is refused.
func (s *Store) Allow(ctx context.Context, org string, class report.RateClass, lim report.RateLimit, cost int) (report.RateDecision, error) {
	res, err := s.limiter.AllowN(ctx, "mg:{l:"+org+"}:"+string(class),
		redis_rate.Limit{Rate: lim.PerSecond, Burst: lim.Burst, Period: time.Second}, cost)
	if err != nil {
		return report.RateDecision{}, s.fail(opLimits, "rate limit script", err)
	}
	return report.RateDecision{Allowed: res.Allowed >= cost, Limit: lim, Remaining: res.Remaining,
		RetryAfter: res.RetryAfter, ResetAfter: res.ResetAfter}, nil
}
