package main

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mulegate/mulegate/internal/redistest"
	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
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
	// The dashboard as Grafana imports it (deploy/grafana, a module of
	// its own, checks that this file is what its builder makes).
	dash, err := os.ReadFile("../../deploy/grafana/mulegate.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range metric.FindAllString(string(dash), -1) {
		used[m] = append(used[m], "dashboard")
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

// TestTraceFromReportToPoliceStore: with a tracer provider installed (an
// in-memory exporter here; OTEL_* variables in production), one trace
// runs from a bank's POST /v1/reports, which continues the bank's own
// traceparent, through the Redis steps, to the forwarding call, and the
// police store receives the same trace in its traceparent header. No span
// carries the IBAN, its pseudonym or the token.
func TestTraceFromReportToPoliceStore(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	prev := otel.GetTracerProvider()
	otel.SetTracerProvider(tp)
	t.Cleanup(func() { otel.SetTracerProvider(prev); _ = tp.Shutdown(context.Background()) })

	sim := mustSimProc(t).addrs["sim"]
	e := mustEnv(t, "MULEGATE_POLICE_URL", sim, "MULEGATE_FORWARD_WORKERS", "1")
	bank := e.p.client(t, e.p.clients["bank-a"])
	tok := e.p.token(t, "bank-a", nil, nil)
	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	got := do(t, bank, "POST", e.gw.api+"/v1/reports", tok, `{"iban":"`+ibanNL+`","category":"phishing"}`,
		"Idempotency-Key", "traced-1", "traceparent", "00-"+traceID+"-00f067aa0ba902b7-01")
	if got.status != 202 {
		t.Fatalf("report: %d %s", got.status, got.body)
	}
	var accepted struct {
		ReportID string `json:"report_id"`
	}
	if err := json.Unmarshal(got.body, &accepted); err != nil || accepted.ReportID == "" {
		t.Fatalf("202 body %s: %v", got.body, err)
	}
	waitDelivered(t, sim, []string{accepted.ReportID}, 10*time.Second)

	var rec struct {
		TraceParent string `json:"traceparent"`
	}
	getJSON(t, sim+"/_sim/reports/"+accepted.ReportID, &rec)
	if !strings.HasPrefix(rec.TraceParent, "00-"+traceID+"-") {
		t.Errorf("the police store got traceparent %q, want trace %s", rec.TraceParent, traceID)
	}

	deadline := time.Now().Add(5 * time.Second)
	var names map[string]bool
	for {
		names = map[string]bool{}
		for _, s := range exp.GetSpans() {
			if s.SpanContext.TraceID().String() != traceID {
				continue
			}
			names[s.Name] = true
			for _, a := range s.Attributes {
				v := a.Value.String()
				if strings.Contains(v, ibanNL) || strings.Contains(v, tok) || strings.Contains(v, "ABNA0417164300") {
					t.Errorf("span %q attribute %s holds the IBAN or the token: %q", s.Name, a.Key, v)
				}
			}
		}
		if names["POST /reports"] || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	want := []string{"POST /v1/reports", "redis accept", "POST /reports"}
	if redistest.Topology() == "cluster" { // on one Redis the claim is part of the accept script
		want = append(want, "redis idempotency claim")
	}
	for _, want := range want {
		if !names[want] {
			t.Errorf("no span %q in the trace; got %v", want, names)
		}
	}
}
