package httpapi

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/mulegate/mulegate/internal/domain"
)

// A bank reads two feeds the same way — a page after a cursor, a long
// poll, a resumable SSE stream: its police alerts (/v1/alerts) and its
// events (/v1/events). feedSource is what differs between them.
type feedSource struct {
	list   string // the answer's list key ("alerts", "events")
	page   func(ctx context.Context, org, after string, limit int, f feedFilter) (items []feedItem, next string, more bool, err error)
	last   func(ctx context.Context, org string) (string, error)
	filter func(c *gin.Context) (feedFilter, error) // nil: no filter
	sent   func(via string, items []feedItem)       // metrics
}

// feedFilter is a source's own query filter (events: types).
type feedFilter any

// feedItem is one entry of a feed page.
type feedItem struct {
	cursor string
	event  string // the SSE event name
	body   any    // the JSON of the entry
}

// alertFeed is /v1/alerts over the alert store.
func alertFeed(s alertStore, m *Metrics) feedSource {
	return feedSource{
		list: "alerts",
		page: func(ctx context.Context, org, after string, limit int, _ feedFilter) ([]feedItem, string, bool, error) {
			alerts, next, more, err := s.Alerts(ctx, org, after, limit)
			items := make([]feedItem, len(alerts))
			for n, a := range alerts {
				items[n] = feedItem{cursor: a.Cursor, event: "alert", body: renderAlert(a)}
			}
			return items, next, more, err
		},
		last: s.LastAlertCursor,
		sent: func(via string, items []feedItem) {
			if m != nil {
				m.alertsDelivered.WithLabelValues(via).Add(float64(len(items)))
			}
		},
	}
}

type eventStore interface {
	Events(ctx context.Context, bankOrg, after string, limit int, types map[domain.EventType]bool) ([]domain.Event, string, bool, error)
	LastEventCursor(ctx context.Context, bankOrg string) (string, error)
}

type eventJSON struct {
	EventID   string          `json:"event_id"`
	Type      string          `json:"type"`
	CreatedAt string          `json:"created_at"`
	Cursor    string          `json:"cursor"`
	Data      json.RawMessage `json:"data"`
}

// eventFeed is /v1/events over the event store, with the types filter.
func eventFeed(s eventStore, m *Metrics) feedSource {
	return feedSource{
		list: "events",
		page: func(ctx context.Context, org, after string, limit int, f feedFilter) ([]feedItem, string, bool, error) {
			types, _ := f.(map[domain.EventType]bool)
			events, next, more, err := s.Events(ctx, org, after, limit, types)
			items := make([]feedItem, len(events))
			for n, e := range events {
				items[n] = feedItem{cursor: e.Cursor, event: string(e.Type), body: eventJSON{EventID: e.ID, Type: string(e.Type),
					CreatedAt: e.CreatedAt.UTC().Format(time.RFC3339Nano), Cursor: e.Cursor, Data: e.Data}}
			}
			return items, next, more, err
		},
		last:   s.LastEventCursor,
		filter: func(c *gin.Context) (feedFilter, error) { return domain.ParseEventTypes(c.Query("types")) },
		sent: func(via string, items []feedItem) {
			if m == nil {
				return
			}
			for _, it := range items {
				m.eventsDelivered.WithLabelValues(it.event, via).Inc()
			}
		},
	}
}

// feedParams reads after, limit and wait.
func feedParams(c *gin.Context, opt AlertOptions) (after string, limit int, wait time.Duration, err error) {
	after = c.Query("after")
	if after != "" && !opt.ValidateID(after) {
		return "", 0, 0, domain.Invalid("after", "after must be a cursor returned by this API")
	}
	limit = 100
	if v := c.Query("limit"); v != "" {
		n, perr := strconv.Atoi(v)
		if perr != nil || n < 1 || n > 1000 {
			return "", 0, 0, domain.Invalid("limit", "limit must be an integer from 1 to 1000")
		}
		limit = n
	}
	if v := c.Query("wait"); v != "" {
		n, perr := strconv.Atoi(v)
		if perr != nil || n < 0 || int64(n) > int64(opt.MaxWait/time.Second) {
			return "", 0, 0, domain.Invalid("wait", fmt.Sprintf("wait must be whole seconds from 0 to %d", int(opt.MaxWait/time.Second)))
		}
		wait = time.Duration(n) * time.Second
	}
	return after, limit, wait, nil
}

// feedDeps are what the feed handlers need besides the source.
type feedDeps struct {
	waiter       alertWaiter
	opt          AlertOptions
	timeout      time.Duration
	done         <-chan struct{} // closed on shutdown
	slots        streamSlots     // nil: streams are not limited
	writeTimeout time.Duration   // a stream write blocked longer ends the stream (0: none)
	metrics      *Metrics
	rate         rateDeps
}

// streamSlots limits an org's open SSE streams and waiting long polls,
// across every gateway process (store.HoldStream).
type streamSlots interface {
	HoldStream(ctx context.Context, org, id string, limit int, lease time.Duration) (bool, error)
	ReleaseStream(ctx context.Context, org, id string) error
}

// streamLease is how long a stream slot is held without renewal; an open
// stream renews it every streamRenew, so a gateway that dies frees its
// slots within streamLease.
const (
	streamLease = 30 * time.Second
	streamRenew = 10 * time.Second
)

// holdSlot takes one of the caller's stream slots for lease (429
// rate_limited when the org holds limits.<type>.streams already). The
// returned function renews it; release gives it back.
func (d feedDeps) holdSlot(c *gin.Context, lease time.Duration) (renew func() bool, release func(), ok bool) {
	p := principal(c)
	limit := p.Org.Limits.Streams
	if d.slots == nil || limit <= 0 {
		return func() bool { return true }, func() {}, true
	}
	var rnd [12]byte
	_, _ = crand.Read(rnd[:])
	id := hex.EncodeToString(rnd[:]) // not the request id: a caller may send the same X-Request-ID twice
	hold := func() (bool, error) {
		ctx, cancel := withTimeout(c, d.timeout)
		defer cancel()
		return d.slots.HoldStream(ctx, p.Org.ID, id, limit, lease)
	}
	held, err := hold()
	if err != nil {
		writeProblem(c, err)
		return nil, nil, false
	}
	if !held {
		c.Header("Retry-After", "5")
		writeProblem(c, newAPIError(http.StatusTooManyRequests, "rate_limited",
			"this organisation has "+strconv.Itoa(limit)+" streams and long polls open already; close one or retry later"))
		return nil, nil, false
	}
	renew = func() bool { ok, err := hold(); return err != nil || ok } // a Redis hiccup does not end a stream
	release = func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(c.Request.Context()), time.Second)
		defer cancel()
		_ = d.slots.ReleaseStream(ctx, p.Org.ID, id)
	}
	return renew, release, true
}

// feedRequest reads a feed page's parameters and charges the page (400
// or 429 answered, ok false).
func feedRequest(c *gin.Context, src feedSource, d feedDeps) (after string, limit int, wait time.Duration, filter feedFilter, ok bool) {
	after, limit, wait, err := feedParams(c, d.opt)
	if err == nil && src.filter != nil {
		filter, err = src.filter(c)
	}
	if err != nil {
		writeProblem(c, err)
		return "", 0, 0, nil, false
	}
	return after, limit, wait, filter, chargePage(c, d.rate, limit)
}

// handleFeed serves the caller's entries after a cursor; with wait it
// long-polls: it answers as soon as an entry arrives (any gateway replica
// may have written it: the wake-up comes through Redis), when wait ends,
// or at once when the server shuts down. The write deadline is moved past
// the wait, so a 30 s poll is answered, not cut by the server's write
// timeout.
func handleFeed(src feedSource, d feedDeps) gin.HandlerFunc {
	return func(c *gin.Context) {
		after, limit, wait, filter, ok := feedRequest(c, src, d)
		if !ok {
			return
		}
		if wait > 0 {
			_, release, ok := d.holdSlot(c, wait+d.timeout+5*time.Second)
			if !ok {
				return
			}
			defer release()
			_ = http.NewResponseController(c.Writer).SetWriteDeadline(time.Now().Add(wait + d.timeout + 5*time.Second))
		}
		org := principal(c).Org.ID
		deadline := time.Now().Add(wait)
		for {
			woken := d.waiter.Wait(org) // before reading, so nothing slips between
			ctx, cancel := withTimeout(c, d.timeout)
			items, next, more, err := src.page(ctx, org, after, limit, filter)
			cancel()
			if err != nil {
				writeProblem(c, err)
				return
			}
			left := time.Until(deadline)
			if len(items) > 0 || left <= 0 || isDone(d.done) {
				out := make([]any, len(items))
				for i, it := range items {
					out[i] = it.body
				}
				src.sent("feed", items)
				c.JSON(http.StatusOK, gin.H{src.list: out, "next_cursor": next})
				return
			}
			after = next // past whatever entries this page skipped
			if more {
				continue
			}
			t := time.NewTimer(min(left, 5*time.Second))
			select {
			case <-woken:
			case <-t.C:
			case <-d.done:
			case <-c.Request.Context().Done():
				t.Stop()
				return
			}
			t.Stop()
		}
	}
}

func isDone(done <-chan struct{}) bool {
	select {
	case <-done:
		return true
	default:
		return false
	}
}

// feedStream is one open SSE stream of a feed.
type feedStream struct {
	src    feedSource
	d      feedDeps
	m      *Metrics
	c      *gin.Context
	org    string
	filter feedFilter
	after  string // the cursor of the last entry sent
}

// handleFeedStream serves a feed as Server-Sent Events: "id: <cursor>",
// "event: <name>", JSON "data:". It resumes after Last-Event-ID (or
// ?after=); without either it sends only entries written after the
// client connected. Keep-alive comments flow every Keepalive; server
// shutdown ends the stream cleanly.
func handleFeedStream(src feedSource, d feedDeps) gin.HandlerFunc {
	m := d.metrics
	return func(c *gin.Context) {
		st := &feedStream{src: src, d: d, m: m, c: c, org: principal(c).Org.ID}
		woken := d.waiter.Wait(st.org) // before finding the start, so nothing slips between
		if err := st.start(); err != nil {
			writeProblem(c, err)
			return
		}
		renew, release, ok := d.holdSlot(c, streamLease)
		if !ok {
			return
		}
		defer release()
		renewed := time.Now()
		st.open()
		if m != nil {
			m.sseOpen.Inc()
			defer m.sseOpen.Dec()
		}
		keep := time.NewTicker(d.opt.Keepalive)
		defer keep.Stop()
		recheck := time.NewTicker(5 * time.Second)
		defer recheck.Stop()
		for {
			more, ok := st.writePage()
			if !ok {
				return
			}
			if more {
				continue
			}
			select {
			case <-woken:
				woken = d.waiter.Wait(st.org)
			case <-recheck.C: // pub/sub may miss a wake-up during a reconnect
				woken = d.waiter.Wait(st.org)
				if time.Since(renewed) >= streamRenew {
					if !renew() {
						st.comment("stream slot lost; reconnect with Last-Event-ID")
						return
					}
					renewed = time.Now()
				}
			case <-keep.C:
				if !st.comment("keep-alive") {
					return
				}
			case <-d.done:
				st.comment("server shutting down; reconnect with Last-Event-ID")
				return
			case <-c.Request.Context().Done():
				return
			}
		}
	}
}

// start finds where the stream begins: after Last-Event-ID (or ?after=),
// else after the newest entry there is now.
func (st *feedStream) start() error {
	if st.src.filter != nil {
		f, err := st.src.filter(st.c)
		if err != nil {
			return err
		}
		st.filter = f
	}
	st.after = st.c.GetHeader("Last-Event-ID")
	if st.after == "" {
		st.after = st.c.Query("after")
	}
	if st.after != "" {
		if !st.d.opt.ValidateID(st.after) {
			return domain.Invalid("Last-Event-ID", "Last-Event-ID must be a cursor sent by this API")
		}
		return nil
	}
	ctx, cancel := withTimeout(st.c, st.d.timeout)
	defer cancel()
	last, err := st.src.last(ctx, st.org)
	st.after = last
	return err
}

// open sends the stream's headers. The stream outlives the server's write
// timeout: instead, each write gets its own deadline (writeDeadline).
func (st *feedStream) open() {
	st.writeDeadline()
	h := st.c.Writer.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	st.c.Status(http.StatusOK)
	st.comment("mulegate " + st.src.list + " stream")
}

// writePage sends the next page. more: another page is waiting; ok: false
// once the client is gone. A failed read is logged and retried at the
// next wake-up or recheck.
func (st *feedStream) writePage() (more, ok bool) {
	ctx, cancel := withTimeout(st.c, st.d.timeout)
	items, next, more, err := st.src.page(ctx, st.org, st.after, 100, st.filter)
	cancel()
	if err != nil {
		logger(st.c).Warn("feed stream: reading the feed failed; retrying", "feed", st.src.list, "err", err)
		return false, true
	}
	st.writeDeadline()
	for _, it := range items {
		data, _ := json.Marshal(it.body)
		if _, err := fmt.Fprintf(st.c.Writer, "id: %s\nevent: %s\ndata: %s\n\n", it.cursor, it.event, data); err != nil {
			return false, false
		}
	}
	if len(items) > 0 {
		st.c.Writer.Flush()
		st.src.sent("stream", items)
	}
	st.after = next // past whatever entries this page skipped
	return more, true
}

// writeDeadline gives the next write api.write_timeout: a reader that does
// not read (its write blocks, the connection's buffers full) is cut off
// then, and the stream ends, instead of being kept forever.
func (st *feedStream) writeDeadline() {
	var at time.Time
	if st.d.writeTimeout > 0 {
		at = time.Now().Add(st.d.writeTimeout)
	}
	_ = http.NewResponseController(st.c.Writer).SetWriteDeadline(at)
}

// comment sends an SSE comment line; false once the client is gone.
func (st *feedStream) comment(text string) bool {
	st.writeDeadline()
	if _, err := fmt.Fprintf(st.c.Writer, ": %s\n\n", text); err != nil {
		return false
	}
	st.c.Writer.Flush()
	return true
}
