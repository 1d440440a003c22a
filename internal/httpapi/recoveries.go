package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/mulegate/mulegate/internal/domain"
)

// Funds recovery (SPEC Part 3, modelled on MED): the reporting bank asks
// the holder to block and return the money; the holder holds, returns
// or rejects; the requester may release it.

type recoverer interface {
	Recover(ctx context.Context, id string, c domain.Caller, step domain.RecoveryStep, pol domain.RecoveryPolicy) (
		domain.Recovery, domain.ReportStatus, bool, error)
}

// recoveryDeps are what the recovery handlers need.
type recoveryDeps struct {
	store     recoverer
	policy    domain.RecoveryPolicy
	metrics   *Metrics
	bodyLimit int64
	timeout   time.Duration
	now       func() time.Time
}

type recoveryRequestBody struct {
	Amount   *domain.Amount  `json:"amount"`
	Details  *string         `json:"details"`
	Payment  *domain.Payment `json:"payment"`
	ReturnTo *string         `json:"return_to"`
}

type recoveryHoldBody struct {
	Amount *domain.Amount `json:"amount"`
}

type recoveryReturnBody struct {
	Amount    *domain.Amount `json:"amount"`
	Reference *string        `json:"reference"`
}

type recoveryRejectBody struct {
	Reason  *string `json:"reason"`
	Details *string `json:"details"`
}

// handleRecovery serves POST /v1/reports/{id}/recovery and its steps:
// the role first (403), then the body (400), then the store decides the
// rest (200 for an identical repeat, 409 for the state, 400 for an
// amount past what the state allows). A new recovery is 201; every answer
// is the recovery as the caller may see it.
func handleRecovery(d recoveryDeps, action domain.RecoveryAction) gin.HandlerFunc {
	return func(c *gin.Context) {
		st := *stateOf(c).report // read by reportParty
		who := caller(c)
		rc := domain.RecoveryCase{Parties: st.PartiesOf(who), Caller: who, Recovery: st.Recovery, ReportedBy: st.ReporterOrg}
		if err := rc.Role(action); err != nil {
			writeProblem(c, err)
			return
		}
		step, err := decodeRecoveryStep(c, action, d.bodyLimit)
		if err != nil {
			writeProblem(c, err)
			return
		}
		ctx, cancel := withTimeout(c, d.timeout)
		defer cancel()
		rec, st, changed, err := d.store.Recover(ctx, c.Param("id"), who, step, d.policy)
		if err != nil {
			writeProblem(c, err)
			return
		}
		status := http.StatusOK
		if changed {
			d.metrics.recovered(action)
			if action == domain.RecoveryRequest {
				status = http.StatusCreated
			}
		}
		c.JSON(status, renderRecovery(rec, st.PartiesOf(who), d.now()))
	}
}

// decodeRecoveryStep reads a step's body into a validated step.
func decodeRecoveryStep(c *gin.Context, action domain.RecoveryAction, limit int64) (domain.RecoveryStep, error) {
	switch action {
	case domain.RecoveryRequest:
		var b recoveryRequestBody
		if err := decode(c, limit, &b); err != nil {
			return domain.RecoveryStep{}, err
		}
		return domain.NewRecoveryRequest(b.Amount, deref(b.Details), b.Payment, deref(b.ReturnTo))
	case domain.RecoveryHold:
		var b recoveryHoldBody
		if err := decode(c, limit, &b); err != nil {
			return domain.RecoveryStep{}, err
		}
		return domain.NewRecoveryHold(b.Amount)
	case domain.RecoveryReturn:
		var b recoveryReturnBody
		if err := decode(c, limit, &b); err != nil {
			return domain.RecoveryStep{}, err
		}
		return domain.NewRecoveryReturn(b.Amount, deref(b.Reference))
	case domain.RecoveryReject:
		var b recoveryRejectBody
		if err := decode(c, limit, &b); err != nil {
			return domain.RecoveryStep{}, err
		}
		return domain.NewRecoveryReject(deref(b.Reason), deref(b.Details))
	}
	if c.Request.ContentLength != 0 { // release takes no body; "{}" is no body
		var none struct{}
		if err := decode(c, limit, &none); err != nil {
			return domain.RecoveryStep{}, err
		}
	}
	return domain.NewRecoveryRelease(), nil
}

// recoveryJSON is the recovery object of the API.
type recoveryJSON struct {
	State           string          `json:"state"`
	RequestedBy     string          `json:"requested_by"`
	Requested       domain.Amount   `json:"requested"`
	Held            *domain.Amount  `json:"held,omitempty"`
	Returned        *domain.Amount  `json:"returned,omitempty"`
	Details         string          `json:"details,omitempty"`
	Payment         *domain.Payment `json:"payment,omitempty"`
	ReturnTo        string          `json:"return_to,omitempty"`
	RequestedAt     string          `json:"requested_at"`
	HoldBy          string          `json:"hold_by"`
	AnswerBy        string          `json:"answer_by"`
	HeldAt          *string         `json:"held_at,omitempty"`
	ReturnedAt      *string         `json:"returned_at,omitempty"`
	RejectedAt      *string         `json:"rejected_at,omitempty"`
	ReleasedAt      *string         `json:"released_at,omitempty"`
	Reason          string          `json:"reason,omitempty"`
	RejectDetails   string          `json:"reject_details,omitempty"`
	ReturnReference string          `json:"return_reference,omitempty"`
	Partial         *bool           `json:"partial,omitempty"`
	OverdueHold     bool            `json:"overdue_hold"`
	Overdue         bool            `json:"overdue"`
}

// renderRecovery shows a recovery to a party of its report: the IBAN
// the money goes back to only to the holder, who has to send it there.
func renderRecovery(r domain.Recovery, p domain.Parties, now time.Time) recoveryJSON {
	out := recoveryJSON{State: string(r.State), RequestedBy: r.RequestedBy, Requested: r.Requested, Held: r.Held.OrNil(),
		Returned: r.Returned.OrNil(), Details: r.Details, Payment: r.Payment, RequestedAt: r.RequestedAt.Format(time.RFC3339Nano),
		HoldBy: r.HoldBy.Format(time.RFC3339Nano), AnswerBy: r.AnswerBy.Format(time.RFC3339Nano), HeldAt: timePtr(r.HeldAt),
		ReturnedAt: timePtr(r.ReturnedAt), RejectedAt: timePtr(r.RejectedAt), ReleasedAt: timePtr(r.ReleasedAt), Reason: r.Reason,
		RejectDetails: r.RejectDetails, ReturnReference: r.ReturnReference, OverdueHold: r.OverdueHold(now), Overdue: r.Overdue(now)}
	if p.Holder {
		out.ReturnTo = r.ReturnTo
	}
	if r.State == domain.RecoveryReturned {
		partial := r.Partial()
		out.Partial = &partial
	}
	return out
}
