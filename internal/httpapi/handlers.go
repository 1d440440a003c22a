package httpapi

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/mulegate/mulegate/internal/domain"
	"github.com/mulegate/mulegate/internal/telemetry"
)

// What every handler shares: deadlines, the caller, small pointer helpers.

// jsonContentType is what gin's c.JSON sends.
const jsonContentType = "application/json; charset=utf-8"

func timePtr(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	s := t.UTC().Format(time.RFC3339Nano)
	return &s
}

// withTimeout bounds the store work of one request, so that a hung Redis
// becomes a fast 503 instead of a hung client.
func withTimeout(c *gin.Context, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(c.Request.Context(), d)
}

// sharedDeadline bounds lookups and rate charges like withTimeout, more
// cheaply: the ones that start within the same 10 ms share one context,
// whose deadline is the timeout after the first of them plus those 10 ms,
// so a request makes no context, timer or cancel registration of its own.
// Its wait is then also not cut short when its client goes away (it is a
// millisecond of work). With tracing on, each request gets its own
// context: the context carries the request's span.
type sharedDeadline struct {
	timeout time.Duration
	cur     atomic.Pointer[deadlineWindow]
}

type deadlineWindow struct {
	start  time.Time
	ctx    context.Context
	cancel context.CancelFunc // never called: the context expires by itself
}

const deadlineWindowLen = 10 * time.Millisecond

func noCancel() {}

func (s *sharedDeadline) context(c *gin.Context) (context.Context, context.CancelFunc) {
	if telemetry.Active() {
		return withTimeout(c, s.timeout)
	}
	now := time.Now()
	if w := s.cur.Load(); w != nil && now.Sub(w.start) < deadlineWindowLen {
		return w.ctx, noCancel
	}
	w := &deadlineWindow{start: now}
	w.ctx, w.cancel = context.WithDeadline(context.Background(), now.Add(s.timeout+deadlineWindowLen))
	s.cur.Store(w)
	return w.ctx, noCancel
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// caller is the principal as the domain sees it.
func caller(c *gin.Context) domain.Caller {
	p := principal(c)
	return domain.Caller{Org: p.Org.ID, Type: p.Org.Type}
}

func ptrTime(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return *t
}

func strPtr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
