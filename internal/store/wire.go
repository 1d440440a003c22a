package store

import (
	"time"

	"github.com/mulegate/mulegate/internal/report"
)

// policeReport is the report as the police core store receives it (the
// wire contract, docs/contract.md), built once at intake and kept as
// the outbox entry's body. Absent optional
// fields are omitted, and nothing beyond the wire contract is included.
type policeReport struct {
	ReportID     string         `json:"report_id,omitempty"`
	IBAN         string         `json:"iban"`
	Category     string         `json:"category"`
	OccurredAt   string         `json:"occurred_at,omitempty"`
	Amount       *report.Amount `json:"amount,omitempty"`
	Reference    string         `json:"reference,omitempty"`
	Description  string         `json:"description,omitempty"`
	ReporterOrg  string         `json:"reporter_org,omitempty"`
	ReporterType string         `json:"reporter_type,omitempty"`
	ReceivedAt   string         `json:"received_at,omitempty"`
}

func newPoliceReport(s report.Submission, id, org string, orgType report.OrgType, received time.Time) policeReport {
	w := policeReport{
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
	return w
}
