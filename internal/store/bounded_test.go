package store_test

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mulegate/mulegate/internal/domain"
	"github.com/mulegate/mulegate/internal/iban"
	"github.com/mulegate/mulegate/internal/redistest"
	"github.com/mulegate/mulegate/internal/store"
)

// clock is a settable clock for the store.
type clock struct{ ms atomic.Int64 }

func newClock(t time.Time) *clock    { c := &clock{}; c.ms.Store(t.UnixMilli()); return c }
func (c *clock) now() time.Time      { return time.UnixMilli(c.ms.Load()) }
func (c *clock) add(d time.Duration) { c.ms.Add(d.Milliseconds()) }
func event(st *store.Store, n int, at time.Time) domain.Event {
	return domain.Event{ID: st.EventID(domain.EventReportReceived, fmt.Sprint("r", n)), Type: domain.EventReportReceived,
		CreatedAt: at, Data: []byte(`{}`)}
}

// TestEventIDsAreBounded (issue 21.5): a bank's event de-duplication
// records live no longer than the events they guard: 40 days of 10
// events a day with a 10-day retention keep about 10 days of ids, not
// 400 (the eids hash kept every one, about 110 bytes an event forever).
// A repeat within the retention is still not written twice.
func TestEventIDsAreBounded(t *testing.T) {
	clk := newClock(time.Now().Add(-40 * 24 * time.Hour))
	srv := redistest.StartTopology(t)
	st, err := store.New(srv.Client(t), store.Options{Secret: secret, Now: clk.now, EventRetention: 10 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	rdb := srv.Client(t)
	n := 0
	for range 40 {
		for range 10 {
			if added, err := st.AppendEvent(ctx, "bank-a", event(st, n, clk.now())); err != nil || !added {
				t.Fatalf("event %d: %v %v", n, added, err)
			}
			n++
		}
		clk.add(24 * time.Hour)
	}
	if added, _ := st.AppendEvent(ctx, "bank-a", event(st, n-1, clk.now())); added {
		t.Error("a repeat within the retention was written again")
	}
	ids, err := rdb.ZCard(ctx, "mg:{a:bank-a}:eidx").Result()
	if err != nil {
		t.Fatal(err)
	}
	if ids > 110 || ids < 90 {
		t.Errorf("%d event ids kept after 40 days of 10 events with a 10-day retention, want about 100", ids)
	}
	if rdb.Exists(ctx, "mg:{a:bank-a}:eids").Val() != 0 {
		t.Error("the unbounded eids hash is still written")
	}
}

// TestFeedBoundedBySize (issue 21.15): a bank's feed holds at most
// EventsMaxPerBank events, oldest trimmed first and counted.
func TestFeedBoundedBySize(t *testing.T) {
	srv := redistest.StartTopology(t)
	st, err := store.New(srv.Client(t), store.Options{Secret: secret, EventsMaxPerBank: 100})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for n := range 150 {
		if _, err := st.AppendEvent(ctx, "bank-a", event(st, n, time.Now())); err != nil {
			t.Fatal(err)
		}
	}
	evs, _, _, err := st.Events(ctx, "bank-a", "", 1000, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 100 || evs[0].ID != event(st, 50, time.Now()).ID {
		t.Errorf("the feed holds %d events starting with %s, want the newest 100", len(evs), evs[0].ID)
	}
	if got := st.EventsTrimmed()["bank-a"]; got != 50 {
		t.Errorf("trimmed %d, want 50", got)
	}
	if ids := srv.Client(t).ZCard(ctx, "mg:{a:bank-a}:eidx").Val(); ids != 100 {
		t.Errorf("%d event ids kept for 100 events", ids)
	}
}

// TestOverdueSetForgetsReportsPastRetention (issue 21.6): a review whose
// report is past retention leaves the set the overdue gauge reads (400
// days later with a 10-day retention it still counted 5 open and 5
// overdue).
func TestOverdueSetForgetsReportsPastRetention(t *testing.T) {
	clk := newClock(time.Now())
	srv := redistest.StartTopology(t)
	st, err := store.New(srv.Client(t), store.Options{Secret: secret, Now: clk.now, Retention: 10 * 24 * time.Hour,
		RespondWithin: 7 * 24 * time.Hour, HolderOf: func(iban.IBAN) string { return "bank-h" }})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for n := range 5 {
		if err := st.TrackDue(ctx, "bank-h", fmt.Sprint("report-", n), clk.now().Add(7*24*time.Hour), true); err != nil {
			t.Fatal(err)
		}
	}
	clk.add(8 * 24 * time.Hour)
	open, overdue, err := st.ReviewBacklog(ctx, []string{"bank-h"})
	if err != nil || open["bank-h"] != 5 || overdue["bank-h"] != 5 {
		t.Fatalf("8 days on: open %v overdue %v %v, want 5 and 5", open, overdue, err)
	}
	clk.add(3 * 24 * time.Hour) // the reports are past the 10-day retention
	open, overdue, err = st.ReviewBacklog(ctx, []string{"bank-h"})
	if err != nil || open["bank-h"] != 0 || overdue["bank-h"] != 0 {
		t.Errorf("past retention: open %v overdue %v %v, want 0 and 0", open, overdue, err)
	}
}

// TestReviewsDueRecordTheirReports (issue 29, goal 3): a report.received
// that opens a review goes into the due set with the event, and the due
// set, not the event id set, records that it was written: written again
// (a relay that repeats itself, even after the review closed), it adds
// no second event and does not reopen the review. A closed review's entry
// goes when the event retention has passed.
func TestReviewsDueRecordTheirReports(t *testing.T) {
	clk := newClock(time.Now())
	srv := redistest.StartTopology(t)
	rdb := srv.Client(t)
	st, err := store.New(rdb, store.Options{Secret: secret, Now: clk.now, EventRetention: 10 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	const rid = "29728e6958ac6f8d20894090aad42ff3"
	data := `{"category":"phishing","iban":"NL91ABNA0417164300","report_id":"` + rid + `","respond_by":"2026-12-06T19:30:41.123Z"}`
	oe := store.OrgEvent{Org: "bank-a", Event: domain.Event{ID: st.EventID(domain.EventReportReceived, rid), Type: domain.EventReportReceived,
		CreatedAt: clk.now(), Data: []byte(data)}, ReportID: rid, RespondBy: clk.now().Add(72 * time.Hour)}
	for try, want := range []bool{true, false} {
		added, err := st.AppendEvents(ctx, []store.OrgEvent{oe})
		if err != nil || added[0] != want {
			t.Fatalf("write %d: added %v %v, want %v", try+1, added, err, want)
		}
	}
	items, err := st.WorkList(ctx, domain.ReviewsDue, "bank-a", domain.WorkCursor{}, 10, time.Time{})
	if err != nil || len(items) != 1 || items[0].ReportID != rid || !items[0].Due.Equal(oe.RespondBy.Truncate(time.Millisecond)) {
		t.Fatalf("work list %+v %v", items, err)
	}
	if n := rdb.ZCard(ctx, "mg:{a:bank-a}:eidx").Val(); n != 0 {
		t.Errorf("%d ids in the event id set, want none (the due set records it)", n)
	}
	if err := st.TrackDue(ctx, "bank-a", rid, time.Time{}, false); err != nil {
		t.Fatal(err)
	}
	if added, err := st.AppendEvents(ctx, []store.OrgEvent{oe}); err != nil || added[0] {
		t.Errorf("written again after the close: added %v %v", added, err)
	}
	open, _, err := st.ReviewBacklog(ctx, []string{"bank-a"})
	items, _ = st.WorkList(ctx, domain.ReviewsDue, "bank-a", domain.WorkCursor{}, 10, time.Time{})
	if err != nil || open["bank-a"] != 0 || len(items) != 0 {
		t.Errorf("after the close: %v open, work list %+v (%v)", open, items, err)
	}
	evs, _, _, _ := st.Events(ctx, "bank-a", "", 10, nil)
	if len(evs) != 1 || evs[0].ID != oe.Event.ID || evs[0].Type != domain.EventReportReceived ||
		evs[0].CreatedAt.Sub(clk.now()).Abs() > time.Second {
		t.Fatalf("the feed: %+v, want the one event", evs)
	}
	var got, want map[string]any
	if json.Unmarshal(evs[0].Data, &got) != nil || json.Unmarshal([]byte(data), &want) != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("its data %s, want %s", evs[0].Data, data)
	}
	clk.add(11 * 24 * time.Hour)
	if _, err := st.AppendEvents(ctx, []store.OrgEvent{{Org: "bank-a", Event: event(st, 2, clk.now()), ReportID: "00" + rid[2:],
		RespondBy: clk.now().Add(time.Hour)}}); err != nil {
		t.Fatal(err)
	}
	if n := rdb.ZCard(ctx, "mg:{a:bank-a}:due").Val(); n != 1 {
		t.Errorf("%d entries in the due set after the retention, want only the new report's", n)
	}
	// An event whose time is not the server's keeps its own.
	past := newClock(time.Now().Add(-5 * 24 * time.Hour))
	old, err := store.New(rdb, store.Options{Secret: secret, Now: past.now, EventRetention: 10 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := old.AppendEvent(ctx, "bank-b", event(old, 3, past.now())); err != nil {
		t.Fatal(err)
	}
	if evs, _, _, _ := old.Events(ctx, "bank-b", "", 10, nil); len(evs) != 1 || !evs[0].CreatedAt.Equal(past.now()) {
		t.Errorf("an event of 5 days ago: %+v, want it at %s", evs, past.now())
	}
}

// TestAppendEventsSaysWhatWasWrittenBeforeAnError: when one event of a
// pipelined run fails (here bank-b's feed key holds a string), the run
// is an error, and added still says that bank-a's and bank-c's were
// written, so the relay counts them once (taken again, they are there).
func TestAppendEventsSaysWhatWasWrittenBeforeAnError(t *testing.T) {
	srv := redistest.StartTopology(t)
	rdb := srv.Client(t)
	st, err := store.New(rdb, store.Options{Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := rdb.Set(ctx, "mg:{a:bank-b}:events", "not a stream", 0).Err(); err != nil {
		t.Fatal(err)
	}
	var run []store.OrgEvent
	for n, org := range []string{"bank-a", "bank-b", "bank-c"} {
		run = append(run, store.OrgEvent{Org: org, Event: event(st, n, time.Now())})
	}
	added, err := st.AppendEvents(ctx, run)
	if err == nil || len(added) != 3 || !added[0] || added[1] || !added[2] {
		t.Fatalf("a run with a broken feed: added %v, err %v; want [true false true] and an error", added, err)
	}
	rdb.Del(ctx, "mg:{a:bank-b}:events")
	added, err = st.AppendEvents(ctx, run)
	if err != nil || added[0] || !added[1] || added[2] {
		t.Errorf("the run taken again: added %v, err %v; want only bank-b's new", added, err)
	}
}
