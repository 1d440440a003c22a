package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mulegate/mulegate/internal/audit"
)

// TestKilledGatewayKeepsEveryRecord (issue 21.3): the real binary under 8
// lookup clients is killed with SIGKILL; every request it answered has
// its record in the trail (before, up to 20 ms of records were lost), and
// the trail verifies. Restarted on the same file with a torn last line
// appended (as a crash mid-write leaves it, issue 21.2), it starts, moves
// the torn bytes aside and continues the chain with audit.recovered.
func TestKilledGatewayKeepsEveryRecord(t *testing.T) {
	httpOnly(t)
	p := mustPKI(t)
	rds := mustRedisAddrs(t)
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	gw := mustServeProc(t, p, rds, "MULEGATE_AUDIT_PATH="+path)
	api := gw.addrs["api"]
	tok := p.token(t, "bank-a", nil, nil)
	client := p.client(t, p.clients["bank-a"])

	var mu sync.Mutex
	answered := map[string]bool{} // request ids of 200 answers read in full
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				req, _ := http.NewRequest("GET", api+"/v1/ibans/NL91ABNA0417164300", nil)
				req.Header.Set("Authorization", "Bearer "+tok)
				resp, err := client.Do(req)
				if err != nil {
					return // the gateway is gone
				}
				_, err = io.ReadAll(resp.Body)
				resp.Body.Close()
				if err == nil && resp.StatusCode == 200 {
					mu.Lock()
					answered[resp.Header.Get("X-Request-Id")] = true
					mu.Unlock()
				}
			}
		})
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		mu.Lock()
		n := len(answered)
		mu.Unlock()
		if n >= 2000 || time.Now().After(deadline) {
			break
		}
	}
	gw.kill(syscall.SIGKILL)
	close(stop)
	wg.Wait()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	missing := 0
	for id := range answered {
		if !strings.Contains(string(raw), `"request_id":"`+id+`"`) {
			missing++
		}
	}
	if len(answered) < 100 || missing > 0 {
		t.Fatalf("%d of %d answered requests have no audit record after SIGKILL", missing, len(answered))
	}
	if n, err := audit.Verify(strings.NewReader(string(raw))); err != nil {
		t.Fatalf("the trail after SIGKILL: %d records, %v", n, err)
	}
	t.Logf("%d answers, all in the trail", len(answered))

	// A crash mid-write leaves a torn last line: the gateway must start.
	torn := `{"seq":999999,"time":"2026-12-03T06:5`
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(torn)
	f.Close()
	gw2 := mustServeProc(t, p, rds, "MULEGATE_AUDIT_PATH="+path)
	if got := do(t, client, "GET", gw2.addrs["api"]+"/v1/ibans/NL91ABNA0417164300", tok, ""); got.status != 200 {
		t.Fatalf("after the restart: %d %s", got.status, got.body)
	}
	gw2.kill(syscall.SIGTERM)
	moved, _ := filepath.Glob(path + ".torn-*")
	if len(moved) != 1 {
		t.Fatalf("torn bytes moved aside to %v, want one file", moved)
	}
	if b, _ := os.ReadFile(moved[0]); string(b) != torn {
		t.Errorf("moved aside %q", b)
	}
	raw, _ = os.ReadFile(path)
	if n, err := audit.Verify(strings.NewReader(string(raw))); err != nil {
		t.Fatalf("the trail after recovery: %d records, %v", n, err)
	}
	if !strings.Contains(string(raw), `"action":"audit.recovered"`) || !strings.Contains(string(raw), fmt.Sprintf(`"count":%d`, len(torn))) {
		t.Errorf("no audit.recovered record naming %d bytes", len(torn))
	}
	var out strings.Builder
	if err := run(context.Background(), []string{"audit", "verify", path}, func(string) string { return "" }, &out, io.Discard); err != nil {
		t.Errorf("mulegate audit verify: %v %s", err, out.String())
	}
}

// TestAuditSinkFull (issue 21.3): when the trail cannot be written (the
// real binary's file size limit reached, as a full disk would), requests
// are answered 503 store_unavailable, /readyz reports audit, and nothing
// is served unaudited; once the sink can write again the gateway serves,
// and the trail verifies with an audit.resumed record counting the
// refused requests.
func TestAuditSinkFull(t *testing.T) {
	httpOnly(t)
	prl, err := exec.LookPath("prlimit")
	if err != nil {
		t.Skip("prlimit (util-linux) not installed: it sets the gateway's file size limit")
	}
	p := mustPKI(t)
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	gw := mustServeProc(t, p, mustRedisAddrs(t), "MULEGATE_AUDIT_PATH="+path)
	api, ops := gw.addrs["api"], gw.addrs["ops"]
	tok := p.token(t, "bank-a", nil, nil)
	client := p.client(t, p.clients["bank-a"])
	lookup := func() call { return do(t, client, "GET", api+"/v1/ibans/NL91ABNA0417164300", tok, "") }
	if got := lookup(); got.status != 200 {
		t.Fatalf("first lookup: %d", got.status)
	}
	st, _ := os.Stat(path)
	pid := strconv.Itoa(gw.cmd.Process.Pid)
	limit := st.Size() + 1500 // room for a few records
	if out, err := exec.Command(prl, "--pid", pid, fmt.Sprintf("--fsize=%d:unlimited", limit)).CombinedOutput(); err != nil {
		t.Skipf("prlimit --pid: %v %s", err, out)
	}
	ok, refused := 0, 0
	for range 30 {
		got := lookup()
		switch {
		case got.status == 200:
			ok++
		case got.status == 503 && problemCode(t, got) == "store_unavailable":
			refused++
		default:
			t.Fatalf("lookup while the sink fills: %d %s", got.status, got.body)
		}
	}
	if refused == 0 {
		t.Fatalf("no 503 once the audit file hit its size limit (%d answered 200)", ok)
	}
	var ready map[string]string
	resp, err := http.Get(ops + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	getJSON(t, ops+"/readyz", &ready)
	resp.Body.Close()
	if resp.StatusCode != 503 || ready["audit"] != "unavailable" {
		t.Errorf("/readyz while the sink is full: %d %v", resp.StatusCode, ready)
	}
	if out, err := exec.Command(prl, "--pid", pid, "--fsize=unlimited:unlimited").CombinedOutput(); err != nil {
		t.Fatalf("prlimit: %v %s", err, out)
	}
	for deadline := time.Now().Add(10 * time.Second); lookup().status != 200; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the gateway did not serve again within 10 s of the sink writing again")
		}
	}
	gw.kill(syscall.SIGTERM)
	raw, _ := os.ReadFile(path)
	n, err := audit.Verify(strings.NewReader(string(raw)))
	if err != nil {
		t.Fatalf("trail: %d records, %v", n, err)
	}
	if !strings.Contains(string(raw), `"action":"audit.resumed"`) {
		t.Errorf("no audit.resumed record")
	}
	// Every 200 answered has its record: the first lookup, the ok ones,
	// and the ones after the sink came back (at least one).
	if got := strings.Count(string(raw), `"status":200`); got < 1+ok+1 {
		t.Errorf("%d records of 200 answers, want at least %d", got, ok+2)
	}
}

// TestRefusedRequestsAreLimited (issue 21.14): a flood of bad-token
// requests over one certificate is refused with 429 beyond
// limits.refused_per_second (burst refused_burst), and the trail gets one
// refused.suppressed record per certificate and second instead of one per
// request: every request is accounted for, in a record or an aggregate.
// Another certificate is not affected.
func TestRefusedRequestsAreLimited(t *testing.T) {
	httpOnly(t)
	p := mustPKI(t)
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	gw := mustGateway(t, p, mustRedisAddrs(t), "audit:\n  path: "+path+"\n", "MULEGATE_LIMITS_REFUSED_PER_SECOND", "5",
		"MULEGATE_LIMITS_REFUSED_BURST", "20")
	bank := p.client(t, p.clients["bank-a"])
	const n = 300
	codes := map[int]int{}
	for range n {
		got := do(t, bank, "GET", gw.api+"/v1/ibans/NL91ABNA0417164300", "not-a-token", "")
		codes[got.status]++
		if got.status == 429 && (got.header.Get("Retry-After") == "" || problemCode(t, got) != "rate_limited") {
			t.Fatalf("a suppressed refusal: %v %s", got.header, got.body)
		}
	}
	if codes[401] < 20 || codes[401] > 60 || codes[429] < n-60 {
		t.Errorf("answers %v: want the burst of 20 (and what refills meanwhile) as 401, the rest 429", codes)
	}
	market := p.client(t, p.clients["market-a"])
	if got := do(t, market, "GET", gw.api+"/v1/ibans/NL91ABNA0417164300", p.token(t, "market-a", nil, nil), ""); got.status != 200 {
		t.Errorf("another certificate: %d", got.status)
	}
	time.Sleep(1500 * time.Millisecond) // the aggregate is written every second
	gw.stop(t)
	raw, _ := os.ReadFile(path)
	if _, err := audit.Verify(strings.NewReader(string(raw))); err != nil {
		t.Fatal(err)
	}
	records, suppressed := 0, 0
	for _, l := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		switch {
		case strings.Contains(l, `"action":"refused.suppressed"`):
			var c int
			fmt.Sscanf(l[strings.Index(l, `"count":`)+8:], "%d", &c)
			suppressed += c
			if !strings.Contains(l, p.clients["bank-a"].Thumbprint()) {
				t.Errorf("aggregate without the certificate: %s", l)
			}
		case strings.Contains(l, `"status":401`):
			records++
		}
	}
	if records != codes[401] || suppressed != codes[429] {
		t.Errorf("trail: %d records of 401 and %d suppressed in aggregates; answered %v", records, suppressed, codes)
	}
	if lines := strings.Count(gw.stderr.String(), "refused requests suppressed"); lines < 1 || lines > 5 {
		t.Errorf("%d aggregate log lines for %d suppressed requests", lines, codes[429])
	}
}

// TestEveryAnswerIsAuditedAndLimited (issue 21.14): answers of the router
// itself (404 no route, 405 method) and a 400 for X-Purpose have their
// audit record and, with a known org, the RateLimit headers.
func TestEveryAnswerIsAuditedAndLimited(t *testing.T) {
	httpOnly(t)
	p := mustPKI(t)
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	gw := mustGateway(t, p, mustRedisAddrs(t), "audit:\n  path: "+path+"\n")
	bank, tok := p.client(t, p.clients["bank-a"]), p.token(t, "bank-a", nil, nil)
	for _, c := range []struct {
		name, method, path string
		headers            []string
		status             int
	}{
		{"404/no route", "GET", "/v1/nothing-here", nil, 404},
		{"404/outside /v1", "GET", "/admin", nil, 404},
		{"405/method", "DELETE", "/v1/reports", nil, 405},
		{"400/purpose", "GET", "/v1/ibans/NL91ABNA0417164300", []string{"X-Purpose", "curiosity"}, 400},
	} {
		got := do(t, bank, c.method, gw.api+c.path, tok, "", c.headers...)
		if got.status != c.status || got.header.Get("RateLimit-Limit") == "" || got.header.Get("RateLimit-Remaining") == "" {
			t.Errorf("%s: %d, RateLimit-Limit %q", c.name, got.status, got.header.Get("RateLimit-Limit"))
		}
	}
	if got := do(t, bank, "GET", gw.api+"/v1/nothing-here", "", ""); got.status != 401 {
		t.Errorf("401/no route without a token: %d (401 comes before 404)", got.status)
	}
	gw.stop(t)
	raw, _ := os.ReadFile(path)
	for _, want := range []string{`"route":"unmatched","action":"other","purpose":"unspecified","status":404`,
		`"method":"DELETE","route":"unmatched","action":"other","purpose":"unspecified","status":405`, `"status":400`, `"status":401`} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("no record with %s:\n%s", want, raw)
		}
	}
	if got := strings.Count(strings.TrimSpace(string(raw)), "\n") + 1; got != 5 {
		t.Errorf("%d records for 5 requests", got)
	}
}
