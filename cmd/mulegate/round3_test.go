package main

import (
	"testing"
)

// Regression tests for the findings of the round-2 reviews (issue 21;
// SPEC Part 3, "Guarantees made precise"), run against the real server.

// TestCursorBeyondAnyIssued (issue 21.17): a cursor the gateway could
// never have issued, and a wait that overflows a duration, are 400 on the
// alert and event feeds and over SSE, never 500 or a silent stream.
func TestCursorBeyondAnyIssued(t *testing.T) {
	a := mustAlertEnv(t)
	for _, route := range []string{"/v1/alerts", "/v1/events"} {
		for _, cur := range []string{"18446744073709551615-18446744073709551615", "1-18446744073709551615", "99999999999999-0"} {
			got := do(t, a.bankA, "GET", a.gw.api+route+"?after="+cur, a.aTok, "")
			if got.status != 400 || problemCode(t, got) != "invalid_request" {
				t.Errorf("%s after=%s: %d %s", route, cur, got.status, got.body)
			}
			got = do(t, a.bankA, "GET", a.gw.api+route+"/stream", a.aTok, "", "Last-Event-ID", cur)
			if got.status != 400 || problemCode(t, got) != "invalid_request" {
				t.Errorf("%s/stream Last-Event-ID=%s: %d %s", route, cur, got.status, got.body)
			}
		}
		for _, w := range []string{"9223372036854775807", "9223372036", "31", "-1"} {
			got := do(t, a.bankA, "GET", a.gw.api+route+"?wait="+w, a.aTok, "")
			if got.status != 400 || problemCode(t, got) != "invalid_request" {
				t.Errorf("%s wait=%s: %d %s", route, w, got.status, got.body)
			}
		}
	}
	if n := metricSum(t, a.gw.ops, "mulegate_redis_errors_total"); n != 0 {
		t.Errorf("%v Redis errors counted for bad cursors", n)
	}
}
