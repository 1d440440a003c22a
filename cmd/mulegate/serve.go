package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/mulegate/mulegate/internal/audit"
	"github.com/mulegate/mulegate/internal/config"
	"github.com/mulegate/mulegate/internal/evidence"
	"github.com/mulegate/mulegate/internal/forward"
	"github.com/mulegate/mulegate/internal/httpapi"
	"github.com/mulegate/mulegate/internal/store"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/sync/errgroup"
)

func cmdServe(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", getenv("MULEGATE_CONFIG"), "YAML configuration file (or MULEGATE_CONFIG)")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	cfg, err := config.Load(*path, getenv)
	if err != nil {
		return err
	}
	return serve(ctx, cfg, *path, getenv, stdout, stderr, nil)
}

// listenBoth binds the API and the ops listeners.
func listenBoth(cfg config.Config) (api, ops net.Listener, err error) {
	if api, err = net.Listen("tcp", cfg.API.Listen); err != nil {
		return nil, nil, fmt.Errorf("api.listen: %w", err)
	}
	if ops, err = net.Listen("tcp", cfg.Ops.Listen); err != nil {
		api.Close()
		return nil, nil, fmt.Errorf("ops.listen: %w", err)
	}
	return api, ops, nil
}

// gatewayServer is a built, not yet running "mulegate serve".
type gatewayServer struct {
	c        *core
	cfg      config.Config
	authn    *authn
	relay    *forward.Relay // nil when this process does not forward
	hub      *store.AlertHub
	api, ops *http.Server
	stopping chan struct{} // closed on shutdown: long polls answer, streams end
	drained  []func()      // run in order once the last request has been answered, before the audit trail closes
	tls      *httpapi.ServerTLS
	audit    *audit.Writer
	lookups  *store.LookupLog
	signer   *evidence.Signer // nil without evidence.signing_key_file
	trail    *trail           // nil without evidence.*
	// auditPath is the audit file written now (a SIGHUP that changes
	// audit.path rotates the trail to it).
	auditPath string
}

func (c *core) gateway(ctx context.Context, cfg config.Config, stdout io.Writer) (*gatewayServer, error) {
	if err := c.st.CheckLayout(ctx); err != nil {
		return nil, err
	}
	g := &gatewayServer{c: c, cfg: cfg, hub: c.st.NewAlertHub(), stopping: make(chan struct{})}
	m := httpapi.NewMetrics(c.reg)
	httpapi.RegisterReviewBacklog(c.reg, c.st, c.orgs.Banks)
	httpapi.RegisterRecoveriesOverdue(c.reg, c.st.Feeds, c.orgs.Banks)
	c.reg.MustRegister(newEventsTrimmed(c.st, c.orgs.Banks))
	var err error
	if g.authn, err = c.newAuthn(ctx, cfg, m); err != nil {
		return nil, err
	}
	if cfg.Forward.Workers > 0 {
		if g.relay, err = c.relay(cfg); err != nil {
			return nil, err
		}
	}
	if g.tls, err = httpapi.NewServerTLS(tlsFiles(cfg)); err != nil {
		return nil, err
	}
	registerCRLAge(c.reg, g.tls)
	if g.audit, err = audit.Open(cfg.Audit.Path, stdout); err != nil {
		return nil, err
	}
	registerAudit(c.reg, g.audit)
	if cfg.Evidence.SigningKeyFile != "" {
		if g.signer, err = evidence.LoadSigner(cfg.Evidence.SigningKeyFile, cfg.Evidence.KeyID); err != nil {
			return nil, err
		}
	}
	g.auditPath = cfg.Audit.Path
	tree, err := openTree(cfg)
	if err != nil {
		return nil, err
	}
	au := auditor{w: g.audit, origin: func() string { return evidenceOrigin(cfg) }}
	if tree != nil {
		g.trail = &trail{w: g.audit, base: evidenceOrigin(cfg)}
		g.trail.tree.Store(tree)
		au.origin = g.trail.Origin
	}
	g.lookups = c.st.NewLookupLog()
	atDrain := func(w func()) { g.drained = append(g.drained, w) }
	g.api = c.apiServer(cfg, g.authn, m, g.tls, g.hub, g.stopping, atDrain, au, g.lookups, g.signer, g.trail)
	// After the API's own (the refused-request aggregates): the lookup
	// log, then the last checkpoint, which covers every record before it.
	atDrain(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if err := g.lookups.Flush(ctx); err != nil {
			c.log.Warn("lookup log: the last counts were not written", "err", err)
		}
	})
	if g.trail != nil {
		atDrain(func() {
			if err := g.trail.checkpoint(); err != nil {
				c.log.Warn("evidence: the checkpoint after the drain failed", "err", err)
			}
		})
	}
	g.ops = c.opsServer(cfg, g.relay, httpapi.Check{Name: "audit", Check: func(context.Context) (string, bool) {
		if !g.audit.Healthy() {
			return "unavailable", false
		}
		return "ok", true
	}})
	return g, nil
}

// pruneEvery is how often a gateway walks the report index to retire
// the books of reports past retention (store.Prune): books have no TTL.
const pruneEvery = time.Hour

// run serves on the listeners until ctx ends, then shuts down gracefully:
// answer long polls, stop accepting, drain in-flight requests, stop the
// forwarders (entries not yet answered are handed back).
func (g *gatewayServer) run(ctx context.Context, apiLn, opsLn net.Listener, cfgPath string, getenv func(string) string, extra func(context.Context) error) error {
	eg, ctx := errgroup.WithContext(ctx)
	eg.Go(func() error { return ignoreClosed(g.api.ServeTLS(apiLn, "", "")) })
	eg.Go(func() error { return ignoreClosed(g.ops.Serve(opsLn)) })
	eg.Go(func() error { return g.authn.keys.Run(ctx) })
	eg.Go(func() error { return g.c.sink.Run(ctx) })
	eg.Go(func() error { return g.hub.Run(ctx) })
	eg.Go(func() error { return g.lookups.Run(ctx) })
	eg.Go(func() error { return g.c.st.RunPrune(ctx, pruneEvery, g.c.log) })
	if g.relay != nil {
		eg.Go(func() error { return g.relay.Run(ctx) })
	}
	if g.trail != nil {
		eg.Go(func() error { return g.trail.run(ctx, g.cfg.Evidence.CheckpointInterval.D(), g.c.log.Warn) })
	}
	if extra != nil {
		eg.Go(func() error { return extra(ctx) })
	}
	if cfgPath != "" {
		eg.Go(func() error { g.reloadOnHUP(ctx, cfgPath, getenv); return nil })
	}
	eg.Go(func() error {
		<-ctx.Done()
		g.c.log.Info("shutting down: draining requests")
		close(g.stopping)
		sctx, cancel := context.WithTimeout(context.Background(), g.cfg.API.ShutdownTimeout.D())
		defer cancel()
		return errors.Join(g.api.Shutdown(sctx), g.ops.Shutdown(sctx))
	})
	err := eg.Wait()
	// What requests did while they drained came after the periodic
	// writers' last run (their ctx ended when the drain began): it is
	// written now that no request is left, before the trail closes.
	for _, w := range g.drained {
		w()
	}
	if cerr := g.audit.Close(); cerr != nil {
		err = errors.Join(err, fmt.Errorf("audit: %w", cerr))
	}
	g.c.log.Info("stopped")
	return err
}

// serve builds the gateway from cfg and runs it until ctx ends. It prints
// the bound addresses to stdout ("api https://…", "ops http://…") so that
// callers who asked for port 0 learn the real ones. extra, if given, runs
// alongside (dev mode's embedded services). With a config path, SIGHUP
// reloads the organisations (and with them the alert routing table) from
// it; a bad file is logged and changes nothing.
func serve(ctx context.Context, cfg config.Config, cfgPath string, getenv func(string) string, stdout, stderr io.Writer, extra func(ctx context.Context) error) error {
	stopTracing, err := startTracing(ctx, getenv)
	if err != nil {
		return err
	}
	defer stopTracing()
	c, err := newCore(ctx, cfg, stderr)
	if err != nil {
		return err
	}
	defer c.close()
	for _, name := range config.UnknownEnv(os.Environ()) {
		c.log.Warn("an environment variable nothing reads (a typo?); ignored", "name", name)
	}
	g, err := c.gateway(ctx, cfg, stdout)
	if err != nil {
		return err
	}
	apiLn, opsLn, err := listenBoth(cfg)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "api https://%s\nops http://%s\n", apiLn.Addr(), opsLn.Addr())
	b := readBuildInfo()
	redisMode := "single"
	if cfg.Redis.Cluster {
		redisMode = "cluster"
	}
	c.log.Info("mulegate listening", "api", apiLn.Addr().String(), "ops", opsLn.Addr().String(), "forward_workers", cfg.Forward.Workers,
		"version", b.Version, "revision", b.Revision, "config", cfgPath, "redis", redisMode)
	return g.run(ctx, apiLn, opsLn, cfgPath, getenv, extra)
}

func ignoreClosed(err error) error {
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// openTree opens the audit trail's Merkle tree when the gateway signs
// answers or checkpoints (evidence.*), with the checkpoint key if set.
func openTree(cfg config.Config) (*evidence.Tree, error) {
	if cfg.Evidence.SigningKeyFile == "" && cfg.Evidence.CheckpointKeyFile == "" {
		return nil, nil
	}
	signer, err := checkpointSigner(cfg)
	if err != nil {
		return nil, err
	}
	return evidence.OpenTree(cfg.Audit.Path, evidenceOrigin(cfg), signer)
}

// checkpointSigner reads evidence.checkpoint_key_file (nil when unset).
func checkpointSigner(cfg config.Config) (note.Signer, error) {
	if cfg.Evidence.CheckpointKeyFile == "" {
		return nil, nil
	}
	b, err := os.ReadFile(cfg.Evidence.CheckpointKeyFile)
	if err != nil {
		return nil, fmt.Errorf("evidence.checkpoint_key_file: %w", err)
	}
	s, err := note.NewSigner(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, fmt.Errorf("evidence.checkpoint_key_file: %w", err)
	}
	return s, nil
}
