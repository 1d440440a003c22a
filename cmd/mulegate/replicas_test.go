package main

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/mulegate/mulegate/internal/redistest"
)

// TestThreeReplicas runs three gateway processes on one Redis (a Redis
// Cluster in the cluster pass): 50 clients spread over them submit 1,000
// distinct reports for one IBAN and the count is exactly 1,000, and an
// alert posted through one replica reaches a bank's SSE stream on another.
func TestThreeReplicas(t *testing.T) {
	p := mustPKI(t)
	rds := redistest.StartTopology(t)
	var gws []*proc
	for range 3 {
		gws = append(gws, mustServeProc(t, p, rds.Addrs(), "MULEGATE_API_REQUEST_TIMEOUT=10s"))
	}
	r := newReporter(t, p)
	var wg sync.WaitGroup
	var failed atomic.Int64
	for w := range 50 {
		api := gws[w%3].addrs["api"]
		wg.Go(func() {
			for i := range 20 {
				if status, _ := r.submit(api, fmt.Sprintf("rep-%d-%d", w, i), `{"iban":"NL91ABNA0417164300","category":"phishing"}`); status != 202 {
					failed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if failed.Load() > 0 {
		t.Fatalf("%d submissions failed: %v", failed.Load(), r.statuses)
	}
	c := p.client(t, p.clients["bank-a"])
	for _, gw := range gws {
		l := decodeInto[lookup](t, do(t, c, "GET", gw.addrs["api"]+"/v1/ibans/"+ibanNL, r.token, ""))
		if l.ReportCount != 1000 {
			t.Errorf("replica %s sees %d reports, want 1000", gw.addrs["api"], l.ReportCount)
		}
	}

	ch, cancel := openStream(t, c, gws[2].addrs["api"]+"/v1/alerts/stream", r.token, "")
	defer cancel()
	police := p.client(t, p.clients["police-nl"])
	got := do(t, police, "POST", gws[0].addrs["api"]+"/v1/alerts", p.token(t, "police-nl", nil, nil),
		`{"iban":"NL91ABNA0417164300","severity":"critical","message":"across replicas","reference":"r"}`)
	if got.status != 201 {
		t.Fatalf("post alert: %d %s", got.status, got.body)
	}
	if ev := nextEvent(t, ch); !strings.Contains(ev.data, "across replicas") {
		t.Fatalf("stream on replica 3 got %+v", ev)
	}
}
