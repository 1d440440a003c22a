package client_test

import (
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/mulegate/mulegate/client"
)

// exampleClient is a client of a stand-in gateway that answers the
// examples as a real one would (the answers are the contract's examples),
// so that the examples run under go test. In your code:
//
//	c, err := client.New(client.Config{BaseURL: "https://mulegate.example:8443",
//		CertFile: "bank.pem", KeyFile: "bank-key.pem", CAFile: "ca.pem",
//		TokenURL: "https://idp.example/token", Purpose: "payment_check"})
func exampleClient() *client.Client {
	answers := map[string]string{
		"GET /v1/ibans/NL91ABNA0417164300": `{"iban":"NL91ABNA0417164300","country":"NL","bank_code":"ABNA","report_count":2,"reporter_count":2,"reports_last_30_days":2,` +
			`"by_category":{"helpdesk_fraud":1,"phishing":1},"risk":"medium","risk_reasons":["reporters>=2"],"score":49,` +
			`"review":{"open":1,"confirmed":1,"disputed":0},"cancelled_count":0,"cleared_count":0,"marker":null,` +
			`"chain":{"linked_reports":0,"min_hop":null,"confirmed_upstream":false}}`,
		"POST /v1/reports": `{"report_id":"d02a96b956f1645aad6abb910bc6ad31","status":"queued","iban":"DE89370400440532013000","report_count":3}`,
		"GET /v1/events": `{"events":[{"event_id":"3f81b8f049e2dac759435f305ea90e7a","type":"report.received","created_at":"2026-12-02T01:16:38.548Z","cursor":"1796174198548-0",` +
			`"data":{"report_id":"d02a96b956f1645aad6abb910bc6ad31","iban":"DE89370400440532013000","category":"phishing","amount":{"value":"249.95","currency":"EUR"},` +
			`"reporter_org":"demo-market","reporter_type":"marketplace","received_at":"2026-12-02T01:16:38.545Z","respond_by":"2026-12-09T01:16:38.545Z"}},` +
			`{"event_id":"9a0c","type":"iban.threshold","created_at":"2026-12-02T01:17:00Z","cursor":"1796174220000-0",` +
			`"data":{"iban":"DE89370400440532013000","reporter_count":3,"report_count":4,"window":"30d"}}],"next_cursor":"1796174220000-0"}`,
		"POST /v1/reports/d02a96b956f1645aad6abb910bc6ad31/close": `{"report_id":"d02a96b956f1645aad6abb910bc6ad31","status":"forwarded","attempts":1,` +
			`"received_at":"2026-12-02T01:16:38.545Z","forwarded_at":"2026-12-02T01:16:38.600Z","police_reference":"PZ-77","last_error":null,` +
			`"review":{"state":"closed","holder_org":"demo-bank","result":"agreed","fraud_type":"mule_account","closed_at":"2026-12-02T09:00:00Z","overdue":false}}`,
	}
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := r.Method + " " + strings.ReplaceAll(r.URL.Path, " ", "") // the gateway normalises IBANs
		if r.URL.Path == "/v1/events" && r.URL.Query().Get("after") != "" {
			key = "empty"
		}
		body, ok := answers[key]
		w.Header().Set("Content-Type", "application/json")
		switch {
		case key == "empty":
			_, _ = w.Write([]byte(`{"events":[],"next_cursor":"` + r.URL.Query().Get("after") + `"}`))
		case !ok:
			w.WriteHeader(http.StatusNotFound)
		case strings.HasSuffix(key, "/v1/reports"):
			w.WriteHeader(http.StatusAccepted)
			_, _ = w.Write([]byte(body))
		default:
			_, _ = w.Write([]byte(body))
		}
	}))
	c, err := client.New(client.Config{BaseURL: srv.URL, HTTPClient: srv.Client(), Token: client.StaticToken("token")})
	if err != nil {
		panic(err)
	}
	return c
}
