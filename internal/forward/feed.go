package forward

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/mulegate/mulegate/internal/domain"
	"github.com/mulegate/mulegate/internal/outbox"
	"github.com/mulegate/mulegate/internal/store"
)

// Feed is what the holders' feed relay needs from storage: the outbox
// read by its own consumer group, and the banks' event feeds.
type Feed interface {
	ReadForHolders(ctx context.Context, partition int, consumer string, count int) ([]outbox.Entry, error)
	ClaimForHolders(ctx context.Context, partition int, consumer string, minIdle time.Duration, count int) ([]outbox.Entry, error)
	PendingForHolders(ctx context.Context, partition int, consumer string, count int) ([]outbox.Entry, error)
	HolderReady(ctx context.Context, e outbox.Entry) (bool, error)
	DoneForHolders(ctx context.Context, e outbox.Entry) error
	EventID(typ domain.EventType, subject string) string
	AppendEvent(ctx context.Context, bankOrg string, e domain.Event) (bool, error)
	MarkThresholdCrossed(ctx context.Context, iban string) error
	TrackDue(ctx context.Context, holder, reportID string, respondBy time.Time, open bool) error
	TrackRecovery(ctx context.Context, holder, requester, reportID string, deadline time.Time) error
	SourceWord(ctx context.Context, reportID string) (up bool, version int64, err error)
	SetUpstream(ctx context.Context, reportID string, up bool, version int64) error
	CorrectionRecipients(ctx context.Context, pseudo string, part int, at int64, lookback time.Duration,
		iban string) ([]domain.Caller, []domain.DueReview, error)
	// A run of report entries in a few pipelined round trips.
	AppendEvents(ctx context.Context, evs []store.OrgEvent) ([]bool, error)
	ThresholdCrossings(ctx context.Context, ibans []string, n int64) ([]bool, []domain.Counts, error)
	DoneForHoldersMany(ctx context.Context, entries []outbox.Entry) error
}

// feedRelay tells the bank that holds a reported account: it reads every
// outbox entry with a consumer group of its own ("holders") and writes a
// report.received (a report) or report.cancelled (its cancellation) into
// the holder's feed, idempotently by event id, then acknowledges. An
// entry leaves the outbox only when both the forwarders and this relay
// are done with it, so a gateway killed between the 202 and the feed
// write loses nothing: the entry stays pending, and is written after the
// visibility timeout by whichever relay claims it, exactly once.
type feedRelay struct {
	feed     Feed
	r        *Relay
	consumer string
	escalate int64 // distinct reporters in 30 days that make iban.threshold
	log      func(msg string, args ...any)
	m        *Metrics
	parts    []int    // the partitions this lane drains (nil: all)
	again    chan int // partitions to drain again soon
}

// partitions are the partitions this lane drains.
func (f *feedRelay) partitions() []int {
	if f.parts != nil {
		return f.parts
	}
	all := make([]int, f.r.ob.Partitions())
	for p := range all {
		all[p] = p
	}
	return all
}

// run drains partitions as wake-ups name them, and on every sweep walks
// them all and takes over entries of dead relays. A partition with an
// entry that had to wait (an earlier step of its report not written yet)
// or failed is drained again soon.
func (f *feedRelay) run(ctx context.Context, wake <-chan int) {
	sweep := time.NewTicker(f.r.cfg.SweepInterval)
	defer sweep.Stop()
	claim := time.NewTicker(f.r.cfg.VisibilityTimeout / 2)
	defer claim.Stop()
	f.again = make(chan int, len(f.partitions()))
	f.all(ctx, true)
	for {
		select {
		case <-ctx.Done():
			return
		case p := <-f.again:
			f.drain(ctx, p)
		case p, ok := <-wake:
			if !ok {
				wake = nil
				continue
			}
			f.drain(ctx, p)
		case <-sweep.C:
			f.all(ctx, false)
		case <-claim.C:
			f.all(ctx, true)
		}
	}
}

func (f *feedRelay) all(ctx context.Context, claim bool) {
	for _, p := range f.partitions() {
		if claim {
			entries, err := f.feed.ClaimForHolders(ctx, p, f.consumer, f.r.cfg.VisibilityTimeout, f.r.cfg.Batch)
			if err != nil {
				f.log("holders feed: claim failed; will retry", "partition", p, "err", err)
			}
			f.handle(ctx, entries)
		}
		f.drain(ctx, p)
	}
}

// drain finishes the entries this relay holds in the partition (waiting
// or failed), in order, then takes new ones until the partition is empty.
func (f *feedRelay) drain(ctx context.Context, p int) {
	own, err := f.feed.PendingForHolders(ctx, p, f.consumer, f.r.cfg.Batch)
	if err != nil {
		if ctx.Err() == nil {
			f.log("holders feed: read failed; will retry", "partition", p, "err", err)
		}
		return
	}
	if !f.handle(ctx, own) || len(own) == f.r.cfg.Batch {
		f.soon(p) // more of its own to finish before it takes new ones
		return
	}
	for ctx.Err() == nil {
		entries, err := f.feed.ReadForHolders(ctx, p, f.consumer, f.r.cfg.Batch)
		if err != nil {
			if ctx.Err() == nil {
				f.log("holders feed: read failed; will retry", "partition", p, "err", err)
			}
			return
		}
		if !f.handle(ctx, entries) {
			f.soon(p)
		}
		if len(entries) < f.r.cfg.Batch {
			return
		}
	}
}

// retrySoon is how long an entry that had to wait waits before the next
// try (the earlier step it waits for is being written by another relay,
// or failed here and is retried with it).
const retrySoon = 200 * time.Millisecond

// soon drains the partition again after retrySoon.
func (f *feedRelay) soon(p int) {
	if f.again == nil {
		return
	}
	time.AfterFunc(retrySoon, func() {
		select {
		case f.again <- p:
		default:
		}
	})
}

// handle writes each entry's event (if it has one) and acknowledges it,
// in order per report: an entry waits (stays pending, false is returned)
// while an earlier entry of its report is pending in the holders' group,
// whichever relay holds it. An entry whose write fails stays pending too,
// and so do the later entries of its report. A batch already read is
// finished even on shutdown (it is a few Redis calls), so a stopping
// relay leaves nothing pending behind it but what had to wait. A
// requeued entry (police only) is the holder's already: acknowledged.
func (f *feedRelay) handle(ctx context.Context, entries []outbox.Entry) (done bool) {
	if len(entries) == 0 {
		return true
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), finishGrace)
	defer cancel()
	done = true
	for k := 0; k < len(entries); {
		// A run of plain report entries (the bulk of the traffic) goes in a
		// few pipelined round trips; the rest one by one, in order.
		end := k + 1
		for fastReport(entries[k]) && end < len(entries) && fastReport(entries[end]) {
			end++
		}
		var ok bool
		if end-k > 1 {
			ok = f.handleReports(ctx, entries[k:end])
		} else {
			ok = f.handleOne(ctx, entries[k])
		}
		done = done && ok
		k = end
	}
	return done
}

// handleOne writes one entry's events and acknowledges it; false when it
// has to wait or failed (it stays pending).
func (f *feedRelay) handleOne(ctx context.Context, e outbox.Entry) bool {
	if e.PoliceOnly {
		if err := f.feed.DoneForHolders(ctx, e); err != nil {
			f.log("holders feed: acknowledge failed; will retry", "report_id", e.ReportID, "err", err)
			return false
		}
		return true
	}
	if e.Kind != outbox.KindReport {
		ready, err := f.feed.HolderReady(ctx, e)
		if err != nil {
			f.log("holders feed: order check failed; will retry", "report_id", e.ReportID, "err", err)
		}
		if err != nil || !ready {
			return false
		}
	}
	if !f.writeHolder(ctx, e) || !f.write(ctx, e.FeedTo, e, f.carried) {
		return false
	}
	if !f.threshold(ctx, e) || !f.trackDue(ctx, e) || !f.trackRecovery(ctx, e) || !f.upstream(ctx, e) || !f.correct(ctx, e) {
		return false // retried with the relay's own pending entries
	}
	if err := f.feed.DoneForHolders(ctx, e); err != nil {
		f.log("holders feed: acknowledge failed; will retry", "report_id", e.ReportID, "err", err)
		return false
	}
	return true
}

// fastReport says whether e is a plain report entry: its events are
// report.received and maybe iban.threshold, and it is the first entry of
// its report (nothing earlier to wait for).
func fastReport(e outbox.Entry) bool {
	return e.Kind == outbox.KindReport && !e.PoliceOnly && e.FeedTo == ""
}

// handleReports does what handle does for each entry of a run of plain
// report entries, step by step for the whole run: the holders' events
// (with the reviews they open), the threshold judged once per IBAN (after
// the run's reports, as the one-by-one path judges after each: the book
// already holds them all), the acknowledgements. Every step is idempotent: a
// run that fails stays pending and is taken again (false).
func (f *feedRelay) handleReports(ctx context.Context, run []outbox.Entry) bool {
	var evs []store.OrgEvent
	for _, e := range run {
		if oe, ok := f.holderEvent(e); ok {
			evs = append(evs, oe)
		}
	}
	added, err := f.feed.AppendEvents(ctx, evs)
	if f.m != nil { // those written before an error too: a retry finds them there
		for n, a := range added {
			if a {
				f.m.eventWritten(evs[n].Event.Type)
			}
		}
	}
	if err != nil {
		f.log("holders feed: write failed; will retry", "entries", len(run), "err", err)
		return false
	}
	if !f.thresholds(ctx, run) {
		return false
	}
	if err := f.feed.DoneForHoldersMany(ctx, run); err != nil {
		f.log("holders feed: acknowledge failed; will retry", "entries", len(run), "err", err)
		return false
	}
	return true
}

// thresholds judges iban.threshold for a run of report entries: each
// IBAN once, its event's subject the IBAN's first report of the run.
func (f *feedRelay) thresholds(ctx context.Context, run []outbox.Entry) bool {
	if f.escalate <= 0 {
		return true
	}
	var ibans []string
	var subjects []outbox.Entry
	seen := map[string]bool{}
	for _, e := range run {
		ib := reportIBAN(e)
		if e.Holder == "" || ib == "" || seen[ib] {
			continue
		}
		seen[ib] = true
		ibans, subjects = append(ibans, ib), append(subjects, e)
	}
	return len(ibans) == 0 || f.judge(ctx, ibans, subjects)
}

// holderEvent is the holder's event for e (eventFor); a report's that
// opens a review carries it into the holder's due set.
func (f *feedRelay) holderEvent(e outbox.Entry) (store.OrgEvent, bool) {
	ev, ok := f.eventFor(e)
	if !ok {
		return store.OrgEvent{}, false
	}
	oe := store.OrgEvent{Org: e.Holder, Event: ev}
	if e.Kind == outbox.KindReport {
		oe.ReportID, oe.RespondBy = e.ReportID, e.RespondBy
	}
	return oe, true
}

// writeHolder writes e's event (if any) into its holder's feed; false
// when it failed (the entry is retried).
func (f *feedRelay) writeHolder(ctx context.Context, e outbox.Entry) bool {
	oe, ok := f.holderEvent(e)
	if !ok {
		return true
	}
	added, err := f.feed.AppendEvents(ctx, []store.OrgEvent{oe})
	if len(added) == 1 && added[0] && f.m != nil {
		f.m.eventWritten(oe.Event.Type)
	}
	if err != nil {
		f.log("holders feed: write failed; will retry", "report_id", e.ReportID, "err", err)
		return false
	}
	return true
}

// write writes the event of e that of gives (if any) into org's feed;
// false when it failed (the entry is retried).
func (f *feedRelay) write(ctx context.Context, org string, e outbox.Entry, of func(outbox.Entry) (domain.Event, bool)) bool {
	ev, ok := of(e)
	if !ok || org == "" {
		return true
	}
	return f.append(ctx, org, ev, e.ReportID)
}

// append writes ev into org's feed and counts it if it is new there (also
// when an error follows its writing: the retry finds it there); false
// when it failed (the entry, about reportID, is retried).
func (f *feedRelay) append(ctx context.Context, org string, ev domain.Event, reportID string) bool {
	added, err := f.feed.AppendEvent(ctx, org, ev)
	if added && f.m != nil {
		f.m.eventWritten(ev.Type)
	}
	if err != nil {
		f.log("holders feed: write failed; will retry", "report_id", reportID, "err", err)
		return false
	}
	return true
}

// carried is the feed event an entry carries (Part 3's report.reviewed
// and recovery steps), with an id stable across redeliveries.
func (f *feedRelay) carried(e outbox.Entry) (domain.Event, bool) {
	if e.FeedType == "" {
		return domain.Event{}, false
	}
	typ := domain.EventType(e.FeedType)
	return domain.Event{ID: f.feed.EventID(typ, e.Key), Type: typ, CreatedAt: time.Now(), Data: e.FeedData}, true
}

// upstream has a report's linked reports hear whether it confirms them
// now (a KindUpstream entry, queued by every change that can move it):
// the word is read from the source's book as it is now, versioned by
// that reading, and written into each linked report once, the latest
// reading winning; so entries handled out of order, twice, or by two
// gateways at once still leave the linked reports as the source is. A
// source that is gone is passed by. False when Redis did not take one
// (the entry is retried whole: the writes are idempotent).
func (f *feedRelay) upstream(ctx context.Context, e outbox.Entry) bool {
	if e.Kind != outbox.KindUpstream {
		return true
	}
	up, version, err := f.feed.SourceWord(ctx, e.ReportID)
	if domain.ErrorCode(err) == domain.CodeNotFound {
		return true
	}
	if err != nil {
		f.log("holders feed: chain word failed; will retry", "report_id", e.ReportID, "err", err)
		return false
	}
	for _, kid := range e.Children {
		if err := f.feed.SetUpstream(ctx, kid, up, version); err != nil {
			f.log("holders feed: chain word failed; will retry", "report_id", e.ReportID, "err", err)
			return false
		}
	}
	return true
}

// correctionSettle is how old a clear must be before its corrections are
// written: every gateway flushes its lookup log each second, so a lookup
// made just before the clear is in the log by then.
const correctionSettle = 2 * time.Second

// correct writes one iban.corrected into the feed of every org the clear
// of a KindCorrect entry corrects (store.CorrectionRecipients), each
// once whatever the redeliveries (its id is the clear's and the org's);
// a marketplace's leaves out the reason (police information). False
// while the clear is younger than correctionSettle or when Redis did not
// take one (the entry is retried whole).
func (f *feedRelay) correct(ctx context.Context, e outbox.Entry) bool {
	if e.Kind != outbox.KindCorrect {
		return true
	}
	if time.Since(time.UnixMilli(e.ClearedAt)) < correctionSettle {
		return false
	}
	orgs, due, err := f.feed.CorrectionRecipients(ctx, e.Pseudonym, e.Partition, e.ClearedAt, f.r.cfg.CorrectionsLookback, e.IBAN)
	if err != nil {
		f.log("holders feed: corrections failed; will retry", "report_id", e.ReportID, "err", err)
		return false
	}
	withdrawn := e.ClearReason == string(domain.ClearWithdrawn)
	for _, d := range due { // a clear ends the overdue flags, a withdrawal brings them back
		if err := f.feed.TrackDue(ctx, d.Holder, d.ReportID, d.RespondBy, withdrawn); err != nil {
			f.log("holders feed: reviews due failed; will retry", "report_id", e.ReportID, "err", err)
			return false
		}
	}
	for _, o := range orgs {
		data := map[string]any{"iban": e.IBAN, "cleared_at": time.UnixMilli(e.ClearedAt).UTC().Format(time.RFC3339Nano)}
		if o.Type != domain.OrgMarketplace {
			data["reason"] = e.ClearReason
		}
		if e.PreviousRisk != "" {
			data["previous_risk"] = e.PreviousRisk
		}
		if !f.append(ctx, o.Org, f.event(domain.EventIBANCorrected, e.ReportID+":"+o.Org, data), e.ReportID) {
			return false
		}
	}
	return true
}

// trackRecovery keeps the holder's list of recoveries it owes an answer
// on, for the overdue gauge. False when Redis did not take it.
func (f *feedRelay) trackRecovery(ctx context.Context, e outbox.Entry) bool {
	if e.Holder == "" || !strings.HasPrefix(e.Event, "recovery.") {
		return true
	}
	if err := f.feed.TrackRecovery(ctx, e.Holder, e.Requester, e.ReportID, e.Deadline); err != nil {
		f.log("holders feed: recoveries due failed; will retry", "report_id", e.ReportID, "err", err)
		return false
	}
	return true
}

// threshold announces iban.threshold to the holder once per crossing of
// EscalateReporters distinct reporters within 30 days, judged after each
// report and each cancellation: the event first (idempotent by the id of
// the report that crossed), then the mark, so a crash between them only
// repeats the same event. False when it could not judge (Redis).
func (f *feedRelay) threshold(ctx context.Context, e outbox.Entry) bool {
	ibanText := e.IBAN
	if e.Kind == outbox.KindReport {
		ibanText = reportIBAN(e)
	} else if e.Event != "cancelled" {
		return true
	}
	if e.Holder == "" || ibanText == "" || f.escalate <= 0 {
		return true
	}
	return f.judge(ctx, []string{ibanText}, []outbox.Entry{e})
}

// reportIBAN is the IBAN of a report entry (its police body's).
func reportIBAN(e outbox.Entry) string {
	var w struct {
		IBAN string `json:"iban"`
	}
	_ = json.Unmarshal(e.Body, &w)
	return w.IBAN
}

// judge judges the threshold of ibans (in one pipelined read of their
// books) and announces each crossing to the holder of the entry of the
// same index, the event's subject, then marks it. False when it could
// not judge or announce (Redis): retried.
func (f *feedRelay) judge(ctx context.Context, ibans []string, subjects []outbox.Entry) bool {
	crossed, counts, err := f.feed.ThresholdCrossings(ctx, ibans, f.escalate)
	if err != nil {
		f.log("holders feed: threshold check failed; will retry", "report_id", subjects[0].ReportID, "err", err)
		return false
	}
	for n, ib := range ibans {
		if !crossed[n] {
			continue
		}
		e, c := subjects[n], counts[n]
		ev := f.event(domain.EventIBANThreshold, e.ReportID, map[string]any{"iban": ib,
			"reporter_count": c.Windows[1].Reporters, "report_count": c.Windows[1].Reports, "window": "30d"})
		if !f.append(ctx, e.Holder, ev, e.ReportID) {
			return false
		}
		if err := f.feed.MarkThresholdCrossed(ctx, ib); err != nil {
			f.log("holders feed: threshold mark failed; will retry", "report_id", e.ReportID, "err", err)
			return false
		}
	}
	return true
}

// trackDue keeps the holder's list of reviews it owes, for the overdue
// gauge and the work list: a report with a deadline added one with its
// report.received (writeHolder), a close or a cancel closes it. False
// when Redis did not take it.
func (f *feedRelay) trackDue(ctx context.Context, e outbox.Entry) bool {
	var err error
	switch {
	case e.Holder == "":
		return true
	case e.Kind == outbox.KindEvent && (e.Event == "closed" || e.Event == "cancelled"):
		err = f.feed.TrackDue(ctx, e.Holder, e.ReportID, time.Time{}, false)
	}
	if err != nil {
		f.log("holders feed: reviews due failed; will retry", "report_id", e.ReportID, "err", err)
		return false
	}
	return true
}

// eventFor is the holder's event for an outbox entry: report.received for
// a report, report.cancelled for its cancellation, none otherwise (no
// holder, or another review event: the holder made those itself).
func (f *feedRelay) eventFor(e outbox.Entry) (domain.Event, bool) {
	if e.Holder == "" {
		return domain.Event{}, false
	}
	var data map[string]any
	if err := json.Unmarshal(e.Body, &data); err != nil {
		f.log("holders feed: unreadable outbox body; skipped", "report_id", e.ReportID)
		return domain.Event{}, false
	}
	switch {
	case e.Kind == outbox.KindReport:
		if !e.RespondBy.IsZero() {
			data["respond_by"] = e.RespondBy.UTC().Format(time.RFC3339Nano)
		}
		return f.event(domain.EventReportReceived, e.ReportID, data), true
	case e.Kind == outbox.KindFeed:
		return f.event(domain.EventType(e.Event), e.ReportID, data), true
	case e.Kind == outbox.KindEvent && e.Event == "cancelled":
		out := map[string]any{"report_id": e.ReportID, "iban": e.IBAN, "cancelled_at": data["at"]}
		if r, ok := data["reason"]; ok && r != "" {
			out["reason"] = r
		}
		return f.event(domain.EventReportCancelled, e.ReportID, out), true
	}
	return domain.Event{}, false
}

func (f *feedRelay) event(t domain.EventType, subject string, data map[string]any) domain.Event {
	b, _ := json.Marshal(data)
	return domain.Event{ID: f.feed.EventID(t, subject), Type: t, CreatedAt: time.Now(), Data: b}
}
