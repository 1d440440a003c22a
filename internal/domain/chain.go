package domain

import (
	"errors"
	"strconv"
	"time"

	"github.com/mulegate/mulegate/internal/iban"
)

// Following the money (SPEC Part 3, modelled on MED 2.0): the holder of a
// report says where the money went on to, and each onward transfer
// becomes a linked report about the onward IBAN.

// ChainLink places a linked report in its chain.
type ChainLink struct {
	SourceID string // the report the money came from
	RootID   string // the first report of the chain
	Hop      int    // the source's hop + 1 (a report made directly has hop 0)
	// Upstream: the source confirms the linked report now (its
	// ConfirmsOnward); kept with the linked report, moved by the source's
	// later changes. Not part of the request.
	Upstream bool `json:"-"`
	// RootReporter is the org that filed the root report: it may ask for
	// the money along the chain.
	RootReporter string `json:"-"`
}

// ConfirmsOnward says whether a report makes the IBANs its money went on
// to "one hop from a confirmed mule" (SPEC Part 3): it counts (not
// cancelled) and either its holder closed it agreed, the holder being
// another org than its reporter (a bank cannot confirm its own report and
// push IBANs up the chain with it), or its IBAN carries a marker (marked).
// A cancelled source confirms nothing, marker or not: its reporter
// withdrew the report the chain was built from.
func (st ReportStatus) ConfirmsOnward(marked bool) bool {
	r := st.Review
	if r.State == ReviewCancelled {
		return false
	}
	return marked || r.State == ReviewClosed && r.Result == ResultAgreed && r.Holder != "" && r.Holder != st.ReporterOrg
}

// ChainPolicy bounds chains (chains.max_hops, chains.max_transfers).
type ChainPolicy struct{ MaxHops, MaxTransfers int }

// RawTransfer is one onward transfer as the request body has it.
type RawTransfer struct {
	IBAN   *string `json:"iban"`
	Amount *Amount `json:"amount"`
	At     *string `json:"at"`
}

// Transfer is one onward transfer, validated.
type Transfer struct {
	IBAN   iban.IBAN
	Amount Amount
	At     time.Time
}

// NewTransfers validates an onward request's transfers for a source
// report about own: 1 to MaxTransfers of them (400), each IBAN valid (422
// naming the entry) and not the source's own (400), each amount valid and
// each at not in the future (400).
func NewTransfers(raw []RawTransfer, own iban.IBAN, now time.Time, skew time.Duration, pol ChainPolicy) ([]Transfer, error) {
	if len(raw) == 0 || len(raw) > pol.MaxTransfers {
		return nil, Invalid("transfers", "transfers must hold between 1 and "+strconv.Itoa(pol.MaxTransfers)+" entries")
	}
	out := make([]Transfer, len(raw))
	for n, r := range raw {
		field := "transfers[" + strconv.Itoa(n) + "]"
		if r.IBAN == nil || r.Amount == nil || r.At == nil {
			return nil, Invalid(field, field+" needs iban, amount and at")
		}
		i, err := ParseIBAN(*r.IBAN)
		if err != nil {
			return nil, &Error{Code: CodeInvalidIBAN, Field: field + ".iban", Msg: field + ".iban: " + errorMsg(err)}
		}
		if i == own {
			return nil, Invalid(field+".iban", field+".iban is the report's own IBAN")
		}
		a, err := NewAmount(*r.Amount, field+".amount")
		if err != nil {
			return nil, err
		}
		at, err := time.Parse(time.RFC3339Nano, *r.At)
		if err != nil {
			return nil, Invalid(field+".at", field+".at must be an RFC 3339 time")
		}
		if at.After(now.Add(skew)) {
			return nil, Invalid(field+".at", field+".at must not be in the future")
		}
		out[n] = Transfer{IBAN: i, Amount: a, At: at.UTC()}
	}
	return out, nil
}

// Link is the chain place of the reports made from a source: hop 400
// beyond MaxHops.
func Link(sourceID, sourceRoot string, sourceHop int, pol ChainPolicy) (ChainLink, error) {
	l := ChainLink{SourceID: sourceID, RootID: sourceRoot, Hop: sourceHop + 1}
	if sourceHop == 0 {
		l.RootID = sourceID
	}
	if l.Hop > pol.MaxHops {
		return l, Invalid("transfers", "the chain would pass chains.max_hops ("+strconv.Itoa(pol.MaxHops)+" hops)")
	}
	return l, nil
}

// Submission is the linked report a transfer becomes.
func (t Transfer) Submission(link ChainLink) Submission {
	at, amount := t.At, t.Amount
	return Submission{IBAN: t.IBAN, Category: CategoryMoneyMule, OccurredAt: &at, Amount: &amount, Chain: &link}
}

// errorMsg is a domain error's message (the error's text otherwise).
func errorMsg(err error) string {
	var de *Error
	if errors.As(err, &de) {
		return de.Msg
	}
	return err.Error()
}
