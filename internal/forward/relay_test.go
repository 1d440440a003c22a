package forward_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mulegate/mulegate/internal/domain"
	"github.com/mulegate/mulegate/internal/forward"
	"github.com/mulegate/mulegate/internal/policesim"
	"github.com/mulegate/mulegate/internal/redistest"
	"github.com/mulegate/mulegate/internal/store"
	"github.com/mulegate/mulegate/internal/waitfor"
)

type fixture struct {
	redis *redistest.Deployment
	st    *store.Store
	sim   *policesim.Sim
	url   string
}

func mustFixture(t *testing.T) *fixture {
	t.Helper()
	srv := redistest.StartTopology(t)
	st, err := store.New(srv.Client(t), store.Options{Secret: []byte("0123456789abcdef0123456789abcdef")})
	if err != nil {
		t.Fatal(err)
	}
	sim := policesim.New(policesim.Faults{})
	hs := httptest.NewUnstartedServer(sim.Handler())
	hs.Config.ConnState = sim.ConnState
	hs.Start()
	t.Cleanup(hs.Close)
	return &fixture{redis: srv, st: st, sim: sim, url: hs.URL}
}

func (f *fixture) relay(t *testing.T, cfg forward.Config) *forward.Relay {
	t.Helper()
	c, err := forward.NewClient(forward.ClientConfig{URL: f.url, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	// Each relay gets its own connection pool, as a separate process would.
	rdb := f.redis.NewClient()
	t.Cleanup(func() { rdb.Close() })
	st, _ := store.New(rdb, store.Options{Secret: []byte("0123456789abcdef0123456789abcdef")})
	r := forward.New(cfg, st, c, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = r.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return r
}

func (f *fixture) accept(t *testing.T, key, body string) domain.Accepted {
	t.Helper()
	var in struct {
		IBAN, Category, OccurredAt, Reference, Description string
		Amount                                             *domain.Amount
	}
	_ = json.Unmarshal([]byte(body), &in)
	var at *time.Time
	if in.OccurredAt != "" {
		v, _ := time.Parse(time.RFC3339, in.OccurredAt)
		at = &v
	}
	sub, err := domain.NewSubmission(in.IBAN, in.Category, at, in.Amount, in.Reference, in.Description, time.Now(), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	a, err := f.st.Accept(context.Background(), "bank-a", domain.OrgBank, key, sub)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

var waitFor = waitfor.Until

// TestWireContract: what the police store receives is exactly the spec's
// body, with absent optional fields omitted, keyed by the report id.
func TestWireContract(t *testing.T) {
	f := mustFixture(t)
	f.relay(t, forward.Config{Workers: 2})
	full := f.accept(t, "k1", `{"IBAN":"nl91 abna 0417 1643 00","Category":"phishing","OccurredAt":"2026-01-02T03:04:05Z",
		"Amount":{"value":"249.95","currency":"EUR"},"Reference":"case-1","Description":"fake helpdesk"}`)
	minimal := f.accept(t, "k2", `{"IBAN":"DE89370400440532013000","Category":"other"}`)
	waitFor(t, "both reports delivered", 5*time.Second, func() bool { return f.sim.Stats().Unique == 2 })

	keys := func(id string) (string, map[string]any) {
		rec, ok := f.sim.Record(id)
		if !ok {
			t.Fatalf("report %s not received", id)
		}
		var m map[string]any
		if err := json.Unmarshal(rec.Body, &m); err != nil {
			t.Fatal(err)
		}
		var k []string
		for name := range m {
			k = append(k, name)
		}
		sort.Strings(k)
		return strings.Join(k, ","), m
	}
	got, body := keys(full.ID)
	if want := "amount,category,description,iban,occurred_at,received_at,reference,report_id,reporter_org,reporter_type"; got != want {
		t.Errorf("full report fields = %s, want %s", got, want)
	}
	if body["iban"] != "NL91ABNA0417164300" || body["report_id"] != full.ID || body["reporter_type"] != "bank" || body["occurred_at"] != "2026-01-02T03:04:05Z" {
		t.Errorf("full report body = %v", body)
	}
	if got, _ := keys(minimal.ID); got != "category,iban,received_at,report_id,reporter_org,reporter_type" {
		t.Errorf("minimal report fields = %s", got)
	}
	st, err := f.st.ReportStatus(context.Background(), full.ID)
	if err != nil {
		t.Fatal(err)
	}
	rec, _ := f.sim.Record(full.ID)
	if st.Status != domain.StatusForwarded || st.Attempts != 1 || st.PoliceReference != rec.PoliceReference || st.ForwardedAt == nil {
		t.Errorf("status = %+v", st)
	}
	// The outbox is empty again: entries are deleted once both the
	// forwarders and the holders' feed relay are done with them.
	waitFor(t, "an empty outbox", 3*time.Second, func() bool {
		stats, err := f.st.OutboxStats(context.Background())
		if err != nil {
			return false
		}
		for _, s := range stats {
			if s.Depth != 0 {
				return false
			}
		}
		return true
	})
}

// TestWakeUpAndIdleCost: an idle relay costs a few Redis commands per
// second (no polling of every partition), and a new report is still
// forwarded at once, through the wake-up channel, not the sweep.
func TestWakeUpAndIdleCost(t *testing.T) {
	f := mustFixture(t)
	f.relay(t, forward.Config{Workers: 4, SweepInterval: 10 * time.Second, VisibilityTimeout: 30 * time.Second})
	time.Sleep(500 * time.Millisecond) // let the start-up sweep finish
	c0 := f.redis.CommandsProcessed(t)
	time.Sleep(3 * time.Second)
	idle := float64(f.redis.CommandsProcessed(t)-c0) / 3
	t.Logf("Redis commands per second while idle: %.1f", idle)
	if idle > 30 {
		t.Errorf("an idle relay sends %.1f Redis commands per second", idle)
	}
	var worst time.Duration
	for i := range 5 {
		start := time.Now()
		a := f.accept(t, "wake-"+strconv.Itoa(i), `{"IBAN":"NL91ABNA0417164300","Category":"phishing"}`)
		waitFor(t, "delivery", 5*time.Second, func() bool { _, ok := f.sim.Record(a.ID); return ok })
		worst = max(worst, time.Since(start))
	}
	t.Logf("slowest accept-to-police latency of 5 reports: %v", worst)
	if worst > 2*time.Second {
		t.Errorf("a new report waited %v: it was found by the 10 s sweep, not woken up", worst)
	}
}

// TestSharedBreakerTrip: a trip in one process pauses another that has not
// failed a call itself, and a process started during the trip learns of it.
func TestSharedBreakerTrip(t *testing.T) {
	f := mustFixture(t)
	cfg := forward.Config{Workers: 2, BackoffInitial: 10 * time.Millisecond, BackoffMax: 50 * time.Millisecond,
		Breaker: forward.BreakerConfig{Failures: 3, OpenFor: 4 * time.Second}}
	a := f.relay(t, cfg)
	b := f.relay(t, forward.Config{Workers: 1, Breaker: cfg.Breaker})
	time.Sleep(300 * time.Millisecond)
	f.sim.SetFaults(policesim.Faults{Down: true})
	f.accept(t, "trip-1", `{"IBAN":"NL91ABNA0417164300","Category":"phishing"}`)
	waitFor(t, "a breaker to open", 5*time.Second, func() bool { return a.BreakerState() == "open" || b.BreakerState() == "open" })
	waitFor(t, "both breakers to show open", time.Second, func() bool { return a.BreakerState() == "open" && b.BreakerState() == "open" })
	late := f.relay(t, cfg)
	waitFor(t, "a late starter to learn of the trip", time.Second, func() bool { return late.BreakerState() == "open" })
	calls := f.sim.Stats().Requests
	time.Sleep(1500 * time.Millisecond)
	if more := f.sim.Stats().Requests - calls; more > 2 {
		t.Errorf("%d calls reached the down store while the shared breaker was open", more)
	}
	f.sim.SetFaults(policesim.Faults{})
	waitFor(t, "delivery after recovery", 10*time.Second, func() bool { return f.sim.Stats().Unique == 1 })
}

// TestShutdownReleasesEntries: a relay that stops finishes its call in
// flight and hands the rest of its entries back, so a relay started next
// delivers them at once rather than after the 30 s visibility timeout.
func TestShutdownReleasesEntries(t *testing.T) {
	f := mustFixture(t)
	f.sim.SetFaults(policesim.Faults{LatencyMS: 100})
	var ids []string
	for i := range 20 {
		ids = append(ids, f.accept(t, "rel-"+strconv.Itoa(i), `{"IBAN":"NL91ABNA0417164300","Category":"phishing"}`).ID)
	}
	c, _ := forward.NewClient(forward.ClientConfig{URL: f.url, Timeout: time.Second})
	first := forward.New(forward.Config{Workers: 1, Batch: 20, VisibilityTimeout: 30 * time.Second}, f.st, c, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = first.Run(ctx); close(done) }()
	waitFor(t, "the first deliveries", 5*time.Second, func() bool { return f.sim.Stats().Unique >= 2 })
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the relay did not stop")
	}
	delivered := f.sim.Stats().Unique
	if delivered >= len(ids) {
		t.Fatal("everything was delivered before the stop: the test proves nothing")
	}
	f.sim.SetFaults(policesim.Faults{})
	f.relay(t, forward.Config{Workers: 2, VisibilityTimeout: 30 * time.Second})
	waitFor(t, "the released entries to be delivered by the next relay", 20*time.Second, func() bool { return f.sim.Stats().Unique == len(ids) })
	for _, id := range ids {
		if rec, _ := f.sim.Record(id); rec.Deliveries != 1 {
			t.Errorf("report %s delivered %d times", id, rec.Deliveries)
		}
	}
}
