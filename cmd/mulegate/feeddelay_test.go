package main

import (
	"flag"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/mulegate/mulegate/internal/iban"
)

var feedDelayN = flag.Int("feeddelay", 0, "TestFeedDelay: reports to time from the 202 to report.received in the holder's stream (0: skip)")

// TestFeedDelay measures how long after its 202 a report reaches the
// holding bank's event stream (SSE), over real mTLS with a real Redis. A
// measurement, not a check:
//
//	go test ./cmd/mulegate -run TestFeedDelay -v -args -feeddelay=500
func TestFeedDelay(t *testing.T) {
	if *feedDelayN == 0 {
		t.Skip("measurement only: pass -feeddelay N")
	}
	p := mustPKI(t)
	sim := mustSimProc(t).addrs["sim"]
	gw := mustGateway(t, p, mustRedisAddrs(t), "", "MULEGATE_POLICE_URL", sim, "MULEGATE_FORWARD_WORKERS", "4")
	market, bankA := p.client(t, p.clients["market-a"]), p.client(t, p.clients["bank-a"])
	market.Transport = market.Transport.(*specCheck).next // measure the gateway, not the test's OpenAPI check
	mTok, aTok := p.token(t, "market-a", nil, nil), p.token(t, "bank-a", nil, nil)
	ch, cancel := openStream(t, bankA, gw.api+"/v1/events/stream?types=report.received", aTok, "")
	defer cancel()
	var mu sync.Mutex
	acceptedAt := map[string]time.Time{}
	arrived := map[string]time.Time{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev := range ch {
			mu.Lock()
			arrived[ev.reportID()] = time.Now()
			n := len(arrived)
			mu.Unlock()
			if n == *feedDelayN {
				return
			}
		}
	}()
	for n := range *feedDelayN {
		sent := time.Now()
		res := do(t, market, "POST", gw.api+"/v1/reports", mTok, fmt.Sprintf(`{"iban":%q,"category":"phishing"}`, nlIBANText(n)), "Idempotency-Key", fmt.Sprint("delay-", n))
		if res.status != 202 {
			t.Fatalf("submit: %d", res.status)
		}
		mu.Lock()
		acceptedAt[decodeInto[accepted](t, res).ReportID] = sent.Add(time.Since(sent)) // when the 202 was read
		mu.Unlock()
		time.Sleep(5 * time.Millisecond)
	}
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatalf("only %d of %d events arrived", len(arrived), *feedDelayN)
	}
	mu.Lock()
	var delays []time.Duration
	for id, at := range acceptedAt {
		if got, ok := arrived[id]; ok {
			delays = append(delays, max(0, got.Sub(at)))
		}
	}
	mu.Unlock()
	slices.Sort(delays)
	pct := func(q float64) time.Duration { return delays[min(len(delays)-1, int(float64(len(delays))*q))] }
	t.Logf("%d reports: 202 -> report.received in the holder's SSE stream: p50 %v, p99 %v, max %v",
		len(delays), pct(.5).Round(100*time.Microsecond), pct(.99).Round(100*time.Microsecond), delays[len(delays)-1].Round(100*time.Microsecond))
}

// nlIBANText is the n-th valid Dutch ABNA IBAN (bank-a holds ABNA).
func nlIBANText(n int) string {
	acct := fmt.Sprintf("%010d", n)
	for cd := 2; cd <= 98; cd++ {
		s := fmt.Sprintf("NL%02dABNA%s", cd, acct)
		if _, err := iban.Parse(s); err == nil {
			return s
		}
	}
	panic("no check digits")
}
