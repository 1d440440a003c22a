package httpapi

import (
	"net/http"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/mulegate/mulegate/internal/auth"
)

// refusedGate limits, per client certificate, the requests that end in
// 401, 403 or 429 (a token bucket of RefusedPerSecond, RefusedBurst, in
// this process): a flood of bad tokens is turned away before any work,
// and beyond the limit costs one audit record and one log line per
// certificate and second (action "refused.suppressed" with a count)
// instead of one each. A certificate that behaves gets its full budget
// back within Burst/PerSecond seconds.
type refusedGate struct {
	perSecond, burst float64
	audit            Auditor
	log              func(msg string, args ...any)

	mu    sync.Mutex
	certs map[string]*refusedBucket
}

type refusedBucket struct {
	tokens     float64
	last       time.Time
	suppressed int64     // refused at once since the last aggregate record
	since      time.Time // when the first of those came
}

// maxRefusedCerts bounds the gate's memory: beyond it, idle certificates
// are forgotten first, then everything (a new certificate needs a CA's
// signature: this is a safety net, not a working limit).
const maxRefusedCerts = 100_000

func newRefusedGate(perSecond, burst int, a Auditor, log func(msg string, args ...any)) *refusedGate {
	if perSecond <= 0 {
		return nil
	}
	return &refusedGate{perSecond: float64(perSecond), burst: float64(max(burst, perSecond)), audit: a, log: log,
		certs: map[string]*refusedBucket{}}
}

// bucket is the certificate's bucket, refilled to now. Called locked.
func (g *refusedGate) bucket(thumb string, now time.Time) *refusedBucket {
	b := g.certs[thumb]
	if b == nil {
		if len(g.certs) >= maxRefusedCerts {
			g.evict(now)
		}
		b = &refusedBucket{tokens: g.burst, last: now}
		g.certs[thumb] = b
	}
	b.tokens = min(g.burst, b.tokens+now.Sub(b.last).Seconds()*g.perSecond)
	b.last = now
	return b
}

// over says whether the request's certificate has spent its budget of
// refusals: the request is then refused at once and only counted.
func (g *refusedGate) over(c *gin.Context, st *reqState, now time.Time) bool {
	id := certOf(c)
	if id == nil {
		return false
	}
	st.cert = id
	g.mu.Lock()
	defer g.mu.Unlock()
	b := g.bucket(id.Thumbprint, now)
	if b.tokens >= 1 {
		return false
	}
	if b.suppressed == 0 {
		b.since = now
	}
	b.suppressed++
	st.suppressed = true
	return true
}

// answered spends a token for a request that ended refused.
func (g *refusedGate) answered(st *reqState, status int, now time.Time) {
	if st.cert == nil || st.suppressed || (status != http.StatusUnauthorized && status != http.StatusForbidden && status != http.StatusTooManyRequests) {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.bucket(st.cert.Thumbprint, now).tokens--
}

// run writes the aggregate records once a second until done is closed
// (and once more then).
func (g *refusedGate) run(done <-chan struct{}) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-done:
			g.flush(time.Now())
			return
		case now := <-t.C:
			g.flush(now)
		}
	}
}

// flush records, per certificate, the requests refused at once since the
// last flush, and forgets certificates that are idle with a full budget.
func (g *refusedGate) flush(now time.Time) {
	type agg struct {
		thumb string
		n     int64
		since time.Time
	}
	var out []agg
	g.mu.Lock()
	for thumb, b := range g.certs {
		if b.suppressed > 0 {
			out = append(out, agg{thumb, b.suppressed, b.since})
			b.suppressed = 0
		}
	}
	if len(g.certs) > 1000 {
		g.evict(now)
	}
	g.mu.Unlock()
	for _, a := range out {
		err := g.audit.Audit(AuditEntry{Time: a.since.UTC(), Thumbprint: a.thumb, Method: "-", Route: "-",
			Action: "refused.suppressed", Purpose: "-", Status: http.StatusTooManyRequests, Count: a.n})
		g.log("refused requests suppressed", "cert_thumbprint", a.thumb, "count", a.n, "audit_written", err == nil)
	}
}

// evict forgets certificates idle long enough to have a full budget
// again; if that frees nothing, all of them. Called locked.
func (g *refusedGate) evict(now time.Time) {
	full := time.Duration(g.burst / g.perSecond * float64(time.Second))
	n := len(g.certs)
	for thumb, b := range g.certs {
		if b.suppressed == 0 && now.Sub(b.last) > full {
			delete(g.certs, thumb)
		}
	}
	if len(g.certs) == n && n >= maxRefusedCerts {
		clear(g.certs)
	}
}

// certOf is the connection's verified client certificate identity (nil
// without one), derived once per connection.
func certOf(c *gin.Context) *auth.ClientCert {
	tls := c.Request.TLS
	if tls == nil || len(tls.VerifiedChains) == 0 || len(tls.VerifiedChains[0]) == 0 {
		return nil
	}
	if ci, ok := c.Request.Context().Value(connKey{}).(*connIdentity); ok {
		id := ci.cert.Load()
		if id == nil {
			id = identify(tls.VerifiedChains[0][0])
			ci.cert.Store(id)
		}
		return id
	}
	return identify(tls.VerifiedChains[0][0])
}
