package forward

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mulegate/mulegate/internal/domain"
	"github.com/mulegate/mulegate/internal/iban"
	"github.com/mulegate/mulegate/internal/outbox"
	"github.com/mulegate/mulegate/internal/redistest"
	"github.com/mulegate/mulegate/internal/store"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// flakyFeed fails the next failures AppendEvent calls; the next lost
// AppendEvents calls write and then fail (the answer lost on the way
// back), and the next markFailures threshold marks fail.
type flakyFeed struct {
	*store.Store
	failures, lost, markFailures atomic.Int32
}

func (f *flakyFeed) MarkThresholdCrossed(ctx context.Context, raw string) error {
	if f.markFailures.Add(-1) >= 0 {
		return errors.New("injected: threshold mark failed")
	}
	return f.Store.MarkThresholdCrossed(ctx, raw)
}

func (f *flakyFeed) AppendEvent(ctx context.Context, org string, e domain.Event) (bool, error) {
	if f.failures.Add(-1) >= 0 {
		return false, errors.New("injected: feed write failed")
	}
	return f.Store.AppendEvent(ctx, org, e)
}

// AppendEvents fails like AppendEvent: a run of reports written in one
// round trip fails whole.
func (f *flakyFeed) AppendEvents(ctx context.Context, evs []store.OrgEvent) ([]bool, error) {
	if f.failures.Add(-1) >= 0 {
		return nil, errors.New("injected: feed write failed")
	}
	if f.lost.Add(-1) >= 0 {
		added, err := f.Store.AppendEvents(ctx, evs)
		return added, errors.Join(err, errors.New("injected: the answer was lost"))
	}
	return f.Store.AppendEvents(ctx, evs)
}

func orderFixture(t *testing.T) (*store.Store, *flakyFeed, func(consumer string) *feedRelay) {
	t.Helper()
	srv := redistest.StartTopology(t)
	st, err := store.New(srv.Client(t), store.Options{Secret: []byte("0123456789abcdef0123456789abcdef"),
		HolderOf: func(iban.IBAN) string { return "bank-h" }})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.EnsureGroups(context.Background()); err != nil {
		t.Fatal(err)
	}
	feed := &flakyFeed{Store: st}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	r := New(Config{Batch: 32}, st, nil, log, nil)
	relay := func(consumer string) *feedRelay {
		return &feedRelay{feed: feed, r: r, consumer: consumer, escalate: 3, log: log.Warn}
	}
	return st, feed, relay
}

// reportAndCancel accepts a report (its holder is bank-h) and cancels it:
// two outbox entries of one report on one partition.
func reportAndCancel(t *testing.T, st *store.Store, key string) (domain.Accepted, int) {
	t.Helper()
	ctx := context.Background()
	sub, err := domain.NewSubmission("NL91ABNA0417164300", "phishing", nil, nil, "", "", time.Now(), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	a, err := st.Accept(ctx, "bank-a", domain.OrgBank, key, sub)
	if err != nil {
		t.Fatal(err)
	}
	cancel, _ := domain.NewCancel("sent by mistake")
	if _, _, err := st.Review(ctx, a.ID, domain.Caller{Org: "bank-a", Type: domain.OrgBank}, cancel); err != nil {
		t.Fatal(err)
	}
	i, _ := iban.Parse("NL91ABNA0417164300")
	return a, st.KeyOf(i).Partition
}

func feedTypes(t *testing.T, st *store.Store) string {
	t.Helper()
	evs, _, _, err := st.Events(context.Background(), "bank-h", "", 100, nil)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range evs {
		out = append(out, string(e.Type))
	}
	return strings.Join(out, ",")
}

// TestFeedInOrderAcrossRelays (issue 21.1): two gateways' relays take
// consecutive entries of one report; the one holding the cancellation
// writes first. The bank must never see report.cancelled before its
// report.received: the cancellation waits until the report's entry is
// done, and is written on the next drain.
func TestFeedInOrderAcrossRelays(t *testing.T) {
	st, _, relay := orderFixture(t)
	_, p := reportAndCancel(t, st, "order-1")
	ctx := context.Background()
	x, y := relay("gw1-feed"), relay("gw2-feed")
	first, err := st.ReadForHolders(ctx, p, x.consumer, 1)
	if err != nil || len(first) != 1 || first[0].Kind != outbox.KindReport {
		t.Fatalf("gw1 reads %+v %v", first, err)
	}
	second, err := st.ReadForHolders(ctx, p, y.consumer, 1)
	if err != nil || len(second) != 1 || second[0].Event != "cancelled" {
		t.Fatalf("gw2 reads %+v %v", second, err)
	}
	if y.handle(ctx, second) {
		t.Error("gw2 handled the cancellation while the report's entry was pending elsewhere")
	}
	if got := feedTypes(t, st); got != "" {
		t.Fatalf("the bank's feed holds %q before the report was written", got)
	}
	if !x.handle(ctx, first) {
		t.Fatal("gw1 could not write the report")
	}
	y.drain(ctx, p)
	if got := feedTypes(t, st); got != "report.received,report.cancelled" {
		t.Errorf("the bank's feed: %q, want report.received,report.cancelled", got)
	}
	// The review-due set is not re-armed by the report's entry written
	// after the cancellation's.
	open, _, err := st.ReviewBacklog(ctx, []string{"bank-h"})
	if err != nil || open["bank-h"] != 0 {
		t.Errorf("reviews the holder owes after a cancelled report: %v %v, want 0", open, err)
	}
}

// TestFeedInOrderAfterAFailedWrite (issue 21.1): a relay whose write of
// report.received fails does not write the cancellation behind it (it
// used to skip the failed entry and write the next); both are written in
// order on its next drain, without waiting for a claim sweep.
func TestFeedInOrderAfterAFailedWrite(t *testing.T) {
	st, feed, relay := orderFixture(t)
	_, p := reportAndCancel(t, st, "order-2")
	ctx := context.Background()
	x := relay("gw1-feed")
	feed.failures.Store(1)
	x.drain(ctx, p)
	if got := feedTypes(t, st); got != "" {
		t.Fatalf("after a failed write the bank's feed holds %q", got)
	}
	x.drain(ctx, p)
	if got := feedTypes(t, st); got != "report.received,report.cancelled" {
		t.Errorf("the bank's feed: %q, want report.received,report.cancelled", got)
	}
}

// TestFeedRunOfReports (issue 29): a run of report entries of one
// partition is taken in a few pipelined round trips and ends as the one
// by one path would: each report.received once and in order, one
// iban.threshold when the third reporter arrives, every review in the
// holder's due set, nothing left pending; a run whose write fails stays
// pending whole and is taken again, without a duplicate.
func TestFeedRunOfReports(t *testing.T) {
	st, feed, relay := orderFixture(t)
	ctx := context.Background()
	var ids []string
	for n, org := range []string{"bank-a", "bank-b", "bank-c", "bank-a", "bank-b"} {
		sub, err := domain.NewSubmission("NL91ABNA0417164300", "phishing", nil, nil, "", "", time.Now(), time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		a, err := st.Accept(ctx, org, domain.OrgBank, "run-"+string(rune('a'+n)), sub)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, a.ID)
	}
	i, _ := iban.Parse("NL91ABNA0417164300")
	p := st.KeyOf(i).Partition
	x := relay("gw1-feed")
	feed.failures.Store(1)
	x.drain(ctx, p)
	if got := feedTypes(t, st); got != "" {
		t.Fatalf("after a failed run the bank's feed holds %q", got)
	}
	x.drain(ctx, p)
	want := "report.received,report.received,report.received,report.received,report.received,iban.threshold"
	if got := feedTypes(t, st); got != want {
		t.Errorf("the bank's feed: %q, want %q", got, want)
	}
	evs, _, _, err := st.Events(ctx, "bank-h", "", 100, nil)
	if err != nil {
		t.Fatal(err)
	}
	for n, id := range ids {
		var d struct {
			ReportID string `json:"report_id"`
		}
		_ = json.Unmarshal(evs[n].Data, &d)
		if d.ReportID != id {
			t.Errorf("event %d is about %s, want %s (the order reported)", n, d.ReportID, id)
		}
	}
	open, _, err := st.ReviewBacklog(ctx, []string{"bank-h"})
	if err != nil || open["bank-h"] != 5 {
		t.Errorf("open reviews in the due set: %v %v, want 5", open, err)
	}
	if left, err := st.PendingForHolders(ctx, p, x.consumer, 100); err != nil || len(left) != 0 {
		t.Errorf("pending after the run: %d %v", len(left), err)
	}
	x.drain(ctx, p) // nothing new: nothing written twice
	if got := feedTypes(t, st); got != want {
		t.Errorf("after another drain: %q", got)
	}
}

// TestEventsCountedOnceAcrossRetries: mulegate_events_written_total counts
// each event once however its run was retried. A run whose events were
// written before an error counts them then (the retry finds them there),
// and an iban.threshold whose mark failed is not counted again when it
// is judged again.
func TestEventsCountedOnceAcrossRetries(t *testing.T) {
	st, feed, relay := orderFixture(t)
	ctx := context.Background()
	for n, org := range []string{"bank-a", "bank-b", "bank-c", "bank-a", "bank-b"} {
		sub, err := domain.NewSubmission("NL91ABNA0417164300", "phishing", nil, nil, "", "", time.Now(), time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.Accept(ctx, org, domain.OrgBank, "count-"+string(rune('a'+n)), sub); err != nil {
			t.Fatal(err)
		}
	}
	i, _ := iban.Parse("NL91ABNA0417164300")
	p := st.KeyOf(i).Partition
	x := relay("gw1-feed")
	x.m = NewMetrics(prometheus.NewRegistry(), nil)
	feed.lost.Store(1)
	feed.markFailures.Store(1)
	for range 3 { // written but the answer lost; the mark failed; done
		x.drain(ctx, p)
	}
	want := "report.received,report.received,report.received,report.received,report.received,iban.threshold"
	if got := feedTypes(t, st); got != want {
		t.Fatalf("the bank's feed: %q, want %q", got, want)
	}
	if left, err := st.PendingForHolders(ctx, p, x.consumer, 100); err != nil || len(left) != 0 {
		t.Fatalf("pending after three drains: %d %v", len(left), err)
	}
	for typ, n := range map[domain.EventType]float64{domain.EventReportReceived: 5, domain.EventIBANThreshold: 1} {
		var m dto.Metric
		if err := x.m.events.WithLabelValues(string(typ)).Write(&m); err != nil {
			t.Fatal(err)
		}
		if got := m.GetCounter().GetValue(); got != n {
			t.Errorf("mulegate_events_written_total{type=%q} = %v, want %v", typ, got, n)
		}
	}
}
