// Command mulegate-load is a small, bounded load generator for a real
// mulegate over mTLS, kept out of the product binary (a bank's production
// image carries no load tool). It only targets loopback addresses, stops
// after -d or -n (whichever comes first) and prints the rate of 2xx
// answers, latency percentiles and the status mix.
//
//	go run ./cmd/mulegate-load -url https://localhost:8443/v1/ibans/NL91ABNA0417164300 -token "$BANK_TOKEN"
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/mulegate/mulegate/internal/iban"

	"github.com/mulegate/mulegate/internal/pemfile"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if !errors.Is(err, errUsage) {
			fmt.Fprintln(os.Stderr, "mulegate-load:", err)
		}
		os.Exit(1)
	}
}

var errUsage = errors.New("usage")

// options are the load's parameters, checked against the bounds.
type options struct {
	target, method, body      string
	uniqueKey                 bool
	ibans                     int // > 0: {{IBAN}} in the body cycles through this many distinct IBANs
	caFile, certFile, keyFile string
	token                     string
	concurrency               int
	duration                  time.Duration
	maxReq                    int64
	header                    string // one extra "Name: value" header ("" for none)
	http2                     bool   // speak HTTP/2
	h2MaxFrame                int    // the largest HTTP/2 frame read (0: Go's 16 KiB)
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	o, err := parseOptions(args, getenv, stderr)
	if err != nil {
		return err
	}
	client, err := newClient(o)
	if err != nil {
		return err
	}
	r := attack(ctx, client, o)
	fmt.Fprintln(stdout, r.summary())
	return nil
}

func parseOptions(args []string, getenv func(string) string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("mulegate-load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.SetOutput(stderr)
	fs.StringVar(&o.target, "url", "", "full URL, e.g. https://localhost:8443/v1/ibans/NL91ABNA0417164300 (loopback only)")
	fs.StringVar(&o.method, "method", "GET", "HTTP method")
	fs.StringVar(&o.body, "body", "", "request body (sent as application/json)")
	fs.BoolVar(&o.uniqueKey, "idempotency", false, "send a fresh Idempotency-Key with every request")
	fs.IntVar(&o.ibans, "ibans", 0, "replace {{IBAN}} in the body with one of this many distinct valid Dutch IBANs, in turn (spreads reports over partitions)")
	fs.StringVar(&o.caFile, "cacert", ".mulegate-dev/ca.pem", "CA that signed the server certificate")
	fs.StringVar(&o.certFile, "cert", ".mulegate-dev/bank.pem", "client certificate")
	fs.StringVar(&o.keyFile, "key", ".mulegate-dev/bank-key.pem", "client key")
	fs.StringVar(&o.token, "token", "", "bearer token (or MULEGATE_TOKEN)")
	fs.IntVar(&o.concurrency, "c", 32, "concurrent connections")
	fs.DurationVar(&o.duration, "d", 10*time.Second, "how long to run (at most 5m)")
	fs.Int64Var(&o.maxReq, "n", 1_000_000, "stop after this many requests (at most 10,000,000)")
	fs.StringVar(&o.header, "header", "", `one more request header, "Name: value" (e.g. "Prefer: signed")`)
	fs.BoolVar(&o.http2, "http2", false, "speak HTTP/2 (as curl and browsers do) instead of HTTP/1.1")
	fs.IntVar(&o.h2MaxFrame, "h2-max-frame", 0, "with -http2: the largest frame to read, in bytes (0: 16384, Go's and curl's default; the mulegate Go client reads 1048576)")
	if err := fs.Parse(args); err != nil {
		return o, errUsage
	}
	if o.token == "" {
		o.token = getenv("MULEGATE_TOKEN")
	}
	u, err := url.Parse(o.target)
	if err != nil || u.Scheme != "https" {
		return o, errors.New("-url must be an https:// URL")
	}
	if err := mustBeLoopback(u.Hostname()); err != nil {
		return o, err
	}
	if o.duration > 5*time.Minute || o.maxReq > 10_000_000 || o.concurrency < 1 || o.concurrency > 1024 {
		return o, errors.New("load is bounded: -d <= 5m, -n <= 10000000, 1 <= -c <= 1024")
	}
	if o.h2MaxFrame != 0 && (o.h2MaxFrame < 16384 || o.h2MaxFrame >= 1<<24) {
		return o, errors.New("-h2-max-frame must be 0 or from 16384 to 16777215 (RFC 9113)")
	}
	return o, nil
}

func newClient(o options) (*http.Client, error) {
	pool, err := pemfile.CertPool(o.caFile)
	if err != nil {
		return nil, err
	}
	cert, err := pemfile.KeyPair(o.certFile, o.keyFile)
	if err != nil {
		return nil, err
	}
	tr := &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}},
		MaxIdleConnsPerHost: o.concurrency, MaxConnsPerHost: o.concurrency,
		ForceAttemptHTTP2: o.http2,
	}
	if o.h2MaxFrame != 0 {
		tr.HTTP2 = &http.HTTP2Config{MaxReadFrameSize: o.h2MaxFrame}
	}
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}, nil
}

// result is what a load run measured.
type result struct {
	elapsed   time.Duration
	latencies []time.Duration // of 2xx answers only
	statuses  map[int]int64
	errors    int64
}

// summary counts only 2xx answers in the rate and the percentiles: a fast
// stream of 429s or 503s is not throughput.
func (r result) summary() string {
	slices.Sort(r.latencies)
	pct := func(p float64) time.Duration {
		if len(r.latencies) == 0 {
			return 0
		}
		return r.latencies[min(len(r.latencies)-1, int(float64(len(r.latencies))*p))].Round(time.Microsecond)
	}
	var total int64
	for _, n := range r.statuses {
		total += n
	}
	return fmt.Sprintf("ok=%d answered=%d elapsed=%.2fs rate_2xx=%.0f req/s p50=%v p90=%v p99=%v transport_errors=%d statuses=%v",
		len(r.latencies), total, r.elapsed.Seconds(), float64(len(r.latencies))/r.elapsed.Seconds(),
		pct(.50), pct(.90), pct(.99), r.errors, r.statuses)
}

// attack runs o.concurrency workers until the duration or the request
// count is reached.
func attack(ctx context.Context, client *http.Client, o options) result {
	ctx, cancel := context.WithTimeout(ctx, o.duration)
	defer cancel()
	a := &attacker{client: client, o: o, start: time.Now(), statuses: map[int]int64{}, ibans: make([]string, o.ibans)}
	for n := range a.ibans {
		i, _ := iban.FromBBAN("NL", fmt.Sprintf("ABNA%010d", n))
		a.ibans[n] = i.String()
	}
	var wg sync.WaitGroup
	for w := range o.concurrency {
		wg.Go(func() { a.work(ctx, w) })
	}
	wg.Wait()
	return result{elapsed: time.Since(a.start), latencies: a.latencies, statuses: a.statuses, errors: a.errCount.Load()}
}

// attacker is one attack's shared state.
type attacker struct {
	client    *http.Client
	o         options
	start     time.Time
	ibans     []string
	sent      atomic.Int64
	errCount  atomic.Int64
	mu        sync.Mutex
	statuses  map[int]int64
	latencies []time.Duration
}

// work is one worker: it sends until the context ends or the count is
// reached, and adds what it measured to the attack's totals.
func (a *attacker) work(ctx context.Context, w int) {
	local := make([]time.Duration, 0, 4096)
	localStatus := map[int]int64{}
	defer func() {
		a.mu.Lock()
		a.latencies = append(a.latencies, local...)
		for k, v := range localStatus {
			a.statuses[k] += v
		}
		a.mu.Unlock()
	}()
	for ctx.Err() == nil {
		n := a.sent.Add(1)
		if n > a.o.maxReq {
			return
		}
		req, err := a.request(ctx, w, n)
		if err != nil {
			a.errCount.Add(1)
			return
		}
		t0 := time.Now()
		resp, err := a.client.Do(req)
		if err != nil {
			if ctx.Err() == nil {
				a.errCount.Add(1)
			}
			continue
		}
		drain(resp)
		if resp.StatusCode/100 == 2 {
			local = append(local, time.Since(t0))
		}
		localStatus[resp.StatusCode]++
	}
}

// drain reads an answer whole, as the mulegate Go client does: into one
// buffer of its declared length (reads as large as what has arrived), else
// through io.Discard.
func drain(resp *http.Response) {
	if n := resp.ContentLength; n > 0 && n <= 16<<20 {
		_, _ = io.ReadFull(resp.Body, make([]byte, n))
	} else {
		_, _ = io.Copy(io.Discard, resp.Body)
	}
	resp.Body.Close()
}

// request is worker w's n-th request.
func (a *attacker) request(ctx context.Context, w int, n int64) (*http.Request, error) {
	o := a.o
	var rb io.Reader
	if o.body != "" {
		body := o.body
		if len(a.ibans) > 0 {
			body = strings.ReplaceAll(body, "{{IBAN}}", a.ibans[n%int64(len(a.ibans))])
		}
		rb = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, o.method, o.target, rb)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+o.token)
	if o.body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if o.uniqueKey {
		req.Header.Set("Idempotency-Key", fmt.Sprintf("load-%d-%d-%d", a.start.UnixNano(), w, n))
	}
	if name, value, ok := strings.Cut(o.header, ":"); ok {
		req.Header.Set(strings.TrimSpace(name), strings.TrimSpace(value))
	}
	return req, nil
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
