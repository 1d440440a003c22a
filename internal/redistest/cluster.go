package redistest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Cluster is a Redis Cluster of real redis-server processes on loopback.
type Cluster struct {
	Nodes   []*Server // masters first, then replicas
	Masters int
}

// StartCluster starts masters masters, each with replicasPer replicas,
// assigns the 16384 slots evenly, and waits until every node reports
// cluster_state:ok. A small cluster-node-timeout makes failover quick.
// A cluster that does not form (a node that would not start, or that
// answered from another cluster on a busy machine) is stopped and
// started again on fresh ports, up to three times.
func StartCluster(t testing.TB, masters, replicasPer int, args ...string) *Cluster {
	t.Helper()
	bin := Binary(t)
	c, err := startCluster(bin, func() (string, error) { return t.TempDir(), nil }, masters, replicasPer, args)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.stop)
	return c
}

// startCluster forms a cluster, trying three times; dir gives each node
// its directory.
func startCluster(bin string, dir func() (string, error), masters, replicasPer int, args []string) (*Cluster, error) {
	var err error
	for range 3 {
		c := &Cluster{Masters: masters}
		if err = c.form(bin, dir, replicasPer, args); err == nil {
			return c, nil
		}
		c.stop()
	}
	return nil, fmt.Errorf("redistest: the cluster did not form three times: %w", err)
}

func (c *Cluster) stop() {
	for _, s := range c.Nodes {
		if s != nil {
			s.Stop()
		}
	}
}

// form starts the nodes and makes them one cluster.
func (c *Cluster) form(bin string, dir func() (string, error), replicasPer int, args []string) error {
	if err := c.startNodes(bin, dir, c.Masters*(1+replicasPer), args); err != nil {
		return err
	}
	clients := make([]*redis.Client, len(c.Nodes))
	for i, s := range c.Nodes {
		clients[i] = redis.NewClient(&redis.Options{Addr: s.Addr})
	}
	defer func() {
		for _, cl := range clients {
			_ = cl.Close()
		}
	}()
	ids, err := c.meet(clients)
	if err != nil {
		return err
	}
	ctx := context.Background()
	for r := c.Masters; r < len(clients); r++ {
		if err := clients[r].Do(ctx, "CLUSTER", "REPLICATE", ids[(r-c.Masters)%c.Masters]).Err(); err != nil {
			return fmt.Errorf("cluster replicate: %w", err)
		}
	}
	if err := c.waitOK(); err != nil {
		return err
	}
	// A replica's role reaches the other nodes by gossip: until every node
	// lists it in CLUSTER SLOTS, a client that asks that node for the
	// topology sees no replica (and a READONLY client reads masters).
	// CLUSTER SLOTS, not SHARDS: go-redis v9 builds its topology from
	// SLOTS, and SHARDS can list a replica before SLOTS does.
	return poll(30*time.Second, "every node to list every replica in CLUSTER SLOTS", func() bool {
		for _, cl := range clients {
			slots, err := cl.ClusterSlots(ctx).Result() //nolint:staticcheck // SA1019: what the client reads, see above
			if err != nil || len(slots) != c.Masters {
				return false
			}
			for _, r := range slots {
				if len(r.Nodes) != 1+replicasPer {
					return false
				}
			}
		}
		return true
	})
}

// startNodes starts n cluster-enabled servers at once.
func (c *Cluster) startNodes(bin string, dir func() (string, error), n int, args []string) error {
	c.Nodes = make([]*Server, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			d, err := dir()
			if err == nil {
				c.Nodes[i], err = startServer(bin, d, func(int) []string {
					return append([]string{
						"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
						"--cluster-node-timeout", "1000", "--cluster-port", strconv.Itoa(freePort()),
						"--cluster-replica-validity-factor", "0", "--cluster-require-full-coverage", "yes",
					}, args...)
				})
			}
			errs[i] = err
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// meet assigns the slots to the masters and makes every node meet every
// other (knowledge then does not wait on gossip rounds, which a loaded
// machine once stretched past 30 s); it returns the nodes' ids.
func (c *Cluster) meet(clients []*redis.Client) ([]string, error) {
	ctx := context.Background()
	per := 16384 / c.Masters
	for i := range c.Masters {
		lo, hi := i*per, (i+1)*per-1
		if i == c.Masters-1 {
			hi = 16383
		}
		if err := clients[i].Do(ctx, "CLUSTER", "ADDSLOTSRANGE", lo, hi).Err(); err != nil {
			return nil, fmt.Errorf("cluster addslots: %w", err)
		}
	}
	for i := range clients {
		for j, s := range c.Nodes {
			if i == j {
				continue
			}
			host, port, _ := strings.Cut(s.Addr, ":")
			if err := clients[i].Do(ctx, "CLUSTER", "MEET", host, port, busPort(s)).Err(); err != nil {
				return nil, fmt.Errorf("cluster meet: %w", err)
			}
		}
	}
	ids := make([]string, len(clients))
	for i, cl := range clients {
		id, err := cl.Do(ctx, "CLUSTER", "MYID").Text()
		if err != nil {
			return nil, err
		}
		ids[i] = id
	}
	return ids, poll(60*time.Second, "every node to know every other", func() bool {
		for _, cl := range clients {
			nodes := cl.ClusterNodes(ctx).Val()
			if strings.Contains(nodes, "handshake") || strings.Count(nodes, "\n") != len(ids) {
				return false // a node met but not yet known by its id, or one from elsewhere
			}
			for _, id := range ids {
				if !strings.Contains(nodes, id) {
					return false
				}
			}
		}
		return true
	})
}

func busPort(s *Server) string {
	for i, a := range s.args {
		if a == "--cluster-port" && i+1 < len(s.args) {
			return s.args[i+1]
		}
	}
	return ""
}

// WaitOK waits until every running node reports cluster_state:ok and
// every replica is in sync.
func (c *Cluster) WaitOK(t testing.TB) {
	t.Helper()
	if err := c.waitOK(); err != nil {
		t.Fatal(err)
	}
}

func (c *Cluster) waitOK() error {
	ctx := context.Background()
	return poll(30*time.Second, "cluster_state:ok on every node", func() bool {
		for _, s := range c.Nodes {
			cl := redis.NewClient(&redis.Options{Addr: s.Addr, MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
			if cl.Ping(ctx).Err() != nil {
				cl.Close()
				continue // a node the test stopped
			}
			info := cl.ClusterInfo(ctx).Val()
			repl := cl.Info(ctx, "replication").Val()
			cl.Close()
			if !strings.Contains(info, "cluster_state:ok") {
				return false
			}
			if strings.Contains(repl, "role:slave") && !strings.Contains(repl, "master_link_status:up") {
				return false
			}
		}
		return true
	})
}

// Addrs are every node's address (any of them seeds a cluster client).
func (c *Cluster) Addrs() []string {
	out := make([]string, len(c.Nodes))
	for i, s := range c.Nodes {
		out[i] = s.Addr
	}
	return out
}

// poll waits until ok, checking every 50 ms, for at most within.
func poll(within time.Duration, what string, ok func() bool) error {
	deadline := time.Now().Add(within)
	for !ok() {
		if time.Now().After(deadline) {
			return fmt.Errorf("redistest: timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return nil
}

// Deployment is the Redis a test runs against: a single server or a
// 3-master cluster, chosen by MULEGATE_TEST_TOPOLOGY (single|cluster), so
// that the whole integration suite runs on both.
type Deployment struct {
	Single  *Server
	Cluster *Cluster
	shared  bool // the package's cluster: not to be stopped by a test
}

// Topology is the topology this test run uses.
func Topology() string {
	if v := os.Getenv("MULEGATE_TEST_TOPOLOGY"); v != "" {
		return v
	}
	return "single"
}

// StartTopology gives a test the configured topology with nothing in
// it: a fresh redis-server, or the package's shared cluster emptied
// (Shared), so the cluster pass does not start six nodes per test. A
// test that passes server args, or that stops, restarts or freezes its
// Redis, uses StartOwnTopology.
func StartTopology(t testing.TB, args ...string) *Deployment {
	t.Helper()
	if Topology() == "cluster" && len(args) == 0 {
		return &Deployment{Cluster: Shared(t), shared: true}
	}
	return StartOwnTopology(t, args...)
}

// StartOwnTopology starts the configured topology for this test alone;
// args go to every node.
func StartOwnTopology(t testing.TB, args ...string) *Deployment {
	t.Helper()
	switch Topology() {
	case "single":
		return &Deployment{Single: Start(t, args...)}
	case "cluster":
		// One replica per master, so that WAIT and replica reads are
		// exercised as they run in production.
		return &Deployment{Cluster: StartCluster(t, 3, 1, args...)}
	}
	t.Fatalf("MULEGATE_TEST_TOPOLOGY=%q: want single or cluster", Topology())
	return nil
}

// Addrs are the addresses to configure mulegate with.
func (d *Deployment) Addrs() []string {
	if d.Cluster != nil {
		return d.Cluster.Addrs()
	}
	return []string{d.Single.Addr}
}

// NewClient returns a fresh client; the caller closes it.
func (d *Deployment) NewClient() redis.UniversalClient {
	if d.Cluster != nil {
		return redis.NewClusterClient(&redis.ClusterOptions{Addrs: d.Cluster.Addrs()})
	}
	return redis.NewClient(&redis.Options{Addr: d.Single.Addr})
}

// ClientRESP2 returns a client that speaks RESP2, as mulegate's own do,
// closed at cleanup.
func (d *Deployment) ClientRESP2(t testing.TB) redis.UniversalClient {
	t.Helper()
	var c redis.UniversalClient
	if d.Cluster != nil {
		c = redis.NewClusterClient(&redis.ClusterOptions{Addrs: d.Cluster.Addrs(), Protocol: 2})
	} else {
		c = redis.NewClient(&redis.Options{Addr: d.Single.Addr, Protocol: 2})
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// Client returns a client closed at cleanup.
func (d *Deployment) Client(t testing.TB) redis.UniversalClient {
	t.Helper()
	c := d.NewClient()
	t.Cleanup(func() { c.Close() })
	return c
}

// masters runs fn against every master.
func (d *Deployment) masters(t testing.TB, fn func(c *redis.Client) error) {
	t.Helper()
	ctx := context.Background()
	c := d.NewClient()
	defer c.Close()
	var err error
	switch cc := c.(type) {
	case *redis.ClusterClient:
		err = cc.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error { return fn(m) })
	case *redis.Client:
		err = fn(cc)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// DBSize counts keys over every master.
func (d *Deployment) DBSize(t testing.TB) int64 {
	t.Helper()
	var mu sync.Mutex
	var n int64
	d.masters(t, func(c *redis.Client) error {
		v, err := c.DBSize(context.Background()).Result()
		mu.Lock()
		n += v
		mu.Unlock()
		return err
	})
	return n
}

// Keys lists every key over every master.
func (d *Deployment) Keys(t testing.TB) []string {
	t.Helper()
	var mu sync.Mutex
	var out []string
	d.masters(t, func(c *redis.Client) error {
		v, err := c.Keys(context.Background(), "*").Result()
		mu.Lock()
		out = append(out, v...)
		mu.Unlock()
		return err
	})
	return out
}

// Dump renders every key over every master with its whole content as
// text (string values, hash fields and values, sorted-set members and
// scores, stream entries), as an attacker with a copy of the data files
// would see it.
func (d *Deployment) Dump(t testing.TB) map[string]string {
	t.Helper()
	var mu sync.Mutex
	out := map[string]string{}
	d.masters(t, func(c *redis.Client) error {
		ctx := context.Background()
		keys, err := c.Keys(ctx, "*").Result()
		if err != nil {
			return err
		}
		for _, k := range keys {
			var v any
			switch c.Type(ctx, k).Val() {
			case "string":
				v = c.Get(ctx, k).Val()
			case "hash":
				v = c.HGetAll(ctx, k).Val()
			case "zset":
				v = c.ZRangeWithScores(ctx, k, 0, -1).Val()
			case "stream":
				v = c.XRange(ctx, k, "-", "+").Val()
			case "set":
				v = c.SMembers(ctx, k).Val()
			case "list":
				v = c.LRange(ctx, k, 0, -1).Val()
			}
			mu.Lock()
			out[k] = fmt.Sprint(v)
			mu.Unlock()
		}
		return nil
	})
	return out
}

// ScriptFlush empties every node's script cache, as a restart would.
func (d *Deployment) ScriptFlush(t testing.TB) {
	t.Helper()
	d.masters(t, func(c *redis.Client) error { return c.ScriptFlush(context.Background()).Err() })
}

// CommandsProcessed sums total_commands_processed over every node.
func (d *Deployment) CommandsProcessed(t testing.TB) int64 {
	t.Helper()
	var n int64
	var servers []*Server
	if d.Cluster != nil {
		servers = d.Cluster.Nodes
	} else {
		servers = []*Server{d.Single}
	}
	for _, s := range servers {
		c := redis.NewClient(&redis.Options{Addr: s.Addr})
		info := c.Info(context.Background(), "stats").Val()
		c.Close()
		for _, line := range strings.Split(info, "\r\n") {
			if v, ok := strings.CutPrefix(line, "total_commands_processed:"); ok {
				x, _ := strconv.ParseInt(v, 10, 64)
				n += x
			}
		}
	}
	return n
}

// Stop stops every node (of a deployment of the test's own).
func (d *Deployment) Stop() {
	d.mustOwn()
	if d.Cluster != nil {
		for _, s := range d.Cluster.Nodes {
			s.Stop()
		}
		return
	}
	d.Single.Stop()
}

// Restart starts every node again on its port and directory (with AOF on,
// data survives; a cluster re-forms from its nodes.conf).
func (d *Deployment) Restart(t testing.TB) {
	t.Helper()
	d.mustOwn()
	if d.Cluster == nil {
		d.Single.Restart(t)
		return
	}
	for _, s := range d.Cluster.Nodes {
		s.Restart(t)
	}
	d.Cluster.WaitOK(t)
}

// String names the topology for test logs.
func (d *Deployment) String() string {
	if d.Cluster != nil {
		return fmt.Sprintf("cluster of %d nodes", len(d.Cluster.Nodes))
	}
	return "single redis-server"
}

func (d *Deployment) mustOwn() {
	if d.shared {
		panic("redistest: a test that stops or restarts Redis must start its own (StartOwnTopology)")
	}
}
