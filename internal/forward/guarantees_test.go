package forward_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/mulegate/mulegate/internal/domain"
	"github.com/mulegate/mulegate/internal/forward"
	"github.com/mulegate/mulegate/internal/iban"
	"github.com/mulegate/mulegate/internal/policesim"
	"github.com/mulegate/mulegate/internal/store"
	"github.com/redis/go-redis/v9"
)

const body1 = `{"IBAN":"NL91ABNA0417164300","Category":"phishing"}`

// TestRedirectIsNotDelivered (issue 8.1): a store that answers 302 has not
// got the report; it stays queued and reaches the store once the store
// answers again, exactly once.
func TestRedirectIsNotDelivered(t *testing.T) {
	f := mustFixture(t)
	f.sim.SetFaults(policesim.Faults{Status: 302})
	a := f.accept(t, "redir-1", body1)
	f.relay(t, forward.Config{Workers: 1, BackoffInitial: 20 * time.Millisecond, BackoffMax: 50 * time.Millisecond,
		Breaker: forward.BreakerConfig{Failures: 100}})
	waitFor(t, "several attempts", 5*time.Second, func() bool { rec, _ := f.sim.Record(a.ID); return rec.Posts >= 3 })
	st, err := f.st.ReportStatus(context.Background(), a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != "queued" || st.LastError != "police store answered 302 Found" {
		t.Fatalf("after 302s: status %q last_error %q, want queued with the 302 named", st.Status, st.LastError)
	}
	f.sim.SetFaults(policesim.Faults{})
	waitFor(t, "delivery after the redirects stop", 5*time.Second, func() bool { return f.sim.Stats().Unique == 1 })
	waitFor(t, "status forwarded", 2*time.Second, func() bool {
		st, _ := f.st.ReportStatus(context.Background(), a.ID)
		return st.Status == "forwarded" && st.PoliceReference != ""
	})
	if rec, _ := f.sim.Record(a.ID); rec.Deliveries != 1 {
		t.Errorf("delivered %d times, want 1", rec.Deliveries)
	}
}

// TestOwnMisconfigurationOpensTheBreaker (issue 8.2): 401/403/404 keep the
// report queued and count as breaker failures, so the breaker opens
// instead of the backlog being thrown away.
func TestOwnMisconfigurationOpensTheBreaker(t *testing.T) {
	for _, status := range []int{401, 403, 404} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			f := mustFixture(t)
			f.sim.SetFaults(policesim.Faults{Status: status})
			var ids []string
			for i := range 3 {
				ids = append(ids, f.accept(t, fmt.Sprint("cfg-", i), body1).ID)
			}
			r := f.relay(t, forward.Config{Workers: 2, BackoffInitial: 10 * time.Millisecond, BackoffMax: 20 * time.Millisecond,
				Breaker: forward.BreakerConfig{Failures: 3, OpenFor: 300 * time.Millisecond}})
			waitFor(t, "the breaker to open", 5*time.Second, func() bool { return r.BreakerState() == "open" })
			for _, id := range ids {
				st, _ := f.st.ReportStatus(context.Background(), id)
				if st.Status != "queued" {
					t.Errorf("report %s is %q after %d answers, want queued", id, st.Status, status)
				}
			}
			f.sim.SetFaults(policesim.Faults{})
			waitFor(t, "every report delivered once the store is fixed", 10*time.Second, func() bool { return f.sim.Stats().Unique == len(ids) })
		})
	}
}

// TestRequeueRejected (issue 8.2): a rejected report keeps its body aside
// and "outbox requeue" sends it again.
func TestRequeueRejected(t *testing.T) {
	f := mustFixture(t)
	f.sim.SetFaults(policesim.Faults{Status: 422})
	a := f.accept(t, "rq-1", body1)
	b := f.accept(t, "rq-2", `{"IBAN":"DE89370400440532013000","Category":"phishing"}`)
	f.relay(t, forward.Config{Workers: 1})
	ctx := context.Background()
	waitFor(t, "both rejected", 5*time.Second, func() bool {
		sa, _ := f.st.ReportStatus(ctx, a.ID)
		sb, _ := f.st.ReportStatus(ctx, b.ID)
		return sa.Status == "rejected" && sb.Status == "rejected"
	})
	f.sim.SetFaults(policesim.Faults{})
	ok, err := f.st.Requeue(ctx, a.ID)
	if err != nil || !ok {
		t.Fatalf("requeue %s: %v %v", a.ID, ok, err)
	}
	waitFor(t, "the requeued report delivered", 5*time.Second, func() bool { return f.sim.Stats().Unique == 1 })
	if ok, _ := f.st.Requeue(ctx, a.ID); ok {
		t.Error("a forwarded report was requeued again")
	}
	ids, err := f.st.RequeueAllRejected(ctx)
	if err != nil || len(ids) != 1 || ids[0] != b.ID {
		t.Fatalf("requeue all: %v %v, want [%s]", ids, err, b.ID)
	}
	waitFor(t, "every report delivered", 5*time.Second, func() bool { return f.sim.Stats().Unique == 2 })
	// The store answers before the forwarder records it: wait for that.
	for _, id := range []string{a.ID, b.ID} {
		waitFor(t, "report "+id+" forwarded", 5*time.Second, func() bool {
			st, _ := f.st.ReportStatus(ctx, id)
			return st.Status == "forwarded" && st.LastError == ""
		})
	}
}

// TestNoSecondOwnerWhileWaiting (issue 8.14): a worker that waits for an
// open breaker longer than the visibility timeout keeps its claim, so no
// second worker posts the same report.
func TestNoSecondOwnerWhileWaiting(t *testing.T) {
	f := mustFixture(t)
	f.sim.SetFaults(policesim.Faults{ErrorRate: 1})
	var ids []string
	for i := range 8 {
		ids = append(ids, f.accept(t, fmt.Sprint("own-", i), body1).ID)
	}
	cfg := forward.Config{Workers: 4, Batch: 2, VisibilityTimeout: 600 * time.Millisecond, SweepInterval: 200 * time.Millisecond,
		BackoffInitial: 20 * time.Millisecond, BackoffMax: 100 * time.Millisecond,
		Breaker: forward.BreakerConfig{Failures: 2, OpenFor: 2 * time.Second}}
	f.relay(t, cfg)
	f.relay(t, cfg)
	waitFor(t, "the breaker to trip", 5*time.Second, func() bool { return f.sim.Stats().Errors >= 2 })
	time.Sleep(2500 * time.Millisecond) // several visibility timeouts while the breaker is open
	f.sim.SetFaults(policesim.Faults{LatencyMS: 20})
	waitFor(t, "every report delivered", 15*time.Second, func() bool { return f.sim.Stats().Unique == len(ids) })
	time.Sleep(500 * time.Millisecond)
	for _, id := range ids {
		if rec, _ := f.sim.Record(id); rec.Deliveries != 1 {
			t.Errorf("report %s was delivered %d times: two workers owned it", id, rec.Deliveries)
		}
		st, _ := f.st.ReportStatus(context.Background(), id)
		rec, _ := f.sim.Record(id)
		if st.Attempts != int64(rec.Posts) {
			t.Errorf("report %s: attempts %d, but the store saw %d requests", id, st.Attempts, rec.Posts)
		}
	}
}

// TestDeadConsumersAreRemoved (issue 8.15): relays that stopped leave no
// consumers behind in the groups.
func TestDeadConsumersAreRemoved(t *testing.T) {
	f := mustFixture(t)
	cfg := forward.Config{Workers: 3, VisibilityTimeout: 300 * time.Millisecond, SweepInterval: 100 * time.Millisecond}
	rdb := f.redis.Client(t)
	ctx := context.Background()
	consumers := func() int {
		n := 0
		for p := range f.st.Partitions() {
			for _, g := range []string{"forwarders", "holders"} {
				cs, err := rdb.XInfoConsumers(ctx, f.st.OutboxKey(p), g).Result()
				if err == nil {
					n += len(cs)
				}
			}
		}
		return n
	}
	for life := range 3 {
		for i := range 10 {
			f.accept(t, fmt.Sprint("dc-", life, "-", i), body1)
		}
		stop := f.relayStoppable(t, cfg)
		waitFor(t, "delivery", 5*time.Second, func() bool { return f.sim.Stats().Unique == 10*(life+1) })
		stop()
	}
	if n := consumers(); n != 0 {
		t.Errorf("%d consumers left after three relays stopped cleanly", n)
	}
	// A relay that dies (no clean stop) leaves consumers; a live relay
	// removes them once they are idle and hold nothing.
	leftover := rdb.XGroupCreateConsumer(ctx, f.st.OutboxKey(0), "forwarders", "dead-host-w0")
	if err := leftover.Err(); err != nil {
		t.Fatal(err)
	}
	f.relay(t, cfg)
	waitFor(t, "the dead consumer to be removed", 5*time.Second, func() bool {
		cs, _ := rdb.XInfoConsumers(ctx, f.st.OutboxKey(0), "forwarders").Result()
		for _, c := range cs {
			if c.Name == "dead-host-w0" {
				return false
			}
		}
		return true
	})
}

// TestClaimWalksThePendingList (issue 8.15): stale entries behind many
// entries that a live worker holds are still taken over: the claim sweep
// follows XAUTOCLAIM's cursor through the whole pending list instead of
// giving up after the first page.
func TestClaimWalksThePendingList(t *testing.T) {
	f := mustFixture(t)
	ctx := context.Background()
	rdb := f.redis.Client(t)
	for i := range 60 {
		f.accept(t, fmt.Sprint("pl-", i), body1)
	}
	if err := f.st.EnsureGroups(ctx); err != nil {
		t.Fatal(err)
	}
	key := f.st.OutboxKey(partitionOf(t, f, "NL91ABNA0417164300"))
	read := func(consumer string, n int64) []string {
		res, err := rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "forwarders", Consumer: consumer,
			Streams: []string{key, ">"}, Count: n, Block: -1}).Result()
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, m := range res[0].Messages {
			ids = append(ids, m.ID)
		}
		return ids
	}
	live := read("live-w0", 50) // a live worker, busy with 50 entries
	dead := read("dead-w0", 10) // a worker that died holding 10
	if len(live) != 50 || len(dead) != 10 {
		t.Fatalf("read %d and %d entries", len(live), len(dead))
	}
	touch, stopTouch := context.WithCancel(ctx)
	defer stopTouch()
	go func() { // the live worker keeps renewing its claims
		for touch.Err() == nil {
			rdb.XClaimJustID(touch, &redis.XClaimArgs{Stream: key, Group: "forwarders", Consumer: "live-w0", Messages: live})
			time.Sleep(30 * time.Millisecond)
		}
	}()
	time.Sleep(300 * time.Millisecond)
	f.relay(t, forward.Config{Workers: 1, Batch: 2, VisibilityTimeout: 200 * time.Millisecond, SweepInterval: 10 * time.Second})
	waitFor(t, "the dead worker's 10 entries taken over", 5*time.Second, func() bool { return f.sim.Stats().Unique == len(dead) })
}

// TestMissedTripIsRecovered (issue 8.15): a relay that missed the
// pub/sub message of another process's trip still learns of it from the
// periodic re-read.
func TestMissedTripIsRecovered(t *testing.T) {
	f := mustFixture(t)
	r := f.relay(t, forward.Config{Workers: 1, SweepInterval: 200 * time.Millisecond})
	time.Sleep(100 * time.Millisecond)
	rdb := f.redis.Client(t)
	// The key alone, as if the PUBLISH was lost: a trip id that lasts as
	// long as the key (no time in it, so no clock can disagree with it).
	if err := rdb.Set(context.Background(), "mg:breaker:police:trip", "other-replica-trip", 3*time.Second).Err(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the relay to pause for the shared trip", 2*time.Second, func() bool { return r.BreakerState() == "open" })
}

func partitionOf(t *testing.T, f *fixture, raw string) int {
	t.Helper()
	_, part := f.st.Pseudonym(mustIBAN(t, raw))
	return part
}

func mustIBAN(t *testing.T, raw string) iban.IBAN {
	t.Helper()
	i, err := iban.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return i
}

// relayStoppable runs a relay and returns a function that stops it and
// waits until it has.
func (f *fixture) relayStoppable(t *testing.T, cfg forward.Config) func() {
	t.Helper()
	c, err := forward.NewClient(forward.ClientConfig{URL: f.url, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	rdb := f.redis.NewClient()
	st, _ := store.New(rdb, store.Options{Secret: []byte("0123456789abcdef0123456789abcdef")})
	r := forward.New(cfg, st, c, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = r.Run(ctx); close(done) }()
	stop := func() {
		cancel()
		<-done
		rdb.Close()
	}
	t.Cleanup(func() {
		select {
		case <-done:
		default:
			stop()
		}
	})
	return stop
}

// TestRequeueBringsTheEvents (issue 21.4): the police store refuses a
// report (422); its holder acknowledges and closes it and its reporter
// cancels it meanwhile. Those events are kept with the rejected report,
// and "outbox requeue" puts back the report and its events, which reach
// the store after it, in order. Before, the events were dropped: "status
// forwarded, review cancelled, police store has 0 events".
func TestRequeueBringsTheEvents(t *testing.T) {
	f := mustFixture(t)
	rdb := f.redis.NewClient()
	t.Cleanup(func() { rdb.Close() })
	st, _ := store.New(rdb, store.Options{Secret: []byte("0123456789abcdef0123456789abcdef"),
		HolderOf: func(iban.IBAN) string { return "bank-h" }})
	f.st = st
	f.sim.SetFaults(policesim.Faults{Status: 422})
	a := f.accept(t, "rq-ev", body1)
	f.relay(t, forward.Config{Workers: 2, BackoffInitial: 20 * time.Millisecond, BackoffMax: 100 * time.Millisecond})
	ctx := context.Background()
	waitFor(t, "the report rejected", 5*time.Second, func() bool { s, _ := st.ReportStatus(ctx, a.ID); return s.Status == "rejected" })
	holder, reporter := domain.Caller{Org: "bank-h", Type: domain.OrgBank}, domain.Caller{Org: "bank-a", Type: domain.OrgBank}
	closeReq, _ := domain.NewClose("agreed", "mule_account", "frozen")
	cancelReq, _ := domain.NewCancel("withdrawn")
	for _, step := range []struct {
		c   domain.Caller
		req domain.ReviewRequest
	}{{holder, domain.ReviewRequest{Action: domain.ActionAcknowledge}}, {holder, closeReq}, {reporter, cancelReq}} {
		if _, _, err := st.Review(ctx, a.ID, step.c, step.req); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the events taken out of the outbox", 5*time.Second, func() bool {
		stats, _ := st.OutboxStats(ctx)
		var n int64
		for _, s := range stats {
			n += s.Depth
		}
		return n == 0
	})
	if rec, _ := f.sim.Record(a.ID); rec.Deliveries != 0 || len(rec.Events) != 0 {
		t.Fatalf("while refused the store has %+v", rec)
	}
	f.sim.SetFaults(policesim.Faults{})
	if ok, err := st.Requeue(ctx, a.ID); err != nil || !ok {
		t.Fatalf("requeue: %v %v", ok, err)
	}
	waitFor(t, "the report and its three events delivered", 10*time.Second, func() bool {
		rec, _ := f.sim.Record(a.ID)
		return rec.Deliveries == 1 && len(rec.Events) == 3
	})
	rec, _ := f.sim.Record(a.ID)
	var got []string
	for _, e := range rec.Events {
		var ev struct{ Event string }
		_ = json.Unmarshal(e, &ev)
		got = append(got, ev.Event)
	}
	if strings.Join(got, ",") != "acknowledged,closed,cancelled" {
		t.Errorf("events at the store: %v, want acknowledged, closed, cancelled", got)
	}
	if s, _ := st.ReportStatus(ctx, a.ID); s.Status != "forwarded" {
		t.Errorf("status after requeue: %s", s.Status)
	}
}
