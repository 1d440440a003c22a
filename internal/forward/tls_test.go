package forward_test

import (
	"context"
	"crypto/tls"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/mulegate/mulegate/internal/devenv"
	"github.com/mulegate/mulegate/internal/forward"
	"github.com/mulegate/mulegate/internal/policesim"
	"github.com/mulegate/mulegate/internal/report"
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

	e := report.OutboxEntry{ReportID: "r-tls", Body: []byte(`{"report_id":"r-tls","iban":"NL91ABNA0417164300","category":"other","reporter_org":"bank-a","reporter_type":"bank","received_at":"2026-11-28T00:00:00Z"}`)}
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

// TestOutcomes: how each police store answer is classified.
func TestOutcomes(t *testing.T) {
	for _, tc := range []struct {
		faults policesim.Faults
		want   forward.Outcome
	}{
		{policesim.Faults{}, forward.Delivered},
		{policesim.Faults{ErrorRate: 1}, forward.Retry},
		{policesim.Faults{RejectRate: 1}, forward.Rejected},
		{policesim.Faults{Down: true}, forward.Retry},
	} {
		sim := policesim.New(tc.faults)
		hs := httptest.NewServer(sim.Handler())
		c, _ := forward.NewClient(forward.ClientConfig{URL: hs.URL})
		res := c.Send(context.Background(), report.OutboxEntry{ReportID: "r1",
			Body: []byte(`{"report_id":"r1","iban":"NL91ABNA0417164300","category":"other","reporter_org":"b","reporter_type":"bank","received_at":"2026-11-28T00:00:00Z"}`)})
		if res.Outcome != tc.want {
			t.Errorf("faults %+v: outcome %v (%s), want %v", tc.faults, res.Outcome, res.Reason, tc.want)
		}
		hs.Close()
	}
}
