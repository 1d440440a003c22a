package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/mulegate/mulegate/internal/domain"
)

type reviewer interface {
	Review(ctx context.Context, id string, c domain.Caller, req domain.ReviewRequest) (domain.ReportStatus, bool, error)
}

type closeRequest struct {
	Result    *string `json:"result"`
	FraudType *string `json:"fraud_type"`
	Details   *string `json:"details"`
}

type cancelRequest struct {
	Reason *string `json:"reason"`
}

// reviewDeps are what the review handlers need.
type reviewDeps struct {
	store     reviewer
	metrics   *Metrics
	bodyLimit int64
	timeout   time.Duration
	now       func() time.Time
}

// handleReview serves POST /v1/reports/{id}/acknowledge|close|cancel:
// decode the action's body into a domain request, let the store apply the
// state machine, answer with the report as its caller may see it. A
// repeat of an action already applied is 200 with the report unchanged.
func handleReview(d reviewDeps, action domain.Action) gin.HandlerFunc {
	return func(c *gin.Context) {
		req, err := decodeReview(c, action, d.bodyLimit)
		if err != nil {
			writeProblem(c, err)
			return
		}
		ctx, cancel := withTimeout(c, d.timeout)
		defer cancel()
		st, changed, err := d.store.Review(ctx, c.Param("id"), caller(c), req)
		if err != nil {
			writeProblem(c, err)
			return
		}
		if changed && d.metrics != nil {
			d.metrics.reviews.WithLabelValues(string(action)).Inc()
		}
		c.JSON(http.StatusOK, renderStatus(st, st.PartiesOf(caller(c)), d.now()))
	}
}

// decodeReview reads an action's body: none for acknowledge, the verdict
// for close, an optional reason for cancel (an empty body is no reason).
func decodeReview(c *gin.Context, action domain.Action, limit int64) (domain.ReviewRequest, error) {
	switch action {
	case domain.ActionClose:
		var body closeRequest
		if err := decode(c, limit, &body); err != nil {
			return domain.ReviewRequest{}, err
		}
		return domain.NewClose(deref(body.Result), deref(body.FraudType), deref(body.Details))
	case domain.ActionCancel:
		var body cancelRequest
		if c.Request.ContentLength != 0 {
			if err := decode(c, limit, &body); err != nil {
				return domain.ReviewRequest{}, err
			}
		}
		return domain.NewCancel(deref(body.Reason))
	}
	return domain.ReviewRequest{Action: action}, nil
}
