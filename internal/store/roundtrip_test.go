package store_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mulegate/mulegate/internal/domain"
	"github.com/mulegate/mulegate/internal/iban"
	"github.com/mulegate/mulegate/internal/redistest"
	"github.com/mulegate/mulegate/internal/store"
	"github.com/redis/go-redis/v9"
)

// pipelineCounter counts round trips: every command or pipeline a node
// client sends.
type pipelineCounter struct{ trips atomic.Int64 }

func (h *pipelineCounter) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *pipelineCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error { h.trips.Add(1); return next(ctx, cmd) }
}
func (h *pipelineCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error { h.trips.Add(1); return next(ctx, cmds) }
}

// countedClient is a client of the test topology that counts its round
// trips, and how many masters it has.
func countedClient(t *testing.T) (d *redistest.Deployment, rdb redis.UniversalClient, h *pipelineCounter, nodes int) {
	t.Helper()
	d = redistest.StartTopology(t)
	h = &pipelineCounter{}
	rdb = d.NewClient()
	t.Cleanup(func() { rdb.Close() })
	nodes = 1
	switch c := rdb.(type) {
	case *redis.ClusterClient:
		c.OnNewNode(func(n *redis.Client) { n.AddHook(h) })
		nodes = 3
	case *redis.Client:
		c.AddHook(h)
	}
	return d, rdb, h, nodes
}

// TestBatchLookupRoundTrips: a batch of 1,000 IBANs costs one pipelined
// round trip per Redis node (1 on a single Redis, at most 3 on the 3-master
// cluster), not one per IBAN.
func TestBatchLookupRoundTrips(t *testing.T) {
	d, rdb, h, nodes := countedClient(t)
	st, _ := store.New(rdb, store.Options{Secret: secret})
	ctx := context.Background()
	if err := st.LoadScripts(ctx); err != nil {
		t.Fatal(err)
	}
	// Every IBAN has reports (what users look up), spread over the
	// partitions: 89 countries' examples, two reports each from two orgs.
	var ibans []iban.IBAN
	parts := map[int]bool{}
	for n, code := range iban.Countries() {
		i, _ := iban.Parse(iban.Example(code))
		ibans = append(ibans, i)
		_, part := st.Pseudonym(i)
		parts[part] = true
		for _, org := range []string{"bank-a", "market-a"} {
			if _, err := st.Accept(ctx, org, domain.OrgBank, fmt.Sprint("rt-", n), domain.Submission{IBAN: i, Category: "other"}); err != nil {
				t.Fatal(err)
			}
		}
	}
	distinct := len(ibans)
	for len(ibans) < 1000 {
		ibans = append(ibans, ibans[:min(len(ibans), 1000-len(ibans))]...)
	}
	t.Logf("%d distinct IBANs with reports over %d partitions", distinct, len(parts))
	// Warm up: open the connections first, so that their handshakes
	// (HELLO, CLIENT SETINFO) are not counted.
	if _, err := st.LookupMany(ctx, ibans); err != nil {
		t.Fatal(err)
	}
	h.trips.Store(0)
	got, err := st.LookupMany(ctx, ibans)
	if err != nil {
		t.Fatal(err)
	}
	trips := h.trips.Load()
	t.Logf("%s: 1000 IBANs looked up in %d round trips", d, trips)
	if trips > int64(nodes) {
		t.Errorf("1000 IBANs took %d round trips on %d node(s)", trips, nodes)
	}
	for n, c := range got {
		if c.ReportCount != 2 || c.ReporterCount != 2 || c.Windows[1].Reporters != 2 {
			t.Fatalf("IBAN %d: %+v, want 2 reports from 2 orgs", n, c)
		}
	}
}

// TestBatchLookupRoundTripsWithExpiredReports: when every IBAN of a
// batch still holds a report past retention that no write has trimmed,
// the batch still takes one round trip per node, and the counts leave
// the expired reports out.
func TestBatchLookupRoundTripsWithExpiredReports(t *testing.T) {
	_, rdb, h, nodes := countedClient(t)
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	clock, now := testClock(t0)
	st, _ := store.New(rdb, store.Options{Secret: secret, Now: now, Retention: 30 * 24 * time.Hour})
	ctx := context.Background()
	if err := st.LoadScripts(ctx); err != nil {
		t.Fatal(err)
	}
	var ibans []iban.IBAN
	for _, code := range iban.Countries() {
		i, _ := iban.Parse(iban.Example(code))
		ibans = append(ibans, i)
	}
	accept := func(key string, at time.Time) {
		clock.Store(at.UnixMilli())
		for n, i := range ibans {
			if _, err := st.Accept(ctx, "bank-a", domain.OrgBank, fmt.Sprint(key, n), domain.Submission{IBAN: i, Category: "other"}); err != nil {
				t.Fatal(err)
			}
		}
	}
	accept("old-", t0)
	accept("new-", t0.Add(20*24*time.Hour))
	clock.Store(t0.Add(40 * 24 * time.Hour).UnixMilli()) // the old ones expired, nothing trimmed them
	if _, err := st.LookupMany(ctx, ibans); err != nil { // warm up the connections
		t.Fatal(err)
	}
	h.trips.Store(0)
	got, err := st.LookupMany(ctx, ibans)
	if err != nil {
		t.Fatal(err)
	}
	if trips := h.trips.Load(); trips > int64(nodes) {
		t.Errorf("%d IBANs with expired reports took %d round trips on %d node(s), want at most %d", len(ibans), trips, nodes, nodes)
	}
	for n, c := range got {
		if c.ReportCount != 1 {
			t.Fatalf("IBAN %d: %d reports, want 1 (the expired one left out)", n, c.ReportCount)
		}
	}
}
