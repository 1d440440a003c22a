package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"

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
		ClientCRLFiles    []string `yaml:"client_crl_files"`
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
		Listen            string   `yaml:"listen"`
		Pprof             bool     `yaml:"pprof"`
		ReadHeaderTimeout Duration `yaml:"read_header_timeout"`
		ReadTimeout       Duration `yaml:"read_timeout"`
		WriteTimeout      Duration `yaml:"write_timeout"`
		IdleTimeout       Duration `yaml:"idle_timeout"`
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
		// ReadFromReplicas sends lookups to the replicas of a Redis
		// Cluster (redis.cluster must be true).
		ReadFromReplicas bool `yaml:"read_from_replicas"`
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
		// HalfLifeDays is the score's half-life: a report's weight halves
		// every this many days.
		HalfLifeDays int `yaml:"half_life_days"`
	} `yaml:"risk"`
	// Corrections: after a clear, the orgs that looked the IBAN up this
	// long before it get iban.corrected.
	Corrections struct {
		Lookback Duration `yaml:"lookback"`
	} `yaml:"corrections"`
	// Limits: per org type (bank, marketplace, police), overridable per
	// org (orgs[].limits).
	Limits Limits `yaml:"limits"`
	Audit  struct {
		// Path is the audit trail's file (JSON lines, appended, fsync'd
		// every second); "" or "-": stdout, each line with "log":"audit".
		Path string `yaml:"path"`
	} `yaml:"audit"`
	// Evidence: signed answers (signing_key_file: PEM EC P-256, named
	// key_id) and signed checkpoints of the audit trail's Merkle tree
	// (checkpoint_key_file: a signed-note private key), every
	// checkpoint_interval when it grew, under origin (default
	// mulegate/<hostname>; replicas need distinct ones).
	Evidence struct {
		SigningKeyFile     string   `yaml:"signing_key_file"`
		KeyID              string   `yaml:"key_id"`
		CheckpointKeyFile  string   `yaml:"checkpoint_key_file"`
		CheckpointInterval Duration `yaml:"checkpoint_interval"`
		Origin             string   `yaml:"origin"`
	} `yaml:"evidence"`
	// Console is "mulegate console": the web console of one org, a
	// client of the API (it keeps no data of its own).
	Console struct {
		Listen         string   `yaml:"listen"`
		TLSCertFile    string   `yaml:"tls_cert_file"`
		TLSKeyFile     string   `yaml:"tls_key_file"`
		UserHeader     string   `yaml:"user_header"`
		TrustedProxies []string `yaml:"trusted_proxies"`
		UsersFile      string   `yaml:"users_file"`
		SessionTTL     Duration `yaml:"session_ttl"`
		API            struct {
			URL       string   `yaml:"url"`
			CertFile  string   `yaml:"cert_file"`
			KeyFile   string   `yaml:"key_file"`
			CAFile    string   `yaml:"ca_file"`
			TokenURL  string   `yaml:"token_url"`
			ClientID  string   `yaml:"client_id"`
			Scopes    []string `yaml:"scopes"`
			TokenFile string   `yaml:"token_file"`
		} `yaml:"api"`
	} `yaml:"console"`
	// Views: per org type, lookup fields left out of the answer (no
	// tipping-off: a marketplace must not learn that the police are
	// involved).
	Views  map[string]View `yaml:"views"`
	Events struct {
		Retention Duration `yaml:"retention"`
		// MaxPerBank bounds each bank's event feed (default 1,000,000),
		// oldest trimmed first (mulegate_events_trimmed_total).
		MaxPerBank int64 `yaml:"max_per_bank"`
	} `yaml:"events"`
	Review struct {
		RespondWithin     Duration `yaml:"respond_within"`
		EscalateReporters int64    `yaml:"escalate_reporters"`
	} `yaml:"review"`
	// Recovery: the holder's deadlines to block the money (hold_within)
	// and to answer (answer_within) after a recovery request.
	Recovery struct {
		HoldWithin   Duration `yaml:"hold_within"`
		AnswerWithin Duration `yaml:"answer_within"`
	} `yaml:"recovery"`
	// Chains: onward transfers (linked reports) per request and hops per
	// chain.
	Chains struct {
		MaxHops      int `yaml:"max_hops"`
		MaxTransfers int `yaml:"max_transfers"`
	} `yaml:"chains"`
	Orgs []Org `yaml:"orgs"`
	Log  struct {
		Level string `yaml:"level"`
	} `yaml:"log"`
}

// Limits are the per org type limits (limits.bank, limits.marketplace,
// limits.police) and the gateway-wide ones.
type Limits struct {
	// RefusedPerSecond and RefusedBurst limit the requests of one client
	// certificate that end in 401, 403 or 429 (default 20/s, burst 100);
	// beyond, the gateway answers 429 at once and records one aggregate
	// per certificate and second.
	RefusedPerSecond int `yaml:"refused_per_second"`
	RefusedBurst     int `yaml:"refused_burst"`
	// Types holds limits.<type>.
	Types map[string]LimitSet `yaml:",inline"`
}

// LimitSet is an org type's (or one org's) rate limits. In an org's
// override, a zero field keeps its type's value.
type LimitSet struct {
	LookupsPerSecond int `yaml:"lookups_per_second"`
	LookupsBurst     int `yaml:"lookups_burst"`
	WritesPerSecond  int `yaml:"writes_per_second"`
	WritesBurst      int `yaml:"writes_burst"`
	// Streams bounds an org's open SSE streams and waiting long polls
	// (default 10); WritesPerDay its writes per UTC day (default 100,000).
	Streams      int `yaml:"streams"`
	WritesPerDay int `yaml:"writes_per_day"`
}

// Over is s with the non-zero fields of o.
func (s LimitSet) Over(o LimitSet) LimitSet {
	pick := func(a, b int) int {
		if b != 0 {
			return b
		}
		return a
	}
	return LimitSet{pick(s.LookupsPerSecond, o.LookupsPerSecond), pick(s.LookupsBurst, o.LookupsBurst),
		pick(s.WritesPerSecond, o.WritesPerSecond), pick(s.WritesBurst, o.WritesBurst),
		pick(s.Streams, o.Streams), pick(s.WritesPerDay, o.WritesPerDay)}
}

// DefaultLimits are every org type's defaults.
var DefaultLimits = LimitSet{LookupsPerSecond: 1000, LookupsBurst: 2000, WritesPerSecond: 100, WritesBurst: 500,
	Streams: 10, WritesPerDay: 100_000}

// OrgLimits is the limits an org gets: its type's, then its own overrides.
func (c Config) OrgLimits(o Org) LimitSet {
	return DefaultLimits.Over(c.Limits.Types[o.Type]).Over(o.Limits)
}

// View is what one org type's lookups leave out.
type View struct {
	Omit []string `yaml:"omit"`
}

// Omittable are the lookup fields a view may leave out.
var Omittable = []string{"country", "bank_code", "report_count", "reporter_count", "reports_last_30_days", "by_category",
	"by_source", "first_reported_at", "last_reported_at", "risk", "review", "cancelled_count", "stats", "marker",
	"marker.by_type", "risk_reasons", "watermark", "holder_status", "cleared", "cleared.reason", "cleared_count", "score"}

// Org is one registered organisation.
type Org struct {
	ID           string              `yaml:"id"`
	Type         string              `yaml:"type"`
	BankCodes    map[string][]string `yaml:"bank_codes"`
	CertSubjects []string            `yaml:"cert_subjects"`
	Limits       LimitSet            `yaml:"limits"`
}

// Default returns a configuration with every default filled in.
func Default() Config {
	var c Config
	c.API.Listen = "127.0.0.1:8443"
	c.Limits.RefusedPerSecond, c.Limits.RefusedBurst = 20, 100
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
	c.Ops.ReadHeaderTimeout = Duration(5 * time.Second)
	c.Ops.ReadTimeout = Duration(10 * time.Second)
	c.Ops.WriteTimeout = Duration(60 * time.Second) // a pprof profile takes 30 s
	c.Ops.IdleTimeout = Duration(120 * time.Second)
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
	c.Events.Retention = Duration(90 * 24 * time.Hour)
	c.Events.MaxPerBank = 1_000_000
	c.Views = map[string]View{"marketplace": {Omit: []string{"by_source", "marker.by_type", "cleared.reason"}}}
	c.Review.RespondWithin = Duration(7 * 24 * time.Hour)
	c.Review.EscalateReporters = 3
	c.Recovery.HoldWithin = Duration(time.Hour)
	c.Recovery.AnswerWithin = Duration(7 * 24 * time.Hour)
	c.Chains.MaxHops = 5
	c.Risk.HalfLifeDays = 90
	c.Evidence.CheckpointInterval = Duration(10 * time.Second)
	c.Corrections.Lookback = Duration(90 * 24 * time.Hour)
	c.Chains.MaxTransfers = 50
	c.Log.Level = "info"
	c.Console.Listen = "127.0.0.1:8480"
	c.Console.SessionTTL = Duration(8 * time.Hour)
	return c
}

// Load reads path (if not empty) over the defaults, applies MULEGATE_*
// overrides from getenv, reads *_file secrets and validates the result.
func Load(path string, getenv func(string) string) (Config, error) {
	c, err := read(path, getenv, (*Config).Validate)
	if err != nil {
		return c, err
	}
	if err := c.readSecrets(); err != nil {
		return c, err
	}
	err = c.Validate()
	return c, err
}

// LoadConsole reads a configuration for "mulegate console": the same
// file format (a gateway's whole file will do), of which only the
// console section is validated.
func LoadConsole(path string, getenv func(string) string) (Config, error) {
	c, err := read(path, getenv, (*Config).ValidateConsole)
	if err != nil {
		return c, err
	}
	err = c.ValidateConsole()
	return c, err
}

// read reads path over the defaults and applies the environment; unknown
// keys are reported with what validate says of the rest.
func read(path string, getenv func(string) string, validate func(*Config) error) (Config, error) {
	c := Default()
	var unknown []error
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return c, fmt.Errorf("config: %w", err)
		}
		var doc yaml.Node
		if err := yaml.Unmarshal(b, &doc); err != nil {
			return c, fmt.Errorf("config %s: %w", path, err)
		}
		unknown = unknownKeys(&doc)
		dec := yaml.NewDecoder(bytes.NewReader(b))
		dec.KnownFields(len(unknown) == 0) // named above, with their paths: the rest is still checked
		if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
			return c, fmt.Errorf("config %s: %w", path, err)
		}
	}
	if len(unknown) > 0 {
		// Every problem at once: the unknown keys, then what the rest says.
		err := errors.Join(unknown...)
		if verr := validate(&c); verr != nil {
			err = errors.Join(err, verr)
		}
		return c, fmt.Errorf("config %s: %w", path, err)
	}
	err := ApplyEnv(&c, getenv)
	return c, err
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
