package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestExampleConfigLoads(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	secret := filepath.Join(dir, "secret")
	if err := os.WriteFile(secret, []byte("0123456789abcdef0123\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"MULEGATE_STORAGE_PSEUDONYM_SECRET_FILE": secret,
		"MULEGATE_REDIS_ADDRS":                   "10.0.0.1:6379, 10.0.0.2:6379",
		"MULEGATE_AUTH_LEEWAY":                   "10s",
		"MULEGATE_AUTH_REQUIRE_CERT_BINDING":     "false",
	}
	c, err := Load("../../configs/mulegate.example.yaml", func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if c.Storage.PseudonymSecret != "0123456789abcdef0123" {
		t.Errorf("secret from file = %q", c.Storage.PseudonymSecret)
	}
	if len(c.Redis.Addrs) != 2 || c.Redis.Addrs[1] != "10.0.0.2:6379" {
		t.Errorf("addrs = %v", c.Redis.Addrs)
	}
	if c.Auth.Leeway.D() != 10*time.Second || c.Auth.RequireCertBinding {
		t.Errorf("env overrides not applied: %+v", c.Auth)
	}
	if c.Storage.Retention.D() != 730*24*time.Hour {
		t.Errorf("retention = %v", c.Storage.Retention.D())
	}
}

func TestBadConfigNamesEveryKey(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := filepath.Join(dir, "c.yaml")
	os.WriteFile(p, []byte(`
api: {listen: "nope", cert_file: a, key_file: b, client_ca_file: c}
auth: {issuer: x, audience: y, jwks_file: j, algorithms: [none, HS256]}
storage: {pseudonym_secret: short, partitions: 0}
orgs: [{id: a, type: bank}, {id: a, type: shop}, {id: "=", type: bank}, {id: "b\x1fc", type: bank}]
`), 0o600)
	_, err := Load(p, func(string) string { return "" })
	if err == nil {
		t.Fatal("bad config accepted")
	}
	for _, key := range []string{"api.listen", "auth.algorithms", "storage.pseudonym_secret", "storage.partitions", "orgs[1].id", "orgs[1].type", "orgs[2].id", "orgs[3].id"} {
		if !strings.Contains(err.Error(), key) {
			t.Errorf("error does not name %s:\n%v", key, err)
		}
	}
}

func TestUnknownKeyIsRefused(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(p, []byte("redis: {adresses: [x]}\n"), 0o600)
	_, err := Load(p, func(string) string { return "" })
	if err == nil || !strings.Contains(err.Error(), "adresses") {
		t.Fatalf("err = %v, want it to name the unknown key", err)
	}
}

func TestBadEnvNamesVariable(t *testing.T) {
	t.Parallel()
	_, err := Load("", func(k string) string {
		if k == "MULEGATE_API_MAX_BATCH" {
			return "lots"
		}
		return ""
	})
	if err == nil || !strings.Contains(err.Error(), "MULEGATE_API_MAX_BATCH") {
		t.Fatalf("err = %v", err)
	}
}

// TestVisibilityMustCoverCallAndBackoff (issue 8.14): a configuration in
// which one call plus one backoff can outlast the visibility timeout is
// refused at start, naming the key.
func TestVisibilityMustCoverCallAndBackoff(t *testing.T) {
	t.Parallel()
	c := minimalValid()
	if err := c.Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	c.Forward.BackoffMax = Duration(30 * time.Second)
	err := c.Validate()
	if err == nil || !strings.Contains(err.Error(), "forward.visibility_timeout") {
		t.Errorf("police.timeout 5s + backoff_max 30s with visibility 30s: %v, want an error naming forward.visibility_timeout", err)
	}
	// Issue 21.8: also with forward.workers 0 (an API-only serve), since
	// the same file configures "mulegate forward" processes.
	c.Forward.Workers = 0
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "forward.visibility_timeout") {
		t.Errorf("workers 0: %v, want the same error", err)
	}
}

// TestValidateOrderIsStable: every problem at once, in the same order
// every time (section by section), so that an operator's diff of two runs
// shows only what changed.
func TestValidateOrderIsStable(t *testing.T) {
	t.Parallel()
	var c Config
	c.Orgs = []Org{{ID: "x", Type: "bank", BankCodes: map[string][]string{"nl": {"A"}, "de": {"B"}, "be": {"C"}}}}
	first := c.Validate().Error()
	for range 20 {
		if got := c.Validate().Error(); got != first {
			t.Fatalf("Validate's message changed between runs:\n%s\n---\n%s", first, got)
		}
	}
	if i, j := strings.Index(first, "api.cert_file"), strings.Index(first, "api.key_file"); i < 0 || j < i {
		t.Errorf("api.cert_file should come before api.key_file:\n%s", first)
	}
	if i, j := strings.Index(first, "api.listen"), strings.Index(first, "orgs[0]"); i < 0 || j < i {
		t.Errorf("sections out of order:\n%s", first)
	}
}

// TestReplicaReadsNeedACluster: redis.read_from_replicas is refused on a
// single Redis (not supported) and accepted on a cluster.
func TestReplicaReadsNeedACluster(t *testing.T) {
	t.Parallel()
	c := minimalValid()
	c.Redis.ReadFromReplicas = true
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "redis.read_from_replicas") {
		t.Errorf("replica reads on one Redis: %v, want an error naming redis.read_from_replicas", err)
	}
	c.Redis.Cluster = true
	if err := c.Validate(); err != nil {
		t.Errorf("replica reads on a cluster: %v", err)
	}
}

// minimalValid is the defaults with what they leave unset filled in.
func minimalValid() Config {
	c := Default()
	c.API.CertFile, c.API.KeyFile, c.API.ClientCAFile = "c", "k", "ca"
	c.Auth.Issuer, c.Auth.Audience, c.Auth.JWKSFile = "i", "a", "j"
	c.Storage.PseudonymSecret = "0123456789abcdef"
	c.Police.URL = "http://127.0.0.1:9200"
	c.Orgs = []Org{{ID: "b", Type: "bank"}}
	return c
}
