package redistest

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func TestStartCluster(t *testing.T) {
	for _, tc := range []struct{ masters, replicas int }{{3, 0}, {3, 1}} {
		t.Run(fmt.Sprintf("%d masters %d replicas each", tc.masters, tc.replicas), func(t *testing.T) {
			start := time.Now()
			c := StartCluster(t, tc.masters, tc.replicas)
			t.Logf("cluster of %d nodes ready in %v", len(c.Nodes), time.Since(start))
			cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs()})
			defer cc.Close()
			ctx := context.Background()
			for i := range 100 {
				if err := cc.Set(ctx, fmt.Sprint("k", i), i, 0).Err(); err != nil {
					t.Fatal(err)
				}
			}
			var masters atomic.Int64
			err := cc.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
				masters.Add(1)
				if n := m.DBSize(ctx).Val(); n == 0 {
					t.Errorf("master %s holds no keys: slots not spread", m.Options().Addr)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if masters.Load() != int64(tc.masters) {
				t.Errorf("%d masters, want %d", masters.Load(), tc.masters)
			}
			info := cc.ClusterNodes(ctx).Val()
			if got := strings.Count(info, "slave"); got != tc.masters*tc.replicas {
				t.Errorf("%d replicas, want %d:\n%s", got, tc.masters*tc.replicas, info)
			}
		})
	}
}
