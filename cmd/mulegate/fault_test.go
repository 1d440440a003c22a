package main

import (
	"context"
	crand "crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/mulegate/mulegate/internal/evidence"
	"github.com/mulegate/mulegate/internal/redistest"
	"github.com/mulegate/mulegate/internal/waitfor"
	"golang.org/x/mod/sumdb/note"
)

func reportBody(n int) string {
	return fmt.Sprintf(`{"iban":"NL91ABNA0417164300","category":"phishing","reference":"case-%d"}`, n)
}

// TestFaultPoliceStoreDown: the police store is down for several seconds
// while reports keep coming. Intake keeps answering 202, the breaker opens
// (seen in the metrics), the store is not hammered while it is open, and
// everything is delivered once it is back.
func TestFaultPoliceStoreDown(t *testing.T) {
	p := mustPKI(t)
	rds := redistest.StartTopology(t)
	sim := mustSimProc(t).addrs["sim"]
	gw := mustServeProc(t, p, rds.Addrs(), forwardEnv(sim)...)
	r := newReporter(t, p)
	n := 0
	for ; n < 20; n++ {
		r.submit(gw.addrs["api"], fmt.Sprint("before-", n), reportBody(n))
	}
	waitDelivered(t, sim, r.ids(), 10*time.Second)

	setFaults(t, sim, `{"down":true}`)
	var before simStats
	getJSON(t, sim+"/_sim/stats", &before)
	outage := time.Now()
	sawOpen := false
	for time.Since(outage) < 4*time.Second {
		if status, _ := r.submit(gw.addrs["api"], fmt.Sprint("during-", n), reportBody(n)); status != 202 {
			t.Fatalf("intake answered %d during the police outage", status)
		}
		n++
		if metric(t, gw.addrs["ops"], "mulegate_police_breaker_state") == "2" {
			sawOpen = true
		}
		time.Sleep(20 * time.Millisecond)
	}
	var during simStats
	getJSON(t, sim+"/_sim/stats", &during)
	if depth := metricSum(t, gw.addrs["ops"], "mulegate_outbox_depth"); depth < 1 {
		t.Errorf("mulegate_outbox_depth sums to %v during the outage, want the waiting reports", depth)
	}
	if age := metricSum(t, gw.addrs["ops"], "mulegate_outbox_oldest_age_seconds"); age <= 0 {
		t.Errorf("mulegate_outbox_oldest_age_seconds = %v during the outage", age)
	}
	if retries := metricSum(t, gw.addrs["ops"], `mulegate_forward_attempts_total{result="retry"}`); retries < 1 {
		t.Errorf("no retry attempts counted during the outage")
	}
	if !sawOpen {
		t.Error("the breaker never showed open (mulegate_police_breaker_state 2) during the outage")
	}
	// An open breaker does not make the gateway unready.
	if resp, err := http.Get(gw.addrs["ops"] + "/readyz"); err != nil || resp.StatusCode != 200 {
		t.Errorf("/readyz during the police outage: %v %v, want 200", resp, err)
	} else {
		resp.Body.Close()
	}
	// 4 workers, 5 failures to open, 1 s open: without a breaker the
	// workers would retry every 50-500 ms each (dozens of attempts); with
	// it, a handful of failures and about one probe per second.
	attempts := during.Requests - before.Requests
	t.Logf("police store calls during a 4 s outage: %d (connections %d)", attempts, during.Connections-before.Connections)
	if attempts > 20 {
		t.Errorf("the police store was hammered while down: %d calls in 4 s", attempts)
	}
	setFaults(t, sim, `{}`)
	for range 20 {
		r.submit(gw.addrs["api"], fmt.Sprint("after-", n), reportBody(n))
		n++
	}
	waitDelivered(t, sim, r.ids(), 20*time.Second)
	if r.statuses[202] != n {
		t.Errorf("statuses %v, want %d × 202", r.statuses, n)
	}
}

// TestFaultSlowAndFlaky: the police store is slow and fails 30 % of calls.
// Everything is delivered, no report twice after de-duplication.
func TestFaultSlowAndFlaky(t *testing.T) {
	p := mustPKI(t)
	rds := redistest.StartTopology(t)
	sim := mustSimProc(t, "--latency-ms", "30", "--error-rate", "0.3").addrs["sim"]
	// A breaker that tolerates a flaky store: 30 % errors rarely make 10 in a row.
	gw := mustServeProc(t, p, rds.Addrs(), forwardEnv(sim, "MULEGATE_BREAKER_FAILURES=10")...)
	r := newReporter(t, p)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 25 {
				r.submit(gw.addrs["api"], fmt.Sprintf("flaky-%d-%d", w, i), reportBody(w*100+i))
			}
		})
	}
	wg.Wait()
	if len(r.ids()) != 200 {
		t.Fatalf("accepted %d of 200 (statuses %v)", len(r.ids()), r.statuses)
	}
	waitDelivered(t, sim, r.ids(), 60*time.Second)
	var st simStats
	getJSON(t, sim+"/_sim/stats", &st)
	if st.Errors == 0 {
		t.Error("no injected failures: the test did not exercise retries")
	}
	t.Logf("simulator: %+v", st)
}

// TestFaultGatewayKilled: a gateway is killed with SIGKILL in the middle
// of forwarding; another gateway process on the same Redis takes over its
// entries after the visibility timeout. Everything is delivered.
func TestFaultGatewayKilled(t *testing.T) {
	p := mustPKI(t)
	rds := redistest.StartTopology(t)
	// A slow store, so that the first gateway dies with calls in flight.
	sim := mustSimProc(t, "--latency-ms", "200").addrs["sim"]
	first := mustServeProc(t, p, rds.Addrs(), forwardEnv(sim)...)
	r := newReporter(t, p)
	for i := range 150 {
		r.submit(first.addrs["api"], fmt.Sprint("kill-", i), reportBody(i))
	}
	time.Sleep(500 * time.Millisecond) // some delivered, most pending or in flight
	first.kill(syscall.SIGKILL)
	delivered := len(simReceived(t, sim))
	t.Logf("delivered before SIGKILL: %d of %d", delivered, len(r.ids()))
	if delivered == len(r.ids()) {
		t.Fatal("everything was delivered before the kill: the test proves nothing")
	}
	setFaults(t, sim, `{"latency_ms":5}`)
	second := mustServeProc(t, p, rds.Addrs(), forwardEnv(sim)...)
	for i := range 20 {
		r.submit(second.addrs["api"], fmt.Sprint("after-kill-", i), reportBody(i))
	}
	waitDelivered(t, sim, r.ids(), 30*time.Second)
}

// TestFaultRedisRestart: Redis (AOF, appendfsync always) is killed and
// restarted while reports flow. The API answers 503 store_unavailable
// fast during the outage, recovers by itself, and everything accepted
// before and after is delivered. Clients retry a 503 with the same
// Idempotency-Key, as the spec's idempotency lets them: a report that
// Redis stored just before it died, whose 202 never left, is then
// answered as a replay, and the police must have it too.
//
// Redis runs with appendfsync always: the setting under which a killed
// redis-server loses nothing it acknowledged, whatever the disk does.
// With the shipped everysec it usually loses nothing either (the AOF
// write reaches the kernel before the answer leaves), but while an fsync
// is slow Redis postpones that write for up to 2 s and answers anyway: a
// kill in that window loses those reports. On a busy machine this test
// lost 63 of 530 that way; docs/deploy.md says what each setting
// guarantees.
func TestFaultRedisRestart(t *testing.T) {
	p := mustPKI(t)
	rds := redistest.StartTopology(t, "--appendonly", "yes", "--appendfsync", "always")
	sim := mustSimProc(t, "--latency-ms", "20").addrs["sim"]
	gw := mustServeProc(t, p, rds.Addrs(), forwardEnv(sim)...)
	r := newReporter(t, p)
	var stop atomic.Bool
	var slow503 atomic.Int64
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := 0; !stop.Load(); i++ {
				// Like an integrator: a 503 is retried with the same
				// Idempotency-Key until it is answered 202.
				for try := 0; try < 100; try++ {
					status, took := r.submit(gw.addrs["api"], fmt.Sprintf("redis-%d-%d", w, i), reportBody(i))
					if status == 503 && took > time.Second {
						t.Logf("slow 503: %v", took)
						slow503.Add(1)
					}
					if status == 202 {
						break
					}
					time.Sleep(100 * time.Millisecond)
				}
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
	time.Sleep(time.Second)
	rds.Stop()
	time.Sleep(1500 * time.Millisecond)
	rds.Restart(t)
	time.Sleep(2 * time.Second)
	stop.Store(true)
	wg.Wait()
	t.Logf("statuses: %v", r.statuses)
	if r.statuses[503] == 0 {
		t.Error("no 503 during the Redis outage: the test did not see it")
	}
	if slow503.Load() > 0 {
		t.Errorf("%d 503 answers took more than a second", slow503.Load())
	}
	for status := range r.statuses {
		if status != 202 && status != 503 {
			t.Errorf("unexpected status %d during a Redis restart (%v)", status, r.statuses)
		}
	}
	if status, _ := r.submit(gw.addrs["api"], "after-restart", reportBody(1)); status != 202 {
		t.Fatalf("no recovery after Redis came back: %d", status)
	}
	waitDelivered(t, sim, r.ids(), 30*time.Second)
}

// TestFaultRejection: a 4xx from the police store ends as rejected with the
// reason, is not retried, and does not hold up the reports behind it.
func TestFaultRejection(t *testing.T) {
	p := mustPKI(t)
	rds := redistest.StartTopology(t)
	sim := mustSimProc(t, "--reject-reference-prefix", "refuse-").addrs["sim"]
	gw := mustServeProc(t, p, rds.Addrs(), forwardEnv(sim, "MULEGATE_FORWARD_WORKERS=1")...)
	r := newReporter(t, p)
	var rejectedIDs []string
	for i := range 30 {
		ref := fmt.Sprint("ok-", i)
		if i%10 == 0 {
			ref = fmt.Sprint("refuse-", i)
		}
		before := len(r.ids())
		r.submit(gw.addrs["api"], "rej-"+ref, `{"iban":"DE89370400440532013000","category":"other","reference":"`+ref+`"}`)
		if strings.HasPrefix(ref, "refuse-") && len(r.ids()) > before {
			rejectedIDs = append(rejectedIDs, r.ids()[before])
		}
	}
	all := r.ids()
	var good []string
	for _, id := range all {
		if !slices.Contains(rejectedIDs, id) {
			good = append(good, id)
		}
	}
	waitDelivered(t, sim, good, 15*time.Second)
	c := p.client(t, p.clients["bank-a"])
	for _, id := range rejectedIDs {
		var st struct {
			Status    string  `json:"status"`
			Attempts  int     `json:"attempts"`
			LastError *string `json:"last_error"`
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			got := do(t, c, "GET", gw.addrs["api"]+"/v1/reports/"+id, r.token, "")
			st = decodeInto[struct {
				Status    string  `json:"status"`
				Attempts  int     `json:"attempts"`
				LastError *string `json:"last_error"`
			}](t, got)
			if st.Status != "queued" || time.Now().After(deadline) {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if st.Status != "rejected" || st.Attempts != 1 || st.LastError == nil || !strings.Contains(*st.LastError, "422") {
			t.Errorf("report %s: %+v, want rejected after 1 attempt with the 422 reason", id, st)
		}
	}
	time.Sleep(2 * time.Second) // a retried rejection would show up now
	var st simStats
	getJSON(t, sim+"/_sim/stats", &st)
	if st.Rejected != int64(len(rejectedIDs)) {
		t.Errorf("the police store rejected %d times for %d rejected reports: rejections were retried", st.Rejected, len(rejectedIDs))
	}

	// The store is fixed; an operator requeues what it refused, with the
	// command the README gives.
	setFaults(t, sim, `{}`)
	cfgPath := filepath.Join(t.TempDir(), "mulegate.yaml")
	if err := os.WriteFile(cfgPath, []byte(p.config(rds.Addrs(), "")), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(mustBinary(t), "outbox", "requeue", "--config", cfgPath, "--report", rejectedIDs[0]).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "requeued "+rejectedIDs[0]) {
		t.Fatalf("outbox requeue --report: %v\n%s", err, out)
	}
	out, err = exec.Command(mustBinary(t), "outbox", "requeue", "--config", cfgPath, "--all-rejected").CombinedOutput()
	if err != nil || !strings.Contains(string(out), fmt.Sprintf("%d rejected reports requeued", len(rejectedIDs)-1)) {
		t.Fatalf("outbox requeue --all-rejected: %v\n%s", err, out)
	}
	waitDelivered(t, sim, all, 15*time.Second)
	if out, err := exec.Command(mustBinary(t), "outbox", "requeue", "--config", cfgPath, "--report", rejectedIDs[0]).CombinedOutput(); err == nil {
		t.Errorf("requeueing a forwarded report succeeded:\n%s", out)
	}
	// migrate on a Redis already in the current layout finds nothing to do.
	if out, err := exec.Command(mustBinary(t), "migrate", "--config", cfgPath).CombinedOutput(); err != nil || !strings.Contains(string(out), "migrated 0 IBANs") {
		t.Errorf("migrate on the current layout: %v\n%s", err, out)
	}
}

// TestSeparateForwardersShareTrips: the API process runs no forwarders;
// two "mulegate forward" processes do. The second would never trip on its
// own (breaker.failures 1000): when the police store goes down and the
// first trips, the second must pause too, seen as open with a shared trip
// in its metrics and as no calls from it while paused. After the store is
// back everything is delivered.
func TestSeparateForwardersShareTrips(t *testing.T) {
	p := mustPKI(t)
	rds := redistest.StartTopology(t)
	sim := mustSimProc(t).addrs["sim"]
	gw := mustServeProc(t, p, rds.Addrs()) // forward.workers: 0 in the test config
	cfgPath := filepath.Join(t.TempDir(), "forward.yaml")
	if err := os.WriteFile(cfgPath, []byte(p.config(rds.Addrs(), "")), 0o600); err != nil {
		t.Fatal(err)
	}
	tripper := startProc(t, []string{"forward", "--config", cfgPath},
		forwardEnv(sim, "MULEGATE_BREAKER_OPEN_FOR=6s", "MULEGATE_BREAKER_FAILURES=2"), "ops")
	r := newReporter(t, p)
	for i := range 10 {
		r.submit(gw.addrs["api"], fmt.Sprint("sep-", i), reportBody(i))
	}
	waitDelivered(t, sim, r.ids(), 10*time.Second)

	setFaults(t, sim, `{"down":true}`)
	for i := range 4 {
		r.submit(gw.addrs["api"], fmt.Sprint("sep-down-", i), reportBody(i))
	}
	waitFor := func(what string, ok func() bool) { t.Helper(); waitfor.Until(t, what, 10*time.Second, ok) }
	waitFor("the first forwarder to trip", func() bool { return metric(t, tripper.addrs["ops"], "mulegate_police_breaker_state") == "2" })
	// The patient forwarder starts now: it learns of the trip from Redis
	// and must not call the store while the trip lasts.
	patient := startProc(t, []string{"forward", "--config", cfgPath},
		forwardEnv(sim, "MULEGATE_BREAKER_OPEN_FOR=6s", "MULEGATE_BREAKER_FAILURES=1000"), "ops")
	waitFor("the patient forwarder to pause for the shared trip", func() bool {
		return metric(t, patient.addrs["ops"], "mulegate_police_breaker_state") == "2"
	})
	var before, after simStats
	getJSON(t, sim+"/_sim/stats", &before)
	time.Sleep(1500 * time.Millisecond)
	getJSON(t, sim+"/_sim/stats", &after)
	if n := after.Requests - before.Requests; n > 0 {
		t.Errorf("%d calls reached the down store during the shared trip", n)
	}
	if got := metricSum(t, patient.addrs["ops"], `mulegate_police_breaker_trips_total{source="shared"}`); got < 1 {
		t.Errorf("the patient forwarder counts %v shared trips, want at least 1", got)
	}
	setFaults(t, sim, `{}`)
	waitDelivered(t, sim, r.ids(), 20*time.Second)
}

// TestReportReceivedSurvivesKill: a gateway whose feed relay took a new
// report's outbox entry but could not write the holder's event (its feed
// is broken here) is killed with SIGKILL. The entry stays pending; another
// gateway takes it over after the visibility timeout and the holding bank
// gets report.received exactly once, while the police store gets the
// report once.
func TestReportReceivedSurvivesKill(t *testing.T) {
	p := mustPKI(t)
	rds := redistest.StartTopology(t)
	sim := mustSimProc(t).addrs["sim"]
	rdb := rds.Client(t)
	ctx := context.Background()
	feedKey := "mg:{a:bank-a}:events"
	a := mustServeProc(t, p, rds.Addrs(), forwardEnv(sim)...) // on an empty Redis (a broken one is not a layout it starts on)
	if err := rdb.Set(ctx, feedKey, "not a stream", 0).Err(); err != nil {
		t.Fatal(err)
	}
	r := newReporter(t, p)
	if st, _ := r.submit(a.addrs["api"], "kill-feed-1", `{"iban":"NL91ABNA0417164300","category":"phishing"}`); st != 202 {
		t.Fatalf("submit: %d", st)
	}
	id := r.ids()[0]
	waitDelivered(t, sim, r.ids(), 10*time.Second) // the police got it; the bank did not
	c := p.client(t, p.clients["bank-a"])
	tok := p.token(t, "bank-a", nil, nil)
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		st := decodeInto[reportOut](t, do(t, c, "GET", a.addrs["api"]+"/v1/reports/"+id, tok, ""))
		if st.Status == "forwarded" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the report was not marked forwarded: %+v", st)
		}
	}
	a.kill(syscall.SIGKILL)
	if err := rdb.Del(ctx, feedKey).Err(); err != nil {
		t.Fatal(err)
	}
	b := mustServeProc(t, p, rds.Addrs(), forwardEnv(sim)...)
	count := func() int {
		n := 0
		page := decodeInto[eventPage](t, do(t, c, "GET", b.addrs["api"]+"/v1/events?types=report.received", tok, ""))
		for _, e := range page.Events {
			if strings.Contains(string(e.Data), id) {
				n++
			}
		}
		return n
	}
	deadline := time.Now().Add(15 * time.Second)
	for count() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("report.received never reached the holding bank after the gateway was killed")
		}
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(4 * time.Second) // another claim cycle must not write it again
	if n := count(); n != 1 {
		t.Errorf("report.received is in the feed %d times, want exactly once", n)
	}
	if got := simReceived(t, sim)[id]; got != 1 {
		t.Errorf("the police store received the report %d times", got)
	}
	var left int64
	for part := range 64 {
		left += rdb.XLen(ctx, fmt.Sprintf("mg:{p%d}:outbox", part)).Val()
	}
	if left != 0 {
		t.Errorf("the outbox still holds %d entries once both groups are done", left)
	}
}

// TestFaultReviewEvents: the holder acknowledges and closes a report while
// the police store is down, and the gateway that queued the review events
// is killed with SIGKILL while it retries them. Another gateway delivers
// them once the store is back: after the report itself, in order, each
// once.
func TestFaultReviewEvents(t *testing.T) {
	p := mustPKI(t)
	rds := redistest.StartTopology(t)
	sim := mustSimProc(t).addrs["sim"]
	a := mustServeProc(t, p, rds.Addrs(), forwardEnv(sim)...)
	setFaults(t, sim, `{"down":true}`)
	market := p.client(t, p.clients["market-a"])
	bank := p.client(t, p.clients["bank-a"])
	mTok, bTok := p.token(t, "market-a", nil, nil), p.token(t, "bank-a", nil, nil)
	res := do(t, market, "POST", a.addrs["api"]+"/v1/reports", mTok, `{"iban":"NL91ABNA0417164300","category":"phishing"}`, "Idempotency-Key", "fre-1")
	if res.status != 202 {
		t.Fatalf("submit: %d", res.status)
	}
	id := decodeInto[accepted](t, res).ReportID
	loc := a.addrs["api"] + "/v1/reports/" + id
	if res := do(t, bank, "POST", loc+"/acknowledge", bTok, ""); res.status != 200 {
		t.Fatalf("acknowledge: %d %s", res.status, res.body)
	}
	if res := do(t, bank, "POST", loc+"/close", bTok, `{"result":"agreed","fraud_type":"mule_account"}`); res.status != 200 {
		t.Fatalf("close: %d %s", res.status, res.body)
	}
	time.Sleep(1500 * time.Millisecond) // retries against the down store
	a.kill(syscall.SIGKILL)
	setFaults(t, sim, `{}`)
	mustServeProc(t, p, rds.Addrs(), forwardEnv(sim)...)
	deadline := time.Now().Add(20 * time.Second)
	for {
		var rec struct {
			Deliveries int `json:"deliveries"`
			Events     []struct {
				Event string `json:"event"`
			} `json:"events"`
		}
		resp, err := http.Get(sim + "/_sim/reports/" + id)
		if err == nil {
			_ = json.NewDecoder(resp.Body).Decode(&rec)
			resp.Body.Close()
		}
		var names []string
		for _, e := range rec.Events {
			names = append(names, e.Event)
		}
		if rec.Deliveries >= 1 && strings.Join(names, ",") == "acknowledged,closed" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the police store has the report %d times and events %v, want the report then acknowledged, closed", rec.Deliveries, names)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestFaultRecoverySteps (SPEC Part 3, "Funds recovery"): while the police
// store is down, a recovery is requested, held and returned, and the
// gateway that took them is killed; once the store is back (and another
// gateway runs), the store has the report and then every step, once each
// and in the order they happened, and the victim's bank has the holder's
// steps in its feed, in order.
func TestFaultRecoverySteps(t *testing.T) {
	p := mustPKI(t)
	rds := redistest.StartTopology(t)
	sim := mustSimProc(t).addrs["sim"]
	a := mustServeProc(t, p, rds.Addrs(), forwardEnv(sim)...)
	setFaults(t, sim, `{"down":true}`)
	victim, holder := p.client(t, p.clients["bank-b"]), p.client(t, p.clients["bank-a"])
	vTok, hTok := p.token(t, "bank-b", nil, nil), p.token(t, "bank-a", nil, nil)
	res := do(t, victim, "POST", a.addrs["api"]+"/v1/reports", vTok,
		`{"iban":"NL91ABNA0417164300","category":"phishing","amount":{"value":"500","currency":"EUR"}}`, "Idempotency-Key", "frs-1")
	if res.status != 202 {
		t.Fatalf("submit: %d", res.status)
	}
	id := decodeInto[accepted](t, res).ReportID
	rec := a.addrs["api"] + "/v1/reports/" + id + "/recovery"
	for _, s := range []struct {
		c         *http.Client
		tok, path string
		body      string
	}{
		{victim, vTok, "", `{"amount":{"value":"500","currency":"EUR"}}`},
		{holder, hTok, "/hold", `{"amount":{"value":"300","currency":"EUR"}}`},
		{holder, hTok, "/return", `{"amount":{"value":"300","currency":"EUR"},"reference":"R-1"}`},
	} {
		if got := do(t, s.c, "POST", rec+s.path, s.tok, s.body); got.status != 200 && got.status != 201 {
			t.Fatalf("recovery%s: %d %s", s.path, got.status, got.body)
		}
	}
	time.Sleep(1500 * time.Millisecond) // retries against the down store
	a.kill(syscall.SIGKILL)
	setFaults(t, sim, `{}`)
	b := mustServeProc(t, p, rds.Addrs(), forwardEnv(sim)...)
	want := "recovery.requested,recovery.held,recovery.returned"
	var got string
	waitfor.Until(t, "the police store to have the report, then every step in order", 20*time.Second, func() bool {
		var r struct {
			Deliveries int `json:"deliveries"`
			Events     []struct {
				Event string `json:"event"`
			} `json:"events"`
		}
		getJSON(t, sim+"/_sim/reports/"+id, &r)
		var names []string
		for _, e := range r.Events {
			names = append(names, e.Event)
		}
		got = strings.Join(names, ",")
		return r.Deliveries >= 1 && got == want
	})
	waitfor.Until(t, "the victim's feed to have the holder's steps in order", 10*time.Second, func() bool {
		page := decodeInto[eventPage](t, do(t, victim, "GET", b.addrs["api"]+"/v1/events", vTok, ""))
		var types []string
		for _, e := range page.Events {
			types = append(types, e.Type)
		}
		return strings.Join(types, ",") == "recovery.held,recovery.returned"
	})
}

// TestFaultChain (SPEC Part 3, precise point 5): a chain of two hops is
// built while the police store is down, and the gateway that took it is
// killed with SIGKILL while it retries. Once the store is back (and
// another gateway runs), the store refuses the first report (a 4xx) and
// takes the linked ones: each once, each after its source, the first
// linked report although its source was refused. Nothing waits forever on
// a source that the police will never have.
func TestFaultChain(t *testing.T) {
	p := mustPKI(t)
	rds := redistest.StartTopology(t)
	sim := mustSimProc(t).addrs["sim"]
	a := mustServeProc(t, p, rds.Addrs(), forwardEnv(sim)...)
	setFaults(t, sim, `{"down":true,"reject_reference_prefix":"refuse-"}`)
	victim, holder, next := p.client(t, p.clients["bank-b"]), p.client(t, p.clients["bank-a"]), p.client(t, p.clients["bank-c"])
	vTok, hTok, nTok := p.token(t, "bank-b", nil, nil), p.token(t, "bank-a", nil, nil), p.token(t, "bank-c", nil, nil)
	res := do(t, victim, "POST", a.addrs["api"]+"/v1/reports", vTok,
		`{"iban":"NL91ABNA0417164300","category":"phishing","reference":"refuse-root"}`, "Idempotency-Key", "fc-0")
	if res.status != 202 {
		t.Fatalf("submit: %d %s", res.status, res.body)
	}
	ids := []string{decodeInto[accepted](t, res).ReportID}
	at := time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)
	for n, hop := range []struct {
		c         *http.Client
		tok, iban string
		holderOrg string
	}{
		{holder, hTok, "ES9121000418450200051332", "bank-c"},
		{next, nTok, "FR1420041010050500013M02606", "bank-b"},
	} {
		got := do(t, hop.c, "POST", a.addrs["api"]+"/v1/reports/"+ids[n]+"/onward", hop.tok,
			fmt.Sprintf(`{"transfers":[{"iban":%q,"amount":{"value":"100","currency":"EUR"},"at":%q}]}`, hop.iban, at),
			"Idempotency-Key", fmt.Sprint("fc-", n+1))
		if got.status != 201 {
			t.Fatalf("hop %d: %d %s", n+1, got.status, got.body)
		}
		l := decodeInto[onwardOut](t, got).Reports
		if len(l) != 1 || l[0].HolderOrg != hop.holderOrg {
			t.Fatalf("hop %d: %+v", n+1, l)
		}
		ids = append(ids, l[0].ReportID)
	}
	waitfor.Until(t, "the gateway to try the store while it is down", 10*time.Second, func() bool {
		var st struct {
			Dropped int64 `json:"dropped"`
		}
		getJSON(t, sim+"/_sim/stats", &st)
		return st.Dropped > 0
	})
	a.kill(syscall.SIGKILL)
	setFaults(t, sim, `{"reject_reference_prefix":"refuse-"}`)
	b := mustServeProc(t, p, rds.Addrs(), forwardEnv(sim)...)
	waitfor.Until(t, "the store to have both linked reports", 30*time.Second, func() bool {
		got := simReceived(t, sim)
		return got[ids[1]] > 0 && got[ids[2]] > 0
	})
	got := simReceived(t, sim)
	if got[ids[0]] != 0 || got[ids[1]] != 1 || got[ids[2]] != 1 {
		t.Errorf("the store has the refused root %d times, hop 1 %d, hop 2 %d; want 0, 1, 1", got[ids[0]], got[ids[1]], got[ids[2]])
	}
	if simRecord(t, sim, ids[2]).FirstReceivedAt.Before(simRecord(t, sim, ids[1]).FirstReceivedAt) {
		t.Error("hop 2 reached the police store before its source")
	}
	waitfor.Until(t, "the root report to be rejected", 10*time.Second, func() bool {
		return decodeInto[struct {
			Status string `json:"status"`
		}](t, do(t, victim, "GET", b.addrs["api"]+"/v1/reports/"+ids[0], vTok, "")).Status == "rejected"
	})
}

// TestLookupsAnsweredWhileDrainingAreLogged: lookups answered while a
// gateway drains its requests on SIGTERM (a rolling deploy) are in the
// log of who looked an IBAN up, which also decides who hears of a clear,
// and the gateway's last signed checkpoint covers their audit records.
// Redis is frozen so that the lookups are still waiting on it when the
// drain begins; they are answered once it thaws.
func TestLookupsAnsweredWhileDrainingAreLogged(t *testing.T) {
	httpOnly(t) // one Redis of its own in either pass
	p := mustPKI(t)
	rds := redistest.Start(t)
	env := []string{"MULEGATE_FORWARD_WORKERS=0", "MULEGATE_LOG_LEVEL=info", "MULEGATE_API_REQUEST_TIMEOUT=30s",
		"MULEGATE_REDIS_READ_TIMEOUT=30s", "MULEGATE_REDIS_WRITE_TIMEOUT=30s"}
	dir := t.TempDir()
	auditFile, cpKey, cfgPath := filepath.Join(dir, "audit.jsonl"), filepath.Join(dir, "cp.key"), filepath.Join(dir, "mulegate.yaml")
	skey, _, err := note.GenerateKey(crand.Reader, "mulegate/drain-test")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cpKey, []byte(skey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfgPath, []byte(p.config([]string{rds.Addr}, "audit:\n  path: "+auditFile+
		"\nevidence:\n  origin: mulegate/drain-test\n  checkpoint_key_file: "+cpKey+"\n  checkpoint_interval: 200ms\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	a := startProc(t, []string{"serve", "--config", cfgPath}, env, "api", "ops")
	bank, police := p.client(t, p.clients["bank-a"]), p.client(t, p.clients["police-nl"])
	bTok, pTok := p.token(t, "bank-a", nil, nil), p.token(t, "police-nl", nil, nil)
	type lookupsOf struct {
		Orgs []struct {
			Org     string `json:"org"`
			Lookups int    `json:"lookups"`
		} `json:"orgs"`
	}
	if got := do(t, bank, "GET", a.addrs["api"]+"/v1/ibans/DE89370400440532013000", bTok, ""); got.status != 200 {
		t.Fatalf("a first lookup: %d %s", got.status, got.body)
	}
	// Nothing left to flush before Redis freezes: the log's last flush at
	// the drain then has nothing to write, and the lookups below come after.
	waitfor.Until(t, "the first lookup in the log", 5*time.Second, func() bool {
		return len(decodeInto[lookupsOf](t, do(t, police, "GET", a.addrs["api"]+"/v1/ibans/DE89370400440532013000/lookups", pTok, "")).Orgs) == 1
	})
	thaw := rds.Freeze(t)
	const n = 8
	var sent sync.WaitGroup
	answers := make(chan int, n)
	for range n {
		sent.Add(1)
		go func() {
			var once sync.Once
			trace := &httptrace.ClientTrace{WroteRequest: func(httptrace.WroteRequestInfo) { once.Do(sent.Done) }}
			req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), "GET",
				a.addrs["api"]+"/v1/ibans/NL91ABNA0417164300", nil)
			req.Header.Set("Authorization", "Bearer "+bTok)
			resp, err := bank.Do(req)
			once.Do(sent.Done)
			if err != nil {
				answers <- 0
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			answers <- resp.StatusCode
		}()
	}
	sent.Wait()
	waitfor.Until(t, "the lookups to wait on the frozen Redis", 10*time.Second, func() bool { return unreadBytes(t, rds.Addr) > 0 })
	if err := a.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitfor.Until(t, "the drain to begin", 10*time.Second, func() bool { return strings.Contains(a.stderr.String(), "draining requests") })
	thaw()
	answered := 0
	for range n {
		if <-answers == 200 {
			answered++
		}
	}
	select {
	case <-a.done:
	case <-time.After(20 * time.Second):
		t.Fatal("the gateway did not stop after SIGTERM")
	}
	if answered == 0 {
		t.Fatal("no lookup was answered during the drain")
	}
	raw, err := os.ReadFile(auditFile)
	if err != nil {
		t.Fatal(err)
	}
	records := int64(strings.Count(string(raw), "\n"))
	cps, err := os.ReadFile(auditFile + ".checkpoints")
	if err != nil {
		t.Fatal(err)
	}
	all := evidence.SplitCheckpoints(cps)
	if len(all) == 0 {
		t.Fatal("no checkpoint")
	}
	last, err := evidence.ParseCheckpoint(all[len(all)-1].Text)
	if err != nil {
		t.Fatal(err)
	}
	if last.Size != records {
		t.Errorf("the last checkpoint covers %d records of the %d in the trail", last.Size, records)
	}
	b := startProc(t, []string{"serve", "--config", cfgPath}, env, "api", "ops")
	got := decodeInto[lookupsOf](t, do(t, police, "GET", b.addrs["api"]+"/v1/ibans/NL91ABNA0417164300/lookups", pTok, ""))
	if len(got.Orgs) != 1 || got.Orgs[0].Org != "bank-a" || got.Orgs[0].Lookups != answered {
		t.Errorf("who looked the IBAN up: %+v; want bank-a with the %d lookups answered", got.Orgs, answered)
	}
}

// unreadBytes is how many bytes wait in the receive queues of the
// connections to the Redis at addr (127.0.0.1:port): commands a frozen
// Redis has not read.
func unreadBytes(t testing.TB, addr string) int {
	t.Helper()
	_, portText, _ := strings.Cut(addr, ":")
	port, err := strconv.Atoi(portText)
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n")[1:] {
			fs := strings.Fields(line)
			if len(fs) < 5 {
				continue
			}
			_, lp, _ := strings.Cut(fs[1], ":")
			_, rx, _ := strings.Cut(fs[4], ":")
			if p, _ := strconv.ParseUint(lp, 16, 32); int(p) == port {
				q, _ := strconv.ParseUint(rx, 16, 64)
				total += int(q)
			}
		}
	}
	return total
}
