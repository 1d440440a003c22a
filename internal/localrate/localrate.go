// Package localrate is a per-process gate in front of a shared rate
// limit (the store's, in Redis): it saves most round trips without ever
// letting through more than the shared limit allows.
package localrate

import (
	"context"
	"sync"
	"time"

	"github.com/mulegate/mulegate/internal/domain"
)

// Gate sits in front of the shared limit (Redis) and saves it most
// round trips, without ever letting through more than it allows:
//
//   - Leases. For an org with a high limit, a request that finds no
//     leased tokens takes a few more than it needs from the shared
//     bucket in the same call (a lease: 1 % of the per-second rate, at
//     most 64 and a twentieth of the burst) and the next requests spend
//     those locally. The shared bucket has already counted every leased
//     token, so every process together still spends at most the org's
//     limit; a lease this process does not use within a second is given
//     up (those tokens stay spent, so it errs towards refusing). When the
//     shared bucket cannot give a whole lease, the request asks for its
//     own cost only, so near the limit every token is asked for exactly.
//     Orgs under 100 per second get no leases.
//   - Floods. Each process keeps, per org and class, a GCRA bucket with
//     the org's own limit, spent only by requests the shared limit let
//     through. This process alone has then served at least as much as its
//     bucket shows, so when it is empty the shared bucket, which counts
//     every process, is empty too: a flood is turned away at the cost of
//     a map lookup.
//   - Peeks (reads that show the lookups bucket without spending it)
//     reuse an answer of the last 200 ms.
type Gate struct {
	next  Limiter
	mu    sync.Mutex
	state map[gateKey]*gateState
	now   func() time.Time
}

type gateKey struct {
	org   string
	class domain.RateClass
}

type gateState struct {
	tat       time.Time // theoretical arrival time of the local bucket
	leased    int       // tokens taken from the shared bucket, not spent yet
	leaseEnds time.Time
	last      domain.RateDecision // the shared bucket's last answer
	lastAt    time.Time
}

const (
	leaseLife = time.Second
	peekReuse = 200 * time.Millisecond
)

// Limiter is the shared limit.
type Limiter interface {
	Allow(ctx context.Context, org string, class domain.RateClass, lim domain.RateLimit, cost int) (domain.RateDecision, error)
}

// New puts a gate in front of next.
func New(next Limiter) *Gate {
	return &Gate{next: next, state: map[gateKey]*gateState{}, now: time.Now}
}

// leaseSize is how many tokens a lease takes for lim (1: no lease).
func leaseSize(lim domain.RateLimit) int {
	return max(1, min(lim.PerSecond/100, 64, lim.Burst/20))
}

// Allow spends cost tokens (a lease, the local bucket, or the shared
// limit), or peeks when cost is 0.
// Allow answers as next would, spending local leases where it can.
func (g *Gate) Allow(ctx context.Context, org string, class domain.RateClass, lim domain.RateLimit, cost int) (domain.RateDecision, error) {
	if lim.PerSecond <= 0 {
		return g.next.Allow(ctx, org, class, lim, cost)
	}
	key := gateKey{org, class}
	dec, want, answered := g.local(key, lim, cost)
	if answered {
		return dec, nil
	}
	dec, err := g.next.Allow(ctx, org, class, lim, want)
	if err == nil && !dec.Allowed && want > cost {
		want = cost
		dec, err = g.next.Allow(ctx, org, class, lim, want)
	}
	if err != nil {
		return dec, err
	}
	return g.record(key, lim, cost, want, dec), nil
}

// local answers without the shared limit when it can: a refusal from the
// local bucket, a spend from the lease, or a recent answer for a peek.
// Otherwise it says how many tokens to ask the shared limit for: cost and
// a lease, unless leases are off for lim or the shared bucket had fewer
// than two leases left when it last answered (within a lease's life).
func (g *Gate) local(key gateKey, lim domain.RateLimit, cost int) (dec domain.RateDecision, want int, answered bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	st := g.state[key]
	if st == nil {
		st = &gateState{}
		g.state[key] = st
	}
	recent := !st.lastAt.IsZero() && now.Sub(st.lastAt) < leaseLife
	if cost == 0 {
		if recent && now.Sub(st.lastAt) < peekReuse {
			dec = st.last
			dec.Allowed, dec.Remaining = true, st.last.Remaining+st.leasedNow(now)
			return dec, 0, true
		}
		return dec, 0, false
	}
	if wait, ok := st.gcra(now, lim, cost, false); !ok {
		return domain.RateDecision{Limit: lim, RetryAfter: wait, ResetAfter: time.Duration(lim.Burst) * time.Second / time.Duration(lim.PerSecond)}, 0, true
	}
	if st.leasedNow(now) >= cost {
		st.leased -= cost
		st.gcra(now, lim, cost, true)
		dec = st.last
		dec.Allowed, dec.Remaining = true, st.last.Remaining+st.leased
		return dec, 0, true
	}
	want = cost
	if size := leaseSize(lim); size > 1 && cost+size-1 <= lim.Burst && !(recent && st.last.Remaining < 2*size) {
		want = cost + size - 1
	}
	return dec, want, false
}

// record keeps what the shared limit answered: spent tokens go on the
// local bucket, the tokens taken beyond cost become the lease (and are
// still this org's to spend, so they count as remaining).
func (g *Gate) record(key gateKey, lim domain.RateLimit, cost, took int, dec domain.RateDecision) domain.RateDecision {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	st := g.state[key]
	st.last, st.lastAt = dec, now
	if !dec.Allowed || cost == 0 {
		return dec
	}
	st.gcra(now, lim, cost, true)
	if extra := took - cost; extra > 0 {
		st.leased = st.leasedNow(now) + extra
		st.leaseEnds = now.Add(leaseLife)
	}
	dec.Remaining += st.leased
	return dec
}

// leasedNow is the lease still usable at now.
func (st *gateState) leasedNow(now time.Time) int {
	if now.After(st.leaseEnds) {
		st.leased = 0
	}
	return st.leased
}

// gcra runs GCRA on the local bucket: whether cost tokens are there now
// (and how long until they would be), spending them when spend is set.
func (st *gateState) gcra(now time.Time, lim domain.RateLimit, cost int, spend bool) (time.Duration, bool) {
	interval := time.Second / time.Duration(lim.PerSecond)
	tat := st.tat
	if tat.Before(now) {
		tat = now
	}
	next := tat.Add(time.Duration(cost) * interval)
	allowAt := next.Add(-time.Duration(lim.Burst) * interval)
	if allowAt.After(now) {
		return allowAt.Sub(now), false
	}
	if spend {
		st.tat = next
	}
	return 0, true
}
