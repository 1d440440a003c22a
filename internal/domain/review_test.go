package domain

import (
	"errors"
	"testing"
	"time"
)

// TestReviewStateMachine walks every action from every state for each
// party, with the answer the SPEC gives. An action's time is the
// millisecond the record keeps (in UTC), so the answer to it and its
// event say what a later GET /v1/reports/{id} says.
func TestReviewStateMachine(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	now := t0.Add(time.Hour + 123456789).In(time.FixedZone("CET", 3600))
	stored := t0.Add(time.Hour + 123000000)
	open := NewReview("bank-b", t0, 7*24*time.Hour)
	acked, _, _ := open.Apply(Parties{Holder: true}, ReviewRequest{Action: ActionAcknowledge}, now)
	agree, _ := NewClose("agreed", "mule_account", "frozen")
	closed, _, _ := open.Apply(Parties{Holder: true}, agree, now)
	cancel, _ := NewCancel("filed by mistake")
	cancelled, _, _ := open.Apply(Parties{Reporter: true}, cancel, now)
	unrouted := NewReview("", t0, 7*24*time.Hour)
	disagree, _ := NewClose("disagreed", "", "")
	holder, reporter, police, stranger := Parties{Holder: true}, Parties{Reporter: true}, Parties{Police: true}, Parties{}
	ack := ReviewRequest{Action: ActionAcknowledge}

	for _, tc := range []struct {
		name    string
		from    Review
		who     Parties
		req     ReviewRequest
		want    ReviewState
		changed bool
		code    Code
	}{
		{"200/holder acknowledges", open, holder, ack, ReviewAcknowledged, true, ""},
		{"200/acknowledge again", acked, holder, ack, ReviewAcknowledged, false, ""},
		{"200/close from open", open, holder, agree, ReviewClosed, true, ""},
		{"200/close from acknowledged", acked, holder, disagree, ReviewClosed, true, ""},
		{"200/same close again", closed, holder, agree, ReviewClosed, false, ""},
		{"409/another close", closed, holder, disagree, ReviewClosed, false, CodeInvalidState},
		{"409/acknowledge closed", closed, holder, ack, ReviewClosed, false, CodeInvalidState},
		{"409/acknowledge cancelled", cancelled, holder, ack, ReviewCancelled, false, CodeInvalidState},
		{"409/close cancelled", cancelled, holder, agree, ReviewCancelled, false, CodeInvalidState},
		{"200/reporter cancels open", open, reporter, cancel, ReviewCancelled, true, ""},
		{"200/reporter cancels closed", closed, reporter, cancel, ReviewCancelled, true, ""},
		{"200/reporter cancels unrouted", unrouted, reporter, cancel, ReviewCancelled, true, ""},
		{"200/cancel again", cancelled, reporter, cancel, ReviewCancelled, false, ""},
		{"403/reporter acknowledges", open, reporter, ack, ReviewOpen, false, CodeForbidden},
		{"403/holder cancels", open, holder, cancel, ReviewOpen, false, CodeForbidden},
		{"403/police closes", open, police, agree, ReviewOpen, false, CodeForbidden},
		{"404/stranger", open, stranger, ack, ReviewOpen, false, CodeNotFound},
		{"409/acknowledge unrouted", unrouted, Parties{Holder: true}, ack, ReviewUnrouted, false, CodeInvalidState},
		{"200/own-IBAN bank acknowledges", open, Parties{Reporter: true, Holder: true}, ack, ReviewAcknowledged, true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, changed, err := tc.from.Apply(tc.who, tc.req, now)
			if code := ErrorCode(err); err != nil && code != tc.code || err == nil && tc.code != "" {
				t.Fatalf("err %v, want code %q", err, tc.code)
			}
			if got.State != tc.want || changed != tc.changed {
				t.Errorf("state %s changed %v, want %s %v", got.State, changed, tc.want, tc.changed)
			}
		})
	}
	for name, got := range map[string]time.Time{"acknowledged": acked.AcknowledgedAt, "closed": closed.ClosedAt, "cancelled": cancelled.CancelledAt} {
		if got != stored {
			t.Errorf("%s at %v, want the stored millisecond %v", name, got, stored)
		}
	}
	if closed.Bucket() != "confirmed" || acked.Bucket() != "open" || cancelled.Bucket() != "" || unrouted.Bucket() != "" {
		t.Errorf("buckets: %q %q %q %q", closed.Bucket(), acked.Bucket(), cancelled.Bucket(), unrouted.Bucket())
	}
	if !open.Overdue(t0.Add(8*24*time.Hour)) || open.Overdue(now) || closed.Overdue(t0.Add(30*24*time.Hour)) || unrouted.Overdue(t0.Add(30*24*time.Hour)) {
		t.Error("overdue is wrong")
	}
}

func TestNewCloseValidates(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		result, fraudType, field string
	}{
		{"", "", "result"}, {"maybe", "", "result"}, {"agreed", "", "fraud_type"},
		{"agreed", "bogus", "fraud_type"}, {"disagreed", "mule_account", "fraud_type"},
	} {
		_, err := NewClose(tc.result, tc.fraudType, "")
		var de *Error
		if err == nil || !asError(err, &de) || de.Field != tc.field {
			t.Errorf("close %q %q: %v, want an error naming %s", tc.result, tc.fraudType, err, tc.field)
		}
	}
}

func asError(err error, de **Error) bool {
	var e *Error
	ok := errors.As(err, &e)
	*de = e
	return ok
}

func TestMarkerRules(t *testing.T) {
	t.Parallel()
	police := Caller{Org: "police-nl", Type: OrgPolice}
	holder := Caller{Org: "bank-a", Type: OrgBank}
	other := Caller{Org: "bank-b", Type: OrgBank}
	market := Caller{Org: "m", Type: OrgMarketplace}
	pm := &Marker{ByType: OrgPolice, ByOrg: "police-nl"}
	bm := &Marker{ByType: OrgBank, ByOrg: "bank-a"}
	for _, tc := range []struct {
		name     string
		existing *Marker
		c        Caller
		put      bool
		code     Code
	}{
		{"police marks", nil, police, true, ""},
		{"police replaces a bank marker", bm, police, true, ""},
		{"police lifts a bank marker", bm, police, false, ""},
		{"holder marks", nil, holder, true, ""},
		{"holder replaces its own", bm, holder, true, ""},
		{"holder lifts its own", bm, holder, false, ""},
		{"holder cannot replace a police marker", pm, holder, true, CodeInvalidState},
		{"holder cannot lift a police marker", pm, holder, false, CodeForbidden},
		{"another bank", nil, other, true, CodeForbidden},
		{"marketplace", nil, market, true, CodeForbidden},
		{"lift nothing", nil, police, false, CodeNotFound},
	} {
		if err := MarkerChange(tc.existing, tc.c, "bank-a", tc.put); ErrorCode(err) != tc.code && !(err == nil && tc.code == "") {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.code)
		}
	}
}
