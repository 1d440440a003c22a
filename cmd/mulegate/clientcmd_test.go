package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mulegate/mulegate/client"
	"github.com/mulegate/mulegate/internal/waitfor"
)

// TestClientCommands drives the integrator commands (the built binary,
// configured by MULEGATE_CLIENT_* as an integrator's shell would be)
// against a running gateway: a marketplace reports (and repeats the
// report with the same key), the holding bank looks it up, reads its
// event feed (also following it) and answers the report.
func TestClientCommands(t *testing.T) {
	sim := mustSimProc(t).addrs["sim"]
	e := mustEnv(t, "MULEGATE_POLICE_URL", sim, "MULEGATE_FORWARD_WORKERS", "1")
	bin := mustBinary(t)
	dir := t.TempDir()
	envFor := func(org string) []string {
		leaf := e.p.clients[org]
		cert, key := filepath.Join(dir, org+".pem"), filepath.Join(dir, org+"-key.pem")
		if err := os.WriteFile(cert, leaf.CertPEM(), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(key, leaf.KeyPEM(), 0o600); err != nil {
			t.Fatal(err)
		}
		return append(os.Environ(), "MULEGATE_CLIENT_URL="+e.gw.api, "MULEGATE_CLIENT_CERT="+cert, "MULEGATE_CLIENT_KEY="+key,
			"MULEGATE_CLIENT_CA="+filepath.Join(e.p.dir, "ca.pem"), "MULEGATE_CLIENT_TOKEN="+e.p.token(t, org, nil, nil))
	}
	market, bank := envFor("market-a"), envFor("bank-a")
	run := func(env []string, args ...string) (string, error) {
		cmd := exec.Command(bin, args...)
		cmd.Env = env
		out, err := cmd.Output()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return string(out) + string(ee.Stderr), err
		}
		return string(out), err
	}
	mustJSON := func(out string, v any) {
		t.Helper()
		if err := json.Unmarshal([]byte(out), v); err != nil {
			t.Fatalf("not JSON: %q: %v", out, err)
		}
	}

	out, err := run(market, "report", "--iban", ibanNL, "--category", "marketplace_fraud", "--amount", "249.95", "--reference", "cli-1")
	if err != nil {
		t.Fatalf("report: %v\n%s", err, out)
	}
	var acc struct {
		ReportID       string `json:"report_id"`
		IdempotencyKey string `json:"idempotency_key"`
		Replayed       bool   `json:"replayed"`
		ReportCount    int    `json:"report_count"`
	}
	mustJSON(out, &acc)
	if acc.ReportID == "" || acc.Replayed || acc.ReportCount != 1 {
		t.Fatalf("report: %s", out)
	}
	out, err = run(market, "report", "--iban", ibanNL, "--category", "marketplace_fraud", "--amount", "249.95", "--reference", "cli-1",
		"--idempotency-key", acc.IdempotencyKey)
	var again struct {
		ReportID string `json:"report_id"`
		Replayed bool   `json:"replayed"`
	}
	if mustJSON(out, &again); err != nil || !again.Replayed || again.ReportID != acc.ReportID {
		t.Fatalf("the same report again: %v %s", err, out)
	}

	out, err = run(bank, "lookup", ibanNL)
	var l struct {
		ReportCount int `json:"report_count"`
	}
	if mustJSON(out, &l); err != nil || l.ReportCount != 1 {
		t.Fatalf("lookup: %v %s", err, out)
	}
	out, err = run(bank, "lookup", ibanNL, "DE89370400440532013000", "NL00BOGUS")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if err != nil || len(lines) != 3 || !strings.Contains(lines[2], `"error"`) {
		t.Fatalf("batch lookup: %v\n%s", err, out)
	}
	if out, err := run(bank, "lookup", "NL00BOGUS"); err == nil || !strings.Contains(out, "422") {
		t.Errorf("an invalid IBAN: %v %q, want a failing exit with the 422", err, out)
	}

	// The holders' relay writes report.received into the bank's feed
	// within moments of the 202.
	waitfor.Until(t, "report.received in the CLI's events", 10*time.Second, func() bool {
		out, err = run(bank, "events", "--types", "report.received")
		if err != nil {
			t.Fatalf("events: %v\n%s", err, out)
		}
		return strings.Contains(out, acc.ReportID)
	})
	// --follow prints what is there and waits; an interrupt ends it cleanly.
	follow := exec.Command(bin, "events", "--follow", "--types", "report.received")
	follow.Env = bank
	stdout, _ := follow.StdoutPipe()
	if err := follow.Start(); err != nil {
		t.Fatal(err)
	}
	first := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		first <- line
	}()
	select {
	case line := <-first:
		if !strings.Contains(line, acc.ReportID) {
			t.Errorf("events --follow printed %q", line)
		}
	case <-time.After(10 * time.Second):
		t.Error("events --follow printed nothing")
	}
	_ = follow.Process.Signal(os.Interrupt)
	if err := follow.Wait(); err != nil {
		t.Errorf("events --follow after an interrupt: %v, want exit 0", err)
	}

	for _, step := range [][]string{
		{"review", "acknowledge", acc.ReportID},
		{"review", "close", acc.ReportID, "--result", "agreed", "--fraud-type", "mule_account", "--details", "account frozen"},
	} {
		if out, err := run(bank, step...); err != nil {
			t.Fatalf("%v: %v\n%s", step, err, out)
		}
	}
	// A recovery, from the victim's bank (bank-b) to the holder, by CLI.
	victim := envFor("bank-b")
	out, err = run(victim, "report", "--iban", ibanNL, "--category", "phishing", "--amount", "90", "--currency", "EUR")
	var vacc struct {
		ReportID string `json:"report_id"`
	}
	if mustJSON(out, &vacc); err != nil {
		t.Fatalf("the victim's report: %v %s", err, out)
	}
	for _, step := range []struct {
		env   []string
		args  []string
		state string
	}{
		{victim, []string{"recovery", "request", vacc.ReportID, "--amount", "90", "--return-to", "BE68539007547034"}, "requested"},
		{bank, []string{"recovery", "hold", vacc.ReportID, "--amount", "90"}, "held"},
		{bank, []string{"recovery", "return", vacc.ReportID, "--amount", "90", "--reference", "RET-CLI"}, "returned"},
	} {
		out, err := run(step.env, step.args...)
		var r struct {
			State string `json:"state"`
		}
		if mustJSON(out, &r); err != nil || r.State != step.state {
			t.Fatalf("%v: %v %s, want state %s", step.args, err, out, step.state)
		}
	}
	if out, err := run(victim, "recovery", "release", vacc.ReportID); err == nil || !strings.Contains(out, "409") {
		t.Errorf("release of a returned recovery: %v %q, want a failing exit with the 409", err, out)
	}
	// Where the money went on, by CLI: the holder reports an onward
	// transfer, and the chain shows both reports.
	out, err = run(bank, "onward", vacc.ReportID, "--transfer", "DE89370400440532013000=40")
	var onward struct {
		Reports []struct {
			ReportID string `json:"report_id"`
			Hop      int    `json:"hop"`
		} `json:"reports"`
		IdempotencyKey string `json:"idempotency_key"`
	}
	if mustJSON(out, &onward); err != nil || len(onward.Reports) != 1 || onward.Reports[0].Hop != 1 || onward.IdempotencyKey == "" {
		t.Fatalf("onward: %v %s", err, out)
	}
	out, err = run(bank, "chain", onward.Reports[0].ReportID)
	var chain struct {
		Root    string `json:"root_report_id"`
		Reports []struct {
			ReportID string `json:"report_id"`
		} `json:"reports"`
	}
	if mustJSON(out, &chain); err != nil || chain.Root != vacc.ReportID || len(chain.Reports) != 2 {
		t.Errorf("chain: %v %s", err, out)
	}
	out, err = run(market, "report", "show", acc.ReportID)
	var st struct {
		Review struct {
			State  string `json:"state"`
			Result string `json:"result"`
		} `json:"review"`
	}
	if mustJSON(out, &st); err != nil || st.Review.State != "closed" || st.Review.Result != "agreed" {
		t.Fatalf("report show after the close: %v %s", err, out)
	}
	// --purpose reaches the gateway as X-Purpose (an unknown one is its 400).
	if out, err = run(bank, "lookup", "--purpose", "payment_check", ibanNL); err != nil || !strings.Contains(out, `"iban":"`+ibanNL+`"`) {
		t.Errorf("lookup --purpose payment_check: %v %s", err, out)
	}
	if out, err = run(bank, "lookup", "--purpose", "curiosity", ibanNL); err == nil || !strings.Contains(out, "X-Purpose") {
		t.Errorf("lookup --purpose curiosity: %v %s", err, out)
	}
	// Correcting the record by CLI: the holding bank's status, the
	// police's clear (and its withdrawal), the access record.
	police := envFor("police-nl")
	if out, err = run(bank, "status", "set", ibanNL, "taken_over", "--details", "customer's phone was stolen"); err != nil ||
		!strings.Contains(out, `"status":"taken_over"`) {
		t.Errorf("status set: %v %s", err, out)
	}
	if out, err = run(police, "clear", ibanNL, "--reason", "error", "--details", "wrong IBAN in the file"); err != nil ||
		!strings.Contains(out, `"reason":"error"`) || !strings.Contains(out, `"reports_cleared":`) {
		t.Errorf("clear: %v %s", err, out)
	}
	if out, err = run(bank, "record", ibanNL); err != nil || !strings.Contains(out, `"holder_status":{"status":"taken_over"`) ||
		!strings.Contains(out, `"cleared":{"at":`) || !strings.Contains(out, `"counted":false`) {
		t.Errorf("record: %v %s", err, out)
	}
	if out, err = run(police, "clear", ibanNL, "--withdraw"); err != nil || !strings.Contains(out, `"withdrawn":true`) {
		t.Errorf("clear --withdraw: %v %s", err, out)
	}
	if out, err = run(bank, "status", "clear", ibanNL); err != nil {
		t.Errorf("status clear: %v %s", err, out)
	}
	if out, err = run(market, "clear", ibanNL, "--reason", "error"); err == nil || !strings.Contains(out, "forbidden") {
		t.Errorf("a marketplace clearing: %v %s", err, out)
	}
}

// TestClientEventStream: the client's EventStream (Server-Sent Events)
// delivers a report.received that arrives while it is open, with its
// cursor, and ends when its context does.
func TestClientEventStream(t *testing.T) {
	sim := mustSimProc(t).addrs["sim"]
	e := mustEnv(t, "MULEGATE_POLICE_URL", sim, "MULEGATE_FORWARD_WORKERS", "1")
	dir := t.TempDir()
	leaf := e.p.clients["bank-a"]
	cert, key := filepath.Join(dir, "bank.pem"), filepath.Join(dir, "bank-key.pem")
	_ = os.WriteFile(cert, leaf.CertPEM(), 0o600)
	_ = os.WriteFile(key, leaf.KeyPEM(), 0o600)
	c, err := client.New(client.Config{BaseURL: e.gw.api, CertFile: cert, KeyFile: key, CAFile: filepath.Join(e.p.dir, "ca.pem"),
		Token: client.StaticToken(e.p.token(t, "bank-a", nil, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan client.CursorItem[client.Event], 1)
	ended := make(chan error, 1)
	go func() {
		var last error
		for it, err := range c.EventStream(ctx, "", client.EventReportReceived) {
			if err != nil {
				last = err
				break
			}
			got <- it
		}
		ended <- last
	}()
	// Without a cursor the stream shows only what comes next: report once it is open.
	waitfor.Until(t, "the stream to open", 5*time.Second, func() bool { return metric(t, e.gw.ops, "mulegate_alert_streams_open") == "1" })
	market := e.p.client(t, e.p.clients["market-a"])
	res := do(t, market, "POST", e.gw.api+"/v1/reports", e.p.token(t, "market-a", nil, nil),
		`{"iban":"`+ibanNL+`","category":"phishing"}`, "Idempotency-Key", "stream-1")
	id := decodeInto[accepted](t, res).ReportID
	select {
	case it := <-got:
		p, err := it.Item.Payload()
		rr, ok := p.(*client.ReportReceived)
		if err != nil || !ok || rr.ReportID != id || rr.IBAN != ibanNL || rr.ReporterOrg != "market-a" || rr.ReporterType != client.OrgMarketplace || it.Cursor == "" {
			t.Errorf("streamed %+v (payload %+v, %v), want report.received of %s with a cursor", it, p, err, id)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the stream delivered nothing")
	}
	cancel()
	select {
	case <-ended:
	case <-time.After(5 * time.Second):
		t.Error("the stream did not end with its context")
	}
}
