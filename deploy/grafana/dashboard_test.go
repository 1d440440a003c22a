package grafana

import (
	"bytes"
	"flag"
	"os"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite mulegate.json from Dashboard")

// TestDashboardJSON: the committed dashboard is what the Go code builds,
// so the JSON cannot drift from the queries (and the metric names) here.
func TestDashboardJSON(t *testing.T) {
	got, err := JSON()
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile("mulegate.json", got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile("mulegate.json")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("mulegate.json is not what Dashboard builds: run (cd deploy/grafana && go test -run TestDashboardJSON -update)")
	}
	for _, q := range Queries() {
		if !strings.Contains(q, `job=~"$job"`) {
			t.Errorf("a query without the job selector: %s", q)
		}
	}
	for _, row := range []string{"API traffic", "Authentication and limits", "Redis", "Police store", "Outbox", "Reviews", "Events and alerts", "Audit trail"} {
		if !bytes.Contains(got, []byte(`"title": "`+row+`"`)) {
			t.Errorf("no row %q", row)
		}
	}
}
