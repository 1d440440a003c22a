package store

import (
	"encoding/json"
	"time"

	"github.com/mulegate/mulegate/internal/domain"
)

// A report's recovery is kept in its book's r:<id> field, sealed (it
// holds the IBAN the money goes back to and the payment's identifiers),
// as this JSON; its state and what it returned are in the report's
// record too (fRecovery, fRecovered), where lookups and the change
// script's compare and set see them.
type recoveryJSON struct {
	State     string          `json:"s"`
	By        string          `json:"by"`
	Requested string          `json:"q"`           // currency and value (packAmount)
	Held      string          `json:"h,omitempty"` // idem
	Returned  string          `json:"r,omitempty"` // idem
	Details   string          `json:"d,omitempty"`
	Payment   *domain.Payment `json:"p,omitempty"`
	ReturnTo  string          `json:"to,omitempty"`
	At        int64           `json:"at"` // requested, ms
	HoldBy    int64           `json:"hb"`
	AnswerBy  int64           `json:"ab"`
	HeldAt    int64           `json:"ha,omitempty"`
	ReturnAt  int64           `json:"ra,omitempty"`
	RejectAt  int64           `json:"ja,omitempty"`
	ReleaseAt int64           `json:"la,omitempty"`
	Reason    string          `json:"rs,omitempty"`
	RejectDet string          `json:"rd,omitempty"`
	Reference string          `json:"rf,omitempty"`
}

func encodeRecovery(r domain.Recovery) ([]byte, error) {
	return json.Marshal(recoveryJSON{State: string(r.State), By: r.RequestedBy, Requested: packAmount(r.Requested),
		Held: packAmount(r.Held), Returned: packAmount(r.Returned), Details: r.Details, Payment: r.Payment, ReturnTo: r.ReturnTo,
		At: msOrZero(r.RequestedAt), HoldBy: msOrZero(r.HoldBy), AnswerBy: msOrZero(r.AnswerBy), HeldAt: msOrZero(r.HeldAt),
		ReturnAt: msOrZero(r.ReturnedAt), RejectAt: msOrZero(r.RejectedAt), ReleaseAt: msOrZero(r.ReleasedAt), Reason: r.Reason,
		RejectDet: r.RejectDetails, Reference: r.ReturnReference})
}

func decodeRecovery(b []byte) (*domain.Recovery, error) {
	var j recoveryJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return nil, err
	}
	t := func(ms int64) time.Time {
		if ms == 0 {
			return time.Time{}
		}
		return time.UnixMilli(ms).UTC()
	}
	return &domain.Recovery{State: domain.RecoveryState(j.State), RequestedBy: j.By, Requested: unpackAmount(j.Requested),
		Held: unpackAmount(j.Held), Returned: unpackAmount(j.Returned), Details: j.Details, Payment: j.Payment, ReturnTo: j.ReturnTo,
		RequestedAt: t(j.At), HoldBy: t(j.HoldBy), AnswerBy: t(j.AnswerBy), HeldAt: t(j.HeldAt), ReturnedAt: t(j.ReturnAt),
		RejectedAt: t(j.RejectAt), ReleasedAt: t(j.ReleaseAt), Reason: j.Reason, RejectDetails: j.RejectDet,
		ReturnReference: j.Reference}, nil
}

// adRecovery is where a sealed recovery belongs.
func adRecovery(reportID string) string { return "recovery\x00" + reportID }

// adFeed is where an outbox entry's sealed feed event data belongs (its
// police idempotency key, unique per step).
func adFeed(key string) string { return "feed\x00" + key }
