package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/mulegate/mulegate/internal/auth"
	"github.com/mulegate/mulegate/internal/config"
)

// SIGHUP: the configuration reloaded while the gateway runs.

// reloadOnHUP re-reads the configuration on SIGHUP and swaps in, all or
// nothing, the server certificate, the client CA bundle and CRLs, the
// JWKS file and the organisations (with the alert routing and the
// holders). A bad file keeps the running configuration and logs why; open
// connections keep going. Other settings need a restart.
func (g *gatewayServer) reloadOnHUP(ctx context.Context, path string, getenv func(string) string) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			if err := g.reload(ctx, path, getenv); err != nil {
				g.c.log.Error("config reload failed; keeping the running configuration", "err", err)
				continue
			}
		}
	}
}

func (g *gatewayServer) reload(ctx context.Context, path string, getenv func(string) string) error {
	cfg, err := config.Load(path, getenv)
	if err != nil {
		return err
	}
	if cfg.Auth.JWKSFile != "" {
		b, err := os.ReadFile(cfg.Auth.JWKSFile)
		if err == nil {
			_, err = auth.ParseJWKS(b)
		}
		if err != nil {
			return fmt.Errorf("auth.jwks_file: %w", err)
		}
	}
	if err := g.tls.Reload(tlsFiles(cfg)); err != nil { // swaps only if every file loads
		return err
	}
	if g.signer != nil && cfg.Evidence.SigningKeyFile != "" {
		if err := g.signer.Reload(cfg.Evidence.SigningKeyFile, cfg.Evidence.KeyID); err != nil {
			return err
		}
	}
	if g.trail != nil {
		s, err := checkpointSigner(cfg)
		if err != nil {
			return err
		}
		if s != nil {
			g.trail.cur().SetSigner(s)
		}
		if cfg.Audit.Path != g.auditPath {
			if err := g.trail.rotate(cfg.Audit.Path); err != nil {
				return fmt.Errorf("audit.path: rotating the trail: %w", err)
			}
			g.c.log.Info("audit trail rotated", "path", cfg.Audit.Path, "origin", g.trail.Origin())
			g.auditPath = cfg.Audit.Path
		}
	}
	orgs, routes := orgsFrom(cfg)
	g.authn.orgs.Swap(orgs)
	g.authn.router.p.Store(routes)
	if err := g.authn.keys.Reload(ctx); err != nil {
		g.c.log.Warn("jwks reload: keeping the previous keys of the failing source", "err", err)
	}
	g.c.log.Info("config reloaded: TLS, CRLs, JWKS file, organisations and routing", "orgs", len(orgs), "crl_files", len(cfg.API.ClientCRLFiles))
	return nil
}
