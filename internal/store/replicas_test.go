package store_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mulegate/mulegate/internal/iban"
	"github.com/mulegate/mulegate/internal/redistest"
	"github.com/mulegate/mulegate/internal/report"
	"github.com/mulegate/mulegate/internal/store"
	"github.com/redis/go-redis/v9"
)

// TestLookupsReadFromReplicas (redis.read_from_replicas): on a cluster
// with one replica per master, lookups and batches through a read-only
// client answer the counts intake wrote (WAIT makes the replicas have
// them before the 202), while a report's own status is never read from a
// replica.
func TestLookupsReadFromReplicas(t *testing.T) {
	if redistest.Topology() != "cluster" {
		t.Skip("runs in the cluster pass of make test (MULEGATE_TEST_TOPOLOGY=cluster)")
	}
	c := redistest.StartCluster(t, 3, 1)
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs()})
	t.Cleanup(func() { rdb.Close() })
	st, err := store.New(rdb, store.Options{Secret: secret, WaitReplicas: 1, WaitTimeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var subs []report.Submission
	for n, raw := range victims {
		s := mustSub(t, raw, "phishing", "")
		subs = append(subs, s)
		for k := range n%3 + 1 {
			// Until a fresh replica has synced, WAIT says unavailable:
			// retry with the same key, as a client does.
			deadline := time.Now().Add(10 * time.Second)
			for {
				_, err := st.Accept(ctx, "bank-a", report.OrgBank, fmt.Sprint(raw, k), s)
				if err == nil {
					break
				}
				if report.ErrorCode(err) != report.CodeUnavailable || time.Now().After(deadline) {
					t.Fatal(err)
				}
				time.Sleep(100 * time.Millisecond)
			}
		}
	}
	// The read client learnt the topology when the replicas may not have
	// joined yet; go-redis refreshes it on its own within seconds.
	for _, node := range c.Nodes[c.Masters:] { // every replica in sync
		cl := redis.NewClient(&redis.Options{Addr: node.Addr})
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			if info := cl.Info(ctx, "replication").Val(); strings.Contains(info, "master_link_status:up") && strings.Contains(info, "master_sync_in_progress:0") {
				break
			}
		}
		cl.Close()
	}
	// A gateway starts on a formed cluster: its read client learns the
	// replicas with its first view of the slots.
	reads := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs(), ReadOnly: true})
	t.Cleanup(func() { reads.Close() })
	if st, err = store.New(rdb, store.Options{Secret: secret, Reads: reads}); err != nil {
		t.Fatal(err)
	}
	hgetalls := func() (masters, replicas int64) {
		for n, s := range c.Nodes {
			cl := redis.NewClient(&redis.Options{Addr: s.Addr})
			info := cl.Info(ctx, "commandstats").Val()
			cl.Close()
			var calls int64
			for _, l := range strings.Split(info, "\r\n") {
				if v, ok := strings.CutPrefix(l, "cmdstat_hgetall:calls="); ok {
					fmt.Sscan(strings.SplitN(v, ",", 2)[0], &calls)
				}
			}
			if n < c.Masters {
				masters += calls
			} else {
				replicas += calls
			}
		}
		return
	}
	resetStats := func() {
		for _, s := range c.Nodes {
			cl := redis.NewClient(&redis.Options{Addr: s.Addr})
			cl.ConfigResetStat(ctx)
			cl.Close()
		}
	}
	resetStats()
	for n, s := range subs {
		got, err := st.Lookup(ctx, s.IBAN)
		if err != nil {
			t.Fatal(err)
		}
		if want := int64(n%3 + 1); got.ReportCount != want || got.Windows[0].Reports != want {
			t.Errorf("%s from a replica: %d reports (7 days: %d), want %d", s.IBAN.Masked(), got.ReportCount, got.Windows[0].Reports, want)
		}
	}
	batch, err := st.LookupMany(ctx, []iban.IBAN{subs[0].IBAN, subs[1].IBAN, subs[2].IBAN})
	if err != nil || batch[1].ReportCount != 2 {
		t.Fatalf("batch from replicas: %v, %+v", err, batch)
	}
	// Which node go-redis picks is its own choice (a replica unless it
	// thinks the replica is loading or failing, or has not learnt the
	// commands' read-only flags yet): the split is logged, not asserted.
	m, r := hgetalls()
	t.Logf("lookups read %d times from masters, %d from replicas", m, r)
	resetStats()
	if _, err := st.ReportStatus(ctx, st.ReportID("bank-a", victims[0]+"0")); err != nil {
		t.Fatal(err)
	}
	if m, r := hgetalls(); m == 0 || r != 0 {
		t.Errorf("a report's status was read %d times from masters and %d from replicas, want the master", m, r)
	}
}
