package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/mulegate/mulegate/internal/domain"
	"github.com/mulegate/mulegate/internal/iban"
)

type alertStore interface {
	PostAlert(ctx context.Context, bankOrg, policeOrg, idemKey string, a domain.AlertSubmission) (domain.Alert, bool, error)
	Alerts(ctx context.Context, bankOrg, after string, limit int) (alerts []domain.Alert, next string, more bool, err error)
	LastAlertCursor(ctx context.Context, bankOrg string) (string, error)
}

type alertRouter interface {
	Route(i iban.IBAN) (string, error)
	Holder(i iban.IBAN) string // "" when no registered bank holds i
}

// alertWaiter wakes long polls and streams when a bank has a new alert.
type alertWaiter interface {
	Wait(org string) <-chan struct{}
}

// AlertOptions are the alert limits.
type AlertOptions struct {
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

func (r alertRequest) submission(now time.Time) (domain.AlertSubmission, error) {
	exp, err := optionalTime("expires_at", r.ExpiresAt)
	if err != nil {
		return domain.AlertSubmission{}, err
	}
	return domain.NewAlertSubmission(deref(r.IBAN), deref(r.Severity), deref(r.Message), deref(r.Reference), exp, now)
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

func renderAlert(a domain.Alert) alertJSON {
	out := alertJSON{AlertID: a.ID, IBAN: a.IBAN, Severity: string(a.Severity), Message: a.Message,
		Reference: a.Reference, CreatedAt: a.CreatedAt.Format(time.RFC3339Nano), Cursor: a.Cursor}
	if a.ExpiresAt != nil {
		out.ExpiresAt = timePtr(*a.ExpiresAt)
	}
	return out
}

// postAlertDeps are what handlePostAlert needs.
type postAlertDeps struct {
	store        alertStore
	router       alertRouter
	metrics      *Metrics
	eventWritten func(domain.EventType) // nil: not counted
	bodyLimit    int64
	timeout      time.Duration
	now          func() time.Time
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
		stateOf(c).iban = sub.IBAN
		auditIBANs(c, sub.IBAN)
		bank, err := d.router.Route(sub.IBAN)
		if err != nil {
			writeProblem(c, err)
			return
		}
		ctx, cancel := withTimeout(c, d.timeout)
		defer cancel()
		a, replayed, err := d.store.PostAlert(ctx, bank, principal(c).Org.ID, key, sub)
		if err != nil {
			writeProblem(c, err)
			return
		}
		if replayed {
			c.Header("Idempotent-Replayed", "true")
		} else {
			if d.metrics != nil {
				d.metrics.alertsCreated.Inc()
			}
			if d.eventWritten != nil {
				d.eventWritten(domain.EventAlertCreated) // its alert.created is in the bank's event feed too
			}
		}
		c.JSON(http.StatusCreated, alertCreatedJSON{AlertID: a.ID, BankOrg: a.BankOrg, CreatedAt: a.CreatedAt.Format(time.RFC3339Nano)})
	}
}
