package httpapi

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/mulegate/mulegate/internal/auth"
	"github.com/mulegate/mulegate/internal/domain"
	"github.com/mulegate/mulegate/internal/jsonw"
)

// Reports: intake, and reading a report as its parties see it.

type reportAccepter interface {
	Accept(ctx context.Context, org string, orgType domain.OrgType, idempotencyKey string, s domain.Submission) (domain.Accepted, error)
}

type reportReader interface {
	ReportStatus(ctx context.Context, id string) (domain.ReportStatus, error)
	// ReportStatuses reads many reports, as ReportStatus does each, in a
	// few round trips whatever their number; one that is gone is nil.
	ReportStatuses(ctx context.Context, ids []string) ([]*domain.ReportStatus, error)
}

type reportRequest struct {
	IBAN        *string        `json:"iban"`
	Category    *string        `json:"category"`
	OccurredAt  *string        `json:"occurred_at"`
	Amount      *domain.Amount `json:"amount"`
	Reference   *string        `json:"reference"`
	Description *string        `json:"description"`
}

func (r reportRequest) submission(now time.Time, skew time.Duration) (domain.Submission, error) {
	at, err := optionalTime("occurred_at", r.OccurredAt)
	if err != nil {
		return domain.Submission{}, err
	}
	return domain.NewSubmission(deref(r.IBAN), deref(r.Category), at, r.Amount, deref(r.Reference), deref(r.Description), now, skew)
}

// optionalTime parses an optional RFC 3339 field.
func optionalTime(field string, v *string) (*time.Time, error) {
	if v == nil {
		return nil, nil
	}
	t, err := time.Parse(time.RFC3339, *v)
	if err != nil {
		return nil, domain.Invalid(field, field+" must be an RFC 3339 date-time such as 2026-11-27T14:03:00Z")
	}
	return &t, nil
}

// idempotencyKey reads the Idempotency-Key header: at most once, 1–255
// visible ASCII characters. "" when it is absent and not required.
func idempotencyKey(c *gin.Context, required bool) (string, error) {
	key, present, err := singleHeader(c, "Idempotency-Key")
	switch {
	case err != nil:
		return "", err
	case !present && required:
		return "", newAPIError(http.StatusBadRequest, "idempotency_key_required", "the Idempotency-Key header is required (1-255 visible ASCII characters)")
	case present && !validIdempotencyKey(key):
		return "", domain.Invalid("Idempotency-Key", "Idempotency-Key must be 1-255 visible ASCII characters")
	}
	return key, nil
}

// validIdempotencyKey: 1–255 visible ASCII characters.
func validIdempotencyKey(k string) bool {
	if len(k) < 1 || len(k) > 255 {
		return false
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x21 || k[i] > 0x7e {
			return false
		}
	}
	return true
}

type acceptedJSON struct {
	ReportID    string `json:"report_id"`
	Status      string `json:"status"`
	IBAN        string `json:"iban"`
	ReportCount int64  `json:"report_count"`
}

// append writes the answer as encoding/json would, without reflection.
func (a acceptedJSON) append(b []byte) []byte {
	b = jsonw.AppendString(append(b, `{"report_id":`...), a.ReportID)
	b = jsonw.AppendString(append(b, `,"status":`...), a.Status)
	b = jsonw.AppendString(append(b, `,"iban":`...), a.IBAN)
	return append(strconv.AppendInt(append(b, `,"report_count":`...), a.ReportCount, 10), '}')
}

// reportDeps are what the report handlers need.
type reportDeps struct {
	store     Reports
	bodyLimit int64
	skew      time.Duration // allowed future skew of occurred_at
	timeout   time.Duration
	now       func() time.Time
}

func handleSubmitReport(d reportDeps) gin.HandlerFunc {
	s, bodyLimit, skew, timeout, now := d.store, d.bodyLimit, d.skew, d.timeout, d.now
	return func(c *gin.Context) {
		key, err := idempotencyKey(c, true)
		if err != nil {
			writeProblem(c, err)
			return
		}
		var req reportRequest
		if err := decode(c, bodyLimit, &req); err != nil {
			writeProblem(c, err)
			return
		}
		sub, err := req.submission(now(), skew)
		if err != nil {
			writeProblem(c, err)
			return
		}
		stateOf(c).iban = sub.IBAN
		auditIBANs(c, sub.IBAN)
		p := principal(c)
		ctx, cancel := withTimeout(c, timeout)
		defer cancel()
		a, err := s.Accept(ctx, p.Org.ID, p.Org.Type, key, sub)
		if err != nil {
			writeProblem(c, err)
			return
		}
		c.Header("Location", "/v1/reports/"+a.ID)
		if a.Replayed {
			c.Header("Idempotent-Replayed", "true")
		}
		c.Data(http.StatusAccepted, jsonContentType, acceptedJSON{ReportID: a.ID, Status: string(domain.StatusQueued),
			IBAN: a.IBAN.String(), ReportCount: a.ReportCount}.append(make([]byte, 0, 128)))
	}
}

type statusJSON struct {
	ReportID        string         `json:"report_id"`
	Status          string         `json:"status"`
	Attempts        int64          `json:"attempts"`
	ReceivedAt      string         `json:"received_at"`
	ForwardedAt     *string        `json:"forwarded_at"`
	PoliceReference *string        `json:"police_reference"`
	LastError       *string        `json:"last_error"`
	Review          reviewJSON     `json:"review"`
	IBAN            string         `json:"iban,omitempty"`
	Category        string         `json:"category,omitempty"`
	ReporterOrg     string         `json:"reporter_org,omitempty"`
	Amount          *domain.Amount `json:"amount,omitempty"`
	Recovery        *recoveryJSON  `json:"recovery,omitempty"`
	SourceReportID  string         `json:"source_report_id,omitempty"`
	RootReportID    string         `json:"root_report_id,omitempty"`
	Hop             int            `json:"hop,omitempty"`
}

type reviewJSON struct {
	State          string  `json:"state"`
	HolderOrg      string  `json:"holder_org,omitempty"`
	RespondBy      *string `json:"respond_by,omitempty"`
	AcknowledgedAt *string `json:"acknowledged_at,omitempty"`
	ClosedAt       *string `json:"closed_at,omitempty"`
	Result         string  `json:"result,omitempty"`
	FraudType      string  `json:"fraud_type,omitempty"`
	CancelledAt    *string `json:"cancelled_at,omitempty"`
	Overdue        bool    `json:"overdue"`
}

// renderStatus shows a report to one of its parties: the holder also sees
// the IBAN, the category and the reporting org (it must find the account
// and judge the report); the reporter and the police see the rest.
func renderStatus(st domain.ReportStatus, p domain.Parties, now time.Time) statusJSON {
	out := statusJSON{ReportID: st.ID, Status: string(st.Status), Attempts: st.Attempts,
		ReceivedAt: st.ReceivedAt.Format(time.RFC3339Nano)}
	out.ForwardedAt = timePtr(ptrTime(st.ForwardedAt))
	out.PoliceReference = strPtr(st.PoliceReference)
	out.LastError = strPtr(st.LastError)
	r := st.Review
	out.Review = reviewJSON{State: string(r.State), HolderOrg: r.Holder, RespondBy: timePtr(r.RespondBy),
		AcknowledgedAt: timePtr(r.AcknowledgedAt), ClosedAt: timePtr(r.ClosedAt), CancelledAt: timePtr(r.CancelledAt),
		Result: string(r.Result), FraudType: string(r.FraudType), Overdue: r.Overdue(now) && st.Cleared == nil}
	if p.Holder {
		out.IBAN, out.Category, out.ReporterOrg = st.IBAN, string(st.Category), st.ReporterOrg
	}
	out.Amount = st.Amount.OrNil()
	if st.Recovery != nil {
		r := renderRecovery(*st.Recovery, p, now)
		out.Recovery = &r
	}
	if ch := st.Chain; ch != nil {
		out.SourceReportID, out.RootReportID, out.Hop = ch.SourceID, ch.RootID, ch.Hop
	}
	return out
}

func handleReportStatus(d reportDeps) gin.HandlerFunc {
	return func(c *gin.Context) {
		st := *stateOf(c).report // read by reportParty
		c.JSON(http.StatusOK, renderStatus(st, st.PartiesOf(caller(c)), d.now()))
	}
}

// reportParty guards every /v1/reports/{id} route, after the rate limit:
// an unknown report, or one the caller is no party of, is 404 whatever
// the caller's scopes (existence is not revealed); only then does a
// missing scope give 403. The report as read is kept for the handler.
func reportParty(d reportDeps, want auth.Scope, withRoot bool) gin.HandlerFunc {
	return func(c *gin.Context) {
		ctx, cancel := withTimeout(c, d.timeout)
		defer cancel()
		st, err := d.store.ReportStatus(ctx, c.Param("id"))
		if err != nil {
			writeProblem(c, err)
			return
		}
		if p := st.PartiesOf(caller(c)); !p.Any() && !(withRoot && p.RootReporter) {
			writeProblem(c, &domain.Error{Code: domain.CodeNotFound, Msg: "no such report"})
			return
		}
		stateOf(c).report = &st
		requireScope(want)(c)
	}
}
