package store

import (
	"context"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/mulegate/mulegate/internal/domain"
)

// Rate limits are GCRA buckets kept by go-redis/redis_rate: one key per
// org and class ("rate:mg:{l:ORG}:lookups"), one script call per check,
// so it works the same on a Redis Cluster.

// Allow spends cost tokens of org's class bucket, or none when cost is 0
// (a peek, for the headers of requests the class does not charge).
// Nothing is spent when the request is refused.
func (s *Limits) Allow(ctx context.Context, org string, class domain.RateClass, lim domain.RateLimit, cost int) (domain.RateDecision, error) {
	res, err := s.limiter.AllowN(ctx, "mg:{l:"+org+"}:"+string(class),
		redis_rate.Limit{Rate: lim.PerSecond, Burst: lim.Burst, Period: time.Second}, cost)
	if err != nil {
		return domain.RateDecision{}, s.fail(opLimits, "rate limit script", err)
	}
	return domain.RateDecision{Allowed: res.Allowed >= cost, Limit: lim, Remaining: res.Remaining,
		RetryAfter: res.RetryAfter, ResetAfter: res.ResetAfter}, nil
}

// AllowDay spends cost of org's writes of the UTC day of now, or refuses
// them all when that would pass limit; retryAfter is then the time to the
// next UTC day.
func (s *Limits) AllowDay(ctx context.Context, org string, limit, cost int, now time.Time) (allowed bool, retryAfter time.Duration, err error) {
	day := now.UTC().Format("20060102")
	n, err := dayWritesScript.Run(ctx, s.rdb, []string{dayKey(org, day)}, dayWritesArgs{Cost: cost, Limit: limit}.argv()...).Int()
	if err != nil {
		return false, 0, s.fail(opLimits, "daily writes script", err)
	}
	if n == 1 {
		return true, 0, nil
	}
	next := now.UTC().Truncate(24 * time.Hour).Add(24 * time.Hour)
	return false, next.Sub(now), nil
}

// HoldStream takes (or renews) the stream slot id of org until now+lease;
// false when the org already holds limit slots. Slots are shared by every
// gateway process.
func (s *Limits) HoldStream(ctx context.Context, org, id string, limit int, lease time.Duration) (bool, error) {
	now := s.now()
	n, err := streamsScript.Run(ctx, s.rdb, []string{streamsKey(org)},
		streamsArgs{Now: now.UnixMilli(), Slot: id, LeaseEnd: now.Add(lease).UnixMilli(), Limit: limit}.argv()...).Int()
	if err != nil {
		return false, s.fail(opLimits, "streams script", err)
	}
	return n == 1, nil
}

// ReleaseStream gives a stream slot back.
func (s *Limits) ReleaseStream(ctx context.Context, org, id string) error {
	if err := s.rdb.ZRem(ctx, streamsKey(org), id).Err(); err != nil {
		return s.fail(opLimits, "streams release", err)
	}
	return nil
}
