package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mulegate/mulegate/internal/redistest"
)

// The fault tests run real processes: the mulegate binary built once for
// the test run, real redis-server processes and the police store
// simulator as its own process.

var (
	binOnce sync.Once
	binPath string
	binErr  error
	binDir  string
)

func TestMain(m *testing.M) {
	redistest.Main(&cleanup{m})
}

// cleanup runs the tests, then removes the binary they built (redistest.Main
// stops the shared cluster after it).
type cleanup struct{ m *testing.M }

func (c *cleanup) Run() int {
	code := c.m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	return code
}

func mustBinary(t testing.TB) string {
	t.Helper()
	binOnce.Do(func() {
		binDir, binErr = os.MkdirTemp("", "mulegate-bin-")
		if binErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "mulegate")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("go build: %w\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// proc is one child process started by a test; it is stopped by PID.
type proc struct {
	cmd    *exec.Cmd
	addrs  map[string]string // "api", "ops", "sim" -> URL printed by the process
	stderr *syncBuffer
	done   chan struct{}
}

// startProc runs the binary with args and env (KEY=VALUE) and waits until
// it printed every address named in want.
func startProc(t testing.TB, args []string, env []string, want ...string) *proc {
	t.Helper()
	cmd := exec.Command(mustBinary(t), args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	p := &proc{cmd: cmd, addrs: map[string]string{}, stderr: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stderr = p.stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() { p.kill(syscall.SIGKILL) })
	found := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(out)
		var once sync.Once
		for sc.Scan() {
			if name, url, ok := strings.Cut(sc.Text(), " "); ok && (strings.HasPrefix(url, "http://") || strings.HasPrefix(url, "https://")) {
				p.addrs[name] = url
			}
			all := true
			for _, w := range want {
				if p.addrs[w] == "" {
					all = false
				}
			}
			if all {
				once.Do(func() { close(found) })
			}
		}
		_, _ = io.Copy(io.Discard, out)
	}()
	select {
	case <-found:
	case <-p.done:
		t.Fatalf("%v exited early:\n%s", args, p.stderr.String())
	case <-time.After(20 * time.Second):
		t.Fatalf("%v did not start:\n%s", args, p.stderr.String())
	}
	return p
}

func (p *proc) kill(sig syscall.Signal) {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// simStats reads the simulator's counters.
type simStats struct {
	Unique      int   `json:"unique"`
	Deliveries  int64 `json:"deliveries"`
	Requests    int64 `json:"requests"`
	Connections int64 `json:"connections"`
	Dropped     int64 `json:"dropped"`
	Errors      int64 `json:"errors"`
	Rejected    int64 `json:"rejected"`
}

func getJSON(t testing.TB, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}

func setFaults(t testing.TB, sim string, faults string) {
	t.Helper()
	req, _ := http.NewRequest("PUT", sim+"/_sim/faults", strings.NewReader(faults))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("set faults %s: %d", faults, resp.StatusCode)
	}
}

// simReceived returns, per report id, how many times the simulator
// accepted it.
func simReceived(t testing.TB, sim string) map[string]int {
	t.Helper()
	var out struct {
		Reports []struct {
			ReportID   string `json:"report_id"`
			Deliveries int    `json:"deliveries"`
		} `json:"reports"`
	}
	getJSON(t, sim+"/_sim/reports", &out)
	m := map[string]int{}
	for _, r := range out.Reports {
		m[r.ReportID] = r.Deliveries
	}
	return m
}

// waitDelivered waits until the simulator holds every accepted report id,
// then checks that it holds nothing else: its de-duplicated count equals
// the number of 202s.
func waitDelivered(t testing.TB, sim string, accepted []string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		got := simReceived(t, sim)
		missing := 0
		for _, id := range accepted {
			if got[id] == 0 {
				missing++
			}
		}
		if missing == 0 {
			if len(got) != len(accepted) {
				t.Fatalf("the police store holds %d distinct reports, but %d were accepted", len(got), len(accepted))
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d accepted reports never reached the police store", missing, len(accepted))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// metric reads one sample from a Prometheus text page ("" if absent).
func metric(t testing.TB, ops, name string) string {
	t.Helper()
	resp, err := http.Get(ops + "/metrics")
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			return v
		}
	}
	return ""
}

// metricSum adds up every sample of a metric family (all label sets).
func metricSum(t testing.TB, ops, name string) float64 {
	t.Helper()
	resp, err := http.Get(ops + "/metrics")
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	sum := 0.0
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		var v float64
		if _, err := fmt.Sscan(line[strings.LastIndexByte(line, ' ')+1:], &v); err == nil {
			sum += v
		}
	}
	return sum
}

// reporter submits reports through gateways and remembers every 202.
type reporter struct {
	t        testing.TB
	e        *pki
	client   *http.Client
	token    string
	mu       sync.Mutex
	accepted []string
	seen     map[string]bool
	statuses map[int]int
}

func newReporter(t testing.TB, p *pki) *reporter {
	c := p.client(t, p.clients["bank-a"])
	c.Transport = c.Transport.(*specCheck).next
	c.Timeout = 5 * time.Second
	return &reporter{t: t, e: p, client: c, token: p.token(t, "bank-a", nil, nil), statuses: map[int]int{}}
}

// submit sends one report; it returns the status (0 on a transport error)
// and how long the answer took.
func (r *reporter) submit(api, key, body string) (int, time.Duration) {
	req, _ := http.NewRequestWithContext(context.Background(), "POST", api+"/v1/reports", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+r.token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", key)
	start := time.Now()
	resp, err := r.client.Do(req)
	took := time.Since(start)
	if err != nil {
		r.mu.Lock()
		r.statuses[0]++
		r.mu.Unlock()
		return 0, took
	}
	defer resp.Body.Close()
	var a accepted
	_ = json.NewDecoder(resp.Body).Decode(&a)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.statuses[resp.StatusCode]++
	// Every report id that got a 202, first time or replayed: a retry after
	// an ambiguous 503 (Redis went away after storing the report but before
	// answering) is answered as a replay of a report the police must get.
	if resp.StatusCode == 202 && !r.seen[a.ReportID] {
		if r.seen == nil {
			r.seen = map[string]bool{}
		}
		r.seen[a.ReportID] = true
		r.accepted = append(r.accepted, a.ReportID)
	}
	return resp.StatusCode, took
}

func (r *reporter) ids() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.accepted...)
}

// forwardEnv is the configuration of a forwarding gateway in the fault
// tests: short timeouts so that faults play out in seconds.
func forwardEnv(sim string, extra ...string) []string {
	return append([]string{
		"MULEGATE_POLICE_URL=" + sim,
		"MULEGATE_POLICE_TIMEOUT=1s",
		"MULEGATE_FORWARD_WORKERS=4",
		"MULEGATE_FORWARD_VISIBILITY_TIMEOUT=3s",
		"MULEGATE_FORWARD_SWEEP_INTERVAL=1s",
		"MULEGATE_FORWARD_BACKOFF_INITIAL=50ms",
		"MULEGATE_FORWARD_BACKOFF_MAX=500ms",
		"MULEGATE_BREAKER_FAILURES=5",
		"MULEGATE_BREAKER_OPEN_FOR=1s",
	}, extra...)
}

// mustServeProc writes a gateway config and starts "mulegate serve".
func mustServeProc(t testing.TB, p *pki, redisAddrs []string, env ...string) *proc {
	t.Helper()
	cfgPath := filepath.Join(t.TempDir(), "mulegate.yaml")
	if err := os.WriteFile(cfgPath, []byte(p.config(redisAddrs, "")), 0o600); err != nil {
		t.Fatal(err)
	}
	return startProc(t, []string{"serve", "--config", cfgPath}, env, "api", "ops")
}

func mustSimProc(t testing.TB, args ...string) *proc {
	t.Helper()
	return startProc(t, append([]string{"policestore-sim", "--listen", "127.0.0.1:0"}, args...), nil, "sim")
}
