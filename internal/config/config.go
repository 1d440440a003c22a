package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/mulegate/mulegate/internal/auth"
	"github.com/mulegate/mulegate/internal/report"
	"go.yaml.in/yaml/v3"
)

// Duration is a time.Duration that also accepts days ("730d").
type Duration time.Duration

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// UnmarshalYAML parses "30s", "24h" or "730d".
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseDuration(n.Value)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// ParseDuration is time.ParseDuration plus a whole-days form "Nd".
func ParseDuration(s string) (time.Duration, error) {
	if strings.HasSuffix(s, "d") {
		n, err := strconv.Atoi(strings.TrimSuffix(s, "d"))
		if err != nil || n < 0 {
			return 0, fmt.Errorf("bad duration %q", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("bad duration %q (use e.g. 30s, 24h, 730d)", s)
	}
	return v, nil
}

// Config is the whole gateway configuration. Every key is documented in
// configs/mulegate.example.yaml.
type Config struct {
	API struct {
		Listen            string   `yaml:"listen"`
		CertFile          string   `yaml:"cert_file"`
		KeyFile           string   `yaml:"key_file"`
		ClientCAFile      string   `yaml:"client_ca_file"`
		MaxBodyBytes      int64    `yaml:"max_body_bytes"`
		MaxBatchBodyBytes int64    `yaml:"max_batch_body_bytes"`
		MaxBatch          int      `yaml:"max_batch"`
		ReadHeaderTimeout Duration `yaml:"read_header_timeout"`
		ReadTimeout       Duration `yaml:"read_timeout"`
		WriteTimeout      Duration `yaml:"write_timeout"`
		IdleTimeout       Duration `yaml:"idle_timeout"`
		RequestTimeout    Duration `yaml:"request_timeout"`
		ShutdownTimeout   Duration `yaml:"shutdown_timeout"`
	} `yaml:"api"`
	Ops struct {
		Listen string `yaml:"listen"`
		Pprof  bool   `yaml:"pprof"`
	} `yaml:"ops"`
	Auth struct {
		Issuer             string   `yaml:"issuer"`
		Audience           string   `yaml:"audience"`
		Algorithms         []string `yaml:"algorithms"`
		JWKSFile           string   `yaml:"jwks_file"`
		JWKSURL            string   `yaml:"jwks_url"`
		JWKSRefresh        Duration `yaml:"jwks_refresh"`
		JWKSMaxStale       Duration `yaml:"jwks_max_stale"`
		MaxTokenLifetime   Duration `yaml:"max_token_lifetime"`
		Leeway             Duration `yaml:"leeway"`
		RequireCertBinding bool     `yaml:"require_cert_binding"`
		TokenCacheSize     int      `yaml:"token_cache_size"`
		DevHS256Secret     string   `yaml:"dev_hs256_secret"`
		DevHS256SecretFile string   `yaml:"dev_hs256_secret_file"`
	} `yaml:"auth"`
	Redis struct {
		Addrs        []string `yaml:"addrs"`
		Cluster      bool     `yaml:"cluster"`
		Username     string   `yaml:"username"`
		Password     string   `yaml:"password"`
		PasswordFile string   `yaml:"password_file"`
		DB           int      `yaml:"db"`
		PoolSize     int      `yaml:"pool_size"`
		DialTimeout  Duration `yaml:"dial_timeout"`
		ReadTimeout  Duration `yaml:"read_timeout"`
		WriteTimeout Duration `yaml:"write_timeout"`
		WaitReplicas int      `yaml:"wait_replicas"`
		WaitTimeout  Duration `yaml:"wait_timeout"`
	} `yaml:"redis"`
	Storage struct {
		PseudonymSecret     string   `yaml:"pseudonym_secret"`
		PseudonymSecretFile string   `yaml:"pseudonym_secret_file"`
		Partitions          int      `yaml:"partitions"`
		Retention           Duration `yaml:"retention"`
		IdempotencyTTL      Duration `yaml:"idempotency_ttl"`
	} `yaml:"storage"`
	Police struct {
		URL            string   `yaml:"url"`
		ClientCertFile string   `yaml:"client_cert_file"`
		ClientKeyFile  string   `yaml:"client_key_file"`
		CAFile         string   `yaml:"ca_file"`
		Timeout        Duration `yaml:"timeout"`
	} `yaml:"police"`
	Forward struct {
		Workers           int      `yaml:"workers"`
		Batch             int      `yaml:"batch"`
		VisibilityTimeout Duration `yaml:"visibility_timeout"`
		SweepInterval     Duration `yaml:"sweep_interval"`
		BackoffInitial    Duration `yaml:"backoff_initial"`
		BackoffMax        Duration `yaml:"backoff_max"`
	} `yaml:"forward"`
	Breaker struct {
		Failures       int      `yaml:"failures"`
		OpenFor        Duration `yaml:"open_for"`
		HalfOpenProbes int      `yaml:"half_open_probes"`
	} `yaml:"breaker"`
	Alerts struct {
		Retention Duration `yaml:"retention"`
		MaxWait   Duration `yaml:"max_wait"`
		Keepalive Duration `yaml:"keepalive"`
	} `yaml:"alerts"`
	Risk struct {
		Low    int64 `yaml:"low"`
		Medium int64 `yaml:"medium"`
		High   int64 `yaml:"high"`
	} `yaml:"risk"`
	Orgs []Org `yaml:"orgs"`
	Log  struct {
		Level string `yaml:"level"`
	} `yaml:"log"`
}

// Org is one registered organisation.
type Org struct {
	ID        string              `yaml:"id"`
	Type      string              `yaml:"type"`
	BankCodes map[string][]string `yaml:"bank_codes"`
}

// Default returns a configuration with every default filled in.
func Default() Config {
	var c Config
	c.API.Listen = "127.0.0.1:8443"
	c.API.MaxBodyBytes = 64 << 10
	c.API.MaxBatchBodyBytes = 256 << 10
	c.API.MaxBatch = 1000
	c.API.ReadHeaderTimeout = Duration(5 * time.Second)
	c.API.ReadTimeout = Duration(15 * time.Second)
	c.API.WriteTimeout = Duration(30 * time.Second)
	c.API.IdleTimeout = Duration(120 * time.Second)
	c.API.RequestTimeout = Duration(750 * time.Millisecond)
	c.API.ShutdownTimeout = Duration(20 * time.Second)
	c.Ops.Listen = "127.0.0.1:9090"
	c.Auth.Algorithms = []string{"ES256", "EdDSA", "RS256", "PS256"}
	c.Auth.JWKSRefresh = Duration(5 * time.Minute)
	c.Auth.JWKSMaxStale = Duration(24 * time.Hour)
	c.Auth.MaxTokenLifetime = Duration(24 * time.Hour)
	c.Auth.Leeway = Duration(30 * time.Second)
	c.Auth.RequireCertBinding = true
	c.Auth.TokenCacheSize = 10000
	c.Redis.Addrs = []string{"127.0.0.1:6379"}
	c.Redis.DialTimeout = Duration(500 * time.Millisecond)
	c.Redis.ReadTimeout = Duration(500 * time.Millisecond)
	c.Redis.WriteTimeout = Duration(500 * time.Millisecond)
	c.Redis.WaitTimeout = Duration(100 * time.Millisecond)
	c.Storage.Partitions = 64
	c.Storage.Retention = Duration(730 * 24 * time.Hour)
	c.Storage.IdempotencyTTL = Duration(24 * time.Hour)
	c.Police.Timeout = Duration(5 * time.Second)
	c.Forward.Workers = 4
	c.Forward.Batch = 32
	c.Forward.VisibilityTimeout = Duration(30 * time.Second)
	c.Forward.SweepInterval = Duration(10 * time.Second)
	c.Forward.BackoffInitial = Duration(200 * time.Millisecond)
	c.Forward.BackoffMax = Duration(20 * time.Second)
	c.Breaker.Failures = 5
	c.Breaker.OpenFor = Duration(5 * time.Second)
	c.Breaker.HalfOpenProbes = 1
	c.Alerts.Retention = Duration(90 * 24 * time.Hour)
	c.Alerts.MaxWait = Duration(30 * time.Second)
	c.Alerts.Keepalive = Duration(15 * time.Second)
	c.Risk.Low, c.Risk.Medium, c.Risk.High = 1, 2, 5
	c.Log.Level = "info"
	return c
}

// Load reads path (if not empty) over the defaults, applies MULEGATE_*
// overrides from getenv, reads *_file secrets and validates the result.
func Load(path string, getenv func(string) string) (Config, error) {
	c := Default()
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return c, fmt.Errorf("config: %w", err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		dec.KnownFields(true)
		if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
			return c, fmt.Errorf("config %s: %w", path, err)
		}
	}
	if err := ApplyEnv(&c, getenv); err != nil {
		return c, err
	}
	if err := c.readSecrets(); err != nil {
		return c, err
	}
	return c, c.Validate()
}

// ApplyEnv applies MULEGATE_* overrides to c.
func ApplyEnv(c *Config, getenv func(string) string) error {
	return applyEnv(reflect.ValueOf(c).Elem(), "MULEGATE", getenv)
}

// applyEnv walks the struct and sets each scalar (and string list) field
// from MULEGATE_<YAML_PATH>, e.g. MULEGATE_REDIS_ADDRS=a:1,b:2 or
// MULEGATE_STORAGE_PSEUDONYM_SECRET_FILE=/run/secrets/p. Organisations are
// configured in the file only.
func applyEnv(v reflect.Value, prefix string, getenv func(string) string) error {
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		tag := strings.Split(f.Tag.Get("yaml"), ",")[0]
		if tag == "" || tag == "-" {
			continue
		}
		name := prefix + "_" + strings.ToUpper(tag)
		fv := v.Field(i)
		if f.Type.Kind() == reflect.Struct {
			if err := applyEnv(fv, name, getenv); err != nil {
				return err
			}
			continue
		}
		raw := getenv(name)
		if raw == "" {
			continue
		}
		if err := setFromString(fv, raw); err != nil {
			return fmt.Errorf("config: %s: %w", name, err)
		}
	}
	return nil
}

func setFromString(fv reflect.Value, raw string) error {
	switch fv.Interface().(type) {
	case Duration:
		d, err := ParseDuration(raw)
		if err != nil {
			return err
		}
		fv.Set(reflect.ValueOf(Duration(d)))
		return nil
	case []string:
		var parts []string
		for _, p := range strings.Split(raw, ",") {
			if p = strings.TrimSpace(p); p != "" {
				parts = append(parts, p)
			}
		}
		fv.Set(reflect.ValueOf(parts))
		return nil
	}
	switch fv.Kind() {
	case reflect.String:
		fv.SetString(raw)
	case reflect.Bool:
		b, err := strconv.ParseBool(raw)
		if err != nil {
			return fmt.Errorf("want true or false, got %q", raw)
		}
		fv.SetBool(b)
	case reflect.Int, reflect.Int64:
		n, err := strconv.ParseInt(raw, 10, 64)
		if err != nil {
			return fmt.Errorf("want an integer, got %q", raw)
		}
		fv.SetInt(n)
	default:
		return errors.New("cannot be set from the environment")
	}
	return nil
}

func (c *Config) readSecrets() error {
	read := func(key, path string, dst *string) error {
		if path == "" {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("config: %s: %w", key, err)
		}
		*dst = strings.TrimSpace(string(b))
		return nil
	}
	return errors.Join(
		read("storage.pseudonym_secret_file", c.Storage.PseudonymSecretFile, &c.Storage.PseudonymSecret),
		read("redis.password_file", c.Redis.PasswordFile, &c.Redis.Password),
		read("auth.dev_hs256_secret_file", c.Auth.DevHS256SecretFile, &c.Auth.DevHS256Secret),
	)
}

// Validate reports every problem, each naming its key.
func (c *Config) Validate() error {
	var errs []error
	bad := func(key, format string, a ...any) {
		errs = append(errs, fmt.Errorf("config: %s: %s", key, fmt.Sprintf(format, a...)))
	}
	checkAddr := func(key, addr string) {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			bad(key, "must be host:port, got %q", addr)
		}
	}
	checkAddr("api.listen", c.API.Listen)
	checkAddr("ops.listen", c.Ops.Listen)
	for k, v := range map[string]string{"api.cert_file": c.API.CertFile, "api.key_file": c.API.KeyFile, "api.client_ca_file": c.API.ClientCAFile} {
		if v == "" {
			bad(k, "is required")
		}
	}
	if c.API.MaxBodyBytes < 1024 {
		bad("api.max_body_bytes", "must be at least 1024")
	}
	if c.API.MaxBatchBodyBytes < 1024 {
		bad("api.max_batch_body_bytes", "must be at least 1024")
	}
	if c.API.MaxBatch < 1 || c.API.MaxBatch > 100000 {
		bad("api.max_batch", "must be between 1 and 100000")
	}
	if c.API.RequestTimeout <= 0 {
		bad("api.request_timeout", "must be positive")
	}
	if c.Auth.Issuer == "" {
		bad("auth.issuer", "is required")
	}
	if c.Auth.Audience == "" {
		bad("auth.audience", "is required")
	}
	if c.Auth.JWKSFile == "" && c.Auth.JWKSURL == "" {
		bad("auth.jwks_file", "a JWKS file or auth.jwks_url is required")
	}
	if c.Auth.JWKSURL != "" && !strings.HasPrefix(c.Auth.JWKSURL, "https://") {
		bad("auth.jwks_url", "must be an https:// URL")
	}
	if len(c.Auth.Algorithms) == 0 {
		bad("auth.algorithms", "must list at least one algorithm")
	}
	for _, a := range c.Auth.Algorithms {
		// The one allow-list lives in auth; config only names the key.
		if err := auth.CheckAlgorithm(a, c.Auth.DevHS256Secret != ""); err != nil {
			bad("auth.algorithms", "%v", err)
		}
	}
	if c.Auth.DevHS256Secret != "" && len(c.Auth.DevHS256Secret) < 32 {
		bad("auth.dev_hs256_secret", "must be at least 32 bytes")
	}
	if c.Auth.MaxTokenLifetime.D() < time.Minute {
		bad("auth.max_token_lifetime", "must be at least 1m")
	}
	if c.Auth.JWKSURL != "" && c.Auth.JWKSMaxStale.D() < c.Auth.JWKSRefresh.D() {
		bad("auth.jwks_max_stale", "must be at least auth.jwks_refresh")
	}
	if c.Auth.Leeway < 0 || c.Auth.Leeway.D() > 5*time.Minute {
		bad("auth.leeway", "must be between 0 and 5m")
	}
	if len(c.Redis.Addrs) == 0 {
		bad("redis.addrs", "must list at least one address")
	}
	for _, a := range c.Redis.Addrs {
		checkAddr("redis.addrs", a)
	}
	if c.Redis.WaitReplicas < 0 || c.Redis.WaitReplicas > 16 {
		bad("redis.wait_replicas", "must be between 0 (off) and 16")
	}
	if c.Redis.WaitReplicas > 0 && (c.Redis.WaitTimeout <= 0 || c.Redis.WaitTimeout >= c.API.RequestTimeout) {
		bad("redis.wait_timeout", "must be positive and below api.request_timeout")
	}
	if len(c.Storage.PseudonymSecret) < 16 {
		bad("storage.pseudonym_secret", "is required and must be at least 16 bytes (or set storage.pseudonym_secret_file)")
	}
	if c.Storage.Partitions < 1 || c.Storage.Partitions > 16384 {
		bad("storage.partitions", "must be between 1 and 16384")
	}
	if c.Storage.Retention.D() < 24*time.Hour {
		bad("storage.retention", "must be at least 1d")
	}
	if c.Storage.IdempotencyTTL.D() < 24*time.Hour {
		bad("storage.idempotency_ttl", "must be at least 24h")
	}
	if c.Forward.Workers < 0 || c.Forward.Workers > 1024 {
		bad("forward.workers", "must be between 0 (no forwarding in this process) and 1024")
	}
	if c.Forward.Workers > 0 || c.Police.URL != "" {
		if !strings.HasPrefix(c.Police.URL, "https://") && !strings.HasPrefix(c.Police.URL, "http://") {
			bad("police.url", "is required (http:// or https://) when forward.workers > 0")
		}
	}
	if (c.Police.ClientCertFile == "") != (c.Police.ClientKeyFile == "") {
		bad("police.client_cert_file", "and police.client_key_file go together")
	}
	if c.Forward.Batch < 1 || c.Forward.Batch > 1000 {
		bad("forward.batch", "must be between 1 and 1000")
	}
	if c.Forward.VisibilityTimeout.D() < time.Second {
		bad("forward.visibility_timeout", "must be at least 1s")
	}
	if c.Forward.SweepInterval.D() < 100*time.Millisecond {
		bad("forward.sweep_interval", "must be at least 100ms")
	}
	if c.Forward.BackoffInitial <= 0 || c.Forward.BackoffMax < c.Forward.BackoffInitial {
		bad("forward.backoff_max", "must be positive and at least forward.backoff_initial")
	}
	if c.Police.Timeout <= 0 {
		bad("police.timeout", "must be positive")
	}
	if c.Forward.Workers > 0 && c.Police.Timeout+c.Forward.BackoffMax >= c.Forward.VisibilityTimeout {
		// A worker renews its claim between calls; during one call plus
		// one backoff it cannot, so that must fit in the visibility
		// timeout or a second worker takes the entry over and posts it too.
		bad("forward.visibility_timeout", "must exceed police.timeout + forward.backoff_max (%s + %s)",
			c.Police.Timeout.D(), c.Forward.BackoffMax.D())
	}
	if c.Breaker.Failures < 1 {
		bad("breaker.failures", "must be at least 1")
	}
	if c.Breaker.OpenFor.D() < 100*time.Millisecond {
		bad("breaker.open_for", "must be at least 100ms")
	}
	if c.Breaker.HalfOpenProbes < 1 {
		bad("breaker.half_open_probes", "must be at least 1")
	}
	if c.Alerts.Retention.D() < time.Second {
		bad("alerts.retention", "must be at least 1s")
	}
	if c.Alerts.MaxWait < 0 || c.Alerts.MaxWait.D() > 5*time.Minute {
		bad("alerts.max_wait", "must be between 0 and 5m")
	}
	if c.Alerts.Keepalive.D() < 100*time.Millisecond {
		bad("alerts.keepalive", "must be at least 100ms")
	}
	if !(0 < c.Risk.Low && c.Risk.Low <= c.Risk.Medium && c.Risk.Medium <= c.Risk.High) {
		bad("risk", "thresholds must satisfy 0 < low <= medium <= high")
	}
	if len(c.Orgs) == 0 {
		bad("orgs", "must register at least one organisation")
	}
	seen := map[string]bool{}
	for n, o := range c.Orgs {
		key := fmt.Sprintf("orgs[%d]", n)
		if o.ID == "" {
			bad(key+".id", "is required")
		}
		if seen[o.ID] {
			bad(key+".id", "duplicate org id %q", o.ID)
		}
		seen[o.ID] = true
		if !report.OrgType(o.Type).Valid() {
			bad(key+".type", "must be bank, marketplace or police, got %q", o.Type)
		}
		if len(o.BankCodes) > 0 && report.OrgType(o.Type) != report.OrgBank {
			bad(key+".bank_codes", "only bank orgs hold bank codes")
		}
		for cc := range o.BankCodes {
			if len(cc) != 2 || strings.ToUpper(cc) != cc {
				bad(key+".bank_codes", "country code %q must be two upper-case letters", cc)
			}
		}
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		bad("log.level", "must be debug, info, warn or error")
	}
	return errors.Join(errs...)
}
