package domain

import (
	"math"
	"strconv"
	"time"
	"unicode/utf8"
)

// Correcting the record (SPEC Part 3): what the holding bank says of its
// account (holder status), the police's clear, and a score that decays.

// HolderStatusKind is what the holding bank says of an account.
type HolderStatusKind string

// The holder statuses.
const (
	StatusCollectionAccount HolderStatusKind = "collection_account"
	StatusAccountClosed     HolderStatusKind = "account_closed"
	StatusTakenOver         HolderStatusKind = "taken_over"
)

// HolderStatusKinds lists them in the order the contract names them.
var HolderStatusKinds = []HolderStatusKind{StatusCollectionAccount, StatusAccountClosed, StatusTakenOver}

// Valid reports whether k is one of HolderStatusKinds.
func (k HolderStatusKind) Valid() bool {
	for _, v := range HolderStatusKinds {
		if k == v {
			return true
		}
	}
	return false
}

// MaxStatusDetailsRunes bounds a holder status's details.
const MaxStatusDetailsRunes = 500

// HolderStatus is the holding bank's word on an account, shown in
// lookups: a collection account caps its risk at low, the others are
// shown only.
type HolderStatus struct {
	Status  HolderStatusKind
	Since   time.Time
	Details string
}

// NewHolderStatus validates a PUT /v1/ibans/{iban}/status body.
func NewHolderStatus(status, details *string, now time.Time) (HolderStatus, error) {
	switch {
	case status == nil:
		return HolderStatus{}, Invalid("status", "status is required")
	case !HolderStatusKind(*status).Valid():
		return HolderStatus{}, Invalid("status", "status must be one of collection_account, account_closed, taken_over")
	case details != nil && (utf8.RuneCountInString(*details) > MaxStatusDetailsRunes || !utf8.ValidString(*details)):
		return HolderStatus{}, Invalid("details", "details must be valid text of at most 500 characters")
	}
	h := HolderStatus{Status: HolderStatusKind(*status), Since: now.UTC().Truncate(time.Millisecond)} // as stored
	if details != nil {
		h.Details = *details
	}
	return h, nil
}

// ClearReason is why the police cleared an IBAN.
type ClearReason string

// The clear reasons; ClearWithdrawn is the reason of the correction sent
// when a clear is undone.
const (
	ClearCourtRuling         ClearReason = "court_ruling"
	ClearProsecutorDecision  ClearReason = "prosecutor_decision"
	ClearInvestigationClosed ClearReason = "investigation_closed"
	ClearError               ClearReason = "error"
	ClearWithdrawn           ClearReason = "clear_withdrawn"
)

const (
	// MaxClearDetailsRunes bounds a clear's details.
	MaxClearDetailsRunes = 2000
	clearReasonsText     = "court_ruling, prosecutor_decision, investigation_closed, error"
	// DefaultHalfLifeDays is risk.half_life_days' default.
	DefaultHalfLifeDays         = 90
	scoreScale                  = 3.0
	msPerDay            float64 = 86_400_000
)

// Valid reports whether r is a reason a clear may give.
func (r ClearReason) Valid() bool {
	switch r {
	case ClearCourtRuling, ClearProsecutorDecision, ClearInvestigationClosed, ClearError:
		return true
	}
	return false
}

// Clear is the police's finding that an IBAN's reports were wrong: every
// report accepted before At stops counting.
type Clear struct {
	At      time.Time
	Reason  ClearReason
	Details string
	By      string // the police org
}

// NewClear validates a POST /v1/ibans/{iban}/clear body.
func NewClear(reason, details *string, by string, now time.Time) (Clear, error) {
	switch {
	case reason == nil:
		return Clear{}, Invalid("reason", "reason is required")
	case !ClearReason(*reason).Valid():
		return Clear{}, Invalid("reason", "reason must be one of "+clearReasonsText)
	case details != nil && (utf8.RuneCountInString(*details) > MaxClearDetailsRunes || !utf8.ValidString(*details)):
		return Clear{}, Invalid("details", "details must be valid text of at most "+strconv.Itoa(MaxClearDetailsRunes)+" characters")
	}
	// To the millisecond, as it is stored: the clear's answer, lookups and
	// iban.corrected then name the same instant.
	c := Clear{At: now.UTC().Truncate(time.Millisecond), Reason: ClearReason(*reason), By: by}
	if details != nil {
		c.Details = *details
	}
	return c, nil
}

// Covers says whether a report received at (ms) is cleared by c.
func (c *Clear) Covers(received int64) bool { return c != nil && received < c.At.UnixMilli() }

// ScoreWeight is what one counted report adds to S before decay: 1 open
// (or acknowledged, or unrouted), 3 closed agreed, 0.2 closed disagreed,
// halved for a linked report.
func ScoreWeight(state ReviewState, result Result, hop int) float64 {
	w := 1.0
	if state == ReviewClosed {
		switch result {
		case ResultAgreed:
			w = 3
		case ResultDisagreed:
			w = 0.2
		}
	}
	if hop > 0 {
		w /= 2
	}
	return w
}

// Decay is 0.5^(age in days / half-life in days) for a report received
// at (ms) as of now (ms); a report from the future decays by nothing.
func Decay(received, now int64, halfLifeDays float64) float64 {
	if halfLifeDays <= 0 {
		halfLifeDays = DefaultHalfLifeDays
	}
	age := max(0, float64(now-received)/msPerDay)
	return math.Exp2(-age / halfLifeDays) // 0.5^x as 2^-x: a twentieth of Pow's time, within an ulp of it
}

// Score is round(100 × (1 − e^(−S/3))), 100 with a marker.
func Score(s float64, marker bool) int {
	if marker {
		return 100
	}
	return int(math.Round(100 * (1 - math.Exp(-s/scoreScale))))
}

// DueReview is a review a holder owes: its report and deadline.
type DueReview struct {
	Holder, ReportID string
	RespondBy        time.Time
}

// AccessRecord is everything the gateway holds about an IBAN, for the
// account holder's access request (GET /v1/ibans/{iban}/record).
type AccessRecord struct {
	Reports      []RecordReport // oldest first
	Marker       *Marker
	HolderStatus *HolderStatus
	Cleared      *Clear
	Lookups      []MonthLookups // by month, then org
}

// RecordReport is one report of an access record and whether it counts.
type RecordReport struct {
	ReportStatus
	Counted bool
}

// MonthLookups is how often one org looked the IBAN up in a month.
type MonthLookups struct {
	Org     string
	OrgType OrgType
	Month   string // "2026-11"
	Count   int64
}
