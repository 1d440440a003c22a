package domain

import (
	"testing"
	"time"
)

// TestRecoveryStateMachine: every guard of SPEC Part 3's recovery, with
// the code a client gets (the route answers 404 to a non-party before
// this): 403 for a party out of role, 200 unchanged for an identical
// repeat (even after the state moved on), 409 for a state that does not
// allow the step, 400 for an amount past what the state allows.
func TestRecoveryStateMachine(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	pol := RecoveryPolicy{HoldWithin: time.Hour, AnswerWithin: 7 * 24 * time.Hour}
	reporter := Caller{Org: "bank-v", Type: OrgBank}
	holder := Caller{Org: "bank-h", Type: OrgBank}
	police := Caller{Org: "police-nl", Type: OrgPolice}
	must := func(s RecoveryStep, err error) RecoveryStep {
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	amt := func(v string) *Amount { return &Amount{Value: v, Currency: "EUR"} }
	request := must(NewRecoveryRequest(amt("200"), "", nil, ""))
	requested := &Recovery{State: RecoveryRequested, RequestedBy: "bank-v", Requested: Amount{Value: "200.00", Currency: "EUR"},
		RequestedAt: now, HoldBy: now.Add(time.Hour), AnswerBy: now.Add(7 * 24 * time.Hour)}
	held := *requested
	held.State, held.Held, held.HeldAt = RecoveryHeld, Amount{Value: "150.00", Currency: "EUR"}, now
	returned := held
	returned.State, returned.Returned, returned.ReturnedAt, returned.ReturnReference = RecoveryReturned, Amount{Value: "150.00", Currency: "EUR"}, now, "RET-1"
	open := Review{State: ReviewOpen, Holder: "bank-h"}
	base := RecoveryCase{Holder: "bank-h", Review: open, Amount: Amount{Value: "249.95", Currency: "EUR"}, ReportedBy: "bank-v"}
	as := func(c Caller, p Parties, rec *Recovery) RecoveryCase {
		k := base
		k.Caller, k.Parties, k.Recovery = c, p, rec
		return k
	}
	asReporter := func(rec *Recovery) RecoveryCase { return as(reporter, Parties{Reporter: true}, rec) }
	asHolder := func(rec *Recovery) RecoveryCase { return as(holder, Parties{Holder: true}, rec) }
	marketplace := as(Caller{Org: "shop", Type: OrgMarketplace}, Parties{Reporter: true}, nil)
	noHolder := asReporter(nil)
	noHolder.Holder = ""
	cancelled, disputed := asReporter(nil), asReporter(nil)
	cancelled.Review.State = ReviewCancelled
	disputed.Review = Review{State: ReviewClosed, Result: ResultDisagreed, Holder: "bank-h"}
	for _, tc := range []struct {
		name    string
		c       RecoveryCase
		step    RecoveryStep
		state   RecoveryState // after
		changed bool
		code    Code
	}{
		{"201/request", asReporter(nil), request, RecoveryRequested, true, ""},
		{"201/request by the chain's root reporter", as(Caller{Org: "bank-root", Type: OrgBank}, Parties{RootReporter: true}, nil), request,
			RecoveryRequested, true, ""},
		{"403/request by the holder", asHolder(nil), request, "", false, CodeForbidden},
		{"403/request by the police", as(police, Parties{Police: true}, nil), request, "", false, CodeForbidden},
		{"403/request by a marketplace reporter", marketplace, request, "", false, CodeForbidden},
		{"409/request without a holder", noHolder, request, "", false, CodeInvalidState},
		{"409/request on a cancelled report", cancelled, request, "", false, CodeInvalidState},
		{"409/request on a disputed report", disputed, request, "", false, CodeInvalidState},
		{"400/request past the report's amount", asReporter(nil), must(NewRecoveryRequest(amt("250"), "", nil, "")), "", false, CodeInvalid},
		{"201/request in another currency than the report's", asReporter(nil), must(NewRecoveryRequest(&Amount{Value: "900", Currency: "USD"}, "", nil, "")),
			RecoveryRequested, true, ""},
		{"200/the same request again", asReporter(requested), request, RecoveryRequested, false, ""},
		{"200/the same request after the hold", asReporter(&held), request, RecoveryHeld, false, ""},
		{"409/another request", asReporter(requested), must(NewRecoveryRequest(amt("100"), "", nil, "")), "", false, CodeInvalidState},
		{"200/hold", asHolder(requested), must(NewRecoveryHold(amt("150"))), RecoveryHeld, true, ""},
		{"403/hold by the reporter", asReporter(requested), must(NewRecoveryHold(amt("150"))), "", false, CodeForbidden},
		{"400/hold past the request", asHolder(requested), must(NewRecoveryHold(amt("200.01"))), "", false, CodeInvalid},
		{"400/hold in another currency", asHolder(requested), must(NewRecoveryHold(&Amount{Value: "1", Currency: "USD"})), "", false, CodeInvalid},
		{"200/the same hold again", asHolder(&held), must(NewRecoveryHold(amt("150"))), RecoveryHeld, false, ""},
		{"409/another hold", asHolder(&held), must(NewRecoveryHold(amt("100"))), "", false, CodeInvalidState},
		{"409/hold without a recovery", asHolder(nil), must(NewRecoveryHold(amt("1"))), "", false, CodeInvalidState},
		{"200/return from held", asHolder(&held), must(NewRecoveryReturn(amt("150"), "RET-1")), RecoveryReturned, true, ""},
		{"400/return past what was held", asHolder(&held), must(NewRecoveryReturn(amt("150.01"), "")), "", false, CodeInvalid},
		{"200/return from requested", asHolder(requested), must(NewRecoveryReturn(amt("200"), "")), RecoveryReturned, true, ""},
		{"200/the same return again", asHolder(&returned), must(NewRecoveryReturn(amt("150"), "RET-1")), RecoveryReturned, false, ""},
		{"409/another return", asHolder(&returned), must(NewRecoveryReturn(amt("150"), "RET-2")), "", false, CodeInvalidState},
		{"200/reject", asHolder(&held), must(NewRecoveryReject("funds_moved", "")), RecoveryRejected, true, ""},
		{"409/reject a returned one", asHolder(&returned), must(NewRecoveryReject("other", "")), "", false, CodeInvalidState},
		{"200/release by the requester", asReporter(&held), NewRecoveryRelease(), RecoveryReleased, true, ""},
		{"403/release by the holder", asHolder(&held), NewRecoveryRelease(), "", false, CodeForbidden},
		{"409/release a returned one", asReporter(&returned), NewRecoveryRelease(), "", false, CodeInvalidState},
		{"409/release without a recovery", asReporter(nil), NewRecoveryRelease(), "", false, CodeInvalidState},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, changed, err := ApplyRecovery(tc.c, tc.step, now, pol)
			var code Code
			if err != nil {
				code = ErrorCode(err)
			}
			if code != tc.code {
				t.Fatalf("error %v, want code %q", err, tc.code)
			}
			if err == nil && (got.State != tc.state || changed != tc.changed) {
				t.Errorf("state %s changed %v, want %s %v", got.State, changed, tc.state, tc.changed)
			}
		})
	}
	// The new recovery's deadlines, and what a full and a partial return say.
	r, _, _ := ApplyRecovery(asReporter(nil), request, now, pol)
	if !r.HoldBy.Equal(now.Add(time.Hour)) || !r.AnswerBy.Equal(now.Add(7*24*time.Hour)) || r.RequestedBy != "bank-v" {
		t.Errorf("request: %+v", r)
	}
	if !r.OverdueHold(now.Add(61*time.Minute)) || r.OverdueHold(now.Add(59*time.Minute)) || !r.Overdue(now.Add(8*24*time.Hour)) {
		t.Errorf("overdue flags of %+v", r)
	}
	if !returned.Partial() || returned.Overdue(now.Add(30*24*time.Hour)) {
		t.Errorf("150 of 200 returned: partial %v, overdue %v", returned.Partial(), returned.Overdue(now.Add(30*24*time.Hour)))
	}
	if rel, ok := held.ReleaseOnCancel(now); !ok || rel.State != RecoveryReleased || rel.Reason != "cancelled" {
		t.Errorf("cancel of a held recovery: %+v %v", rel, ok)
	}
	if _, ok := returned.ReleaseOnCancel(now); ok {
		t.Error("cancel released a returned recovery")
	}
	for _, bad := range []func() error{
		func() error { _, err := NewRecoveryRequest(nil, "", nil, ""); return err },
		func() error { _, err := NewRecoveryRequest(amt("1"), "", nil, "NL00BOGUS"); return err },
		func() error { _, err := NewRecoveryRequest(amt("1"), "", &Payment{ValueDate: "1 Dec"}, ""); return err },
		func() error { _, err := NewRecoveryReject("because", ""); return err },
		func() error { _, err := NewRecoveryReturn(amt("1"), string(make([]byte, 129))); return err },
	} {
		if ErrorCode(bad()) != CodeInvalid {
			t.Errorf("a bad body: %v, want invalid", bad())
		}
	}
}
