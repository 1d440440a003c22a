package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/mulegate/mulegate/client"
	"github.com/mulegate/mulegate/internal/config"
	"github.com/mulegate/mulegate/internal/console"
)

// cmdConsole is "mulegate console --config FILE" (the web console of one
// org) and "mulegate console passwd NAME" (a users file line).
func cmdConsole(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "passwd" {
		return cmdConsolePasswd(args[1:], os.Stdin, stdout, stderr)
	}
	fs := flag.NewFlagSet("console", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "the configuration file (its console section)")
	if err := fs.Parse(args); err != nil || fs.NArg() != 0 || *path == "" {
		fmt.Fprintln(stderr, "usage: mulegate console --config FILE   |   mulegate console passwd NAME < password")
		return errUsage
	}
	cfg, err := config.LoadConsole(*path, getenv)
	if err != nil {
		return err
	}
	log := newLogger(stderr, cfg.Log.Level)
	srv, err := newConsole(cfg, log)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Console.Listen)
	if err != nil {
		return fmt.Errorf("console.listen: %w", err)
	}
	return serveConsole(ctx, srv, ln, cfg, log, stdout)
}

// newConsole builds the console of cfg's console section.
func newConsole(cfg config.Config, log *slog.Logger) (*console.Server, error) {
	k := cfg.Console
	ccfg := client.Config{BaseURL: k.API.URL, CertFile: k.API.CertFile, KeyFile: k.API.KeyFile, CAFile: k.API.CAFile,
		TokenURL: k.API.TokenURL, ClientID: k.API.ClientID, Scopes: k.API.Scopes, UserAgent: "mulegate-console/" + readBuildInfo().Version}
	if k.API.TokenFile != "" {
		ccfg.Token = client.TokenFile(k.API.TokenFile)
	}
	c, err := client.New(ccfg)
	if err != nil {
		return nil, fmt.Errorf("console.api: %w", err)
	}
	opt := console.Options{Client: c, UserHeader: k.UserHeader, SessionTTL: k.SessionTTL.D(), Secure: k.TLSCertFile != "", Log: log}
	if opt.Proxies, err = console.ParseProxies(k.TrustedProxies); err != nil {
		return nil, err
	}
	if k.UsersFile != "" {
		if opt.Users, err = console.LoadUsers(k.UsersFile); err != nil {
			return nil, err
		}
	}
	opt.Local = k.UserHeader == "" && k.UsersFile == "" // config allows it on loopback only
	return console.New(opt)
}

// serveConsole serves srv on ln until ctx ends.
func serveConsole(ctx context.Context, srv http.Handler, ln net.Listener, cfg config.Config, log *slog.Logger, stdout io.Writer) error {
	k := cfg.Console
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 30 * time.Second, IdleTimeout: 120 * time.Second}
	scheme := "http"
	if k.TLSCertFile != "" {
		cert, err := tls.LoadX509KeyPair(k.TLSCertFile, k.TLSKeyFile)
		if err != nil {
			return fmt.Errorf("console.tls_cert_file: %w", err)
		}
		hs.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
		ln = tls.NewListener(ln, hs.TLSConfig)
		scheme = "https"
	}
	fmt.Fprintf(stdout, "console %s://%s\n", scheme, ln.Addr())
	log.Info("mulegate console listening", "addr", ln.Addr().String(), "api", k.API.URL, "users", userMode(k.UserHeader, k.UsersFile))
	done := make(chan error, 1)
	go func() { done <- hs.Serve(ln) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = hs.Shutdown(sctx) // event streams end with their requests' contexts
	if err := <-done; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func userMode(header, usersFile string) string {
	switch {
	case header != "" && usersFile != "":
		return "proxy header " + header + ", or password"
	case header != "":
		return "proxy header " + header
	case usersFile != "":
		return "password"
	}
	return "local"
}

// cmdConsolePasswd prints a users file line for NAME with the password
// read from stdin (one line).
func cmdConsolePasswd(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) != 1 {
		fmt.Fprintln(stderr, "usage: mulegate console passwd NAME < password   (prints the users file line)")
		return errUsage
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	out, err := console.HashLine(args[0], strings.TrimRight(line, "\r\n"))
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, out)
	return nil
}
