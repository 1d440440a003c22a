package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/mulegate/mulegate/internal/pemfile"

	"github.com/mulegate/mulegate/internal/policesim"
)

// cmdPoliceSim runs the police core store simulator.
func cmdPoliceSim(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("policestore-sim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:9200", "listen address")
	var f policesim.Faults
	fs.BoolVar(&f.Down, "down", false, "start down (every connection dropped)")
	fs.IntVar(&f.LatencyMS, "latency-ms", 0, "delay every answer")
	fs.Float64Var(&f.ErrorRate, "error-rate", 0, "fraction of reports answered 503")
	fs.Float64Var(&f.RejectRate, "reject-rate", 0, "fraction of reports answered 422")
	fs.StringVar(&f.RejectReferencePrefix, "reject-reference-prefix", "", "answer 422 to reports whose reference starts with this")
	certFile := fs.String("tls-cert", "", "serve HTTPS with this certificate (PEM)")
	keyFile := fs.String("tls-key", "", "key of --tls-cert")
	clientCA := fs.String("client-ca", "", "with --tls-cert: require client certificates from this CA (mTLS)")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	sim := policesim.New(f)
	srv, scheme, err := newSimServer(sim, *certFile, *keyFile, *clientCA)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("--listen: %w", err)
	}
	if srv.TLSConfig != nil {
		ln = tls.NewListener(ln, srv.TLSConfig)
	}
	fmt.Fprintf(stdout, "sim %s://%s\n", scheme, ln.Addr())
	return runSim(ctx, srv, ln)
}

func newSimServer(sim *policesim.Sim, certFile, keyFile, clientCA string) (*http.Server, string, error) {
	srv := &http.Server{Handler: sim.Handler(), ConnState: sim.ConnState, ReadHeaderTimeout: 5 * time.Second}
	if certFile == "" {
		return srv, "http", nil
	}
	cert, err := pemfile.KeyPair(certFile, keyFile)
	if err != nil {
		return nil, "", fmt.Errorf("--tls-cert: %w", err)
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	if clientCA != "" {
		pool, err := pemfile.CertPool(clientCA)
		if err != nil {
			return nil, "", fmt.Errorf("--client-ca: %w", err)
		}
		tc.ClientCAs = pool
		tc.ClientAuth = tls.RequireAndVerifyClientCert
	}
	srv.TLSConfig = tc
	return srv, "https", nil
}

func runSim(ctx context.Context, srv *http.Server, ln net.Listener) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err := srv.Shutdown(sctx)
		if e := <-errc; !errors.Is(e, http.ErrServerClosed) {
			err = errors.Join(err, e)
		}
		return err
	}
}
