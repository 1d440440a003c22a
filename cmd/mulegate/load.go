package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// cmdLoad is a small, bounded load generator for the real server over
// mTLS. It only targets loopback addresses, stops after --duration or
// --requests (whichever comes first) and prints throughput, latency
// percentiles and the status counts.
func cmdLoad(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	target := fs.String("url", "", "full URL, e.g. https://localhost:8443/v1/ibans/NL91ABNA0417164300 (loopback only)")
	method := fs.String("method", "GET", "HTTP method")
	body := fs.String("body", "", "request body (sent as application/json)")
	uniqueKey := fs.Bool("idempotency", false, "send a fresh Idempotency-Key with every request")
	caFile := fs.String("cacert", ".mulegate-dev/ca.pem", "CA that signed the server certificate")
	certFile := fs.String("cert", ".mulegate-dev/bank.pem", "client certificate")
	keyFile := fs.String("key", ".mulegate-dev/bank-key.pem", "client key")
	token := fs.String("token", "", "bearer token (or MULEGATE_TOKEN)")
	concurrency := fs.Int("c", 32, "concurrent connections")
	duration := fs.Duration("d", 10*time.Second, "how long to run (at most 5m)")
	maxReq := fs.Int64("n", 1_000_000, "stop after this many requests (at most 10,000,000)")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if *token == "" {
		*token = os.Getenv("MULEGATE_TOKEN")
	}
	u, err := url.Parse(*target)
	if err != nil || u.Scheme != "https" {
		return errors.New("--url must be an https:// URL")
	}
	if err := mustBeLoopback(u.Hostname()); err != nil {
		return err
	}
	if *duration > 5*time.Minute || *maxReq > 10_000_000 || *concurrency < 1 || *concurrency > 1024 {
		return errors.New("load is bounded: -d <= 5m, -n <= 10000000, 1 <= -c <= 1024")
	}
	caPEM, err := os.ReadFile(*caFile)
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	cert, err := tls.LoadX509KeyPair(*certFile, *keyFile)
	if err != nil {
		return err
	}
	tr := &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}},
		MaxIdleConnsPerHost: *concurrency, MaxConnsPerHost: *concurrency,
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}

	ctx, cancel := context.WithTimeout(ctx, *duration)
	defer cancel()
	var sent atomic.Int64
	var mu sync.Mutex
	statuses := map[int]int64{}
	var latencies []time.Duration
	var errCount atomic.Int64
	start := time.Now()
	var wg sync.WaitGroup
	for w := range *concurrency {
		wg.Go(func() {
			local := make([]time.Duration, 0, 4096)
			localStatus := map[int]int64{}
			defer func() {
				mu.Lock()
				latencies = append(latencies, local...)
				for k, v := range localStatus {
					statuses[k] += v
				}
				mu.Unlock()
			}()
			for ctx.Err() == nil {
				n := sent.Add(1)
				if n > *maxReq {
					return
				}
				var rb io.Reader
				if *body != "" {
					rb = strings.NewReader(*body)
				}
				req, _ := http.NewRequestWithContext(ctx, *method, *target, rb)
				req.Header.Set("Authorization", "Bearer "+*token)
				if *body != "" {
					req.Header.Set("Content-Type", "application/json")
				}
				if *uniqueKey {
					req.Header.Set("Idempotency-Key", fmt.Sprintf("load-%d-%d-%d", start.UnixNano(), w, n))
				}
				t0 := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					if ctx.Err() == nil {
						errCount.Add(1)
					}
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				local = append(local, time.Since(t0))
				localStatus[resp.StatusCode]++
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	slices.Sort(latencies)
	pct := func(p float64) time.Duration {
		if len(latencies) == 0 {
			return 0
		}
		return latencies[min(len(latencies)-1, int(float64(len(latencies))*p))]
	}
	fmt.Fprintf(stdout, "requests=%d elapsed=%.2fs rate=%.0f req/s p50=%v p90=%v p99=%v errors=%d statuses=%v\n",
		len(latencies), elapsed.Seconds(), float64(len(latencies))/elapsed.Seconds(),
		pct(.50).Round(time.Microsecond), pct(.90).Round(time.Microsecond), pct(.99).Round(time.Microsecond),
		errCount.Load(), statuses)
	return nil
}

// mustBeLoopback refuses any target that is not this machine.
func mustBeLoopback(host string) error {
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("load only targets loopback addresses (127.0.0.0/8, ::1, localhost), not %q", host)
	}
	return nil
}
