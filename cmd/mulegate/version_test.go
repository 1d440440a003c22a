package main

import (
	"bytes"
	"context"
	"encoding/json"
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
