package domain

import (
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// RecoveryState is where a funds recovery is (SPEC Part 3, "Funds
// recovery"): requested, then held, then returned; or rejected, or
// released by its requester (or by the report's cancellation).
type RecoveryState string

// The recovery states.
const (
	RecoveryRequested RecoveryState = "requested"
	RecoveryHeld      RecoveryState = "held"
	RecoveryReturned  RecoveryState = "returned"
	RecoveryRejected  RecoveryState = "rejected"
	RecoveryReleased  RecoveryState = "released"
)

// Final says whether no further step can follow.
func (s RecoveryState) Final() bool {
	return s == RecoveryReturned || s == RecoveryRejected || s == RecoveryReleased
}

// Recovery is a report's funds recovery: the victim's bank (the report's
// reporter, a bank) asks the bank that holds the account to block the
// money and return it, modelled on Brazil's MED.
type Recovery struct {
	State       RecoveryState
	RequestedBy string
	Requested   Amount
	Held        Amount // zero until held
	Returned    Amount // zero until returned
	Details     string
	Payment     *Payment
	ReturnTo    string // the IBAN the money goes back to (the holder sees it)
	RequestedAt time.Time
	HoldBy      time.Time // requested + recovery.hold_within
	AnswerBy    time.Time // requested + recovery.answer_within
	HeldAt      time.Time
	ReturnedAt  time.Time
	RejectedAt  time.Time
	ReleasedAt  time.Time
	// Reason is the reject reason, or why it was released ("cancelled"
	// when its report was, "cleared" when the police cleared the IBAN).
	Reason          string
	RejectDetails   string
	ReturnReference string
}

// Payment identifies the payment, so the holder can find the money.
type Payment struct {
	EndToEndID string `json:"end_to_end_id,omitempty"`
	UETR       string `json:"uetr,omitempty"`
	ValueDate  string `json:"value_date,omitempty"`
}

// Partial says whether less came back than was asked for.
func (r Recovery) Partial() bool {
	return r.State == RecoveryReturned && r.Returned.Minor() < r.Requested.Minor()
}

// OverdueHold is true while the money is not blocked past hold_by.
func (r Recovery) OverdueHold(now time.Time) bool {
	return r.State == RecoveryRequested && now.After(r.HoldBy)
}

// Overdue is true while the holder has not answered past answer_by.
func (r Recovery) Overdue(now time.Time) bool { return !r.State.Final() && now.After(r.AnswerBy) }

// RecoveryAction is a step of a recovery.
type RecoveryAction string

// The steps: the requester's request and release, the holder's hold,
// return and reject.
const (
	RecoveryRequest RecoveryAction = "request"
	RecoveryHold    RecoveryAction = "hold"
	RecoveryReturn  RecoveryAction = "return"
	RecoveryReject  RecoveryAction = "reject"
	RecoveryRelease RecoveryAction = "release"
)

// Step is the state a step leads to, and its event's name
// ("recovery.requested"…).
func (a RecoveryAction) Step() RecoveryState {
	return map[RecoveryAction]RecoveryState{RecoveryRequest: RecoveryRequested, RecoveryHold: RecoveryHeld,
		RecoveryReturn: RecoveryReturned, RecoveryReject: RecoveryRejected, RecoveryRelease: RecoveryReleased}[a]
}

// RejectReasons are the reasons a holder may give.
var RejectReasons = []string{"no_balance", "account_closed", "not_fraud", "funds_moved", "other"}

// RecoveryStep is one step's request, validated and normalised (the
// constructors below); two steps are "the same body" when equal.
type RecoveryStep struct {
	Action    RecoveryAction
	Amount    Amount
	Details   string
	Reference string
	Reason    string
	Payment   *Payment
	ReturnTo  string
}

// NewRecoveryRequest validates a recovery request's body.
func NewRecoveryRequest(amount *Amount, details string, payment *Payment, returnTo string) (RecoveryStep, error) {
	s := RecoveryStep{Action: RecoveryRequest, Details: details, Payment: payment}
	if amount == nil {
		return s, Invalid("amount", "amount is required")
	}
	a, err := NewAmount(*amount, "amount")
	if err != nil {
		return s, err
	}
	s.Amount = a
	if err := text("details", details, MaxDescriptionRunes); err != nil {
		return s, err
	}
	if payment != nil {
		for f, v := range map[string]string{"payment.end_to_end_id": payment.EndToEndID, "payment.uetr": payment.UETR} {
			if err := text(f, v, 64); err != nil {
				return s, err
			}
		}
		if payment.ValueDate != "" {
			if _, err := time.Parse(time.DateOnly, payment.ValueDate); err != nil {
				return s, Invalid("payment.value_date", "payment.value_date must be a date like 2026-12-01")
			}
		}
	}
	if returnTo != "" {
		i, err := ParseIBAN(returnTo)
		if err != nil {
			msg := "invalid IBAN"
			var de *Error
			if errors.As(err, &de) {
				msg = de.Msg
			}
			return s, &Error{Code: CodeInvalid, Field: "return_to", Msg: "return_to: " + msg}
		}
		s.ReturnTo = i.String()
	}
	return s, nil
}

// NewRecoveryHold validates a hold's body.
func NewRecoveryHold(amount *Amount) (RecoveryStep, error) {
	s := RecoveryStep{Action: RecoveryHold}
	if amount == nil {
		return s, Invalid("amount", "amount is required")
	}
	var err error
	s.Amount, err = NewAmount(*amount, "amount")
	return s, err
}

// NewRecoveryReturn validates a return's body.
func NewRecoveryReturn(amount *Amount, reference string) (RecoveryStep, error) {
	s, err := NewRecoveryHold(amount)
	s.Action, s.Reference = RecoveryReturn, reference
	if err != nil {
		return s, err
	}
	return s, text("reference", reference, MaxReferenceRunes)
}

// NewRecoveryReject validates a reject's body.
func NewRecoveryReject(reason, details string) (RecoveryStep, error) {
	s := RecoveryStep{Action: RecoveryReject, Reason: reason, Details: details}
	if !slices.Contains(RejectReasons, reason) {
		return s, Invalid("reason", "reason must be one of "+strings.Join(RejectReasons, ", "))
	}
	return s, text("details", details, MaxDescriptionRunes)
}

// NewRecoveryRelease is the requester's release (no body).
func NewRecoveryRelease() RecoveryStep { return RecoveryStep{Action: RecoveryRelease} }

func text(field, v string, maxRunes int) error {
	if !utf8.ValidString(v) || utf8.RuneCountInString(v) > maxRunes {
		return Invalid(field, field+" must be valid text of at most "+strconv.Itoa(maxRunes)+" characters")
	}
	return nil
}

// RecoveryPolicy are the holder's deadlines (recovery.hold_within,
// recovery.answer_within).
type RecoveryPolicy struct{ HoldWithin, AnswerWithin time.Duration }

// RecoveryCase is what the rules read of a report and its caller.
type RecoveryCase struct {
	Parties    Parties
	Caller     Caller
	Holder     string // the report's holder ("" for none)
	Review     Review
	Amount     Amount    // the report's (zero: none)
	Recovery   *Recovery // nil: none yet
	ReportedBy string    // the report's reporter org
}

// ApplyRecovery decides a step, in the order of SPEC Part 3's precise
// point 1 (the caller is a party: the route answered 404 otherwise; the
// body was validated by the step's constructor): 403 for a party out of
// role, 200 unchanged for an identical repeat, 409 for a state that does
// not allow it, then 400 for an amount bound that depends on the state.
// changed is false for a repeat.
func ApplyRecovery(c RecoveryCase, s RecoveryStep, now time.Time, pol RecoveryPolicy) (next Recovery, changed bool, err error) {
	now = now.UTC().Truncate(time.Millisecond)
	if err := c.Role(s.Action); err != nil {
		return Recovery{}, false, err
	}
	if c.Recovery != nil && c.Recovery.repeats(s) {
		return *c.Recovery, false, nil
	}
	if err := c.allows(s.Action); err != nil {
		return Recovery{}, false, err
	}
	if err := c.bound(s); err != nil {
		return Recovery{}, false, err
	}
	if s.Action == RecoveryRequest {
		return Recovery{State: RecoveryRequested, RequestedBy: c.Caller.Org, Requested: s.Amount, Details: s.Details, Payment: s.Payment,
			ReturnTo: s.ReturnTo, RequestedAt: now, HoldBy: now.Add(pol.HoldWithin), AnswerBy: now.Add(pol.AnswerWithin)}, true, nil
	}
	r := *c.Recovery
	r.State = s.Action.Step()
	switch s.Action {
	case RecoveryHold:
		r.Held, r.HeldAt = s.Amount, now
	case RecoveryReturn:
		r.Returned, r.ReturnReference, r.ReturnedAt = s.Amount, s.Reference, now
	case RecoveryReject:
		r.Reason, r.RejectDetails, r.RejectedAt = s.Reason, s.Details, now
	case RecoveryRelease:
		r.ReleasedAt = now
	}
	return r, true, nil
}

// Role answers 403 for a party acting out of its role (the API checks it
// before it reads the body, as SPEC Part 3's order of checks has it).
func (c RecoveryCase) Role(a RecoveryAction) error {
	switch a {
	case RecoveryRequest:
		if !(c.Parties.Reporter || c.Parties.RootReporter) || c.Caller.Type != OrgBank {
			return &Error{Code: CodeForbidden, Msg: "only the bank that filed this report (or the first report of its chain) may request a recovery"}
		}
	case RecoveryHold, RecoveryReturn, RecoveryReject:
		if !c.Parties.Holder {
			return &Error{Code: CodeForbidden, Msg: "only the bank that holds the account may " + string(a) + " a recovery"}
		}
	case RecoveryRelease:
		if c.Recovery == nil && (c.Parties.Reporter || c.Parties.RootReporter) {
			return nil // nothing to release: 409 names the state
		}
		requester := c.ReportedBy
		if c.Recovery != nil {
			requester = c.Recovery.RequestedBy
		}
		if c.Caller.Org != requester {
			return &Error{Code: CodeForbidden, Msg: "only the bank that requested the recovery may release it"}
		}
	}
	return nil
}

// repeats says whether s is the step that made r what it is, with the
// same body (it then answers 200 unchanged, even if r moved on since).
func (r Recovery) repeats(s RecoveryStep) bool {
	switch s.Action {
	case RecoveryRequest:
		return r.Requested == s.Amount && r.Details == s.Details && r.ReturnTo == s.ReturnTo && samePayment(r.Payment, s.Payment)
	case RecoveryHold:
		return !r.HeldAt.IsZero() && r.Held == s.Amount
	case RecoveryReturn:
		return r.State == RecoveryReturned && r.Returned == s.Amount && r.ReturnReference == s.Reference
	case RecoveryReject:
		return r.State == RecoveryRejected && r.Reason == s.Reason && r.RejectDetails == s.Details
	case RecoveryRelease:
		return r.State == RecoveryReleased
	}
	return false
}

func samePayment(a, b *Payment) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// allows answers 409 for a step the state does not allow.
func (c RecoveryCase) allows(a RecoveryAction) error {
	if a == RecoveryRequest {
		switch {
		case c.Recovery != nil:
			return recoveryState(c.Recovery.State, "the report has a recovery already")
		case c.Holder == "":
			return &Error{Code: CodeInvalidState, Field: "state", Msg: "the report has no holder to ask"}
		case c.Review.State == ReviewCancelled:
			return invalidState(c.Review.State, "the report was cancelled")
		case c.Review.State == ReviewClosed && c.Review.Result == ResultDisagreed:
			return invalidState(c.Review.State, "the holder disputed the report")
		}
		return nil
	}
	if c.Recovery == nil {
		return &Error{Code: CodeInvalidState, Field: "state", Msg: "the report has no recovery"}
	}
	st := c.Recovery.State
	if st == RecoveryRequested || (st == RecoveryHeld && a != RecoveryHold) {
		return nil
	}
	return recoveryState(st, "the recovery is "+string(st))
}

func recoveryState(s RecoveryState, msg string) error {
	return &Error{Code: CodeInvalidState, Field: "state", Msg: msg + " (state " + string(s) + ")"}
}

// bound answers 400 for an amount past what the state allows.
func (c RecoveryCase) bound(s RecoveryStep) error {
	var limit Amount
	var what string
	switch s.Action {
	case RecoveryRequest:
		if c.Amount.Value == "" || c.Amount.Currency != s.Amount.Currency {
			return nil
		}
		limit, what = c.Amount, "the report's amount"
	case RecoveryHold:
		limit, what = c.Recovery.Requested, "the amount requested"
	case RecoveryReturn:
		limit, what = c.Recovery.Requested, "the amount requested"
		if c.Recovery.State == RecoveryHeld {
			limit, what = c.Recovery.Held, "the amount held"
		}
	default:
		return nil
	}
	if s.Amount.Currency != limit.Currency {
		return Invalid("amount.currency", "amount.currency must be "+limit.Currency+", the currency of "+what)
	}
	if limit.Less(s.Amount) {
		return Invalid("amount.value", "amount must not exceed "+what+" ("+limit.Value+" "+limit.Currency+")")
	}
	return nil
}

// ReleaseOnCancel is what cancelling the report does to its recovery: an
// open one is released (reason "cancelled"); changed is false otherwise.
func (r Recovery) ReleaseOnCancel(now time.Time) (Recovery, bool) {
	return r.releaseFor(now, "cancelled")
}

// ReleaseOnClear is what a police clear does to a cleared report's
// recovery (SPEC Part 3, precise point 8): an open one, held money
// included, is released (reason "cleared").
func (r Recovery) ReleaseOnClear(now time.Time) (Recovery, bool) { return r.releaseFor(now, "cleared") }

func (r Recovery) releaseFor(now time.Time, reason string) (Recovery, bool) {
	if r.State.Final() {
		return r, false
	}
	r.State, r.ReleasedAt, r.Reason = RecoveryReleased, now.UTC().Truncate(time.Millisecond), reason
	return r, true
}
