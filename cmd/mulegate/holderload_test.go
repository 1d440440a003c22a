package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mulegate/mulegate/internal/iban"
)

var (
	holderRate    = flag.Int("holder-rate", 0, "TestHolderKeepsUp: reports per second to sustain (0: skip)")
	holderSeconds = flag.Int("holder-seconds", 30, "TestHolderKeepsUp: for how long")
	holderIBANs   = flag.Int("holder-ibans", 300, "TestHolderKeepsUp: distinct IBANs, a third per holder (0: a new IBAN for every report)")
	holderGWs     = flag.Int("holder-gateways", 1, "TestHolderKeepsUp: gateways on the one Redis, the reports spread over them")
)

// TestHolderKeepsUp is the holder loop's sustained-rate benchmark (issue
// 29): a marketplace reports IBANs held by three banks (300 IBANs by
// default, spread over partitions, each reported again and again; or a
// new IBAN every time) at a steady rate
// through the API, and each bank follows its event stream; it reports
// the intake rate reached, the rate report.received events reached the
// banks, and p50/p99/max of 202 -> report.received. A measurement, not a
// check:
//
//	go test ./cmd/mulegate -run TestHolderKeepsUp -v -args -holder-rate 2000 -holder-seconds 30 [-holder-ibans 0]
//	MULEGATE_TEST_TOPOLOGY=cluster go test … (a 3-master cluster) … -holder-gateways 2
func TestHolderKeepsUp(t *testing.T) {
	if *holderRate == 0 {
		t.Skip("measurement only: pass -holder-rate N")
	}
	p := mustPKI(t)
	sim := mustSimProc(t).addrs["sim"]
	rds := mustRedisAddrs(t)
	var gws []*gateway
	for range max(1, *holderGWs) {
		gws = append(gws, mustGateway(t, p, rds, "", "MULEGATE_POLICE_URL", sim, "MULEGATE_FORWARD_WORKERS", "4"))
	}
	gw := gws[0]
	market := p.client(t, p.clients["market-a"])
	market.Transport = market.Transport.(*specCheck).next // measure the gateway, not the test's OpenAPI check
	mTok := p.token(t, "market-a", nil, nil)

	// The IBANs, a third for each holder.
	distinct := *holderIBANs
	if distinct == 0 {
		distinct = *holderRate * *holderSeconds
	}
	var ibans []string
	for n := range (distinct + 2) / 3 {
		for _, bban := range [][2]string{{"NL", fmt.Sprintf("ABNA%010d", 7_000_000+n)}, {"CH", fmt.Sprintf("00762%012d", 7_000_000+n)},
			{"GB", fmt.Sprintf("NWBK601613%08d", 7_000_000+n)}} {
			i, err := iban.FromBBAN(bban[0], bban[1])
			if err != nil {
				t.Fatalf("%s %s: %v", bban[0], bban[1], err)
			}
			ibans = append(ibans, i.String())
		}
	}
	var mu sync.Mutex
	sent, arrived := map[string]time.Time{}, map[string]time.Time{}
	for _, bank := range []string{"bank-a", "bank-b", "bank-c"} {
		sc := p.client(t, p.clients[bank])
		sc.Timeout = 0 // a stream outlives the client's 30 s request timeout
		ch, cancel := openStream(t, sc, gw.api+"/v1/events/stream?types=report.received", p.token(t, bank, nil, nil), "")
		t.Cleanup(cancel)
		go func() {
			for ev := range ch {
				at := time.Now()
				mu.Lock()
				arrived[ev.reportID()] = at
				mu.Unlock()
			}
		}()
	}
	total := *holderRate * *holderSeconds
	const workers = 32
	interval := time.Duration(workers) * time.Second / time.Duration(*holderRate)
	start := time.Now()
	var wg sync.WaitGroup
	var failed sync.Map
	for w := range workers {
		wg.Go(func() {
			next := start.Add(time.Duration(w) * interval / workers)
			for k := w; k < total; k += workers {
				time.Sleep(time.Until(next))
				next = next.Add(interval)
				req, _ := http.NewRequest("POST", gws[k%len(gws)].api+"/v1/reports", strings.NewReader(`{"iban":"`+ibans[k%len(ibans)]+`","category":"phishing"}`))
				req.Header.Set("Authorization", "Bearer "+mTok)
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Idempotency-Key", fmt.Sprint("hold-", k))
				resp, err := market.Do(req)
				if err != nil {
					failed.Store(k, err.Error())
					continue
				}
				var a accepted
				_ = json.NewDecoder(resp.Body).Decode(&a)
				resp.Body.Close()
				at := time.Now()
				if resp.StatusCode != 202 {
					failed.Store(k, resp.Status)
					continue
				}
				mu.Lock()
				sent[a.ReportID] = at
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	intakeTook := time.Since(start)
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		mu.Lock()
		n := len(arrived)
		mu.Unlock()
		if n >= len(sent) {
			break
		}
		time.Sleep(100 * time.Millisecond) // polling: the events arrive on their own streams
	}
	mu.Lock()
	defer mu.Unlock()
	var delays []time.Duration
	var last time.Time
	missing := 0
	for id, at := range sent {
		got, ok := arrived[id]
		if !ok {
			missing++
			continue
		}
		delays = append(delays, max(0, got.Sub(at)))
		if got.After(last) {
			last = got
		}
	}
	fails := 0
	failed.Range(func(any, any) bool { fails++; return true })
	slices.Sort(delays)
	if len(delays) == 0 {
		t.Fatalf("no event arrived (%d reports accepted, %d failed)", len(sent), fails)
	}
	if missing > 0 { // in the feeds, or lost? Read them through the API.
		inFeeds := 0
		for _, bank := range []string{"bank-a", "bank-b", "bank-c"} {
			c, tok, after := p.client(t, p.clients[bank]), p.token(t, bank, nil, nil), ""
			c.Transport = c.Transport.(*specCheck).next
			for {
				res := do(t, c, "GET", gw.api+"/v1/events?types=report.received&limit=1000&after="+after, tok, "")
				page := decodeInto[struct {
					Events []struct {
						Data struct {
							ReportID string `json:"report_id"`
						} `json:"data"`
					} `json:"events"`
					NextCursor string `json:"next_cursor"`
				}](t, res)
				for _, e := range page.Events {
					if _, ok := sent[e.Data.ReportID]; ok {
						if _, streamed := arrived[e.Data.ReportID]; !streamed {
							inFeeds++
						}
					}
				}
				if len(page.Events) == 0 {
					break
				}
				after = page.NextCursor
			}
		}
		t.Logf("of the %d missing from the streams, %d are in the feeds (read after the run)", missing, inFeeds)
	}
	pct := func(q float64) time.Duration { return delays[min(len(delays)-1, int(float64(len(delays))*q))] }
	t.Logf("%d reports accepted in %.1fs (%.0f/s asked, %.0f/s reached, %d failed); report.received: %d arrived, %d missing, %.0f events/s (first 202 to last event); 202 -> event p50 %v, p99 %v, max %v",
		len(sent), intakeTook.Seconds(), float64(*holderRate), float64(len(sent))/intakeTook.Seconds(), fails, len(delays), missing,
		float64(len(delays))/last.Sub(start).Seconds(), pct(.5).Round(100*time.Microsecond), pct(.99).Round(100*time.Microsecond),
		delays[len(delays)-1].Round(100*time.Microsecond))
}
