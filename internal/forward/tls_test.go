package forward_test

import (
	"context"
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mulegate/mulegate/internal/outbox"

	"github.com/mulegate/mulegate/internal/devenv"
	"github.com/mulegate/mulegate/internal/forward"
	"github.com/mulegate/mulegate/internal/policesim"
)

// TestClientOverMutualTLS: the police store URL may be https:// with a
// client certificate of the gateway's own; a gateway without one is not
// let in.
func TestClientOverMutualTLS(t *testing.T) {
	ca, _ := devenv.NewCA("police CA")
	srvLeaf, _ := ca.IssueServer("127.0.0.1")
	gwLeaf, _ := ca.IssueClient("mulegate-gateway")
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	caFile := write("ca.pem", ca.CertPEM())
	certFile, keyFile := write("gw.pem", gwLeaf.CertPEM()), write("gw-key.pem", gwLeaf.KeyPEM())

	sim := policesim.New(policesim.Faults{})
	hs := httptest.NewUnstartedServer(sim.Handler())
	hs.TLS = &tls.Config{Certificates: []tls.Certificate{srvLeaf.TLS()}, ClientCAs: ca.Pool(), ClientAuth: tls.RequireAndVerifyClientCert}
	hs.StartTLS()
	defer hs.Close()

	e := outbox.Entry{ReportID: "r-tls", Body: []byte(`{"report_id":"r-tls","iban":"NL91ABNA0417164300","category":"other","reporter_org":"bank-a","reporter_type":"bank","received_at":"2026-11-28T00:00:00Z"}`)}
	c, err := forward.NewClient(forward.ClientConfig{URL: hs.URL, CAFile: caFile, CertFile: certFile, KeyFile: keyFile})
	if err != nil {
		t.Fatal(err)
	}
	if res := c.Send(context.Background(), e); res.Outcome != forward.Delivered || res.PoliceRef == "" {
		t.Fatalf("with a client certificate: %+v", res)
	}
	anon, _ := forward.NewClient(forward.ClientConfig{URL: hs.URL, CAFile: caFile})
	if res := anon.Send(context.Background(), e); res.Outcome != forward.Retry {
		t.Fatalf("without a client certificate: %+v, want a failed call", res)
	}
}

// TestOutcomes: how each police store answer is classified. Only 400 and
// 422 reject a report; redirects are never followed, and every other
// answer (our own misconfiguration, mostly) is "try later". last_error
// never carries the store's body or an address.
func TestOutcomes(t *testing.T) {
	for _, tc := range []struct {
		name   string
		faults policesim.Faults
		want   forward.Outcome
	}{
		{"201 new", policesim.Faults{}, forward.Delivered},
		{"409 known", policesim.Faults{Status: 409}, forward.Delivered},
		{"503 injected", policesim.Faults{ErrorRate: 1}, forward.Retry},
		{"422 injected", policesim.Faults{RejectRate: 1}, forward.Rejected},
		{"400", policesim.Faults{Status: 400}, forward.Rejected},
		{"422", policesim.Faults{Status: 422}, forward.Rejected},
		{"down", policesim.Faults{Down: true}, forward.Retry},
		{"301", policesim.Faults{Status: 301}, forward.Retry},
		{"302", policesim.Faults{Status: 302}, forward.Retry},
		{"303", policesim.Faults{Status: 303}, forward.Retry},
		{"307", policesim.Faults{Status: 307}, forward.Retry},
		{"308", policesim.Faults{Status: 308}, forward.Retry},
		{"401", policesim.Faults{Status: 401}, forward.Retry},
		{"403", policesim.Faults{Status: 403}, forward.Retry},
		{"404", policesim.Faults{Status: 404}, forward.Retry},
		{"405", policesim.Faults{Status: 405}, forward.Retry},
		{"407", policesim.Faults{Status: 407}, forward.Retry},
		{"408", policesim.Faults{Status: 408}, forward.Retry},
		{"413", policesim.Faults{Status: 413}, forward.Retry},
		{"429", policesim.Faults{Status: 429}, forward.Retry},
		{"500", policesim.Faults{Status: 500}, forward.Retry},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sim := policesim.New(tc.faults)
			hs := httptest.NewServer(sim.Handler())
			defer hs.Close()
			c, err := forward.NewClient(forward.ClientConfig{URL: hs.URL})
			if err != nil {
				t.Fatal(err)
			}
			res := c.Send(context.Background(), outbox.Entry{ReportID: "r1",
				Body: []byte(`{"report_id":"r1","iban":"NL91ABNA0417164300","category":"other","reporter_org":"b","reporter_type":"bank","received_at":"2026-11-28T00:00:00Z"}`)})
			if res.Outcome != tc.want {
				t.Errorf("outcome %v (%s), want %v", res.Outcome, res.Reason, tc.want)
			}
			host := strings.TrimPrefix(hs.URL, "http://")
			for _, leak := range []string{host, "127.0.0.1", "police.internal", "injected", "{"} {
				if strings.Contains(res.Reason, leak) {
					t.Errorf("reason %q leaks %q", res.Reason, leak)
				}
			}
			if rec, _ := sim.Record("r1"); rec.Posts > 1 {
				t.Errorf("the store saw %d requests for one attempt (a redirect was followed?)", rec.Posts)
			}
		})
	}
}

// TestUnreachableReasonHidesTheAddress: a connection error's last_error
// says what happened, not where.
func TestUnreachableReasonHidesTheAddress(t *testing.T) {
	hs := httptest.NewServer(http.NotFoundHandler())
	url := hs.URL
	hs.Close() // nothing listens there now
	c, err := forward.NewClient(forward.ClientConfig{URL: url, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	res := c.Send(context.Background(), outbox.Entry{ReportID: "r1", Body: []byte(`{}`)})
	if res.Outcome != forward.Retry {
		t.Fatalf("outcome %v, want retry", res.Outcome)
	}
	if want := "police store unreachable (connection refused)"; res.Reason != want {
		t.Errorf("reason %q, want %q", res.Reason, want)
	}
}
