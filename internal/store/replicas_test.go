package store_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mulegate/mulegate/internal/domain"
	"github.com/mulegate/mulegate/internal/iban"
	"github.com/mulegate/mulegate/internal/redistest"
	"github.com/mulegate/mulegate/internal/store"
	"github.com/redis/go-redis/v9"
)

// TestLookupsReadFromReplicas (redis.read_from_replicas): on a cluster
// with one replica per master, lookups and batches are answered by the
// replicas, with the counts intake wrote (WAIT makes the replicas have
// them before the 202), while a report's own status is read from its
// master.
func TestLookupsReadFromReplicas(t *testing.T) {
	if redistest.Topology() != "cluster" {
		t.Skip("runs in the cluster pass of make test (MULEGATE_TEST_TOPOLOGY=cluster)")
	}
	c := redistest.StartCluster(t, 3, 1)
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs()})
	reads := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs(), ReadOnly: true})
	t.Cleanup(func() { rdb.Close(); reads.Close() })
	st, err := store.New(rdb, store.Options{Secret: secret, WaitReplicas: 1, WaitTimeout: 500 * time.Millisecond, Reads: reads})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var subs []domain.Submission
	for n, raw := range victims {
		s := mustSub(t, raw, "phishing", "")
		subs = append(subs, s)
		for k := range n%3 + 1 {
			// Until a fresh replica has synced, WAIT says unavailable:
			// retry with the same key, as a client does.
			deadline := time.Now().Add(10 * time.Second)
			for {
				_, err := st.Accept(ctx, "bank-a", domain.OrgBank, fmt.Sprint(raw, k), s)
				if err == nil {
					break
				}
				if domain.ErrorCode(err) != domain.CodeUnavailable || time.Now().After(deadline) {
					t.Fatal(err)
				}
				time.Sleep(100 * time.Millisecond)
			}
		}
	}
	// The read client learnt the topology when the replicas may not have
	// joined yet; go-redis refreshes it on its own within seconds.
	calls := func(cmds ...string) (masters, replicas int64) {
		for n, s := range c.Nodes {
			cl := redis.NewClient(&redis.Options{Addr: s.Addr})
			info := cl.Info(ctx, "commandstats").Val()
			cl.Close()
			var count int64
			for _, l := range strings.Split(info, "\r\n") {
				for _, cmd := range cmds {
					if v, ok := strings.CutPrefix(l, "cmdstat_"+cmd+":calls="); ok {
						var n int64
						fmt.Sscan(strings.SplitN(v, ",", 2)[0], &n)
						count += n
					}
				}
			}
			if n < c.Masters {
				masters += count
			} else {
				replicas += count
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
	m, r := calls("hgetall") // one per IBAN: its book
	if m != 0 || r < int64(len(subs)+3) {
		t.Errorf("lookups read %d times from masters and %d from replicas, want all from replicas", m, r)
	}
	resetStats()
	if _, err := st.ReportStatus(ctx, st.ReportID("bank-a", victims[0]+"0")); err != nil {
		t.Fatal(err)
	}
	if m, r := calls("hget", "hmget", "hgetall"); m == 0 || r != 0 {
		t.Errorf("a report's status was read %d times from masters and %d from replicas, want the master", m, r)
	}
}
