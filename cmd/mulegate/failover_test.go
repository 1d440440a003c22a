package main

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mulegate/mulegate/internal/redistest"
)

// TestFailover kills a Redis Cluster master (3 masters, 1 replica each)
// while reports flow, with and without redis.wait_replicas, and measures
// what was lost, from the two places that matter: reports that got a 202
// but never reached the police store (the outbox entry was lost), and
// reports missing from the IBANs' counts (report_count below the number
// of 202s). With wait_replicas=1 both must be 0; with 0 the numbers are
// reported (an asynchronous replica may miss the last writes). Intake
// must answer 503 (fast) during the failover and recover by itself.
func TestFailover(t *testing.T) {
	if redistest.Topology() != "cluster" {
		t.Skip("runs in the cluster pass of make test (MULEGATE_TEST_TOPOLOGY=cluster)")
	}
	for _, wait := range []string{"0", "1"} {
		t.Run("wait_replicas="+wait, func(t *testing.T) {
			p := mustPKI(t)
			c := redistest.StartCluster(t, 3, 1)
			sim := mustSimProc(t).addrs["sim"]
			gw := mustServeProc(t, p, c.Addrs(), forwardEnv(sim, "MULEGATE_REDIS_WAIT_REPLICAS="+wait)...)
			r := newReporter(t, p)
			ibans := []string{"NL91ABNA0417164300", "DE89370400440532013000", "BE68539007547034",
				"FR1420041010050500013M02606", "GB29NWBK60161331926819", "CH9300762011623852957"}
			var stop atomic.Bool
			var slow, afterKill atomic.Int64
			var mu sync.Mutex
			perIBAN := map[string]int64{}
			var killed atomic.Bool
			var wg sync.WaitGroup
			for w := range 8 {
				wg.Go(func() {
					for i := 0; !stop.Load(); i++ {
						body := fmt.Sprintf(`{"iban":%q,"category":"phishing"}`, ibans[(w+i)%len(ibans)])
						status, took := r.submit(gw.addrs["api"], fmt.Sprintf("fo-%d-%d", w, i), body)
						if status == 503 && took > time.Second {
							slow.Add(1)
						}
						if status == 202 && killed.Load() {
							afterKill.Add(1)
						}
						if status == 202 {
							mu.Lock()
							perIBAN[ibans[(w+i)%len(ibans)]]++
							mu.Unlock()
						}
					}
				})
			}
			time.Sleep(1500 * time.Millisecond)
			c.Nodes[0].Stop() // SIGKILL a master
			killed.Store(true)
			c.WaitOK(t) // its replica has been promoted
			time.Sleep(1500 * time.Millisecond)
			stop.Store(true)
			wg.Wait()

			ids := r.ids()
			client := p.client(t, p.clients["bank-a"])
			client.Transport = client.Transport.(*specCheck).next
			// Counts: every 202 must be counted on its IBAN.
			uncounted := int64(0)
			for _, iban := range ibans {
				var l lookup
				for try := 0; try < 50; try++ {
					got := do(t, client, "GET", gw.addrs["api"]+"/v1/ibans/"+iban, r.token, "")
					if got.status == 200 {
						l = decodeInto[lookup](t, got)
						break
					}
					time.Sleep(100 * time.Millisecond)
				}
				if l.ReportCount < perIBAN[iban] {
					uncounted += perIBAN[iban] - l.ReportCount
				}
			}
			// Delivery: every 202 must reach the police store.
			deadline := time.Now().Add(20 * time.Second)
			undelivered := 0
			for {
				got := simReceived(t, sim)
				undelivered = 0
				for _, id := range ids {
					if got[id] == 0 {
						undelivered++
					}
				}
				if undelivered == 0 || time.Now().After(deadline) {
					break
				}
				time.Sleep(250 * time.Millisecond)
			}
			t.Logf("wait_replicas=%s: %d reports accepted (202); lost in the failover: %d never reached the police store, %d missing from the counts; statuses %v",
				wait, len(ids), undelivered, uncounted, r.statuses)
			if wait == "1" && (undelivered > 0 || uncounted > 0) {
				t.Errorf("acknowledged reports lost with wait_replicas=1: %d undelivered, %d uncounted", undelivered, uncounted)
			}
			for status := range r.statuses {
				if status != 202 && status != 503 {
					t.Errorf("status %d during the failover (%v)", status, r.statuses)
				}
			}
			if slow.Load() > 0 {
				t.Errorf("%d 503 answers took more than a second", slow.Load())
			}
			if afterKill.Load() == 0 {
				t.Error("intake did not recover after the failover")
			}
		})
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
