package config

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/mulegate/mulegate/internal/auth"
	"github.com/mulegate/mulegate/internal/domain"
)

// problems collects what is wrong with a configuration, each naming its
// key, in the order the checks ran.
type problems []error

func (p *problems) bad(key, format string, a ...any) {
	*p = append(*p, fmt.Errorf("config: %s: %s", key, fmt.Sprintf(format, a...)))
}

func (p *problems) addr(key, addr string) {
	if _, _, err := net.SplitHostPort(addr); err != nil {
		p.bad(key, "must be host:port, got %q", addr)
	}
}

func (p *problems) required(key, v string) {
	if v == "" {
		p.bad(key, "is required")
	}
}

func (p *problems) atLeast(key string, d Duration, minimum time.Duration, text string) {
	if d.D() < minimum {
		p.bad(key, "must be at least %s", text)
	}
}

// Validate reports every problem at once, each naming its key, section by
// section in the order of the example configuration.
func (c *Config) Validate() error {
	var p problems
	c.validateAPI(&p)
	c.validateOps(&p)
	c.validateAuth(&p)
	c.validateRedis(&p)
	c.validateStorage(&p)
	c.validateForwarding(&p)
	c.validateAlerts(&p)
	c.validateRisk(&p)
	c.validateReview(&p)
	c.validateViews(&p)
	c.validateLimits(&p)
	c.validateOrgs(&p)
	c.validateLog(&p)
	return errors.Join(p...)
}

// ValidateConsole reports every problem of the console section: who is
// at the keyboard (a proxy's header from trusted proxies, users from a
// file, or "local" on loopback only) and how it reaches the API.
func (c *Config) ValidateConsole() error {
	var p problems
	k := c.Console
	p.addr("console.listen", k.Listen)
	if (k.TLSCertFile == "") != (k.TLSKeyFile == "") {
		p.bad("console.tls_cert_file", "and console.tls_key_file go together")
	}
	if k.UserHeader != "" && len(k.TrustedProxies) == 0 {
		p.bad("console.trusted_proxies", "is required with console.user_header (the header is believed only from them)")
	}
	for _, tp := range k.TrustedProxies {
		if _, _, err := net.ParseCIDR(tp); err != nil && net.ParseIP(tp) == nil {
			p.bad("console.trusted_proxies", "%q is neither an IP address nor a CIDR", tp)
		}
	}
	if k.UserHeader == "" && k.UsersFile == "" {
		host, _, _ := net.SplitHostPort(k.Listen)
		if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			p.bad("console.listen", "%s is not loopback: set console.user_header (behind your single sign-on proxy) or console.users_file", k.Listen)
		}
	}
	p.atLeast("console.session_ttl", k.SessionTTL, time.Minute, "1m")
	p.required("console.api.url", k.API.URL)
	p.required("console.api.cert_file", k.API.CertFile)
	p.required("console.api.key_file", k.API.KeyFile)
	if (k.API.TokenURL == "") == (k.API.TokenFile == "") {
		p.bad("console.api.token_url", "set it (an OAuth 2.0 token endpoint, client credentials over mTLS) or console.api.token_file, not both")
	}
	return errors.Join(p...)
}

func (c *Config) validateAPI(p *problems) {
	p.addr("api.listen", c.API.Listen)
	p.required("api.cert_file", c.API.CertFile)
	p.required("api.key_file", c.API.KeyFile)
	p.required("api.client_ca_file", c.API.ClientCAFile)
	if c.API.MaxBodyBytes < 1024 {
		p.bad("api.max_body_bytes", "must be at least 1024")
	}
	if c.API.MaxBatchBodyBytes < 1024 {
		p.bad("api.max_batch_body_bytes", "must be at least 1024")
	}
	if c.API.MaxBatch < 1 || c.API.MaxBatch > 100000 {
		p.bad("api.max_batch", "must be between 1 and 100000")
	}
	if c.API.RequestTimeout <= 0 {
		p.bad("api.request_timeout", "must be positive")
	}
}

func (c *Config) validateOps(p *problems) {
	p.addr("ops.listen", c.Ops.Listen)
	p.atLeast("ops.read_header_timeout", c.Ops.ReadHeaderTimeout, 100*time.Millisecond, "100ms")
	p.atLeast("ops.read_timeout", c.Ops.ReadTimeout, 100*time.Millisecond, "100ms")
	p.atLeast("ops.write_timeout", c.Ops.WriteTimeout, 100*time.Millisecond, "100ms")
	p.atLeast("ops.idle_timeout", c.Ops.IdleTimeout, time.Second, "1s")
}

func (c *Config) validateAuth(p *problems) {
	p.required("auth.issuer", c.Auth.Issuer)
	p.required("auth.audience", c.Auth.Audience)
	if c.Auth.JWKSFile == "" && c.Auth.JWKSURL == "" {
		p.bad("auth.jwks_file", "a JWKS file or auth.jwks_url is required")
	}
	if c.Auth.JWKSURL != "" && !strings.HasPrefix(c.Auth.JWKSURL, "https://") {
		p.bad("auth.jwks_url", "must be an https:// URL")
	}
	if c.Auth.JWKSURL != "" && c.Auth.JWKSMaxStale.D() < c.Auth.JWKSRefresh.D() {
		p.bad("auth.jwks_max_stale", "must be at least auth.jwks_refresh")
	}
	if len(c.Auth.Algorithms) == 0 {
		p.bad("auth.algorithms", "must list at least one algorithm")
	}
	for _, a := range c.Auth.Algorithms {
		// The one allow-list lives in auth; config only names the key.
		if err := auth.CheckAlgorithm(a, c.Auth.DevHS256Secret != ""); err != nil {
			p.bad("auth.algorithms", "%v", err)
		}
	}
	if c.Auth.DevHS256Secret != "" && len(c.Auth.DevHS256Secret) < 32 {
		p.bad("auth.dev_hs256_secret", "must be at least 32 bytes")
	}
	p.atLeast("auth.max_token_lifetime", c.Auth.MaxTokenLifetime, time.Minute, "1m")
	if c.Auth.Leeway < 0 || c.Auth.Leeway.D() > 5*time.Minute {
		p.bad("auth.leeway", "must be between 0 and 5m")
	}
}

func (c *Config) validateRedis(p *problems) {
	if len(c.Redis.Addrs) == 0 {
		p.bad("redis.addrs", "must list at least one address")
	}
	for _, a := range c.Redis.Addrs {
		p.addr("redis.addrs", a)
	}
	if c.Redis.WaitReplicas < 0 || c.Redis.WaitReplicas > 16 {
		p.bad("redis.wait_replicas", "must be between 0 (off) and 16")
	}
	if c.Redis.WaitReplicas > 0 && (c.Redis.WaitTimeout <= 0 || c.Redis.WaitTimeout >= c.API.RequestTimeout) {
		p.bad("redis.wait_timeout", "must be positive and below api.request_timeout")
	}
	// As go-redis decides: several addresses are a cluster too.
	if c.Redis.ReadFromReplicas && !c.Redis.Cluster && len(c.Redis.Addrs) < 2 {
		p.bad("redis.read_from_replicas", "needs a Redis Cluster (redis.cluster: true); a single Redis with replicas is not supported")
	}
}

func (c *Config) validateStorage(p *problems) {
	if len(c.Storage.PseudonymSecret) < 16 {
		p.bad("storage.pseudonym_secret", "is required and must be at least 16 bytes (or set storage.pseudonym_secret_file)")
	}
	if c.Storage.Partitions < 1 || c.Storage.Partitions > 16384 {
		p.bad("storage.partitions", "must be between 1 and 16384")
	}
	p.atLeast("storage.retention", c.Storage.Retention, 24*time.Hour, "1d")
	p.atLeast("storage.idempotency_ttl", c.Storage.IdempotencyTTL, 24*time.Hour, "24h")
}

// validateForwarding checks police, forward and breaker together: their
// limits depend on each other.
func (c *Config) validateForwarding(p *problems) {
	if c.Forward.Workers > 0 || c.Police.URL != "" {
		if !strings.HasPrefix(c.Police.URL, "https://") && !strings.HasPrefix(c.Police.URL, "http://") {
			p.bad("police.url", "is required (http:// or https://) when forward.workers > 0")
		}
	}
	if (c.Police.ClientCertFile == "") != (c.Police.ClientKeyFile == "") {
		p.bad("police.client_cert_file", "and police.client_key_file go together")
	}
	if c.Police.Timeout <= 0 {
		p.bad("police.timeout", "must be positive")
	}
	if c.Forward.Workers < 0 || c.Forward.Workers > 1024 {
		p.bad("forward.workers", "must be between 0 (no forwarding in this process) and 1024")
	}
	if c.Forward.Batch < 1 || c.Forward.Batch > 1000 {
		p.bad("forward.batch", "must be between 1 and 1000")
	}
	p.atLeast("forward.visibility_timeout", c.Forward.VisibilityTimeout, time.Second, "1s")
	p.atLeast("forward.sweep_interval", c.Forward.SweepInterval, 100*time.Millisecond, "100ms")
	if c.Forward.BackoffInitial <= 0 || c.Forward.BackoffMax < c.Forward.BackoffInitial {
		p.bad("forward.backoff_max", "must be positive and at least forward.backoff_initial")
	}
	if c.Police.Timeout+c.Forward.BackoffMax >= c.Forward.VisibilityTimeout {
		// A worker renews its claim between calls; during one call plus
		// one backoff it cannot, so that must fit in the visibility
		// timeout or a second worker takes the entry over and posts it too.
		// Checked whatever forward.workers says: the same file configures
		// "mulegate forward" and "outbox requeue" processes, and an
		// override can turn forwarders on.
		p.bad("forward.visibility_timeout", "must exceed police.timeout + forward.backoff_max (%s + %s)",
			c.Police.Timeout.D(), c.Forward.BackoffMax.D())
	}
	if c.Breaker.Failures < 1 {
		p.bad("breaker.failures", "must be at least 1")
	}
	p.atLeast("breaker.open_for", c.Breaker.OpenFor, 100*time.Millisecond, "100ms")
	if c.Breaker.HalfOpenProbes < 1 {
		p.bad("breaker.half_open_probes", "must be at least 1")
	}
}

func (c *Config) validateAlerts(p *problems) {
	p.atLeast("alerts.retention", c.Alerts.Retention, time.Second, "1s")
	if c.Alerts.MaxWait < 0 || c.Alerts.MaxWait.D() > 5*time.Minute {
		p.bad("alerts.max_wait", "must be between 0 and 5m")
	}
	p.atLeast("alerts.keepalive", c.Alerts.Keepalive, 100*time.Millisecond, "100ms")
	p.atLeast("events.retention", c.Events.Retention, time.Second, "1s")
	if c.Events.MaxPerBank < 100 {
		p.bad("events.max_per_bank", "must be at least 100")
	}
}

func (c *Config) validateRisk(p *problems) {
	if !(0 < c.Risk.Low && c.Risk.Low <= c.Risk.Medium && c.Risk.Medium <= c.Risk.High) {
		p.bad("risk", "thresholds must satisfy 0 < low <= medium <= high")
	}
}

func (c *Config) validateReview(p *problems) {
	p.atLeast("review.respond_within", c.Review.RespondWithin, time.Second, "1s")
	if c.Review.EscalateReporters < 2 {
		p.bad("review.escalate_reporters", "must be at least 2")
	}
	p.atLeast("recovery.hold_within", c.Recovery.HoldWithin, time.Second, "1s")
	p.atLeast("recovery.answer_within", c.Recovery.AnswerWithin, time.Second, "1s")
	if c.Evidence.SigningKeyFile != "" && c.Evidence.KeyID == "" {
		p.bad("evidence.key_id", "is required with evidence.signing_key_file")
	}
	if (c.Evidence.SigningKeyFile != "" || c.Evidence.CheckpointKeyFile != "") && (c.Audit.Path == "" || c.Audit.Path == "-") {
		p.bad("audit.path", "must be a file for signed answers and checkpoints (evidence.*)")
	}
	p.atLeast("evidence.checkpoint_interval", c.Evidence.CheckpointInterval, 100*time.Millisecond, "100ms")
	if c.Risk.HalfLifeDays < 1 || c.Risk.HalfLifeDays > 3650 {
		p.bad("risk.half_life_days", "must be between 1 and 3650")
	}
	p.atLeast("corrections.lookback", c.Corrections.Lookback, time.Hour, "1h")
	if c.Chains.MaxHops < 1 || c.Chains.MaxHops > 50 {
		p.bad("chains.max_hops", "must be between 1 and 50")
	}
	if c.Chains.MaxTransfers < 1 || c.Chains.MaxTransfers > 1000 {
		p.bad("chains.max_transfers", "must be between 1 and 1000")
	}
	if c.Recovery.AnswerWithin < c.Recovery.HoldWithin {
		p.bad("recovery.answer_within", "must not be shorter than recovery.hold_within")
	}
}

func (c *Config) validateViews(p *problems) {
	for _, t := range slices.Sorted(maps.Keys(c.Views)) {
		if !domain.OrgType(t).Valid() {
			p.bad("views."+t, "must be bank, marketplace or police")
		}
		for _, f := range c.Views[t].Omit {
			if !slices.Contains(Omittable, f) {
				p.bad("views."+t+".omit", "%q is not a lookup field that can be left out (%s)", f, strings.Join(Omittable, ", "))
			}
		}
	}
}

func (c *Config) validateLimits(p *problems) {
	check := func(key string, l LimitSet) {
		for name, v := range map[string]int{"lookups_per_second": l.LookupsPerSecond, "lookups_burst": l.LookupsBurst,
			"writes_per_second": l.WritesPerSecond, "writes_burst": l.WritesBurst, "streams": l.Streams, "writes_per_day": l.WritesPerDay} {
			if v < 0 {
				p.bad(key+"."+name, "must not be negative")
			}
		}
	}
	if c.Limits.RefusedPerSecond < 1 || c.Limits.RefusedBurst < c.Limits.RefusedPerSecond {
		p.bad("limits.refused_per_second", "must be at least 1, and limits.refused_burst at least it")
	}
	for _, t := range slices.Sorted(maps.Keys(c.Limits.Types)) {
		if !domain.OrgType(t).Valid() {
			p.bad("limits."+t, "must be bank, marketplace or police (or refused_per_second, refused_burst)")
		}
		check("limits."+t, c.Limits.Types[t])
	}
	for n, o := range c.Orgs {
		check(fmt.Sprintf("orgs[%d].limits", n), o.Limits)
		if l := c.OrgLimits(o); l.LookupsBurst < l.LookupsPerSecond || l.WritesBurst < l.WritesPerSecond {
			p.bad(fmt.Sprintf("orgs[%d].limits", n), "a burst must be at least its rate per second")
		}
	}
}

func (c *Config) validateOrgs(p *problems) {
	if len(c.Orgs) == 0 {
		p.bad("orgs", "must register at least one organisation")
	}
	seen := map[string]bool{}
	for n, o := range c.Orgs {
		key := fmt.Sprintf("orgs[%d]", n)
		p.required(key+".id", o.ID)
		if o.ID != "" && seen[o.ID] {
			p.bad(key+".id", "duplicate org id %q", o.ID)
		}
		// The store packs org ids into its records: printable, no
		// control character, and not the record's "same holder" mark.
		if o.ID == "=" || len(o.ID) > 128 || strings.IndexFunc(o.ID, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0 {
			p.bad(key+".id", "must be at most 128 printable characters (no control characters), and not \"=\"")
		}
		seen[o.ID] = true
		if !domain.OrgType(o.Type).Valid() {
			p.bad(key+".type", "must be bank, marketplace or police, got %q", o.Type)
		}
		if len(o.BankCodes) > 0 && domain.OrgType(o.Type) != domain.OrgBank {
			p.bad(key+".bank_codes", "only bank orgs hold bank codes")
		}
		for _, cs := range o.CertSubjects {
			typ, name, typed := strings.Cut(cs, ":")
			switch {
			case strings.TrimSpace(cs) == "":
				p.bad(key+".cert_subjects", "must not hold empty names")
			case typed && (strings.EqualFold(typ, "cn") || strings.EqualFold(typ, "dns") || strings.EqualFold(typ, "uri")) && strings.TrimSpace(name) == "":
				p.bad(key+".cert_subjects", "%q names no %s", cs, typ)
			}
		}
		for _, cc := range slices.Sorted(maps.Keys(o.BankCodes)) {
			if len(cc) != 2 || strings.ToUpper(cc) != cc {
				p.bad(key+".bank_codes", "country code %q must be two upper-case letters", cc)
			}
		}
	}
}

func (c *Config) validateLog(p *problems) {
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		p.bad("log.level", "must be debug, info, warn or error")
	}
}
