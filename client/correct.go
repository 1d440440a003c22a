package client

import (
	"context"
	"net/http"
	"time"
)

// Correcting the record (SPEC Part 3): the holding bank's status of an
// account, the police's clear, and the account holder's access record.

// HolderStatus is what the bank that holds an IBAN says of the account.
type HolderStatus struct {
	IBAN    string        `json:"iban"`
	Status  AccountStatus `json:"status"`
	Since   time.Time     `json:"since"`
	Details string        `json:"details,omitempty"`
}

// SetHolderStatus is PUT /v1/ibans/{iban}/status (the holding bank,
// scope ibans:status); details may be "".
func (c *Client) SetHolderStatus(ctx context.Context, iban string, status AccountStatus, details string) (*HolderStatus, error) {
	body := map[string]string{"status": string(status)}
	if details != "" {
		body["details"] = details
	}
	var out HolderStatus
	_, _, err := c.do(ctx, call{method: "PUT", path: ibanPath(iban) + "/status", body: body, safe: true}, &out)
	return &out, err
}

// DeleteHolderStatus is DELETE /v1/ibans/{iban}/status.
func (c *Client) DeleteHolderStatus(ctx context.Context, iban string) error {
	_, _, err := c.do(ctx, call{method: "DELETE", path: ibanPath(iban) + "/status", safe: true, want: []int{http.StatusNoContent}}, nil)
	return err
}

// Clear is the answer to a police clear.
type Clear struct {
	IBAN           string      `json:"iban"`
	ClearedAt      time.Time   `json:"cleared_at"`
	Reason         ClearReason `json:"reason"`
	ReportsCleared int64       `json:"reports_cleared"` // reports that counted and stopped counting
}

// ClearIBAN is POST /v1/ibans/{iban}/clear (the police, scope
// ibans:clear); details may be "". Only a clear made in ClearError can
// be withdrawn (WithdrawClear). A clear is not
// retried after a network error (a second one would correct everyone
// again): look the IBAN up to see whether it took.
func (c *Client) ClearIBAN(ctx context.Context, iban string, reason ClearReason, details string) (*Clear, error) {
	body := map[string]string{"reason": string(reason)}
	if details != "" {
		body["details"] = details
	}
	var out Clear
	_, _, err := c.do(ctx, call{method: "POST", path: ibanPath(iban) + "/clear", body: body}, &out)
	return &out, err
}

// WithdrawClear is DELETE /v1/ibans/{iban}/clear: a clear made in error
// is withdrawn.
func (c *Client) WithdrawClear(ctx context.Context, iban string) error {
	_, _, err := c.do(ctx, call{method: "DELETE", path: ibanPath(iban) + "/clear", safe: true, want: []int{http.StatusNoContent}}, nil)
	return err
}

// AccessRecord is everything a gateway holds about an IBAN, for the
// account holder's access request.
type AccessRecord struct {
	IBAN         string         `json:"iban"`
	Reports      []RecordReport `json:"reports"`
	Marker       *RecordMarker  `json:"marker,omitempty"`
	HolderStatus *RecordStatus  `json:"holder_status,omitempty"`
	Cleared      *RecordClear   `json:"cleared,omitempty"`
	Lookups      []MonthLookups `json:"lookups"`
}

// RecordMarker is an access record's marker (ByType: the police's copy
// only).
type RecordMarker struct {
	FraudType    FraudType `json:"fraud_type"`
	ByType       OrgType   `json:"by_type,omitempty"`
	RegisteredAt time.Time `json:"registered_at"`
}

// RecordStatus is an access record's holder status.
type RecordStatus struct {
	Status  AccountStatus `json:"status"`
	Since   time.Time     `json:"since"`
	Details string        `json:"details,omitempty"`
}

// RecordClear is an access record's police clear (Details: the police's
// copy only).
type RecordClear struct {
	At      time.Time   `json:"at"`
	Reason  ClearReason `json:"reason"`
	Details string      `json:"details,omitempty"`
}

// MonthLookups is how often orgs of a type (the police's copy: one org)
// looked the IBAN up in a month ("2026-11").
type MonthLookups struct {
	OrgType OrgType `json:"org_type"`
	Org     string  `json:"org,omitempty"`
	Month   string  `json:"month"`
	Count   int64   `json:"count"`
}

// RecordReport is one report of an access record.
type RecordReport struct {
	ReportID     string    `json:"report_id"`
	Category     Category  `json:"category"`
	AcceptedAt   time.Time `json:"accepted_at"`
	ReporterType OrgType   `json:"reporter_type"`
	ReporterOrg  string    `json:"reporter_org,omitempty"` // the police's copy only
	Amount       Amount    `json:"amount,omitzero"`
	Hop          int       `json:"hop"`
	Review       Review    `json:"review"`
	Recovery     *Recovery `json:"recovery,omitempty"`
	Counted      bool      `json:"counted"`
}

// AccessRecord is GET /v1/ibans/{iban}/record (the holding bank with
// ibans:status, the police with audit:read).
func (c *Client) AccessRecord(ctx context.Context, iban string) (*AccessRecord, error) {
	var out AccessRecord
	_, _, err := c.do(ctx, call{method: "GET", path: ibanPath(iban) + "/record", safe: true}, &out)
	return &out, err
}
