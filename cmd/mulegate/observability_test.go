package main

import (
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/mulegate/mulegate/deploy/grafana"
)

// TestDashboardAndRulesMetricsAreExported: every metric the Grafana
// dashboard (deploy/grafana) and the Prometheus alert rules
// (deploy/prometheus) query is exported by a running gateway, so a
// renamed metric breaks this test rather than an operator's dashboard.
func TestDashboardAndRulesMetricsAreExported(t *testing.T) {
	sim := mustSimProc(t).addrs["sim"]
	e := mustEnv(t, "MULEGATE_POLICE_URL", sim, "MULEGATE_FORWARD_WORKERS", "1")
	bank := e.p.client(t, e.p.clients["bank-a"])
	tok := e.p.token(t, "bank-a", nil, nil)
	do(t, bank, "GET", e.gw.api+"/v1/ibans/"+ibanNL, tok, "")           // requests, latency
	do(t, bank, "GET", e.gw.api+"/v1/ibans/"+ibanNL, "not-a-token", "") // an auth failure
	resp, err := http.Get(e.gw.ops + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	exported := map[string]bool{}
	for _, line := range strings.Split(readAll(resp), "\n") {
		if name, ok := strings.CutPrefix(line, "# TYPE "); ok {
			name, typ, _ := strings.Cut(name, " ")
			exported[name] = true
			if typ == "histogram" {
				exported[name+"_bucket"], exported[name+"_sum"], exported[name+"_count"] = true, true, true
			}
		}
	}
	rules, err := os.ReadFile("../../deploy/prometheus/mulegate.rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	metric := regexp.MustCompile(`mulegate_[a-z_]+`)
	used := map[string][]string{}
	for _, q := range grafana.Queries() {
		for _, m := range metric.FindAllString(q, -1) {
			used[m] = append(used[m], "dashboard")
		}
	}
	for _, m := range metric.FindAllString(string(rules), -1) {
		used[m] = append(used[m], "rules")
	}
	if len(used) < 15 {
		t.Fatalf("only %d metrics found in the dashboard and rules", len(used))
	}
	for m, by := range used {
		if !exported[m] {
			slices.Sort(by)
			t.Errorf("%s (used by %s) is not exported by the gateway", m, strings.Join(slices.Compact(by), ", "))
		}
	}
}
