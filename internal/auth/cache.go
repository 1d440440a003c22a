package auth

import (
	"sync"
	"time"
)

// tokenCache remembers verified tokens, keyed by the SHA-256 of the token
// (the token itself is never kept). It holds what the signature proved
// (verified), not the principal: the org's type and scopes are read from
// the registry on every request. It is bounded: when full, it drops
// about a tenth of its entries, expired ones first. An entry is never
// served past the token's exp, nor after the JWKS changed (generation), so
// revoking a key takes effect within one JWKS refresh.
type tokenCache struct {
	mu   sync.RWMutex
	max  int
	byID map[[32]byte]cacheEntry
}

type cacheEntry struct {
	p   verified
	gen uint64
}

func newTokenCache(max int) *tokenCache {
	return &tokenCache{max: max, byID: make(map[[32]byte]cacheEntry, max)}
}

func (c *tokenCache) get(key [32]byte, now time.Time, gen uint64) (verified, bool) {
	c.mu.RLock()
	e, ok := c.byID[key]
	c.mu.RUnlock()
	if !ok || e.gen != gen || !now.Before(e.p.Expires) {
		return verified{}, false
	}
	return e.p, true
}

func (c *tokenCache) put(key [32]byte, p verified, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.byID) >= c.max {
		c.evict()
	}
	c.byID[key] = cacheEntry{p: p, gen: gen}
}

// evict drops expired entries, then arbitrary ones (map order is random)
// until a tenth of the space is free. Called with the lock held.
func (c *tokenCache) evict() {
	now := time.Now()
	for k, e := range c.byID {
		if !now.Before(e.p.Expires) {
			delete(c.byID, k)
		}
	}
	target := c.max - c.max/10 - 1
	for k := range c.byID {
		if len(c.byID) <= target {
			break
		}
		delete(c.byID, k)
	}
}
