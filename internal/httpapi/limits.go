package httpapi

import (
	"context"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/mulegate/mulegate/internal/domain"
)

// limiter checks an org's rate limits (internal/store over
// go-redis/redis_rate: GCRA, one Redis round trip).
type limiter interface {
	Allow(ctx context.Context, org string, class domain.RateClass, lim domain.RateLimit, cost int) (domain.RateDecision, error)
}

// dayLimiter counts an org's writes per UTC day.
type dayLimiter interface {
	AllowDay(ctx context.Context, org string, limit, cost int, now time.Time) (allowed bool, retryAfter time.Duration, err error)
}

// rateDeps are what rate limiting needs.
type rateDeps struct {
	l       limiter
	day     dayLimiter // nil: no daily limit
	metrics *Metrics
	// deadline bounds the limiter's Redis work (the request timeout); most
	// charges are answered from the local lease (localrate.go) and never
	// use it, so it is the shared one rather than a context per request.
	deadline *sharedDeadline
}

// limited charges every request of a route: cost tokens of class (0: a
// peek, so the RateLimit headers are still on the answer). A refused
// request gets 429 and nothing is done for it.
func limited(d rateDeps, class domain.RateClass, cost int) gin.HandlerFunc {
	return func(c *gin.Context) {
		if !charge(c, d, class, cost) {
			return
		}
		c.Next()
	}
}

// charge spends cost tokens of the caller's class bucket and sets the
// RateLimit-Limit, -Remaining and -Reset headers (seconds). Over the
// limit it answers 429 rate_limited with Retry-After (whole seconds, at
// least 1) and returns false. A Redis that cannot answer is 503: never a
// silent pass.
func charge(c *gin.Context, d rateDeps, class domain.RateClass, cost int) bool {
	return chargeRest(c, d, class, cost, cost)
}

// chargeRest is charge for the rest of a request whose whole cost is
// known only once its body is read: cost of the total were not charged
// yet (the route charged the others).
func chargeRest(c *gin.Context, d rateDeps, class domain.RateClass, cost, total int) bool {
	p := principal(c)
	lim := p.Org.Limits.Of(class)
	ctx, cancel := d.deadline.context(c)
	defer cancel()
	dec, err := d.l.Allow(ctx, p.Org.ID, class, lim, cost)
	if err != nil {
		writeProblem(c, err)
		return false
	}
	// Every answer carries these three: their keys are written in the
	// canonical form Header.Set would make of "RateLimit-…" (what goes on
	// the wire either way), and their values share one allocation.
	h := c.Writer.Header()
	v := make([]string, 3)
	v[0], v[1], v[2] = strconv.Itoa(lim.Burst), strconv.Itoa(max(dec.Remaining, 0)), strconv.Itoa(ceilSeconds(dec.ResetAfter))
	h["Ratelimit-Limit"], h["Ratelimit-Remaining"], h["Ratelimit-Reset"] = v[0:1:1], v[1:2:2], v[2:3:3]
	if dec.Allowed {
		return class != domain.RateWrites || cost == 0 || chargeDay(c, d, p.Org.ID, p.Org.Limits.WritesPerDay, cost)
	}
	if d.metrics != nil {
		d.metrics.rateLimited.WithLabelValues(string(p.Org.Type), string(class)).Inc()
	}
	h.Set("Retry-After", strconv.Itoa(max(1, ceilSeconds(dec.RetryAfter))))
	detail := "the " + string(class) + " rate limit of this organisation is spent; retry after Retry-After seconds"
	if total > lim.Burst {
		detail = "this request costs more " + string(class) + " than the burst of this organisation allows; send smaller batches"
	}
	writeProblem(c, newAPIError(http.StatusTooManyRequests, "rate_limited", detail))
	return false
}

// chargeDay counts a write against the org's writes of the UTC day
// (limits.<type>.writes_per_day); beyond it 429 with Retry-After to the
// next UTC day.
func chargeDay(c *gin.Context, d rateDeps, org string, limit, cost int) bool {
	if d.day == nil || limit <= 0 {
		return true
	}
	ctx, cancel := d.deadline.context(c)
	defer cancel()
	ok, retry, err := d.day.AllowDay(ctx, org, limit, cost, time.Now())
	if err != nil {
		writeProblem(c, err)
		return false
	}
	if ok {
		return true
	}
	if d.metrics != nil {
		d.metrics.rateLimited.WithLabelValues(string(principal(c).Org.Type), "writes_per_day").Inc()
	}
	c.Header("Retry-After", strconv.Itoa(max(1, ceilSeconds(retry))))
	writeProblem(c, newAPIError(http.StatusTooManyRequests, "rate_limited",
		"this organisation's writes for the day (UTC) are spent ("+strconv.Itoa(limit)+"); retry after Retry-After seconds, at the next UTC day"))
	return false
}

// pageSize is what one lookup token pays for in a page of a feed or a
// work list: a page of 1000 costs about what 45 lookups do (5.8 ms of
// gateway CPU against 0.13 ms, session 16), so a page is charged by the
// size it asks for, before it is read.
const pageSize = 100

// chargePage charges a page of up to limit items one lookup per pageSize
// (rounded up): the route charged one, this the rest.
func chargePage(c *gin.Context, d rateDeps, limit int) bool {
	cost := (limit + pageSize - 1) / pageSize
	return cost <= 1 || chargeRest(c, d, domain.RateLookups, cost-1, cost)
}

func ceilSeconds(d time.Duration) int {
	if d <= 0 {
		return 0
	}
	return int(math.Ceil(d.Seconds()))
}

type policyJSON struct {
	Name         string `json:"name"`
	PerSecond    int    `json:"per_second"`
	Burst        int    `json:"burst"`
	Remaining    int    `json:"remaining"`
	ResetSeconds int    `json:"reset_seconds"`
}

// handleLimits serves GET /v1/limits: the caller's policies and what is
// left of them, without spending any.
func handleLimits(d rateDeps) gin.HandlerFunc {
	return func(c *gin.Context) {
		p := principal(c)
		ctx, cancel := withTimeout(c, d.deadline.timeout)
		defer cancel()
		var out []policyJSON
		for _, class := range []domain.RateClass{domain.RateLookups, domain.RateWrites} {
			lim := p.Org.Limits.Of(class)
			dec, err := d.l.Allow(ctx, p.Org.ID, class, lim, 0)
			if err != nil {
				writeProblem(c, err)
				return
			}
			out = append(out, policyJSON{Name: string(class), PerSecond: lim.PerSecond, Burst: lim.Burst,
				Remaining: max(dec.Remaining, 0), ResetSeconds: ceilSeconds(dec.ResetAfter)})
		}
		c.JSON(http.StatusOK, gin.H{"org": p.Org.ID, "org_type": p.Org.Type, "policies": out})
	}
}
