package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mulegate/mulegate/internal/redistest"
)

// TestDevPrintedCommandsWork runs "mulegate dev" (embedded miniredis) and
// executes the shell lines it prints, as a user pasting them would.
func TestDevPrintedCommandsWork(t *testing.T) {
	for _, tool := range []string{"bash", "curl"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed: the printed commands need it", tool)
		}
	}
	dir, script := startDev(t)
	cmd := exec.Command("bash", "-e", "-c", script)
	cmd.Dir = dir
	// The banner's CLI lines run the mulegate binary, as an installed one would.
	cmd.Env = append(os.Environ(), "PATH="+filepath.Dir(mustBinary(t))+string(os.PathListSeparator)+os.Getenv("PATH"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("printed commands failed: %v\n%s", err, out)
	}
	for _, want := range []string{
		`"report_count":0`, `"risk":"none"`, // first lookup
		`{"iban":"DE89370400440532013000","country":"DE"`, // the CLI's batch lookup
		"HTTP/2 202", "location: /v1/reports/", // the marketplace report
		`"report_count":2,"reporter_count":2`,              // lookup after two reports
		`"code":"invalid_iban"`,                            // the bogus batch entry
		`"status":"forwarded"`, `"police_reference":"POL-`, // report status
		`"type":"report.received"`,                                                                                       // the holder's feed
		`"holder_org":"demo-bank"`, `"iban":"DE89370400440532013000","category":"phishing","reporter_org":"demo-market"`, // the holder's view
		`"state":"closed","holder_org":"demo-bank"`, `"confirmed":1`, `"risk":"high"`, `"risk_reasons":["confirmed"]`, // the review and the lookup
		`"event":"acknowledged"`, `"event":"closed"`, // the police store got the review events
		`"police_breaker":"open"`, `mulegate_police_breaker_state 2`, // the outage
		`"bank_org":"demo-bank"`, `"severity":"critical"`, // an alert pushed and read
		`"message":"under investigation"`,                                                          // the long poll woke up with the second alert
		"event: alert",                                                                             // the SSE stream
		`"state":"requested","requested_by":"demo-victim"`, `"state":"held"`, `"state":"returned"`, // the recovery's steps
		`"type":"recovery.requested"`, `"type":"recovery.held"`, `"type":"recovery.returned"`, // each side's feed
		`"recovered":{"EUR":"800.00"}`,                                                                             // the lookup
		`"hop":1,"holder_org":"demo-victim"`, `"chain":{"linked_reports":1,"min_hop":1,"confirmed_upstream":true}`, // the chain (the CLI prints the contract's order)
		`"risk_reasons":["linked_to_confirmed"]`,
		`"reason":"investigation_closed","reports_cleared":1`, `"holder_status":{"status":"taken_over"`, `"cleared_count":1`, // the clear
		`"type":"iban.corrected"`, `"previous_risk":"medium"`, `"counted":false`, // the correction and the record
		`"verified":true`, `"audit":"mulegate/dev#`, // a signed answer checked offline
		`"scope":"ibans:read","token_type":"Bearer"`, // the token endpoint
		`"unique":12,`, // 2 + 1 + 1 reports and 2 linked ones before, 6 during the outage: all delivered
		`{"audit":"ok","police_breaker":"closed","redis":"ok"}`, `mulegate_token_cache_total{result="hit"}`,
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// startDev runs "mulegate dev" in a fresh folder (stopped at the end of
// the test) and returns the folder and the shell lines its banner asks
// the user to paste. Dev mode needs fixed ports (the printed commands
// name them): a port another process took between the free-port probe and
// dev's bind makes it fail to start, and it is tried again on new ports.
func startDev(t *testing.T) (dir, script string) {
	t.Helper()
	logs := &syncBuffer{}
	// Issue 21.10: a fresh dev gateway's first reports logged "ERR Error
	// compiling script" (consumer groups made at "0", which miniredis
	// reports back as "0"): no script error may reach the log.
	t.Cleanup(func() {
		// A Redis error reply ("ERR …", NOSCRIPT) is what it guards against;
		// a slow machine's i/o timeout while dropping consumers at
		// shutdown (a warning, retried by the next start) is not one.
		if l := logs.String(); strings.Contains(l, "ERR ") || strings.Contains(l, "NOSCRIPT") || strings.Contains(l, "compiling script") {
			t.Errorf("dev mode logged a Redis or script error:\n%s", l)
		}
	})
	for attempt := 1; ; attempt++ {
		dir = t.TempDir()
		script, listening, startErr := tryDev(t, dir, logs)
		if listening {
			return dir, script
		}
		if attempt == 3 {
			t.Fatalf("dev mode did not start in 3 attempts: %v\n%s", startErr, script)
		}
		t.Logf("dev mode did not start (%v); again on new ports", startErr)
	}
}

// tryDev starts dev mode once; listening says whether it got as far as
// serving (it printed its listeners).
func tryDev(t *testing.T, dir string, logs *syncBuffer) (script string, listening bool, err error) {
	t.Helper()
	api, ops, police := redistest.FreePort(t), redistest.FreePort(t), redistest.FreePort(t)
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := run(ctx, []string{"dev", "--dir", dir + "/.mulegate-dev",
			"--listen", fmt.Sprintf("127.0.0.1:%d", api), "--ops-listen", fmt.Sprintf("127.0.0.1:%d", ops), "--police-listen", fmt.Sprintf("127.0.0.1:%d", police),
			"--bank-console", "127.0.0.1:0", "--police-console", "127.0.0.1:0"},
			func(string) string { return "" }, pw, logs)
		pw.Close()
		done <- err
	}()
	stopped := false
	stop := func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(20 * time.Second):
			t.Error("dev mode did not stop")
			return nil
		}
	}
	t.Cleanup(func() { _ = stop() })
	var banner strings.Builder
	sc := bufio.NewScanner(pr)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	inBlock := false
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "api https://") {
			listening = true
			break
		}
		if strings.HasPrefix(line, "Paste into a shell") {
			inBlock = true
			continue
		}
		if inBlock && strings.HasPrefix(line, "  ") && !strings.Contains(line, "go run ") {
			banner.WriteString(strings.TrimPrefix(line, "  ") + "\n")
		}
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	if !listening {
		return banner.String(), false, stop()
	}
	if !strings.Contains(banner.String(), "export BANK_TOKEN=") {
		t.Fatalf("no commands printed:\n%s", banner.String())
	}
	return banner.String(), true, nil
}
