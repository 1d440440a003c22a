package httpapi

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/pprof"
	"sync/atomic"
	"time"

	"github.com/mulegate/mulegate/internal/pemfile"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// TLSFiles name what the API listener's TLS is built from.
type TLSFiles struct {
	CertFile, KeyFile, ClientCAFile string
	CRLFiles                        []string
}

// ServerTLS is the API listener's TLS configuration, swappable while the
// server runs: each new handshake takes the current one, so a SIGHUP
// reload brings a new server certificate, client CA bundle or CRLs to new
// connections while open connections keep going.
type ServerTLS struct {
	cur atomic.Pointer[tls.Config]
	rev atomic.Pointer[revocation]
	gen atomic.Uint64
	// CRLUpdated is the newest thisUpdate of the loaded CRLs (zero: none).
	CRLUpdated atomic.Int64
}

// NewServerTLS loads the files; an error names the key that is wrong.
func NewServerTLS(f TLSFiles) (*ServerTLS, error) {
	s := &ServerTLS{}
	err := s.Reload(f)
	return s, err
}

// Config is for http.Server.TLSConfig: every handshake asks for the
// current configuration.
func (s *ServerTLS) Config() *tls.Config {
	return &tls.Config{
		MinVersion:         tls.VersionTLS12,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) { return s.cur.Load(), nil },
	}
}

// Reload builds a whole new configuration from the files and swaps it in
// only if every file loads: a bad file keeps the running configuration.
func (s *ServerTLS) Reload(f TLSFiles) error {
	cfg, rev, updated, err := buildTLS(f)
	if err != nil {
		return err
	}
	rev.gen = s.gen.Add(1)
	s.cur.Store(cfg)
	s.rev.Store(rev)
	s.CRLUpdated.Store(updated)
	return nil
}

// revocation is what a reload decided about client certificates: the
// revoked ones (CRLs) and the CAs they must chain to. Open connections
// are checked against it on their first request after each reload.
type revocation struct {
	gen     uint64
	revoked map[string]bool // issuer DN + "/" + serial
	roots   *x509.CertPool
}

// refuses says whether the configuration refuses a connection's verified
// chains: a certificate in them is revoked, or the leaf no longer chains
// to the client CA bundle.
func (r *revocation) refuses(chains [][]*x509.Certificate) bool {
	if len(chains) == 0 || len(chains[0]) == 0 {
		return true
	}
	for _, chain := range chains {
		for _, c := range chain {
			if r.revoked[string(c.RawIssuer)+"/"+c.SerialNumber.String()] {
				return true
			}
		}
	}
	leaf := chains[0][0]
	inter := x509.NewCertPool()
	for _, c := range chains[0][1:] {
		inter.AddCert(c)
	}
	_, err := leaf.Verify(x509.VerifyOptions{Roots: r.roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	return err != nil
}

// stillValid checks an open connection's certificate against the current
// configuration, once per reload per connection (a map lookup per request
// otherwise). False: the certificate was revoked or its CA removed since
// the handshake.
func (s *ServerTLS) stillValid(ci *connIdentity, chains [][]*x509.Certificate) bool {
	if s == nil || ci == nil {
		return true
	}
	r := s.rev.Load()
	if r == nil || ci.gen.Load() == r.gen {
		return true
	}
	if r.refuses(chains) {
		return false
	}
	ci.gen.Store(r.gen)
	return true
}

// buildTLS is the TLS 1.2+ configuration that demands a client
// certificate chaining to the client CA bundle (verified in the
// handshake: none, or an unknown CA, fails it) and not revoked by a CRL.
func buildTLS(f TLSFiles) (*tls.Config, *revocation, int64, error) {
	cert, err := pemfile.KeyPair(f.CertFile, f.KeyFile)
	if err != nil {
		return nil, nil, 0, fmt.Errorf("api.cert_file/api.key_file: %w", err)
	}
	cas, err := pemfile.Certs(f.ClientCAFile)
	if err != nil {
		return nil, nil, 0, fmt.Errorf("api.client_ca_file: %w", err)
	}
	pool := x509.NewCertPool()
	for _, c := range cas {
		pool.AddCert(c)
	}
	crls, err := pemfile.CRLs(f.CRLFiles, cas)
	if err != nil {
		return nil, nil, 0, fmt.Errorf("api.client_crl_files: %w", err)
	}
	revoked := map[string]bool{} // issuer DN + serial
	var updated int64
	for _, crl := range crls {
		for _, r := range crl.RevokedCertificateEntries {
			revoked[string(crl.RawIssuer)+"/"+r.SerialNumber.String()] = true
		}
		updated = max(updated, crl.ThisUpdate.Unix())
	}
	cfg := &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pool,
		// The per-handshake configuration must offer HTTP/2 itself: the
		// server adds "h2" only to the outer configuration.
		NextProtos: []string{"h2", "http/1.1"},
	}
	if len(revoked) > 0 {
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			for _, chain := range cs.VerifiedChains {
				for _, c := range chain {
					if revoked[string(c.RawIssuer)+"/"+c.SerialNumber.String()] {
						return errors.New("the client certificate is revoked")
					}
				}
			}
			return nil
		}
	}
	return cfg, &revocation{revoked: revoked, roots: pool}, updated, nil
}

// Check is one readiness dependency: it returns the state to show ("ok",
// "open"…) and whether the gateway can serve with it.
type Check struct {
	Name  string
	Check func(ctx context.Context) (state string, ready bool)
}

// NewOps builds the operations handler: /healthz (the process is alive),
// /readyz (every dependency named, 503 while one that matters is down) and
// /metrics.
func NewOps(checks []Check, metrics prometheus.Gatherer, pprofOn bool) http.Handler {
	mux := http.NewServeMux()
	if pprofOn {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"ok"}`))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), time.Second)
		defer cancel()
		out := map[string]string{}
		ready := true
		for _, c := range checks {
			state, ok := c.Check(ctx)
			out[c.Name] = state
			ready = ready && ok
		}
		w.Header().Set("Content-Type", "application/json")
		if !ready {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		_ = json.NewEncoder(w).Encode(out)
	})
	if metrics != nil {
		mux.Handle("GET /metrics", promhttp.HandlerFor(metrics, promhttp.HandlerOpts{}))
	}
	return mux
}
