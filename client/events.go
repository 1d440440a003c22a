package client

import (
	"encoding/json"
	"fmt"
	"time"
)

// EventType is what a bank's (or a marketplace's) feed event is about.
type EventType string

// The event types. A client ignores types it does not know: Payload
// answers (nil, nil) for them, so a newer gateway never breaks a loop.
const (
	// EventReportReceived: a report about an IBAN you hold (ReportReceived).
	EventReportReceived EventType = "report.received"
	// EventReportCancelled: its reporter withdrew it (ReportCancelled).
	EventReportCancelled EventType = "report.cancelled"
	// EventAlertCreated: a police alert (Alert, without Cursor).
	EventAlertCreated EventType = "alert.created"
	// EventIBANThreshold: one of your IBANs reached the escalation
	// threshold of distinct reporters in 30 days (IBANThreshold).
	EventIBANThreshold EventType = "iban.threshold"
	// EventMarkerRegistered and EventMarkerCancelled: the police marked or
	// unmarked one of your IBANs (MarkerChange).
	EventMarkerRegistered EventType = "marker.registered"
	EventMarkerCancelled  EventType = "marker.cancelled"
	// EventReportReviewed: the holder closed a report you filed
	// (ReportReviewed).
	EventReportReviewed EventType = "report.reviewed"
	// The steps of a recovery (RecoveryEvent): the holder hears of
	// requested and released, the requester of held, returned and
	// rejected.
	EventRecoveryRequested EventType = "recovery.requested"
	EventRecoveryHeld      EventType = "recovery.held"
	EventRecoveryReturned  EventType = "recovery.returned"
	EventRecoveryRejected  EventType = "recovery.rejected"
	EventRecoveryReleased  EventType = "recovery.released"
	// EventIBANCorrected: the police cleared an IBAN you looked up,
	// reported or hold, or withdrew such a clear (IBANCorrected).
	EventIBANCorrected EventType = "iban.corrected"
)

// Event is one entry of a feed. Data is the type's JSON object: Payload
// decodes it.
type Event struct {
	EventID   string          `json:"event_id"` // stable across redeliveries: de-duplicate on it
	Type      EventType       `json:"type"`
	CreatedAt time.Time       `json:"created_at"`
	Cursor    string          `json:"cursor"`
	Data      json.RawMessage `json:"data"`
}

// Payload decodes the event's data into the type's payload: a
// *ReportReceived, *ReportCancelled, *Alert, *IBANThreshold,
// *MarkerChange, *ReportReviewed, *RecoveryEvent or *IBANCorrected; nil
// (and no error) for a type this client does not know. Use a type switch:
//
//	switch p := p.(type) {
//	case *client.ReportReceived:
//		...
//	}
func (e Event) Payload() (any, error) {
	var p any
	switch e.Type {
	case EventReportReceived:
		p = new(ReportReceived)
	case EventReportCancelled:
		p = new(ReportCancelled)
	case EventAlertCreated:
		p = new(Alert)
	case EventIBANThreshold:
		p = new(IBANThreshold)
	case EventMarkerRegistered, EventMarkerCancelled:
		p = new(MarkerChange)
	case EventReportReviewed:
		p = new(ReportReviewed)
	case EventRecoveryRequested, EventRecoveryHeld, EventRecoveryReturned, EventRecoveryRejected, EventRecoveryReleased:
		p = new(RecoveryEvent)
	case EventIBANCorrected:
		p = new(IBANCorrected)
	default:
		return nil, nil
	}
	if err := json.Unmarshal(e.Data, p); err != nil {
		return nil, fmt.Errorf("client: event %s (%s): %w", e.EventID, e.Type, err)
	}
	return p, nil
}

// ReportReceived is a report about an IBAN the bank holds: review it by
// RespondBy (AcknowledgeReport, CloseReport).
type ReportReceived struct {
	ReportID     string     `json:"report_id"`
	IBAN         string     `json:"iban"` // normalised
	Category     Category   `json:"category"`
	OccurredAt   *time.Time `json:"occurred_at,omitempty"`
	Amount       Amount     `json:"amount,omitzero"`
	Reference    string     `json:"reference,omitempty"`
	Description  string     `json:"description,omitempty"`
	ReporterOrg  string     `json:"reporter_org"`
	ReporterType OrgType    `json:"reporter_type"`
	ReceivedAt   time.Time  `json:"received_at"`
	RespondBy    *time.Time `json:"respond_by,omitempty"`
	// A linked report (money that went on from another report) names
	// its source, its chain's root and its hop (≥ 1).
	SourceReportID string `json:"source_report_id,omitempty"`
	RootReportID   string `json:"root_report_id,omitempty"`
	Hop            int    `json:"hop,omitempty"`
}

// ReportCancelled says a report's reporter withdrew it.
type ReportCancelled struct {
	ReportID    string    `json:"report_id"`
	IBAN        string    `json:"iban"`
	CancelledAt time.Time `json:"cancelled_at"`
	Reason      string    `json:"reason,omitempty"`
}

// IBANThreshold says one of the bank's IBANs reached the escalation
// threshold (sent once per crossing; it re-arms below it).
type IBANThreshold struct {
	IBAN          string `json:"iban"`
	ReporterCount int    `json:"reporter_count"`
	ReportCount   int    `json:"report_count"`
	Window        string `json:"window"` // "30d"
}

// MarkerChange says the police marked (RegisteredAt set) or unmarked
// (CancelledAt set) one of the bank's IBANs.
type MarkerChange struct {
	IBAN         string     `json:"iban"`
	FraudType    FraudType  `json:"fraud_type,omitempty"`
	RegisteredAt *time.Time `json:"registered_at,omitempty"`
	CancelledAt  *time.Time `json:"cancelled_at,omitempty"`
}

// ReportReviewed tells a reporter how the holder closed its report.
type ReportReviewed struct {
	ReportID  string       `json:"report_id"`
	IBAN      string       `json:"iban"`
	Result    ReviewResult `json:"result"`
	FraudType FraudType    `json:"fraud_type,omitempty"`
	ClosedAt  time.Time    `json:"closed_at"`
}

// RecoveryEvent is a step of a recovery, for the other side: requested
// (Amount, ReporterOrg, HoldBy, AnswerBy), held and returned (Amount,
// Reference, Partial), rejected (Reason), released (Reason).
type RecoveryEvent struct {
	ReportID    string     `json:"report_id"`
	IBAN        string     `json:"iban"`
	Amount      Amount     `json:"amount,omitzero"`
	ReporterOrg string     `json:"reporter_org,omitempty"`
	HoldBy      *time.Time `json:"hold_by,omitempty"`
	AnswerBy    *time.Time `json:"answer_by,omitempty"`
	Reason      string     `json:"reason,omitempty"`
	Reference   string     `json:"reference,omitempty"`
	Partial     *bool      `json:"partial,omitempty"`
}

// IBANCorrected says the police cleared an IBAN the org acted on (Reason
// the clear's; ClearWithdrawn when a clear made in error was withdrawn;
// empty for a marketplace), with the risk a lookup answered just before
// (PreviousRisk; empty on a withdrawal).
type IBANCorrected struct {
	IBAN         string      `json:"iban"`
	ClearedAt    time.Time   `json:"cleared_at"`
	Reason       ClearReason `json:"reason,omitempty"`
	PreviousRisk Risk        `json:"previous_risk,omitempty"`
}
