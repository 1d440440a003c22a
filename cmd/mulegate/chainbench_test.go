package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mulegate/mulegate/internal/iban"
)

// BenchmarkUpstreamDelayUnderLoad measures how long a source report's
// confirmation takes to reach the lookup of the IBAN its money went on to
// (SPEC Part 3: within 10 seconds), while the gateway takes reports at a
// steady rate from another bank (MULEGATE_BENCH_RATE a second, 1000 by
// default), each routed to its holder through the same holders' relay
// that carries the chain words. Each iteration: a victim's bank reports
// an account, its holder reports where the money went, then closes the
// first report agreed; the clock runs from the close's 200 until a lookup
// of the onward IBAN (polled every 2 ms) says confirmed_upstream. It
// reports the delay's p50 and p99 and the intake rate it reached.
//
//	go test ./cmd/mulegate -run '^$' -bench UpstreamDelayUnderLoad -benchtime 100x
//	MULEGATE_TEST_TOPOLOGY=cluster go test ./cmd/mulegate -run '^$' -bench UpstreamDelayUnderLoad -benchtime 100x
func BenchmarkUpstreamDelayUnderLoad(b *testing.B) {
	p := mustPKI(b)
	sim := mustSimProc(b).addrs["sim"]
	gw := mustGateway(b, p, mustRedisAddrs(b), "", "MULEGATE_POLICE_URL", sim, "MULEGATE_FORWARD_WORKERS", "4")
	rate := 1000
	if v, err := strconv.Atoi(os.Getenv("MULEGATE_BENCH_RATE")); err == nil && v > 0 {
		rate = v
	}
	victim, holder := benchOrg(b, p, "bank-b"), benchOrg(b, p, "bank-a")
	ctx, stop := context.WithCancel(context.Background())
	loaded := benchLoad(ctx, b, gw.api, victim, rate)
	var delays []time.Duration
	start := time.Now()
	n := 0
	for b.Loop() {
		n++
		delays = append(delays, upstreamDelay(b, gw.api, victim, holder, n))
	}
	took := time.Since(start)
	stop()
	slices.Sort(delays)
	b.ReportMetric(float64(delays[len(delays)/2].Microseconds())/1000, "p50_ms")
	b.ReportMetric(float64(delays[len(delays)*99/100].Microseconds())/1000, "p99_ms")
	b.ReportMetric(float64(loaded.Load())/took.Seconds(), "intake/s")
}

// benchOrgClient is an org's client and token for a benchmark.
type benchOrgClient struct {
	c   *http.Client
	tok string
}

func benchOrg(b *testing.B, p *pki, org string) benchOrgClient {
	c := p.client(b, p.clients[org])
	c.Transport = c.Transport.(*specCheck).next
	return benchOrgClient{c, p.token(b, org, nil, nil)}
}

func (o benchOrgClient) send(b *testing.B, method, url, body string, want int, h ...string) []byte {
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+o.tok)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k := 0; k+1 < len(h); k += 2 {
		req.Header.Set(h[k], h[k+1])
	}
	resp, err := o.c.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		b.Fatal(err)
	}
	if resp.StatusCode != want {
		b.Fatalf("%s %s: %d %s", method, url, resp.StatusCode, out)
	}
	return out
}

// benchLoad reports distinct IBANs held by bank-a as bank-b at rate a
// second, from 8 workers, until ctx ends (at most 10 minutes' worth); it
// counts the 202s.
func benchLoad(ctx context.Context, b *testing.B, api string, o benchOrgClient, rate int) *atomic.Int64 {
	var done atomic.Int64
	var wg sync.WaitGroup
	const workers = 8
	interval := time.Duration(workers) * time.Second / time.Duration(rate)
	for w := range workers {
		wg.Go(func() {
			next := time.Now()
			for k := 0; k < rate*600/workers && ctx.Err() == nil; k++ {
				if d := time.Until(next); d > 0 {
					select {
					case <-ctx.Done():
						return
					case <-time.After(d):
					}
				}
				next = next.Add(interval)
				i, _ := iban.FromBBAN("NL", fmt.Sprintf("ABNA%010d", 5_000_000+k*workers+w))
				req, _ := http.NewRequest("POST", api+"/v1/reports", strings.NewReader(`{"iban":"`+i.String()+`","category":"phishing"}`))
				req.Header.Set("Authorization", "Bearer "+o.tok)
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Idempotency-Key", fmt.Sprint("load-", w, "-", k))
				resp, err := o.c.Do(req)
				if err != nil {
					continue
				}
				if resp.StatusCode == 202 {
					done.Add(1)
				}
				resp.Body.Close()
			}
		})
	}
	b.Cleanup(wg.Wait)
	return &done
}

// upstreamDelay builds one two-report chain and measures its confirmation's
// way to the onward IBAN's lookup.
func upstreamDelay(b *testing.B, api string, victim, holder benchOrgClient, n int) time.Duration {
	src, _ := iban.FromBBAN("NL", fmt.Sprintf("ABNA%010d", 9_000_000+n))
	dst, _ := iban.FromBBAN("DE", fmt.Sprintf("37040044%010d", 9_000_000+n))
	var acc accepted
	_ = json.Unmarshal(victim.send(b, "POST", api+"/v1/reports", `{"iban":"`+src.String()+`","category":"phishing"}`, 202,
		"Idempotency-Key", fmt.Sprint("chain-src-", n)), &acc)
	at := time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)
	holder.send(b, "POST", api+"/v1/reports/"+acc.ReportID+"/onward",
		`{"transfers":[{"iban":"`+dst.String()+`","amount":{"value":"500","currency":"EUR"},"at":"`+at+`"}]}`, 201,
		"Idempotency-Key", fmt.Sprint("chain-on-", n))
	holder.send(b, "POST", api+"/v1/reports/"+acc.ReportID+"/close", `{"result":"agreed","fraud_type":"mule_account"}`, 200)
	closed := time.Now()
	for time.Since(closed) < 30*time.Second {
		if strings.Contains(string(victim.send(b, "GET", api+"/v1/ibans/"+dst.String(), "", 200)), `"confirmed_upstream":true`) {
			return time.Since(closed)
		}
		time.Sleep(2 * time.Millisecond)
	}
	b.Fatalf("chain %d: not confirmed 30 s after the close", n)
	return 0
}
