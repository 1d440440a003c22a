package httpapi

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/mulegate/mulegate/internal/pemfile"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// TLSConfig builds the API listener's TLS configuration: TLS 1.2 minimum
// (1.3 is preferred by Go's defaults), and a client certificate that must
// chain to the client CA bundle, verified during the handshake. A missing
// certificate or an unknown CA fails the handshake itself.
func TLSConfig(certFile, keyFile, clientCAFile string) (*tls.Config, error) {
	cert, err := pemfile.KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("api.cert_file/api.key_file: %w", err)
	}
	pool, err := pemfile.CertPool(clientCAFile)
	if err != nil {
		return nil, fmt.Errorf("api.client_ca_file: %w", err)
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pool,
	}, nil
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
