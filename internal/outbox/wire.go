package outbox

import (
	"time"

	"github.com/mulegate/mulegate/internal/domain"
)

// PoliceReport is the report as the police core store receives it (the
// wire contract, docs/contract.md), built once at intake and kept as
// the outbox entry's body. Absent optional
// fields are omitted, and nothing beyond the wire contract is included.
type PoliceReport struct {
	ReportID     string         `json:"report_id,omitempty"`
	IBAN         string         `json:"iban"`
	Category     string         `json:"category"`
	OccurredAt   string         `json:"occurred_at,omitempty"`
	Amount       *domain.Amount `json:"amount,omitempty"`
	Reference    string         `json:"reference,omitempty"`
	Description  string         `json:"description,omitempty"`
	ReporterOrg  string         `json:"reporter_org,omitempty"`
	ReporterType string         `json:"reporter_type,omitempty"`
	ReceivedAt   string         `json:"received_at,omitempty"`
	// A linked report's place in its chain (Part 3); a report of hop 0
	// sends none of them, as in Part 1.
	SourceReportID string `json:"source_report_id,omitempty"`
	RootReportID   string `json:"root_report_id,omitempty"`
	Hop            int    `json:"hop,omitempty"`
}

// NewPoliceReport is the police body of an accepted report.
func NewPoliceReport(s domain.Submission, id, org string, orgType domain.OrgType, received time.Time) PoliceReport {
	w := PoliceReport{
		ReportID: id, IBAN: s.IBAN.String(), Category: string(s.Category),
		Amount: s.Amount, Reference: s.Reference, Description: s.Description,
		ReporterOrg: org, ReporterType: string(orgType),
	}
	if s.OccurredAt != nil {
		w.OccurredAt = s.OccurredAt.UTC().Format(time.RFC3339Nano)
	}
	if !received.IsZero() {
		w.ReceivedAt = received.UTC().Format(time.RFC3339Nano)
	}
	if c := s.Chain; c != nil {
		w.SourceReportID, w.RootReportID, w.Hop = c.SourceID, c.RootID, c.Hop
	}
	return w
}

// PoliceEvent is a review outcome as the police core store receives it:
// POST {police_url}/reports/{report_id}/events with Idempotency-Key
// <report_id>:<event>.
type PoliceEvent struct {
	ReportID  string `json:"report_id"`
	Event     string `json:"event"` // acknowledged, closed, cancelled
	At        string `json:"at"`
	ByOrg     string `json:"by_org"`
	Result    string `json:"result,omitempty"`
	FraudType string `json:"fraud_type,omitempty"`
	Details   string `json:"details,omitempty"`
	Reason    string `json:"reason,omitempty"`
}

// PoliceEventName is the event name of a review action.
func PoliceEventName(a domain.Action) string {
	switch a {
	case domain.ActionAcknowledge:
		return "acknowledged"
	case domain.ActionClose:
		return "closed"
	}
	return "cancelled"
}

// NewPoliceEvent is the police body of a review action.
func NewPoliceEvent(id, byOrg string, r domain.Review, req domain.ReviewRequest) PoliceEvent {
	e := PoliceEvent{ReportID: id, Event: PoliceEventName(req.Action), ByOrg: byOrg}
	switch req.Action {
	case domain.ActionAcknowledge:
		e.At = r.AcknowledgedAt.UTC().Format(time.RFC3339Nano)
	case domain.ActionClose:
		e.At = r.ClosedAt.UTC().Format(time.RFC3339Nano)
		e.Result, e.FraudType, e.Details = string(r.Result), string(r.FraudType), r.Details
	case domain.ActionCancel:
		e.At = r.CancelledAt.UTC().Format(time.RFC3339Nano)
		e.Reason = r.CancelReason
	}
	return e
}

// PoliceRecoveryEvent is the police body of a recovery step (SPEC Part 3):
// POST {police_url}/reports/{id}/events with Idempotency-Key
// <report_id>:recovery.<step>.
type PoliceRecoveryEvent struct {
	ReportID  string         `json:"report_id"`
	Event     string         `json:"event"` // recovery.requested|held|returned|rejected|released
	At        string         `json:"at"`
	ByOrg     string         `json:"by_org"`
	Amount    *domain.Amount `json:"amount,omitempty"`
	Reason    string         `json:"reason,omitempty"`
	Reference string         `json:"reference,omitempty"`
}

// RecoveryEventName is the event name of a recovery step.
func RecoveryEventName(s domain.RecoveryState) string { return "recovery." + string(s) }

// NewPoliceRecoveryEvent is the police body of the step that made r what
// it is, taken by byOrg.
func NewPoliceRecoveryEvent(id, byOrg string, r domain.Recovery) PoliceRecoveryEvent {
	e := PoliceRecoveryEvent{ReportID: id, Event: RecoveryEventName(r.State), ByOrg: byOrg}
	at := r.RequestedAt
	switch r.State {
	case domain.RecoveryRequested:
		e.Amount = &r.Requested
	case domain.RecoveryHeld:
		at, e.Amount = r.HeldAt, &r.Held
	case domain.RecoveryReturned:
		at, e.Amount, e.Reference = r.ReturnedAt, &r.Returned, r.ReturnReference
	case domain.RecoveryRejected:
		at, e.Reason = r.RejectedAt, r.Reason
	case domain.RecoveryReleased:
		at, e.Reason = r.ReleasedAt, r.Reason
	}
	e.At = at.UTC().Format(time.RFC3339Nano)
	return e
}
