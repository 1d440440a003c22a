package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/mulegate/mulegate/internal/audit"
	"github.com/mulegate/mulegate/internal/auth"
	"github.com/mulegate/mulegate/internal/config"
	"github.com/mulegate/mulegate/internal/domain"
	"github.com/mulegate/mulegate/internal/evidence"
	"github.com/mulegate/mulegate/internal/forward"
	"github.com/mulegate/mulegate/internal/httpapi"
	"github.com/mulegate/mulegate/internal/iban"
	"github.com/mulegate/mulegate/internal/store"
	"github.com/mulegate/mulegate/internal/telemetry"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/redis/go-redis/extra/redisotel/v9"
	"github.com/redis/go-redis/v9"
)

// The wiring every long-running command shares: the log, Redis, the
// store, the org registry and routing, the relay, the servers.

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
	router *routerHolder          // the holder of an IBAN, from the orgs; swapped on SIGHUP
	events *prometheus.CounterVec // mulegate_events_written_total: the relay's and the API's
}

func newCore(ctx context.Context, cfg config.Config, stderr io.Writer) (*core, error) {
	sink := newLogSink(stderr)
	log := newLogger(sink, cfg.Log.Level)
	redis.SetLogger(redisLog{log})
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	registerBuildInfo(reg)
	events := forward.NewEventsWritten(reg)
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
		HalfLifeDays:   float64(cfg.Risk.HalfLifeDays),
		Secret:         []byte(cfg.Storage.PseudonymSecret),
		Partitions:     cfg.Storage.Partitions,
		Retention:      cfg.Storage.Retention.D(),
		IdempotencyTTL: cfg.Storage.IdempotencyTTL.D(),
		WaitReplicas:   cfg.Redis.WaitReplicas,
		WaitTimeout:    cfg.Redis.WaitTimeout.D(),
		Reads:          reads,

		EventsMaxPerBank: cfg.Events.MaxPerBank,
		AlertRetention:   cfg.Alerts.Retention.D(),
		EventRetention:   cfg.Events.Retention.D(),
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
	return &core{log: log, sink: sink, reg: reg, rdb: rdb, reads: reads, st: st, orgs: auth.NewRegistry(orgs), router: router,
		events: events}, nil
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
		EscalateReporters:   cfg.Review.EscalateReporters,
		CorrectionsLookback: cfg.Corrections.Lookback.D(),
	}, c.st, client, c.log, forward.NewMetrics(c.reg, c.events)), nil
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
// server shuts down: long polls answer and streams end; atDrain is given
// the work to run once the last request has been answered.
func (c *core) apiServer(cfg config.Config, a *authn, m *httpapi.Metrics, tlsCfg *httpapi.ServerTLS, hub *store.AlertHub, stopping <-chan struct{}, atDrain func(func()), au httpapi.Auditor, looked httpapi.LookupLog, signer *evidence.Signer, tr *trail) *http.Server {
	var sg httpapi.AnswerSigner
	var keys func() ([]byte, error)
	if signer != nil {
		sg, keys = signer, signer.JWKS
	}
	var et httpapi.EvidenceTree
	if tr != nil {
		et = tr
	}
	api := httpapi.NewAPI(httpapi.Deps{
		Signer: sg, EvidenceKeys: keys, Tree: et,
		EventWritten: func(t domain.EventType) { c.events.WithLabelValues(string(t)).Inc() },
		Reports:      c.st.Reports, IBANs: c.st.IBANs, Feeds: c.st.Feeds, Verifier: a.verifier, Log: c.log, Metrics: m,
		Recovery: domain.RecoveryPolicy{HoldWithin: cfg.Recovery.HoldWithin.D(), AnswerWithin: cfg.Recovery.AnswerWithin.D()},
		Chains:   domain.ChainPolicy{MaxHops: cfg.Chains.MaxHops, MaxTransfers: cfg.Chains.MaxTransfers},
		Router:   a.router, AlertWaiter: hub, Done: stopping, AtDrain: atDrain,
		AlertOptions: httpapi.AlertOptions{MaxWait: cfg.Alerts.MaxWait.D(),
			Keepalive: cfg.Alerts.Keepalive.D(), ValidateID: store.ValidCursor},
		Risk: domain.RiskPolicy{Thresholds: domain.RiskThresholds{Low: cfg.Risk.Low, Medium: cfg.Risk.Medium, High: cfg.Risk.High},
			EscalateReporters: cfg.Review.EscalateReporters},
		Views: viewsFrom(cfg), Limiter: c.st.Limits, DayLimiter: c.st.Limits, Slots: c.st.Limits, WriteTimeout: cfg.API.WriteTimeout.D(),
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

// redisLog sends go-redis' own messages (pool dial failures…) to the JSON
// log instead of a plain stderr line.
type redisLog struct{ log *slog.Logger }

func (l redisLog) Printf(ctx context.Context, format string, v ...any) {
	l.log.Warn("redis client", "msg_detail", fmt.Sprintf(format, v...))
}

// orgsFrom builds the organisation registry and the alert routing table.
func orgsFrom(cfg config.Config) (auth.Orgs, *domain.Router) {
	orgs := auth.Orgs{}
	banks := map[string]map[string][]string{}
	for _, o := range cfg.Orgs {
		l := cfg.OrgLimits(o)
		orgs[o.ID] = auth.Org{ID: o.ID, Type: domain.OrgType(o.Type), BankCodes: o.BankCodes, CertSubjects: o.CertSubjects,
			Limits: domain.Limits{Lookups: domain.RateLimit{PerSecond: l.LookupsPerSecond, Burst: l.LookupsBurst},
				Writes:       domain.RateLimit{PerSecond: l.WritesPerSecond, Burst: l.WritesBurst},
				WritesPerDay: l.WritesPerDay, Streams: l.Streams}}
		if domain.OrgType(o.Type) == domain.OrgBank {
			banks[o.ID] = o.BankCodes
		}
	}
	return orgs, domain.NewRouter(banks)
}

// viewsFrom builds each org type's lookup view.
func viewsFrom(cfg config.Config) map[domain.OrgType]httpapi.View {
	out := map[domain.OrgType]httpapi.View{}
	for t, v := range cfg.Views {
		out[domain.OrgType(t)] = httpapi.NewView(v.Omit)
	}
	return out
}

// routerHolder lets a reload swap the routing table under running requests.
type routerHolder struct{ p atomic.Pointer[domain.Router] }

func (h *routerHolder) Route(i iban.IBAN) (string, error) { return h.p.Load().Route(i) }

// Holder is the bank org that holds i now, "" when none does.
func (h *routerHolder) Holder(i iban.IBAN) string { return h.p.Load().Holder(i) }
