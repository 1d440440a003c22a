package domain

import (
	"encoding/json"
	"errors"
	"time"
	"unicode/utf8"

	"github.com/mulegate/mulegate/internal/iban"
)

// Category is what kind of fraud a report is about.
type Category string

// Categories is the closed list of report categories, in API order.
var Categories = []Category{
	"helpdesk_fraud", "marketplace_fraud", "phishing", "investment_fraud",
	"romance_fraud", "ransomware", "money_mule", "other",
}

// CategoryMoneyMule is the category of linked reports (onward transfers).
const CategoryMoneyMule Category = "money_mule"

// Valid reports whether c is one of Categories.
func (c Category) Valid() bool {
	for _, k := range Categories {
		if c == k {
			return true
		}
	}
	return false
}

// OrgType is the kind of organisation a caller belongs to; for reports it
// is also the report's source.
type OrgType string

const (
	OrgBank        OrgType = "bank"
	OrgMarketplace OrgType = "marketplace"
	OrgPolice      OrgType = "police"
)

// Valid reports whether t is a known organisation type.
func (t OrgType) Valid() bool { return t == OrgBank || t == OrgMarketplace || t == OrgPolice }

// Limits on free-text fields, from the product spec.
const (
	MaxDescriptionRunes = 2000
	MaxReferenceRunes   = 128
)

// Amount is a money amount: a decimal string, never a float, so that no
// rounding ever reaches a sum or the police (money.go has the rules).
type Amount struct {
	Value    string `json:"value"`
	Currency string `json:"currency"`
}

// OrNil is a copy of a for an optional field of an answer, nil when no
// amount was given.
func (a Amount) OrNil() *Amount {
	if a.Value == "" {
		return nil
	}
	return &a
}

// Submission is a report as a client submitted it, before it is accepted.
type Submission struct {
	IBAN        iban.IBAN
	Category    Category
	OccurredAt  *time.Time
	Amount      *Amount
	Reference   string
	Description string
	Chain       *ChainLink // a linked report's place in its chain (nil: hop 0)
}

// NewSubmission validates raw fields into a Submission. now and skew bound
// occurred_at: it may not lie in the future beyond the allowed clock skew.
// IBAN problems come back as CodeInvalidIBAN, everything else as
// CodeInvalid naming the field.
func NewSubmission(rawIBAN, category string, occurredAt *time.Time, amount *Amount, reference, description string, now time.Time, skew time.Duration) (Submission, error) {
	var s Submission
	if rawIBAN == "" {
		return s, Invalid("iban", "iban is required")
	}
	if category == "" {
		return s, Invalid("category", "category is required")
	}
	if !Category(category).Valid() {
		return s, Invalid("category", "category must be one of helpdesk_fraud, marketplace_fraud, phishing, investment_fraud, romance_fraud, ransomware, money_mule, other")
	}
	if occurredAt != nil && occurredAt.After(now.Add(skew)) {
		return s, Invalid("occurred_at", "occurred_at must not be in the future")
	}
	if amount != nil {
		a, err := NewAmount(*amount, "amount")
		if err != nil {
			return s, err
		}
		amount = &a
	}
	if utf8.RuneCountInString(reference) > MaxReferenceRunes {
		return s, Invalid("reference", "reference must be at most 128 characters")
	}
	if utf8.RuneCountInString(description) > MaxDescriptionRunes {
		return s, Invalid("description", "description must be at most 2000 characters")
	}
	if !utf8.ValidString(reference) || !utf8.ValidString(description) {
		return s, Invalid("description", "text must be valid UTF-8")
	}
	i, err := ParseIBAN(rawIBAN)
	if err != nil {
		return s, err
	}
	s = Submission{IBAN: i, Category: Category(category), Amount: amount, Reference: reference, Description: description}
	if occurredAt != nil {
		t := occurredAt.UTC()
		s.OccurredAt = &t
	}
	return s, nil
}

// ParseIBAN parses an IBAN and turns a validation failure into a
// CodeInvalidIBAN domain error whose message says which rule failed.
func ParseIBAN(raw string) (iban.IBAN, error) {
	i, err := iban.Parse(raw)
	if err != nil {
		var ie *iban.Error
		if errors.As(err, &ie) {
			return iban.IBAN{}, &Error{Code: CodeInvalidIBAN, Field: "iban", Msg: string(ie.Rule) + ": " + ie.Detail}
		}
		return iban.IBAN{}, &Error{Code: CodeInvalidIBAN, Field: "iban", Msg: "invalid IBAN"}
	}
	return i, nil
}

// Canonical is the normalised submission as bytes. Two requests with the
// same Idempotency-Key are the same request exactly when these match,
// whatever the JSON spacing, field order or IBAN formatting. It contains
// the IBAN, so it is never stored as is, nor as an unkeyed hash (which a
// dictionary of IBANs would invert): the store keeps an HMAC of it.
func (s Submission) Canonical() []byte {
	c := struct {
		IBAN        string     `json:"iban"`
		Category    string     `json:"category"`
		OccurredAt  string     `json:"occurred_at,omitempty"`
		Amount      *Amount    `json:"amount,omitempty"`
		Reference   string     `json:"reference,omitempty"`
		Description string     `json:"description,omitempty"`
		Chain       *ChainLink `json:"chain,omitempty"`
	}{IBAN: s.IBAN.String(), Category: string(s.Category), Amount: s.Amount, Reference: s.Reference, Description: s.Description,
		Chain: s.Chain}
	if s.OccurredAt != nil {
		c.OccurredAt = s.OccurredAt.UTC().Format(time.RFC3339Nano)
	}
	b, _ := json.Marshal(c)
	return b
}

// Accepted is the outcome of accepting a report.
type Accepted struct {
	ID          string
	IBAN        iban.IBAN
	ReportCount int64
	Replayed    bool // the same request was accepted before; nothing was counted now
}

// Status is where a report is on its way to the police.
type Status string

const (
	StatusQueued    Status = "queued"
	StatusForwarded Status = "forwarded"
	StatusRejected  Status = "rejected"
)

// ReportStatus is what GET /v1/reports/{id} shows.
type ReportStatus struct {
	ID              string
	Status          Status
	Attempts        int64
	ReceivedAt      time.Time
	ForwardedAt     *time.Time
	PoliceReference string
	LastError       string
	ReporterOrg     string
	ReporterType    OrgType
	Category        Category
	IBAN            string // for the holder's eyes; decrypted from the report
	Amount          Amount // zero: none
	Review          Review
	Recovery        *Recovery  // nil: none
	Chain           *ChainLink // a linked report's place in its chain (nil: hop 0)
	Children        []string   // the linked reports made from it (onward transfers)
	// Cleared is the police's clear that covers the report (nil: none):
	// it no longer counts, and only a cancel still acts on it.
	Cleared *Clear
}

// RefuseCleared is the 409 for an action on a cleared report (SPEC Part
// 3, precise point 8): every action but cancel.
func (st ReportStatus) RefuseCleared() error {
	if st.Cleared == nil {
		return nil
	}
	return &Error{Code: CodeInvalidState, Msg: "the report was cleared by the police (" + string(st.Cleared.Reason) +
		"); it can no longer be reviewed, recovered or followed"}
}

// PartiesOf relates a caller to this report.
func (st ReportStatus) PartiesOf(c Caller) Parties {
	p := PartiesOf(c, st.ReporterOrg, st.Review)
	p.RootReporter = st.Chain != nil && st.Chain.RootReporter != "" && c.Org == st.Chain.RootReporter && !p.Reporter
	return p
}
