package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/mulegate/mulegate/internal/waitfor"
)

// TestVersion: `mulegate version` says which build runs, and so do the
// ops endpoint (mulegate_build_info) and the startup log line.
func TestVersion(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"version"}, func(string) string { return "" }, &out, &out); err != nil {
		t.Fatal(err)
	}
	var b buildInfo
	if err := json.Unmarshal(out.Bytes(), &b); err != nil || b.Version == "" || !strings.HasPrefix(b.GoVersion, "go") {
		t.Fatalf("mulegate version: %q %v", out.String(), err)
	}
	gw := mustGateway(t, mustPKI(t), mustRedisAddrs(t), "log:\n  level: info\n")
	if got := metric(t, gw.ops, `mulegate_build_info{go_version="`+b.GoVersion+`",revision="`+b.Revision+`",version="`+b.Version+`"}`); got != "1" {
		t.Errorf("mulegate_build_info = %q, want 1", got)
	}
	waitfor.Until(t, "the startup line with the version and the Redis mode", 5*time.Second, func() bool {
		l := gw.stderr.String()
		return strings.Contains(l, `"msg":"mulegate listening"`) && strings.Contains(l, `"version":"`+b.Version+`"`) && strings.Contains(l, `"redis":"`)
	})
}

// TestHelpExitsZero: asking any command for help prints its usage and
// exits 0 (it is not a failure).
func TestHelpExitsZero(t *testing.T) {
	for _, args := range [][]string{{"-h"}, {"dev", "--help"}, {"serve", "-h"}, {"lookup", "-h"}, {"evidence", "verify", "-h"}, {"audit", "verify", "x", "-h"}} {
		out, err := exec.Command(mustBinary(t), args...).CombinedOutput()
		if err != nil || !strings.Contains(strings.ToLower(string(out)), "usage") {
			t.Errorf("mulegate %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	if err := exec.Command(mustBinary(t), "dev", "--no-such-flag").Run(); err == nil {
		t.Error("a bad flag exits 0")
	}
}

// TestConfigCheck: `mulegate config check` accepts a good configuration
// and lists every problem of a bad one, with the key's path, exiting 1.
func TestConfigCheck(t *testing.T) {
	p := mustPKI(t)
	dir := t.TempDir()
	good, bad := dir+"/good.yaml", dir+"/bad.yaml"
	_ = writeFile(good, p.config([]string{"127.0.0.1:6379"}, ""))
	_ = writeFile(bad, strings.Replace(p.config([]string{"127.0.0.1:6379"}, "chains:\n  max_hops: 0\n"), "  listen: 127.0.0.1:0\n", "  lisen: 127.0.0.1:0\n", 1))
	if out, err := exec.Command(mustBinary(t), "config", "check", "--config", good).CombinedOutput(); err != nil || !strings.Contains(string(out), ": ok") {
		t.Errorf("a good configuration: %v %s", err, out)
	}
	out, err := exec.Command(mustBinary(t), "config", "check", "--config", bad).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "unknown key api.lisen, did you mean api.listen?") || !strings.Contains(string(out), "chains.max_hops") {
		t.Errorf("a bad configuration: %v %s", err, out)
	}
}

// TestHealthCommand: `mulegate health` exits 0 against a ready gateway's
// ops endpoint and 1 against one that does not answer.
func TestHealthCommand(t *testing.T) {
	gw := mustGateway(t, mustPKI(t), mustRedisAddrs(t), "")
	if out, err := exec.Command(mustBinary(t), "health", "--url", gw.ops+"/readyz").CombinedOutput(); err != nil || !strings.HasPrefix(string(out), "200 ") {
		t.Errorf("a ready gateway: %v %s", err, out)
	}
	if out, err := exec.Command(mustBinary(t), "health", "--url", "http://127.0.0.1:1/readyz", "--timeout", "1s").CombinedOutput(); err == nil {
		t.Errorf("nothing listening, exit 0: %s", out)
	}
}
