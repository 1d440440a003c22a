package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/mulegate/mulegate/internal/config"
	"golang.org/x/sync/errgroup"
)

// "mulegate forward": outbox relay workers without the API.

// cmdForward runs outbox relay workers without the API: "mulegate forward".
// It builds no HTTP API metrics: its ops listener shows Redis, the breaker
// and the outbox.
func cmdForward(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("forward", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", getenv("MULEGATE_CONFIG"), "YAML configuration file (or MULEGATE_CONFIG); the api section is not used")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	cfg, err := config.Load(*path, getenv)
	if err != nil {
		return err
	}
	if cfg.Forward.Workers == 0 {
		return errors.New("forward.workers: must be at least 1 for 'mulegate forward'")
	}
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
	if err := c.st.CheckLayout(ctx); err != nil {
		return err
	}
	relay, err := c.relay(cfg)
	if err != nil {
		return err
	}
	c.reg.MustRegister(newEventsTrimmed(c.st, c.orgs.Banks))
	opsSrv := c.opsServer(cfg, relay)
	opsLn, err := net.Listen("tcp", cfg.Ops.Listen)
	if err != nil {
		return fmt.Errorf("ops.listen: %w", err)
	}
	fmt.Fprintf(stdout, "ops http://%s\n", opsLn.Addr())
	c.log.Info("mulegate forwarder running", "ops", opsLn.Addr().String(), "workers", cfg.Forward.Workers)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return ignoreClosed(opsSrv.Serve(opsLn)) })
	g.Go(func() error { return c.sink.Run(gctx) })
	g.Go(func() error { return relay.Run(gctx) })
	g.Go(func() error {
		<-gctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return opsSrv.Shutdown(sctx)
	})
	return g.Wait()
}
