package redistest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// The package's shared cluster: started by the first test that asks for
// one, emptied before each test that takes it, stopped by Main when the
// package's tests are done. Tests of a package run one after the other
// (none of the Redis tests is parallel), so each has the cluster to
// itself.
var shared struct {
	once sync.Once
	c    *Cluster
	dir  string
	err  error
}

// Shared returns the package's 3-master cluster (one replica each), with
// every key and script of earlier tests gone, and its replicas in step.
func Shared(t testing.TB) *Cluster {
	t.Helper()
	shared.once.Do(func() {
		bin, err := exec.LookPath("redis-server")
		if err != nil {
			shared.err = err
			return
		}
		if shared.dir, shared.err = os.MkdirTemp("", "redistest-shared-"); shared.err != nil {
			return
		}
		n := 0
		var mu sync.Mutex
		shared.c, shared.err = startCluster(bin, func() (string, error) {
			mu.Lock()
			n++
			d := fmt.Sprintf("%s/node-%d-%d", shared.dir, n, time.Now().UnixNano())
			mu.Unlock()
			return d, os.MkdirAll(d, 0o700)
		}, 3, 1, nil)
	})
	if shared.err != nil {
		Binary(t) // says what to install when redis-server is missing
		t.Fatal(shared.err)
	}
	if err := empty(shared.c); err != nil {
		t.Fatalf("redistest: emptying the shared cluster: %v", err)
	}
	return shared.c
}

// empty flushes every master and waits until its replica has flushed too.
func empty(c *Cluster) error {
	ctx := context.Background()
	for _, s := range c.Nodes[:c.Masters] {
		cl := redis.NewClient(&redis.Options{Addr: s.Addr})
		err := cl.FlushAll(ctx).Err()
		if err == nil {
			err = cl.ScriptFlush(ctx).Err()
		}
		if err == nil {
			err = cl.Do(ctx, "WAIT", len(c.Nodes)/c.Masters-1, 5000).Err()
		}
		cl.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// Main runs a package's tests (m, a *testing.M or what wraps one) and
// then stops its shared cluster, if one was started: call it from the
// package's TestMain.
func Main(m interface{ Run() int }) {
	code := m.Run()
	if shared.c != nil {
		shared.c.stop()
	}
	if shared.dir != "" {
		_ = os.RemoveAll(shared.dir)
	}
	os.Exit(code)
}
