package domain

import (
	"time"
	"unicode/utf8"
)

// ReviewState is where a report stands with the bank that holds the
// reported account (its holder). It is independent of Status, which is
// where the report stands with the police store.
//
//	open ──acknowledge──▶ acknowledged ──close──▶ closed{agreed|disagreed}
//	  └───────────────────close────────────────▶
//	any state except cancelled ──cancel (reporter)──▶ cancelled
//	(no holder: unrouted; it can still be cancelled)
type ReviewState string

const (
	ReviewOpen         ReviewState = "open"
	ReviewAcknowledged ReviewState = "acknowledged"
	ReviewClosed       ReviewState = "closed"
	ReviewCancelled    ReviewState = "cancelled"
	ReviewUnrouted     ReviewState = "unrouted"
)

// Result is the holder's verdict when it closes a review.
type Result string

const (
	ResultAgreed    Result = "agreed"
	ResultDisagreed Result = "disagreed"
)

// FraudType is what the holder found when it agreed.
type FraudType string

// FraudTypes is the closed list, in API order.
var FraudTypes = []FraudType{"mule_account", "scammer_account", "account_takeover", "other"}

// Valid reports whether f is one of FraudTypes.
func (f FraudType) Valid() bool {
	for _, k := range FraudTypes {
		if f == k {
			return true
		}
	}
	return false
}

// Limits on review text.
const (
	MaxReviewDetailsRunes = 2000
	MaxCancelReasonRunes  = 500
)

// Action is what a caller asks of a report's review.
type Action string

const (
	ActionAcknowledge Action = "acknowledge"
	ActionClose       Action = "close"
	ActionCancel      Action = "cancel"
)

// Review is a report's review by its holder.
type Review struct {
	State          ReviewState
	Holder         string    // the holder org; "" when unrouted
	ReceivedAt     time.Time // when the gateway accepted the report
	RespondBy      time.Time // zero when unrouted
	AcknowledgedAt time.Time
	ClosedAt       time.Time
	CancelledAt    time.Time
	Result         Result
	FraudType      FraudType
	Details        string
	CancelReason   string
}

// NewReview is the review of a report accepted at received: open with a
// deadline when a bank holds the IBAN, unrouted otherwise.
func NewReview(holder string, received time.Time, respondWithin time.Duration) Review {
	if holder == "" {
		return Review{State: ReviewUnrouted, ReceivedAt: received}
	}
	return Review{State: ReviewOpen, Holder: holder, ReceivedAt: received, RespondBy: received.Add(respondWithin)}
}

// Overdue is true while the holder still owes an answer past respond_by.
func (r Review) Overdue(now time.Time) bool {
	return (r.State == ReviewOpen || r.State == ReviewAcknowledged) && !r.RespondBy.IsZero() && now.After(r.RespondBy)
}

// Bucket is the review count a report falls in for lookups: "open"
// (open or acknowledged), "confirmed" (closed agreed), "disputed" (closed
// disagreed), or "" (unrouted or cancelled: in none).
func (r Review) Bucket() string {
	switch {
	case r.State == ReviewOpen || r.State == ReviewAcknowledged:
		return "open"
	case r.State == ReviewClosed && r.Result == ResultAgreed:
		return "confirmed"
	case r.State == ReviewClosed && r.Result == ResultDisagreed:
		return "disputed"
	}
	return ""
}

// ReviewRequest is an action on a review with what the caller sent with it.
type ReviewRequest struct {
	Action    Action
	Result    Result    // close
	FraudType FraudType // close, when agreed
	Details   string    // close
	Reason    string    // cancel
}

// NewClose validates a close request: fraud_type is required when agreed
// and refused when disagreed.
func NewClose(result, fraudType, details string) (ReviewRequest, error) {
	r := ReviewRequest{Action: ActionClose, Result: Result(result), FraudType: FraudType(fraudType), Details: details}
	switch {
	case result == "":
		return r, Invalid("result", "result is required (agreed or disagreed)")
	case r.Result != ResultAgreed && r.Result != ResultDisagreed:
		return r, Invalid("result", "result must be agreed or disagreed")
	case r.Result == ResultAgreed && fraudType == "":
		return r, Invalid("fraud_type", "fraud_type is required when the result is agreed")
	case r.Result == ResultAgreed && !r.FraudType.Valid():
		return r, Invalid("fraud_type", "fraud_type must be one of mule_account, scammer_account, account_takeover, other")
	case r.Result == ResultDisagreed && fraudType != "":
		return r, Invalid("fraud_type", "fraud_type is only given when the result is agreed")
	case utf8.RuneCountInString(details) > MaxReviewDetailsRunes || !utf8.ValidString(details):
		return r, Invalid("details", "details must be valid text of at most 2000 characters")
	}
	return r, nil
}

// NewCancel validates a cancel request.
func NewCancel(reason string) (ReviewRequest, error) {
	if utf8.RuneCountInString(reason) > MaxCancelReasonRunes || !utf8.ValidString(reason) {
		return ReviewRequest{}, Invalid("reason", "reason must be valid text of at most 500 characters")
	}
	return ReviewRequest{Action: ActionCancel, Reason: reason}, nil
}

// Caller is who acts on a report, as far as its review is concerned.
type Caller struct {
	Org  string
	Type OrgType
}

// Parties says what a caller is to a report: its reporter, its holder,
// the police. A bank that reported an IBAN it holds is both.
type Parties struct {
	Reporter, Holder, Police bool
	// RootReporter: the caller filed the first report of the linked
	// report's chain (another org than its reporter). It is a party of
	// the linked report's status and recovery only (SPEC Part 3: recovery
	// follows the chain), and sees it without its IBAN.
	RootReporter bool
}

// PartiesOf relates a caller to a report.
func PartiesOf(c Caller, reporterOrg string, r Review) Parties {
	return Parties{Reporter: c.Org == reporterOrg, Holder: r.Holder != "" && c.Org == r.Holder, Police: c.Type == OrgPolice}
}

// Any is true for the reporter, the holder and the police: everyone else
// must learn nothing of the report, not even that it exists.
func (p Parties) Any() bool { return p.Reporter || p.Holder || p.Police }

// Apply is the review state machine. It returns the next review and
// whether anything changed (a repeat of the same action is not a change,
// and not an error). A caller who is none of the parties gets not_found;
// a party asking for an action that is not theirs gets forbidden; an
// action the state does not allow gets invalid_state, naming the state.
func (r Review) Apply(p Parties, req ReviewRequest, now time.Time) (Review, bool, error) {
	// A review's times are stored in milliseconds: the answer to the
	// action and its event say what every later read will.
	now = now.UTC().Truncate(time.Millisecond)
	if !p.Any() {
		return r, false, &Error{Code: CodeNotFound, Msg: "no such report"}
	}
	switch req.Action {
	case ActionAcknowledge, ActionClose:
		if !p.Holder {
			return r, false, &Error{Code: CodeForbidden, Msg: "only the bank that holds the account may " + string(req.Action) + " this report"}
		}
	case ActionCancel:
		if !p.Reporter {
			return r, false, &Error{Code: CodeForbidden, Msg: "only the organisation that filed this report may cancel it"}
		}
	}
	switch req.Action {
	case ActionAcknowledge:
		switch r.State {
		case ReviewAcknowledged:
			return r, false, nil
		case ReviewOpen:
			r.State, r.AcknowledgedAt = ReviewAcknowledged, now
			return r, true, nil
		}
	case ActionClose:
		switch r.State {
		case ReviewClosed:
			if r.Result == req.Result && r.FraudType == req.FraudType && r.Details == req.Details {
				return r, false, nil
			}
			return r, false, invalidState(r.State, "it was closed with another result")
		case ReviewOpen, ReviewAcknowledged:
			r.State, r.ClosedAt = ReviewClosed, now
			r.Result, r.FraudType, r.Details = req.Result, req.FraudType, req.Details
			return r, true, nil
		}
	case ActionCancel:
		if r.State == ReviewCancelled {
			return r, false, nil
		}
		r.State, r.CancelledAt, r.CancelReason = ReviewCancelled, now, req.Reason
		return r, true, nil
	}
	return r, false, invalidState(r.State, "")
}

func invalidState(s ReviewState, why string) *Error {
	msg := "the report's review is " + string(s)
	if why != "" {
		msg += ": " + why
	}
	return &Error{Code: CodeInvalidState, Field: "state", Msg: msg}
}

// MarkerChange decides a marker action: put (set or replace) or lift. One
// marker per IBAN. The police may mark and lift any IBAN's marker; a bank
// only for IBANs it holds, and it may neither replace nor lift a police
// marker. holder is the bank that holds the IBAN now ("" for none).
func MarkerChange(existing *Marker, c Caller, holder string, put bool) error {
	if c.Type != OrgPolice && (c.Type != OrgBank || holder != c.Org) {
		return &Error{Code: CodeForbidden, Msg: "only the police, or the bank that holds the account, may mark this IBAN"}
	}
	if !put && existing == nil {
		return &Error{Code: CodeNotFound, Msg: "this IBAN has no marker"}
	}
	if c.Type == OrgPolice || existing == nil || existing.ByType == OrgBank && existing.ByOrg == c.Org {
		return nil
	}
	if put {
		return &Error{Code: CodeInvalidState, Field: "marker", Msg: "the IBAN has a police marker, which a bank cannot replace"}
	}
	return &Error{Code: CodeForbidden, Msg: "a bank may lift only its own marker"}
}
