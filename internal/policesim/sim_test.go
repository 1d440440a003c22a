package policesim

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func post(t *testing.T, url, key, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", url+"/reports", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var ans struct {
		PoliceReference string `json:"police_reference"`
	}
	_ = json.Unmarshal(b, &ans)
	return resp.StatusCode, ans.PoliceReference
}

const body = `{"report_id":"r1","iban":"NL91ABNA0417164300","category":"phishing","reporter_org":"bank-a","reporter_type":"bank","received_at":"2026-11-28T00:00:00Z"}`

func TestSimulatorContract(t *testing.T) {
	sim := New(Faults{})
	srv := httptest.NewServer(sim.Handler())
	defer srv.Close()

	status, ref := post(t, srv.URL, "r1", body)
	if status != 201 || ref == "" {
		t.Fatalf("first POST = %d %q, want 201 with a reference", status, ref)
	}
	status, again := post(t, srv.URL, "r1", body)
	if status != 200 || again != ref {
		t.Fatalf("repeat = %d %q, want 200 %q", status, again, ref)
	}
	if rec, _ := sim.Record("r1"); rec.Deliveries != 2 || sim.Stats().Unique != 1 {
		t.Fatalf("record = %+v stats = %+v", rec, sim.Stats())
	}
	for name, tc := range map[string]struct{ key, body string }{
		"no key":        {"", body},
		"key mismatch":  {"r2", body},
		"extra field":   {"r1", strings.Replace(body, `"category"`, `"colour":"red","category"`, 1)},
		"missing field": {"r1", strings.Replace(body, `"reporter_org":"bank-a",`, "", 1)},
	} {
		if status, _ := post(t, srv.URL, tc.key, tc.body); status != 400 {
			t.Errorf("%s: status %d, want 400", name, status)
		}
	}
	sim.SetFaults(Faults{Down: true})
	if status, _ := post(t, srv.URL, "r3", strings.ReplaceAll(body, "r1", "r3")); status != 0 {
		t.Errorf("down: got an answer %d, want a dropped connection", status)
	}
	sim.SetFaults(Faults{RejectReferencePrefix: "no-"})
	rej := strings.Replace(body, `"category"`, `"reference":"no-1","category"`, 1)
	if status, _ := post(t, srv.URL, "r1", rej); status != 422 {
		t.Errorf("reject prefix: %d, want 422", status)
	}
	sim.SetFaults(Faults{ErrorRate: 1})
	if status, _ := post(t, srv.URL, "r1", body); status != 503 {
		t.Errorf("error rate 1: %d, want 503", status)
	}
}
