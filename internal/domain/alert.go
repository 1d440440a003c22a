package domain

import (
	"encoding/json"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/mulegate/mulegate/internal/iban"
)

// Severity is how urgent a police alert is.
type Severity string

// Valid reports whether s is a known severity.
func (s Severity) Valid() bool { return s == "info" || s == "warning" || s == "critical" }

// Limits on alert text.
const (
	MaxAlertMessageRunes = 2000
	MaxAlertRefRunes     = 128
)

// AlertSubmission is an alert as the police submitted it.
type AlertSubmission struct {
	IBAN      iban.IBAN
	Severity  Severity
	Message   string
	Reference string
	ExpiresAt *time.Time
}

// NewAlertSubmission validates an alert. expires_at, when given, must lie
// in the future.
func NewAlertSubmission(rawIBAN, severity, message, reference string, expiresAt *time.Time, now time.Time) (AlertSubmission, error) {
	var a AlertSubmission
	switch {
	case rawIBAN == "":
		return a, Invalid("iban", "iban is required")
	case severity == "":
		return a, Invalid("severity", "severity is required")
	case !Severity(severity).Valid():
		return a, Invalid("severity", "severity must be one of info, warning, critical")
	case strings.TrimSpace(message) == "":
		return a, Invalid("message", "message is required")
	case utf8.RuneCountInString(message) > MaxAlertMessageRunes || !utf8.ValidString(message):
		return a, Invalid("message", "message must be valid text of at most 2000 characters")
	case reference == "":
		return a, Invalid("reference", "reference is required (the police case id)")
	case utf8.RuneCountInString(reference) > MaxAlertRefRunes || !utf8.ValidString(reference):
		return a, Invalid("reference", "reference must be at most 128 characters")
	case expiresAt != nil && !expiresAt.After(now):
		return a, Invalid("expires_at", "expires_at must be in the future")
	}
	i, err := ParseIBAN(rawIBAN)
	if err != nil {
		return a, err
	}
	a = AlertSubmission{IBAN: i, Severity: Severity(severity), Message: message, Reference: reference}
	if expiresAt != nil {
		t := expiresAt.UTC()
		a.ExpiresAt = &t
	}
	return a, nil
}

// Canonical identifies the request for Idempotency-Key comparisons; like
// Submission.Canonical it holds the IBAN and is stored only as an HMAC.
func (a AlertSubmission) Canonical() []byte {
	v := map[string]any{"iban": a.IBAN.String(), "severity": a.Severity, "message": a.Message, "reference": a.Reference}
	if a.ExpiresAt != nil {
		v["expires_at"] = a.ExpiresAt.UnixMilli()
	}
	b, _ := json.Marshal(v)
	return b
}

// Alert is a stored alert as a bank receives it.
type Alert struct {
	ID        string
	Cursor    string // opaque position in the bank's feed
	BankOrg   string
	IBAN      string
	Severity  Severity
	Message   string
	Reference string
	CreatedAt time.Time
	ExpiresAt *time.Time
}

// Router finds the bank org that holds an IBAN, by the IBAN's country and
// bank identifier and the bank codes the bank orgs registered.
type Router struct {
	byCode map[string]string // "NL/ABNA" -> org id
}

// NewRouter builds the routing table from bank orgs' bank codes.
func NewRouter(bankCodes map[string]map[string][]string) *Router {
	r := &Router{byCode: map[string]string{}}
	for org, perCountry := range bankCodes {
		for country, codes := range perCountry {
			for _, c := range codes {
				r.byCode[strings.ToUpper(country)+"/"+strings.ToUpper(strings.ReplaceAll(c, " ", ""))] = org
			}
		}
	}
	return r
}

// Holder is the bank org holding i, "" when no registered bank does.
func (r *Router) Holder(i iban.IBAN) string { return r.byCode[i.Country()+"/"+i.BankCode()] }

// Route returns the bank org holding i, or a CodeUnroutable error.
func (r *Router) Route(i iban.IBAN) (string, error) {
	if org, ok := r.byCode[i.Country()+"/"+i.BankCode()]; ok {
		return org, nil
	}
	return "", &Error{Code: CodeUnroutable, Field: "iban",
		Msg: "no registered bank holds accounts under bank code " + i.BankCode() + " in " + i.Country()}
}
