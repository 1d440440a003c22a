package httpapi

import (
	"context"
	"net/http"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"
	"github.com/mulegate/mulegate/internal/domain"
	"github.com/mulegate/mulegate/internal/iban"
)

type markerStore interface {
	ChangeMarker(ctx context.Context, i iban.IBAN, c domain.Caller, holder string, m *domain.Marker) (*domain.Marker, error)
}

type markerRequest struct {
	FraudType *string `json:"fraud_type"`
	Details   *string `json:"details"`
}

// markerDeps are what the marker handlers need.
type markerDeps struct {
	store     markerStore
	router    alertRouter // who holds the IBAN now
	bodyLimit int64
	timeout   time.Duration
	now       func() time.Time
}

type markerAnswerJSON struct {
	IBAN         string `json:"iban"`
	FraudType    string `json:"fraud_type"`
	ByType       string `json:"by_type"`
	ByOrg        string `json:"by_org"`
	RegisteredAt string `json:"registered_at"`
	Details      string `json:"details,omitempty"`
}

func (r markerRequest) marker(c domain.Caller, now time.Time) (*domain.Marker, error) {
	ft := domain.FraudType(deref(r.FraudType))
	switch {
	case r.FraudType == nil:
		return nil, domain.Invalid("fraud_type", "fraud_type is required")
	case !ft.Valid():
		return nil, domain.Invalid("fraud_type", "fraud_type must be one of mule_account, scammer_account, account_takeover, other")
	case utf8.RuneCountInString(deref(r.Details)) > domain.MaxReviewDetailsRunes || !utf8.ValidString(deref(r.Details)):
		return nil, domain.Invalid("details", "details must be valid text of at most 2000 characters")
	}
	// To the millisecond, as it is stored: the answer, the event and lookups
	// name the same instant.
	return &domain.Marker{FraudType: ft, ByType: c.Type, ByOrg: c.Org, RegisteredAt: now.UTC().Truncate(time.Millisecond), Details: deref(r.Details)}, nil
}

// handlePutMarker serves PUT /v1/ibans/{iban}/marker: the police for any
// IBAN, a bank for IBANs it holds; 200 with the marker.
func handlePutMarker(d markerDeps) gin.HandlerFunc {
	return func(c *gin.Context) {
		i, _, err := ibanParam(c)
		if err != nil {
			writeProblem(c, err)
			return
		}
		var req markerRequest
		if err := decode(c, d.bodyLimit, &req); err != nil {
			writeProblem(c, err)
			return
		}
		who := caller(c)
		m, err := req.marker(who, d.now())
		if err != nil {
			writeProblem(c, err)
			return
		}
		ctx, cancel := withTimeout(c, d.timeout)
		defer cancel()
		if _, err := d.store.ChangeMarker(ctx, i, who, d.router.Holder(i), m); err != nil {
			writeProblem(c, err)
			return
		}
		c.JSON(http.StatusOK, markerAnswerJSON{IBAN: i.String(), FraudType: string(m.FraudType), ByType: string(m.ByType),
			ByOrg: m.ByOrg, RegisteredAt: m.RegisteredAt.Format(time.RFC3339Nano), Details: m.Details})
	}
}

// handleDeleteMarker serves DELETE /v1/ibans/{iban}/marker: the police
// lift any marker, a bank only its own; 204.
func handleDeleteMarker(d markerDeps) gin.HandlerFunc {
	return func(c *gin.Context) {
		i, _, err := ibanParam(c)
		if err != nil {
			writeProblem(c, err)
			return
		}
		ctx, cancel := withTimeout(c, d.timeout)
		defer cancel()
		if _, err := d.store.ChangeMarker(ctx, i, caller(c), d.router.Holder(i), nil); err != nil {
			writeProblem(c, err)
			return
		}
		c.Status(http.StatusNoContent)
	}
}
