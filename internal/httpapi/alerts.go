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

func handlePostAlert(s alertStore, r alertRouter, m *Metrics, opt AlertOptions, bodyLimit int64, timeout time.Duration, now func() time.Time) gin.HandlerFunc {
	return func(c *gin.Context) {
		key, present, err := singleHeader(c, "Idempotency-Key")
		if err != nil {
			writeProblem(c, err)
			return
		}
		if present && !validIdempotencyKey(key) {
			writeProblem(c, report.Invalid("Idempotency-Key", "Idempotency-Key must be 1-255 visible ASCII characters"))
			return
		}
		var req alertRequest
		if err = decode(c, bodyLimit, &req); err != nil {
			writeProblem(c, err)
			return
		}
		var exp *time.Time
		if req.ExpiresAt != nil {
			t, err := time.Parse(time.RFC3339, *req.ExpiresAt)
			if err != nil {
				writeProblem(c, report.Invalid("expires_at", "expires_at must be an RFC 3339 date-time"))
				return
			}
			exp = &t
		}
		sub, err := report.NewAlertSubmission(deref(req.IBAN), deref(req.Severity), deref(req.Message), deref(req.Reference), exp, now())
		if err != nil {
			writeProblem(c, err)
			return
		}
		c.Set(ctxIBAN, sub.IBAN.Masked())
		bank, err := r.Route(sub.IBAN)
		if err != nil {
			writeProblem(c, err)
			return
		}
		ctx, cancel := withTimeout(c, timeout)
		defer cancel()
		a, replayed, err := s.PostAlert(ctx, bank, principal(c).Org.ID, key, sub, opt.Retention)
		if err != nil {
			writeProblem(c, err)
			return
		}
		if replayed {
			c.Header("Idempotent-Replayed", "true")
		} else if m != nil {
			m.alertsCreated.Inc()
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

// handleAlertStream serves the caller's alerts as Server-Sent Events:
// "id: <cursor>", "event: alert", JSON "data:". It resumes after
// Last-Event-ID (or ?after=); without either it sends only alerts created
// after the client connected. Keep-alive comments flow every Keepalive;
// server shutdown (done) ends the stream cleanly.
func handleAlertStream(s alertStore, w alertWaiter, m *Metrics, opt AlertOptions, timeout time.Duration, done <-chan struct{}) gin.HandlerFunc {
	return func(c *gin.Context) {
		org := principal(c).Org.ID
		after := c.GetHeader("Last-Event-ID")
		if after == "" {
			after = c.Query("after")
		}
		if after != "" && !opt.ValidateID(after) {
			writeProblem(c, report.Invalid("Last-Event-ID", "Last-Event-ID must be a cursor sent by this API"))
			return
		}
		woken := w.Wait(org)
		if after == "" {
			ctx, cancel := withTimeout(c, timeout)
			last, err := s.LastAlertCursor(ctx, org)
			cancel()
			if err != nil {
				writeProblem(c, err)
				return
			}
			after = last
		}
		// The stream outlives the server's write timeout.
		rc := http.NewResponseController(c.Writer)
		_ = rc.SetWriteDeadline(time.Time{})
		h := c.Writer.Header()
		h.Set("Content-Type", "text/event-stream")
		h.Set("Cache-Control", "no-cache")
		h.Set("X-Accel-Buffering", "no")
		c.Status(http.StatusOK)
		fmt.Fprint(c.Writer, ": mulegate alert stream\n\n")
		c.Writer.Flush()
		if m != nil {
			m.sseOpen.Inc()
			defer m.sseOpen.Dec()
		}
		keep := time.NewTicker(opt.Keepalive)
		defer keep.Stop()
		recheck := time.NewTicker(5 * time.Second)
		defer recheck.Stop()
		for {
			ctx, cancel := withTimeout(c, timeout)
			alerts, next, more, err := s.Alerts(ctx, org, after, 100, opt.Retention)
			cancel()
			if err != nil {
				logger(c).Warn("alert stream: reading the feed failed; retrying", "request_id", requestID(c), "err", err)
			}
			if err == nil {
				for _, a := range alerts {
					data, _ := json.Marshal(renderAlert(a))
					if _, werr := fmt.Fprintf(c.Writer, "id: %s\nevent: alert\ndata: %s\n\n", a.Cursor, data); werr != nil {
						return
					}
				}
				if len(alerts) > 0 {
					c.Writer.Flush()
					if m != nil {
						m.alertsDelivered.WithLabelValues("stream").Add(float64(len(alerts)))
					}
				}
				after = next // past whatever expired entries this page skipped
				if more {
					continue
				}
			}
			select {
			case <-woken:
				woken = w.Wait(org)
			case <-recheck.C:
				woken = w.Wait(org)
			case <-keep.C:
				if _, werr := fmt.Fprint(c.Writer, ": keep-alive\n\n"); werr != nil {
					return
				}
				c.Writer.Flush()
				continue
			case <-done:
				fmt.Fprint(c.Writer, ": server shutting down; reconnect with Last-Event-ID\n\n")
				c.Writer.Flush()
				return
			case <-c.Request.Context().Done():
				return
			}
		}
	}
}
