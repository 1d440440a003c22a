package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/mulegate/mulegate/internal/iban"
	"github.com/mulegate/mulegate/internal/report"
)

type alertStore interface {
	PostAlert(ctx context.Context, bankOrg, policeOrg, idemKey string, a report.AlertSubmission, retention time.Duration) (report.Alert, bool, error)
	Alerts(ctx context.Context, bankOrg, after string, limit int, retention time.Duration) (alerts []report.Alert, next string, more bool, err error)
	LastAlertCursor(ctx context.Context, bankOrg string) (string, error)
}

type alertRouter interface {
	Route(i iban.IBAN) (string, error)
}

// alertWaiter wakes long polls and streams when a bank has a new alert.
type alertWaiter interface {
	Wait(org string) <-chan struct{}
}

// AlertOptions are the alert limits.
type AlertOptions struct {
	Retention  time.Duration // alerts are kept (and served) this long
	MaxWait    time.Duration // longest long poll (30 s)
	Keepalive  time.Duration // SSE keep-alive comment period
	ValidateID func(string) bool
}

type alertRequest struct {
	IBAN      *string `json:"iban"`
	Severity  *string `json:"severity"`
	Message   *string `json:"message"`
	Reference *string `json:"reference"`
	ExpiresAt *string `json:"expires_at"`
}

func (r alertRequest) submission(now time.Time) (report.AlertSubmission, error) {
	exp, err := optionalTime("expires_at", r.ExpiresAt)
	if err != nil {
		return report.AlertSubmission{}, err
	}
	return report.NewAlertSubmission(deref(r.IBAN), deref(r.Severity), deref(r.Message), deref(r.Reference), exp, now)
}

type alertCreatedJSON struct {
	AlertID   string `json:"alert_id"`
	BankOrg   string `json:"bank_org"`
	CreatedAt string `json:"created_at"`
}

type alertJSON struct {
	AlertID   string  `json:"alert_id"`
	IBAN      string  `json:"iban"`
	Severity  string  `json:"severity"`
	Message   string  `json:"message"`
	Reference string  `json:"reference"`
	CreatedAt string  `json:"created_at"`
	ExpiresAt *string `json:"expires_at,omitempty"`
	Cursor    string  `json:"cursor"`
}

func renderAlert(a report.Alert) alertJSON {
	out := alertJSON{AlertID: a.ID, IBAN: a.IBAN, Severity: string(a.Severity), Message: a.Message,
		Reference: a.Reference, CreatedAt: a.CreatedAt.Format(time.RFC3339Nano), Cursor: a.Cursor}
	if a.ExpiresAt != nil {
		out.ExpiresAt = timePtr(*a.ExpiresAt)
	}
	return out
}

// postAlertDeps are what handlePostAlert needs.
type postAlertDeps struct {
	store     alertStore
	router    alertRouter
	metrics   *Metrics
	retention time.Duration
	bodyLimit int64
	timeout   time.Duration
	now       func() time.Time
}

func handlePostAlert(d postAlertDeps) gin.HandlerFunc {
	return func(c *gin.Context) {
		key, err := idempotencyKey(c, false)
		if err != nil {
			writeProblem(c, err)
			return
		}
		var req alertRequest
		if err := decode(c, d.bodyLimit, &req); err != nil {
			writeProblem(c, err)
			return
		}
		sub, err := req.submission(d.now())
		if err != nil {
			writeProblem(c, err)
			return
		}
		c.Set(ctxIBAN, sub.IBAN.Masked())
		bank, err := d.router.Route(sub.IBAN)
		if err != nil {
			writeProblem(c, err)
			return
		}
		ctx, cancel := withTimeout(c, d.timeout)
		defer cancel()
		a, replayed, err := d.store.PostAlert(ctx, bank, principal(c).Org.ID, key, sub, d.retention)
		if err != nil {
			writeProblem(c, err)
			return
		}
		if replayed {
			c.Header("Idempotent-Replayed", "true")
		} else if d.metrics != nil {
			d.metrics.alertsCreated.Inc()
		}
		c.JSON(http.StatusCreated, alertCreatedJSON{AlertID: a.ID, BankOrg: a.BankOrg, CreatedAt: a.CreatedAt.Format(time.RFC3339Nano)})
	}
}

// feedParams reads after, limit and wait.
func feedParams(c *gin.Context, opt AlertOptions) (after string, limit int, wait time.Duration, err error) {
	after = c.Query("after")
	if after != "" && !opt.ValidateID(after) {
		return "", 0, 0, report.Invalid("after", "after must be a cursor returned by this API")
	}
	limit = 100
	if v := c.Query("limit"); v != "" {
		n, perr := strconv.Atoi(v)
		if perr != nil || n < 1 || n > 1000 {
			return "", 0, 0, report.Invalid("limit", "limit must be an integer from 1 to 1000")
		}
		limit = n
	}
	if v := c.Query("wait"); v != "" {
		n, perr := strconv.Atoi(v)
		if perr != nil || n < 0 || time.Duration(n)*time.Second > opt.MaxWait {
			return "", 0, 0, report.Invalid("wait", fmt.Sprintf("wait must be whole seconds from 0 to %d", int(opt.MaxWait/time.Second)))
		}
		wait = time.Duration(n) * time.Second
	}
	return after, limit, wait, nil
}

// handleAlertFeed serves the caller's alerts after a cursor; with wait it
// long-polls: it answers as soon as an alert arrives (any gateway replica
// may have taken it: the wake-up comes through Redis), when wait ends, or
// at once when the server shuts down. The write deadline is moved past
// the wait, so a 30 s poll is answered, not cut by the server's
// write timeout.
func handleAlertFeed(s alertStore, w alertWaiter, m *Metrics, opt AlertOptions, timeout time.Duration, done <-chan struct{}) gin.HandlerFunc {
	return func(c *gin.Context) {
		after, limit, wait, err := feedParams(c, opt)
		if err != nil {
			writeProblem(c, err)
			return
		}
		if wait > 0 {
			_ = http.NewResponseController(c.Writer).SetWriteDeadline(time.Now().Add(wait + timeout + 5*time.Second))
		}
		org := principal(c).Org.ID
		deadline := time.Now().Add(wait)
		for {
			woken := w.Wait(org) // before reading, so no alert slips between
			ctx, cancel := withTimeout(c, timeout)
			alerts, next, more, err := s.Alerts(ctx, org, after, limit, opt.Retention)
			cancel()
			if err != nil {
				writeProblem(c, err)
				return
			}
			left := time.Until(deadline)
			if len(alerts) > 0 || left <= 0 || isDone(done) {
				out := make([]alertJSON, len(alerts))
				for i, a := range alerts {
					out[i] = renderAlert(a)
				}
				if m != nil {
					m.alertsDelivered.WithLabelValues("feed").Add(float64(len(alerts)))
				}
				c.JSON(http.StatusOK, gin.H{"alerts": out, "next_cursor": next})
				return
			}
			after = next // past whatever expired entries this page skipped
			if more {
				continue
			}
			t := time.NewTimer(min(left, 5*time.Second))
			select {
			case <-woken:
			case <-t.C:
			case <-done:
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

// alertStream is one open SSE alert stream.
type alertStream struct {
	s       alertStore
	w       alertWaiter
	m       *Metrics
	opt     AlertOptions
	timeout time.Duration
	c       *gin.Context
	org     string
	after   string // the cursor of the last alert sent
}

// handleAlertStream serves the caller's alerts as Server-Sent Events:
// "id: <cursor>", "event: alert", JSON "data:". It resumes after
// Last-Event-ID (or ?after=); without either it sends only alerts created
// after the client connected. Keep-alive comments flow every Keepalive;
// server shutdown (done) ends the stream cleanly.
func handleAlertStream(s alertStore, w alertWaiter, m *Metrics, opt AlertOptions, timeout time.Duration, done <-chan struct{}) gin.HandlerFunc {
	return func(c *gin.Context) {
		st := &alertStream{s: s, w: w, m: m, opt: opt, timeout: timeout, c: c, org: principal(c).Org.ID}
		woken := w.Wait(st.org) // before finding the start, so nothing slips between
		if err := st.start(); err != nil {
			writeProblem(c, err)
			return
		}
		st.open()
		if m != nil {
			m.sseOpen.Inc()
			defer m.sseOpen.Dec()
		}
		keep := time.NewTicker(opt.Keepalive)
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
				woken = w.Wait(st.org)
			case <-recheck.C: // pub/sub may miss a wake-up during a reconnect
				woken = w.Wait(st.org)
			case <-keep.C:
				if !st.comment("keep-alive") {
					return
				}
			case <-done:
				st.comment("server shutting down; reconnect with Last-Event-ID")
				return
			case <-c.Request.Context().Done():
				return
			}
		}
	}
}

// start finds where the stream begins: after Last-Event-ID (or ?after=),
// else after the newest alert there is now.
func (st *alertStream) start() error {
	st.after = st.c.GetHeader("Last-Event-ID")
	if st.after == "" {
		st.after = st.c.Query("after")
	}
	if st.after != "" {
		if !st.opt.ValidateID(st.after) {
			return report.Invalid("Last-Event-ID", "Last-Event-ID must be a cursor sent by this API")
		}
		return nil
	}
	ctx, cancel := withTimeout(st.c, st.timeout)
	defer cancel()
	last, err := st.s.LastAlertCursor(ctx, st.org)
	st.after = last
	return err
}

// open sends the stream's headers. The stream outlives the server's write
// timeout, so its deadline is lifted.
func (st *alertStream) open() {
	_ = http.NewResponseController(st.c.Writer).SetWriteDeadline(time.Time{})
	h := st.c.Writer.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	st.c.Status(http.StatusOK)
	st.comment("mulegate alert stream")
}

// writePage sends the next page of alerts. more: another page is waiting;
// ok: false once the client is gone. A failed read is logged and retried
// at the next wake-up or recheck.
func (st *alertStream) writePage() (more, ok bool) {
	ctx, cancel := withTimeout(st.c, st.timeout)
	alerts, next, more, err := st.s.Alerts(ctx, st.org, st.after, 100, st.opt.Retention)
	cancel()
	if err != nil {
		logger(st.c).Warn("alert stream: reading the feed failed; retrying", "err", err)
		return false, true
	}
	for _, a := range alerts {
		data, _ := json.Marshal(renderAlert(a))
		if _, err := fmt.Fprintf(st.c.Writer, "id: %s\nevent: alert\ndata: %s\n\n", a.Cursor, data); err != nil {
			return false, false
		}
	}
	if len(alerts) > 0 {
		st.c.Writer.Flush()
		if st.m != nil {
			st.m.alertsDelivered.WithLabelValues("stream").Add(float64(len(alerts)))
		}
	}
	st.after = next // past whatever expired entries this page skipped
	return more, true
}

// comment sends an SSE comment line; false once the client is gone.
func (st *alertStream) comment(text string) bool {
	if _, err := fmt.Fprintf(st.c.Writer, ": %s\n\n", text); err != nil {
		return false
	}
	st.c.Writer.Flush()
	return true
}
