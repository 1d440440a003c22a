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
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/mulegate/mulegate/internal/audit"
	"github.com/mulegate/mulegate/internal/auth"
	"github.com/mulegate/mulegate/internal/config"
	"github.com/mulegate/mulegate/internal/forward"
	"github.com/mulegate/mulegate/internal/httpapi"
	"github.com/mulegate/mulegate/internal/iban"
	"github.com/mulegate/mulegate/internal/report"
	"github.com/mulegate/mulegate/internal/store"
	"github.com/mulegate/mulegate/internal/telemetry"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/redis/go-redis/extra/redisotel/v9"
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
	return serve(ctx, cfg, *path, getenv, stdout, stderr, nil)
}

func newLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level))
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l}))
}

// newRedis is the client everything uses; with readOnly (and
// redis.read_from_replicas on a cluster) it is the lookups' client, which
// reads from replicas.
func newRedis(cfg config.Config, readOnly bool) redis.UniversalClient {
	return redis.NewUniversalClient(&redis.UniversalOptions{
		ReadOnly:      readOnly,
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

// core is what every long-running command builds first: the log, the
// metrics registry, Redis and the store.
type core struct {
	log    *slog.Logger
	sink   *logSink
	reg    *prometheus.Registry
	rdb    redis.UniversalClient
	reads  redis.UniversalClient // lookups' client: rdb, or a replica-reading one
	st     *store.Store
	orgs   *auth.Registry
	router *routerHolder // the holder of an IBAN, from the orgs; swapped on SIGHUP
}

func newCore(ctx context.Context, cfg config.Config, stderr io.Writer) (*core, error) {
	sink := newLogSink(stderr)
	log := newLogger(sink, cfg.Log.Level)
	redis.SetLogger(redisLog{log})
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	rdb := newRedis(cfg, false)
	reads := rdb
	if cfg.Redis.ReadFromReplicas {
		reads = newRedis(cfg, true)
	}
	orgs, routes := orgsFrom(cfg)
	router := &routerHolder{}
	router.p.Store(routes)
	st, err := store.New(rdb, store.Options{
		HolderOf:       router.Holder,
		RespondWithin:  cfg.Review.RespondWithin.D(),
		Secret:         []byte(cfg.Storage.PseudonymSecret),
		Partitions:     cfg.Storage.Partitions,
		Retention:      cfg.Storage.Retention.D(),
		IdempotencyTTL: cfg.Storage.IdempotencyTTL.D(),
		WaitReplicas:   cfg.Redis.WaitReplicas,
		WaitTimeout:    cfg.Redis.WaitTimeout.D(),
		Reads:          reads,

		EventsMaxPerBank: cfg.Events.MaxPerBank,
	})
	if err != nil {
		closeRedis(rdb, reads)
		return nil, err
	}
	st.OnError = redisErrorCounter(reg)
	if telemetry.Active() {
		// Redis spans for the calls made on a request's context (the
		// autopipelined reads and intake have the store's own spans);
		// never the command's arguments: they hold pseudonyms and bodies.
		for _, c := range []redis.UniversalClient{rdb, reads} {
			if err := redisotel.InstrumentTracing(c, redisotel.WithDBStatement(false)); err != nil {
				closeRedis(rdb, reads)
				return nil, err
			}
			if reads == rdb {
				break
			}
		}
	}
	lctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if err := st.LoadScripts(lctx); err != nil {
		// Not fatal: Redis may come up later; scripts load on first use.
		log.Warn("redis not reachable at start; will keep trying", "err", err)
	}
	return &core{log: log, sink: sink, reg: reg, rdb: rdb, reads: reads, st: st, orgs: auth.NewRegistry(orgs), router: router}, nil
}

// startTracing sets OpenTelemetry tracing up from the OTEL_* variables
// (off unless they ask for it) and returns what flushes it at exit.
func startTracing(ctx context.Context, getenv func(string) string) (func(), error) {
	shutdown, err := telemetry.Setup(ctx, getenv, "mulegate")
	if err != nil {
		return nil, err
	}
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = shutdown(ctx)
	}, nil
}

// redisErrorCounter is mulegate_redis_errors_total{op}; op comes from the
// store's closed set of operation labels.
func redisErrorCounter(reg prometheus.Registerer) func(op string) {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "mulegate_redis_errors_total", Help: "Redis operations that failed, by operation.",
	}, []string{"op"})
	reg.MustRegister(c)
	for _, op := range store.Ops {
		c.WithLabelValues(op) // every operation's series exists from the start
	}
	return func(op string) { c.WithLabelValues(op).Inc() }
}

func (c *core) close() {
	closeRedis(c.rdb, c.reads)
	c.sink.Flush()
}

func closeRedis(rdb, reads redis.UniversalClient) {
	rdb.Close()
	if reads != rdb {
		reads.Close()
	}
}

// relay builds the outbox relay; callers check forward.workers first.
func (c *core) relay(cfg config.Config) (*forward.Relay, error) {
	client, err := forward.NewClient(forward.ClientConfig{
		URL: cfg.Police.URL, Timeout: cfg.Police.Timeout.D(),
		CertFile: cfg.Police.ClientCertFile, KeyFile: cfg.Police.ClientKeyFile, CAFile: cfg.Police.CAFile,
	})
	if err != nil {
		return nil, err
	}
	return forward.New(forward.Config{
		Workers: cfg.Forward.Workers, Batch: cfg.Forward.Batch,
		VisibilityTimeout: cfg.Forward.VisibilityTimeout.D(), SweepInterval: cfg.Forward.SweepInterval.D(),
		BackoffInitial: cfg.Forward.BackoffInitial.D(), BackoffMax: cfg.Forward.BackoffMax.D(),
		Breaker: forward.BreakerConfig{Failures: uint32(cfg.Breaker.Failures), OpenFor: cfg.Breaker.OpenFor.D(),
			Probes: uint32(cfg.Breaker.HalfOpenProbes)},
		EventRetention: cfg.Events.Retention.D(), EscalateReporters: cfg.Review.EscalateReporters,
	}, c.st, client, c.log, forward.NewMetrics(c.reg)), nil
}

// opsServer serves /healthz, /readyz (Redis, and the police breaker when
// this process forwards: an open breaker never makes it unready) and
// /metrics.
func (c *core) opsServer(cfg config.Config, relay *forward.Relay, more ...httpapi.Check) *http.Server {
	checks := []httpapi.Check{{Name: "redis", Check: func(ctx context.Context) (string, bool) {
		if err := c.st.Ping(ctx); err != nil {
			return "unavailable", false
		}
		return "ok", true
	}}}
	if relay != nil {
		checks = append(checks, httpapi.Check{Name: "police_breaker", Check: func(context.Context) (string, bool) {
			return relay.BreakerState(), true
		}})
	}
	checks = append(checks, more...)
	return &http.Server{
		Handler:           httpapi.NewOps(checks, c.reg, cfg.Ops.Pprof),
		ReadHeaderTimeout: cfg.Ops.ReadHeaderTimeout.D(), ReadTimeout: cfg.Ops.ReadTimeout.D(),
		WriteTimeout: cfg.Ops.WriteTimeout.D(), IdleTimeout: cfg.Ops.IdleTimeout.D(),
		ErrorLog: slog.NewLogLogger(c.log.Handler(), slog.LevelDebug),
	}
}

// authn is the authentication side of the gateway: the JWKS, the org
// registry (swapped on SIGHUP) with the alert routing built from it, and
// the token verifier.
type authn struct {
	keys     *auth.JWKSSource
	orgs     *auth.Registry
	router   *routerHolder
	verifier *auth.Verifier
}

func (c *core) newAuthn(ctx context.Context, cfg config.Config, m *httpapi.Metrics) (*authn, error) {
	log := c.log
	keys, err := auth.NewJWKSSource(ctx, auth.JWKSOptions{File: cfg.Auth.JWKSFile, URL: cfg.Auth.JWKSURL,
		Refresh: cfg.Auth.JWKSRefresh.D(), MaxStale: cfg.Auth.JWKSMaxStale.D(), Log: log})
	if err != nil {
		return nil, fmt.Errorf("auth.jwks_file: %w", err)
	}
	a := &authn{keys: keys, orgs: c.orgs, router: c.router}
	a.verifier, err = auth.NewVerifier(auth.VerifierConfig{
		Issuer: cfg.Auth.Issuer, Audience: cfg.Auth.Audience, Algorithms: cfg.Auth.Algorithms,
		Leeway: cfg.Auth.Leeway.D(), RequireBinding: cfg.Auth.RequireCertBinding,
		HS256Secret: []byte(cfg.Auth.DevHS256Secret), Orgs: a.orgs, Keys: keys,
		CacheSize: cfg.Auth.TokenCacheSize, MaxLifetime: cfg.Auth.MaxTokenLifetime.D(),
	})
	if err != nil {
		return nil, err
	}
	a.verifier.OnCache = m.TokenCache
	return a, nil
}

// apiServer builds the /v1 API behind mTLS. stopping is closed when the
// server shuts down: long polls answer and streams end.
func (c *core) apiServer(cfg config.Config, a *authn, m *httpapi.Metrics, tlsCfg *httpapi.ServerTLS, hub *store.AlertHub, stopping <-chan struct{}, au httpapi.Auditor, looked httpapi.LookupLog) *http.Server {
	api := httpapi.NewAPI(httpapi.Deps{
		Store: c.st, Verifier: a.verifier, Log: c.log, Metrics: m,
		Alerts: c.st, Events: c.st, EventRetention: cfg.Events.Retention.D(), Router: a.router, AlertWaiter: hub, Done: stopping,
		AlertOptions: httpapi.AlertOptions{Retention: cfg.Alerts.Retention.D(), MaxWait: cfg.Alerts.MaxWait.D(),
			Keepalive: cfg.Alerts.Keepalive.D(), ValidateID: store.ValidCursor},
		Risk: report.RiskPolicy{Thresholds: report.RiskThresholds{Low: cfg.Risk.Low, Medium: cfg.Risk.Medium, High: cfg.Risk.High},
			EscalateReporters: cfg.Review.EscalateReporters},
		Views: viewsFrom(cfg), Limiter: c.st, DayLimiter: c.st, Slots: c.st, WriteTimeout: cfg.API.WriteTimeout.D(),
		Audit: au, ValidPurpose: audit.ValidPurpose, LookupLog: looked,
		KeyOf:    c.st.KeyOf,
		MaxBatch: cfg.API.MaxBatch, MaxBodyBytes: cfg.API.MaxBodyBytes, MaxBatchBodyBytes: cfg.API.MaxBatchBodyBytes,
		ClockSkew: cfg.Auth.Leeway.D(), RequestTimeout: cfg.API.RequestTimeout.D(),
		RefusedPerSecond: cfg.Limits.RefusedPerSecond, RefusedBurst: cfg.Limits.RefusedBurst, TLS: tlsCfg,
	})
	return &http.Server{
		Handler:           api,
		ConnContext:       httpapi.ConnContext,
		TLSConfig:         tlsCfg.Config(),
		ReadHeaderTimeout: cfg.API.ReadHeaderTimeout.D(),
		ReadTimeout:       cfg.API.ReadTimeout.D(),
		WriteTimeout:      cfg.API.WriteTimeout.D(),
		IdleTimeout:       cfg.API.IdleTimeout.D(),
		ErrorLog:          slog.NewLogLogger(c.log.Handler(), slog.LevelDebug),
	}
}

func tlsFiles(cfg config.Config) httpapi.TLSFiles {
	return httpapi.TLSFiles{CertFile: cfg.API.CertFile, KeyFile: cfg.API.KeyFile, ClientCAFile: cfg.API.ClientCAFile,
		CRLFiles: cfg.API.ClientCRLFiles}
}

// auditor hands the API's audit entries to the trail's writer.
type auditor struct{ w *audit.Writer }

func (a auditor) Audit(e httpapi.AuditEntry) error {
	return a.w.Write(audit.Record{Time: e.Time, RequestID: e.RequestID, Org: e.Org, OrgType: e.OrgType, Sub: e.Sub,
		Thumbprint: e.Thumbprint, Method: e.Method, Route: e.Route, Action: e.Action, ReportID: e.ReportID,
		Pseudonyms: e.Pseudonyms, Purpose: e.Purpose, Status: e.Status, Risk: e.Risk, Count: e.Count})
}

func (a auditor) Healthy() bool { return a.w.Healthy() }

func (a auditor) Refused() { a.w.Refused.Add(1) }

// registerAudit is mulegate_audit_records_total{result="written|failed"}
// (failed: the sink could not take the record, and the request was
// answered 503) and mulegate_audit_refused_total (requests refused while
// the trail could not be written).
func registerAudit(reg prometheus.Registerer, w *audit.Writer) {
	for _, r := range []struct {
		result string
		n      func() int64
	}{{"written", w.Written.Load}, {"failed", w.Failed.Load}} {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "mulegate_audit_records_total", Help: "Audit records written to the trail, and those the sink could not take (the request got 503).",
			ConstLabels: prometheus.Labels{"result": r.result},
		}, func() float64 { return float64(r.n()) }))
	}
	var refused atomic.Int64 // Writer.Refused is given back when the sink resumes; the metric only grows
	var last atomic.Int64
	reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "mulegate_audit_refused_total", Help: "Requests refused with 503 because the audit trail could not be written.",
	}, func() float64 {
		cur := w.Refused.Load()
		if d := cur - last.Swap(cur); d > 0 {
			refused.Add(d)
		}
		return float64(refused.Load())
	}))
}

// eventsTrimmed is mulegate_events_trimmed_total{bank}: events trimmed
// from a bank's feed because it held events.max_per_bank (a bank that
// does not read its feed, or an org that writes too much).
type eventsTrimmed struct {
	st    *store.Store
	banks func() []string // every registered bank has a series, 0 until a trim
	desc  *prometheus.Desc
}

func newEventsTrimmed(st *store.Store, banks func() []string) eventsTrimmed {
	return eventsTrimmed{st: st, banks: banks, desc: prometheus.NewDesc("mulegate_events_trimmed_total",
		"Events trimmed from a bank's feed because it held events.max_per_bank (oldest first).", []string{"bank"}, nil)}
}

func (e eventsTrimmed) Describe(ch chan<- *prometheus.Desc) { ch <- e.desc }

func (e eventsTrimmed) Collect(ch chan<- prometheus.Metric) {
	counts := e.st.EventsTrimmed()
	for _, bank := range e.banks() {
		ch <- prometheus.MustNewConstMetric(e.desc, prometheus.CounterValue, float64(counts[bank]), bank)
	}
}

// registerCRLAge is mulegate_crl_age_seconds: how old the newest loaded
// CRL is (0 when none is configured), to alert on CRLs nobody refreshes.
func registerCRLAge(reg prometheus.Registerer, t *httpapi.ServerTLS) {
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "mulegate_crl_age_seconds", Help: "Age of the newest loaded client CRL (its thisUpdate), 0 when none is configured.",
	}, func() float64 {
		u := t.CRLUpdated.Load()
		if u == 0 {
			return 0
		}
		return time.Since(time.Unix(u, 0)).Seconds()
	}))
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
	tls      *httpapi.ServerTLS
	audit    *audit.Writer
	lookups  *store.LookupLog
}

func (c *core) gateway(ctx context.Context, cfg config.Config, stdout io.Writer) (*gatewayServer, error) {
	if err := c.st.CheckLayout(ctx); err != nil {
		return nil, err
	}
	g := &gatewayServer{c: c, cfg: cfg, hub: c.st.NewAlertHub(), stopping: make(chan struct{})}
	m := httpapi.NewMetrics(c.reg)
	httpapi.RegisterReviewBacklog(c.reg, c.st, c.orgs.Banks)
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
	g.lookups = c.st.NewLookupLog()
	g.api = c.apiServer(cfg, g.authn, m, g.tls, g.hub, g.stopping, auditor{g.audit}, g.lookups)
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
	g, err := c.gateway(ctx, cfg, stdout)
	if err != nil {
		return err
	}
	apiLn, opsLn, err := listenBoth(cfg)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "api https://%s\nops http://%s\n", apiLn.Addr(), opsLn.Addr())
	c.log.Info("mulegate listening", "api", apiLn.Addr().String(), "ops", opsLn.Addr().String(), "forward_workers", cfg.Forward.Workers)
	return g.run(ctx, apiLn, opsLn, cfgPath, getenv, extra)
}

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

// orgsFrom builds the organisation registry and the alert routing table.
func orgsFrom(cfg config.Config) (auth.Orgs, *report.Router) {
	orgs := auth.Orgs{}
	banks := map[string]map[string][]string{}
	for _, o := range cfg.Orgs {
		l := cfg.OrgLimits(o)
		orgs[o.ID] = auth.Org{ID: o.ID, Type: report.OrgType(o.Type), BankCodes: o.BankCodes, CertSubjects: o.CertSubjects,
			Limits: report.Limits{Lookups: report.RateLimit{PerSecond: l.LookupsPerSecond, Burst: l.LookupsBurst},
				Writes:       report.RateLimit{PerSecond: l.WritesPerSecond, Burst: l.WritesBurst},
				WritesPerDay: l.WritesPerDay, Streams: l.Streams}}
		if report.OrgType(o.Type) == report.OrgBank {
			banks[o.ID] = o.BankCodes
		}
	}
	return orgs, report.NewRouter(banks)
}

// viewsFrom builds each org type's lookup view.
func viewsFrom(cfg config.Config) map[report.OrgType]httpapi.View {
	out := map[report.OrgType]httpapi.View{}
	for t, v := range cfg.Views {
		out[report.OrgType(t)] = httpapi.NewView(v.Omit)
	}
	return out
}

// routerHolder lets a reload swap the routing table under running requests.
type routerHolder struct{ p atomic.Pointer[report.Router] }

func (h *routerHolder) Route(i iban.IBAN) (string, error) { return h.p.Load().Route(i) }

// Holder is the bank org that holds i now, "" when none does.
func (h *routerHolder) Holder(i iban.IBAN) string { return h.p.Load().Holder(i) }

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
	orgs, routes := orgsFrom(cfg)
	g.authn.orgs.Swap(orgs)
	g.authn.router.p.Store(routes)
	if err := g.authn.keys.Reload(ctx); err != nil {
		g.c.log.Warn("jwks reload: keeping the previous keys of the failing source", "err", err)
	}
	g.c.log.Info("config reloaded: TLS, CRLs, JWKS file, organisations and routing", "orgs", len(orgs), "crl_files", len(cfg.API.ClientCRLFiles))
	return nil
}
