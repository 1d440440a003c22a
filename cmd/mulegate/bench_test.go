package main

import (
	"fmt"
	"slices"
	"sync"
	"time"

	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/mulegate/mulegate/internal/iban"
)

// The end-to-end benchmarks drive the real server (through run) over mTLS
// with keep-alive connections, against a real redis-server, with parallel
// clients. They measure what a client sees: TLS record layer, Gin, token
// cache, one Redis round trip. The spec check of the test client is left
// out so that only the server is measured.

func benchClient(b *testing.B, e *env, org string) *http.Client {
	c := e.p.client(b, e.p.clients[org])
	c.Transport = c.Transport.(*specCheck).next
	return c
}

func BenchmarkLookupE2E(b *testing.B) {
	e := mustEnv(b)
	c := benchClient(b, e, "bank-a")
	tok := e.p.token(b, "bank-a", nil, nil)
	url := e.gw.api + "/v1/ibans/" + ibanNL
	b.ReportAllocs()
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		req, _ := http.NewRequest("GET", url, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		for pb.Next() {
			if !benchDo(b, c, req, 200) {
				return
			}
		}
	})
}

func BenchmarkIntakeE2E(b *testing.B) {
	e := mustEnv(b)
	c := benchClient(b, e, "bank-a")
	tok := e.p.token(b, "bank-a", nil, nil)
	var n atomic.Int64
	b.ReportAllocs()
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			k := n.Add(1)
			req, _ := http.NewRequest("POST", e.gw.api+"/v1/reports",
				strings.NewReader(`{"iban":"NL91ABNA0417164300","category":"phishing","reference":"bench"}`))
			req.Header.Set("Authorization", "Bearer "+tok)
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Idempotency-Key", fmt.Sprint("bench-", k))
			if !benchDo(b, c, req, 202) {
				return
			}
		}
	})
}

// BenchmarkBatchLookup1000E2E: a batch of 1000 distinct IBANs that all
// have reports (one to three each, from two orgs), spread over every
// partition, as a bank's nightly screening would send. It reports the
// median and p99 of the whole request as a client sees it.
func BenchmarkBatchLookup1000E2E(b *testing.B) {
	e := mustEnv(b)
	c := benchClient(b, e, "bank-a")
	tok := e.p.token(b, "bank-a", nil, nil)
	ibans := make([]string, 1000)
	reporters := map[string]*http.Client{"bank-a": c, "bank-b": benchClient(b, e, "bank-b")}
	tokens := map[string]string{"bank-a": tok, "bank-b": e.p.token(b, "bank-b", nil, nil)}
	var seeded atomic.Int64
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for n := w; n < len(ibans); n += 8 {
				i, err := iban.FromBBAN("NL", fmt.Sprintf("ABNA%010d", 7_000_000+n))
				if err != nil {
					b.Error(err)
					return
				}
				ibans[n] = `"` + i.String() + `"`
				for k := range n%3 + 1 {
					org := []string{"bank-a", "bank-b"}[k%2]
					req, _ := http.NewRequest("POST", e.gw.api+"/v1/reports", strings.NewReader(`{"iban":`+ibans[n]+`,"category":"phishing"}`))
					req.Header.Set("Authorization", "Bearer "+tokens[org])
					req.Header.Set("Content-Type", "application/json")
					req.Header.Set("Idempotency-Key", fmt.Sprint("batch-", n, "-", k))
					if benchDo(b, reporters[org], req, 202) {
						seeded.Add(1)
					}
				}
			}
		})
	}
	wg.Wait()
	if seeded.Load() != 1999 { // 1000 IBANs with 1, 2, 3, 1, 2, 3 … reports
		b.Fatalf("seeded %d reports", seeded.Load())
	}
	body := `{"ibans":[` + strings.Join(ibans, ",") + `]}`
	// Two clients: Go's default transport over HTTP/2 (16 KiB frames, the
	// answer drained 8 KiB at a time, as curl's frames), and one that
	// reads as the mulegate Go client does (frames of up to 1 MiB, the
	// answer read whole).
	mg := benchClient(b, e, "bank-a")
	tr := mg.Transport.(*http.Transport).Clone()
	tr.HTTP2 = &http.HTTP2Config{MaxReadFrameSize: 1 << 20}
	b.Cleanup(tr.CloseIdleConnections)
	mg.Transport = tr
	for _, v := range []struct {
		name string
		c    *http.Client
		do   func(*testing.B, *http.Client, *http.Request, int) bool
	}{{"go-default", c, benchDo}, {"mulegate-client", mg, benchDoWhole}} {
		b.Run(v.name, func(b *testing.B) {
			var took []time.Duration
			b.ReportAllocs()
			for b.Loop() {
				req, _ := http.NewRequest("POST", e.gw.api+"/v1/ibans/lookup", strings.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+tok)
				req.Header.Set("Content-Type", "application/json")
				start := time.Now()
				if !v.do(b, v.c, req, 200) {
					return
				}
				took = append(took, time.Since(start))
			}
			slices.Sort(took)
			b.ReportMetric(float64(took[len(took)/2].Microseconds())/1000, "p50_ms")
			b.ReportMetric(float64(took[len(took)*99/100].Microseconds())/1000, "p99_ms")
		})
	}
}

// benchDo sends one request, drains its answer and reports whether it
// got the wanted status.
func benchDo(b *testing.B, c *http.Client, req *http.Request, want int) bool {
	return benchDoRead(b, c, req, want, func(resp *http.Response) error {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	})
}

// benchDoWhole is benchDo reading the answer whole into a buffer of its
// Content-Length, as the mulegate Go client does.
func benchDoWhole(b *testing.B, c *http.Client, req *http.Request, want int) bool {
	return benchDoRead(b, c, req, want, func(resp *http.Response) error {
		if n := resp.ContentLength; n > 0 && n <= 16<<20 {
			_, err := io.ReadFull(resp.Body, make([]byte, n))
			return err
		}
		_, err := io.Copy(io.Discard, resp.Body)
		return err
	})
}

func benchDoRead(b *testing.B, c *http.Client, req *http.Request, want int, read func(*http.Response) error) bool {
	resp, err := c.Do(req)
	if err != nil {
		b.Error(err)
		return false
	}
	err = read(resp)
	resp.Body.Close()
	if err != nil || resp.StatusCode != want {
		b.Errorf("status %d (want %d), %v", resp.StatusCode, want, err)
		return false
	}
	return true
}
