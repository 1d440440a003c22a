package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/mulegate/mulegate/internal/auth"
	"github.com/mulegate/mulegate/internal/config"
	"github.com/mulegate/mulegate/internal/httpapi"
	"github.com/mulegate/mulegate/internal/report"
	"github.com/mulegate/mulegate/internal/store"
	"github.com/redis/go-redis/v9"
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
	return serve(ctx, cfg, stdout, stderr, nil)
}

func newLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level))
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l}))
}

func newRedis(cfg config.Config) redis.UniversalClient {
	return redis.NewUniversalClient(&redis.UniversalOptions{
		Addrs:         cfg.Redis.Addrs,
		IsClusterMode: cfg.Redis.Cluster,
		Username:      cfg.Redis.Username,
		Password:      cfg.Redis.Password,
		DB:            cfg.Redis.DB,
		PoolSize:      cfg.Redis.PoolSize,
		DialTimeout:   cfg.Redis.DialTimeout.D(),
		ReadTimeout:   cfg.Redis.ReadTimeout.D(),
		WriteTimeout:  cfg.Redis.WriteTimeout.D(),
		// One retry heals a pooled connection that a Redis restart broke;
		// more would turn an outage into a slow answer instead of a fast 503.
		MaxRetries: 1,
		// RESP2: RESP3 makes go-redis peek every connection for push
		// notifications before each command, an extra read syscall on the
		// hot path, and mulegate uses no push features.
		Protocol:              2,
		ContextTimeoutEnabled: true,
	})
}

// serve builds the gateway from cfg and runs it until ctx ends, then shuts
// down gracefully: stop accepting, drain in-flight requests, close Redis.
// It prints the bound addresses to stdout ("api https://…", "ops http://…")
// so that callers who asked for port 0 learn the real ones. extra, if
// given, runs alongside (dev mode's embedded services).
func serve(ctx context.Context, cfg config.Config, stdout, stderr io.Writer, extra func(ctx context.Context) error) error {
	sink := newLogSink(stderr)
	defer sink.Flush()
	log := newLogger(sink, cfg.Log.Level)
	metrics := httpapi.NewMetrics()

	redis.SetLogger(redisLog{log})
	rdb := newRedis(cfg)
	defer rdb.Close()
	st, err := store.New(rdb, store.Options{
		Secret:         []byte(cfg.Storage.PseudonymSecret),
		Partitions:     cfg.Storage.Partitions,
		Retention:      cfg.Storage.Retention.D(),
		IdempotencyTTL: cfg.Storage.IdempotencyTTL.D(),
	})
	if err != nil {
		return err
	}
	st.OnError = metrics.RedisError
	{
		lctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		if err := st.LoadScripts(lctx); err != nil {
			// Not fatal: Redis may come up later; scripts load on first use.
			log.Warn("redis not reachable at start; will keep trying", "err", err)
		}
		cancel()
	}

	keys, err := auth.NewJWKSSource(ctx, cfg.Auth.JWKSFile, cfg.Auth.JWKSURL, cfg.Auth.JWKSRefresh.D(), nil, log)
	if err != nil {
		return fmt.Errorf("auth.jwks_file: %w", err)
	}
	orgs := auth.Orgs{}
	for _, o := range cfg.Orgs {
		orgs[o.ID] = auth.Org{ID: o.ID, Type: auth.OrgType(o.Type), BankCodes: o.BankCodes}
	}
	verifier, err := auth.NewVerifier(auth.VerifierConfig{
		Issuer: cfg.Auth.Issuer, Audience: cfg.Auth.Audience, Algorithms: cfg.Auth.Algorithms,
		Leeway: cfg.Auth.Leeway.D(), RequireBinding: cfg.Auth.RequireCertBinding,
		HS256Secret: []byte(cfg.Auth.DevHS256Secret), Orgs: orgs, Keys: keys,
		CacheSize: cfg.Auth.TokenCacheSize,
	})
	if err != nil {
		return err
	}
	verifier.OnCache = metrics.TokenCache

	api := httpapi.NewAPI(httpapi.Deps{
		Store: st, Verifier: verifier, Log: log, Metrics: metrics,
		Risk:     report.RiskThresholds{Low: cfg.Risk.Low, Medium: cfg.Risk.Medium, High: cfg.Risk.High},
		MaxBatch: cfg.API.MaxBatch, MaxBodyBytes: cfg.API.MaxBodyBytes, MaxBatchBodyBytes: cfg.API.MaxBatchBodyBytes,
		ClockSkew: cfg.Auth.Leeway.D(), RequestTimeout: cfg.API.RequestTimeout.D(),
	})
	tlsCfg, err := httpapi.TLSConfig(cfg.API.CertFile, cfg.API.KeyFile, cfg.API.ClientCAFile)
	if err != nil {
		return err
	}
	apiSrv := &http.Server{
		Handler:           api,
		ConnContext:       httpapi.ConnContext,
		TLSConfig:         tlsCfg,
		ReadHeaderTimeout: cfg.API.ReadHeaderTimeout.D(),
		ReadTimeout:       cfg.API.ReadTimeout.D(),
		WriteTimeout:      cfg.API.WriteTimeout.D(),
		IdleTimeout:       cfg.API.IdleTimeout.D(),
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	opsSrv := &http.Server{
		Handler: httpapi.NewOps([]httpapi.Check{{Name: "redis", Check: func(ctx context.Context) (string, bool) {
			if err := st.Ping(ctx); err != nil {
				return "unavailable", false
			}
			return "ok", true
		}}}, metrics, cfg.Ops.Pprof),
		ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second,
	}

	apiLn, err := net.Listen("tcp", cfg.API.Listen)
	if err != nil {
		return fmt.Errorf("api.listen: %w", err)
	}
	opsLn, err := net.Listen("tcp", cfg.Ops.Listen)
	if err != nil {
		apiLn.Close()
		return fmt.Errorf("ops.listen: %w", err)
	}
	fmt.Fprintf(stdout, "api https://%s\nops http://%s\n", apiLn.Addr(), opsLn.Addr())
	log.Info("mulegate listening", "api", apiLn.Addr().String(), "ops", opsLn.Addr().String())

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return ignoreClosed(apiSrv.ServeTLS(apiLn, "", "")) })
	g.Go(func() error { return ignoreClosed(opsSrv.Serve(opsLn)) })
	g.Go(func() error { return keys.Run(gctx) })
	g.Go(func() error { return sink.Run(gctx) })
	if extra != nil {
		g.Go(func() error { return extra(gctx) })
	}
	g.Go(func() error {
		<-gctx.Done()
		log.Info("shutting down: draining requests")
		sctx, cancel := context.WithTimeout(context.Background(), cfg.API.ShutdownTimeout.D())
		defer cancel()
		return errors.Join(apiSrv.Shutdown(sctx), opsSrv.Shutdown(sctx))
	})
	err = g.Wait()
	log.Info("stopped")
	return err
}

func ignoreClosed(err error) error {
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// redisLog sends go-redis' own messages (pool dial failures…) to the JSON
// log instead of a plain stderr line.
type redisLog struct{ log *slog.Logger }

func (l redisLog) Printf(ctx context.Context, format string, v ...any) {
	l.log.Warn("redis client", "msg_detail", fmt.Sprintf(format, v...))
}
