// Package grafana builds mulegate's Grafana dashboard from Go with the
// Grafana Foundation SDK, so the panels' queries and mulegate's metric
// names are kept together and tested (dashboard_test.go checks that the
// committed mulegate.json is what Dashboard builds; cmd/mulegate checks
// that a running gateway exports every metric it queries).
//
//	cd deploy/grafana && go test -run TestDashboardJSON -update   # rewrite mulegate.json
package grafana

import (
	"encoding/json"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
)

// A panel: a title, its unit and its queries (PromQL, legend).
type panel struct {
	title, unit, help string
	stat              bool // a single number instead of a time series
	queries           []query
	// mappings show a stat's values as words and colours (value -> text,
	// colour).
	mappings map[string][2]string
}

type query struct{ expr, legend string }

// row is a dashboard row of panels.
type row struct {
	title  string
	panels []panel
}

// sel is the selector every query carries: the job variable.
const sel = `job=~"$job"`

var rows = []row{
	{"API traffic", []panel{
		{title: "Requests by route and status", unit: "reqps", queries: []query{
			{`sum by (route, status) (rate(mulegate_http_requests_total{` + sel + `}[$__rate_interval]))`, "{{route}} {{status}}"}}},
		{title: "Latency p50 / p99 by route", unit: "s", queries: []query{
			{`histogram_quantile(0.5, sum by (route, le) (rate(mulegate_http_request_duration_seconds_bucket{` + sel + `}[$__rate_interval])))`, "p50 {{route}}"},
			{`histogram_quantile(0.99, sum by (route, le) (rate(mulegate_http_request_duration_seconds_bucket{` + sel + `}[$__rate_interval])))`, "p99 {{route}}"}}},
		{title: "5xx ratio", unit: "percentunit", queries: []query{
			{`sum(rate(mulegate_http_requests_total{` + sel + `,status=~"5.."}[$__rate_interval])) / sum(rate(mulegate_http_requests_total{` + sel + `}[$__rate_interval]))`, "5xx"}}},
	}},
	{"Authentication and limits", []panel{
		{title: "Auth failures by code", unit: "reqps", help: "401 and 403 answers by problem code.", queries: []query{
			{`sum by (status, code) (rate(mulegate_auth_failures_total{` + sel + `}[$__rate_interval]))`, "{{status}} {{code}}"}}},
		{title: "Token cache hit ratio", unit: "percentunit", queries: []query{
			{`sum(rate(mulegate_token_cache_total{` + sel + `,result="hit"}[$__rate_interval])) / sum(rate(mulegate_token_cache_total{` + sel + `}[$__rate_interval]))`, "hit ratio"}}},
		{title: "Rate-limit refusals by org type", unit: "reqps", queries: []query{
			{`sum by (org_type, class) (rate(mulegate_rate_limited_total{` + sel + `}[$__rate_interval]))`, "{{org_type}} {{class}}"}}},
		{title: "Client CRL age", unit: "s", stat: true, help: "0: no CRL configured. Alert MulegateCRLStale at 36 h.", queries: []query{
			{`max(mulegate_crl_age_seconds{` + sel + `})`, "age"}}},
	}},
	{"Redis", []panel{
		{title: "Redis errors by operation", unit: "ops", queries: []query{
			{`sum by (op) (rate(mulegate_redis_errors_total{` + sel + `}[$__rate_interval]))`, "{{op}}"}}},
	}},
	{"Police store", []panel{
		{title: "Breaker state", stat: true, help: "0 closed, 1 half-open, 2 open.",
			mappings: map[string][2]string{"0": {"closed", "green"}, "1": {"half-open", "orange"}, "2": {"open", "red"}}, queries: []query{
				{`max(mulegate_police_breaker_state{` + sel + `})`, "state"}}},
		{title: "Breaker trips", unit: "short", queries: []query{
			{`sum by (source) (increase(mulegate_police_breaker_trips_total{` + sel + `}[$__rate_interval]))`, "{{source}}"}}},
		{title: "Forward outcomes", unit: "ops", queries: []query{
			{`sum by (result) (rate(mulegate_forward_attempts_total{` + sel + `}[$__rate_interval]))`, "{{result}}"}}},
		{title: "Police store call p99", unit: "s", queries: []query{
			{`histogram_quantile(0.99, sum by (le) (rate(mulegate_forward_duration_seconds_bucket{` + sel + `}[$__rate_interval])))`, "p99"}}},
	}},
	{"Outbox", []panel{
		{title: "Outbox depth", unit: "short", help: "Reports waiting (queued or in flight), all partitions.", queries: []query{
			{`sum(mulegate_outbox_depth{` + sel + `})`, "depth"}}},
		{title: "Oldest queued report", unit: "s", help: "Alert MulegateOutboxStale at 15 minutes.", queries: []query{
			{`max(mulegate_outbox_oldest_age_seconds{` + sel + `})`, "oldest"}}},
	}},
	{"Reviews", []panel{
		{title: "Review actions", unit: "ops", queries: []query{
			{`sum by (action) (rate(mulegate_reviews_total{` + sel + `}[$__rate_interval]))`, "{{action}}"}}},
		{title: "Open reviews (backlog) by holding bank", unit: "short", queries: []query{
			{`sum by (holder) (mulegate_reviews_open{` + sel + `})`, "{{holder}}"}}},
		{title: "Overdue reviews by holding bank", unit: "short", help: "Past respond_by; alert MulegateOverdueReviewsGrowing.", queries: []query{
			{`sum by (holder) (mulegate_reviews_overdue{` + sel + `})`, "{{holder}}"}}},
	}},
	{"Recoveries", []panel{
		{title: "Recovery steps", unit: "ops", help: "Requests, holds, returns, rejections and releases that changed a recovery.", queries: []query{
			{`sum by (action) (rate(mulegate_recoveries_total{` + sel + `}[$__rate_interval]))`, "{{action}}"}}},
		{title: "Overdue recoveries by holding bank", unit: "short",
			help: "Not held by hold_by, or not answered by answer_by; alert MulegateRecoveriesOverdue.", queries: []query{
				{`sum by (holder) (mulegate_recoveries_overdue{` + sel + `})`, "{{holder}}"}}},
	}},
	{"Events and alerts", []panel{
		{title: "Events written into banks' feeds", unit: "ops", queries: []query{
			{`sum by (type) (rate(mulegate_events_written_total{` + sel + `}[$__rate_interval]))`, "{{type}}"}}},
		{title: "Events delivered to banks", unit: "ops", queries: []query{
			{`sum by (type, via) (rate(mulegate_events_delivered_total{` + sel + `}[$__rate_interval]))`, "{{type}} {{via}}"}}},
		{title: "Alerts created and delivered", unit: "ops", queries: []query{
			{`sum(rate(mulegate_alerts_created_total{` + sel + `}[$__rate_interval]))`, "created"},
			{`sum by (via) (rate(mulegate_alerts_delivered_total{` + sel + `}[$__rate_interval]))`, "delivered {{via}}"}}},
		{title: "Open alert streams", unit: "short", stat: true, queries: []query{
			{`sum(mulegate_alert_streams_open{` + sel + `})`, "streams"}}},
	}},
	{"Audit trail", []panel{
		{title: "Audit records written and failed", unit: "ops", help: "failed must stay 0: the gateway answers 503 while the trail cannot be written (alert MulegateAuditTrailFailing).", queries: []query{
			{`sum by (result) (rate(mulegate_audit_records_total{` + sel + `}[$__rate_interval]))`, "{{result}}"}}},
	}},
}

// Queries are every PromQL expression the dashboard runs.
func Queries() []string {
	var out []string
	for _, r := range rows {
		for _, p := range r.panels {
			for _, q := range p.queries {
				out = append(out, q.expr)
			}
		}
	}
	return out
}

// Dashboard builds the dashboard. It stays on the v1 dashboard schema
// (the SDK marks it deprecated in favour of dashboardv2): v1 JSON is what
// Grafana 10 and 11 import through the UI and provisioning, and v2 needs
// Grafana 12's new dashboard API. Revisit when operators run Grafana 12.
//
//nolint:staticcheck // SA1019: see above
func Dashboard() (dashboard.Dashboard, error) {
	ds := common.DataSourceRef{Type: cog.ToPtr("prometheus"), Uid: cog.ToPtr("${datasource}")}
	b := dashboard.NewDashboardBuilder("mulegate").
		Uid("mulegate").
		Tags([]string{"mulegate"}).
		Description("mulegate gateway: API, auth and limits, Redis, the police store, outbox, reviews, feeds, audit. Generated by deploy/grafana (Go); do not edit the JSON by hand.").
		Refresh("30s").
		Time("now-6h", "now").
		Timezone(common.TimeZoneBrowser).
		WithVariable(dashboard.NewDatasourceVariableBuilder("datasource").Label("Data source").Type("prometheus")).
		WithVariable(dashboard.NewQueryVariableBuilder("job").Label("Job").
			Query(dashboard.StringOrMap{String: cog.ToPtr("label_values(mulegate_http_requests_total, job)")}).
			Datasource(ds).IncludeAll(true).Multi(true).Refresh(dashboard.VariableRefreshOnTimeRangeChanged))
	for _, r := range rows {
		b = b.WithRow(dashboard.NewRowBuilder(r.title))
		for _, p := range r.panels {
			b = b.WithPanel(build(p, ds))
		}
	}
	return b.Build()
}

func build(p panel, ds common.DataSourceRef) cog.Builder[dashboard.Panel] {
	if p.stat {
		s := stat.NewPanelBuilder().Title(p.title).Description(p.help).Datasource(ds).Span(6).Height(6)
		if p.unit != "" {
			s = s.Unit(p.unit)
		}
		for _, q := range p.queries {
			s = s.WithTarget(prometheus.NewDataqueryBuilder().Expr(q.expr).LegendFormat(q.legend).Datasource(ds))
		}
		if len(p.mappings) > 0 {
			opts := map[string]dashboard.ValueMappingResult{}
			for v, tc := range p.mappings {
				opts[v] = dashboard.ValueMappingResult{Text: cog.ToPtr(tc[0]), Color: cog.ToPtr(tc[1])}
			}
			s = s.Mappings([]dashboard.ValueMapping{{ValueMap: &dashboard.ValueMap{Type: dashboard.MappingTypeValueToText, Options: opts}}})
		}
		return s
	}
	t := timeseries.NewPanelBuilder().Title(p.title).Description(p.help).Datasource(ds).Span(8).Height(8).Min(0)
	if p.unit != "" {
		t = t.Unit(p.unit)
	}
	for _, q := range p.queries {
		t = t.WithTarget(prometheus.NewDataqueryBuilder().Expr(q.expr).LegendFormat(q.legend).Datasource(ds))
	}
	return t
}

// JSON is the dashboard as committed in mulegate.json.
func JSON() ([]byte, error) {
	d, err := Dashboard()
	if err != nil {
		return nil, err
	}
	out, err := json.MarshalIndent(d, "", "  ")
	return append(out, '\n'), err
}
