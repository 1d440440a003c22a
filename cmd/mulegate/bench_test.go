package main

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
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

func BenchmarkBatchLookup100E2E(b *testing.B) {
	e := mustEnv(b)
	c := benchClient(b, e, "bank-a")
	tok := e.p.token(b, "bank-a", nil, nil)
	ibans := make([]string, 100)
	for i := range ibans {
		ibans[i] = `"NL91ABNA0417164300"`
	}
	body := `{"ibans":[` + strings.Join(ibans, ",") + `]}`
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		req, _ := http.NewRequest("POST", e.gw.api+"/v1/ibans/lookup", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		if !benchDo(b, c, req, 200) {
			return
		}
	}
}

// benchDo sends one request and reports whether it got the wanted status.
func benchDo(b *testing.B, c *http.Client, req *http.Request, want int) bool {
	resp, err := c.Do(req)
	if err != nil {
		b.Error(err)
		return false
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != want {
		b.Errorf("status %d, want %d", resp.StatusCode, want)
		return false
	}
	return true
}
