package auth_test

import (
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/mulegate/mulegate/internal/auth"
	"github.com/mulegate/mulegate/internal/devenv"
)

type fixture struct {
	v      *auth.Verifier
	signer *devenv.Signer
	thumb  string
	keys   *auth.JWKSSource
	jwks   string
}

func mustFixture(t testing.TB, cacheSize int) *fixture {
	t.Helper()
	signer, err := devenv.NewSigner("k1")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	jwksPath := filepath.Join(dir, "jwks.json")
	if err := os.WriteFile(jwksPath, devenv.JWKS(signer), 0o600); err != nil {
		t.Fatal(err)
	}
	keys, err := auth.NewJWKSSource(t.Context(), auth.JWKSOptions{File: jwksPath})
	if err != nil {
		t.Fatal(err)
	}
	v, err := auth.NewVerifier(auth.VerifierConfig{
		Issuer: "https://idp.test", Audience: "mulegate", Leeway: 30 * time.Second,
		RequireBinding: true, Keys: keys, CacheSize: cacheSize,
		Orgs: auth.NewRegistry(auth.Orgs{
			"bank-a":   {ID: "bank-a", Type: "bank"},
			"market-a": {ID: "market-a", Type: "marketplace"},
		}),
	})
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{v: v, signer: signer, thumb: "thumb-of-my-cert", keys: keys, jwks: jwksPath}
}

func (f *fixture) spec() devenv.TokenSpec {
	return devenv.TokenSpec{Issuer: "https://idp.test", Audience: "mulegate", Subject: "svc-1", Org: "bank-a",
		Scope: "ibans:read reports:write", Thumbprint: f.thumb}
}

func (f *fixture) token(t *testing.T, mutate func(*devenv.TokenSpec), extra map[string]any) string {
	t.Helper()
	s := f.spec()
	if mutate != nil {
		mutate(&s)
	}
	tok, err := f.signer.Token(s, extra)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestVerifyMatrix(t *testing.T) {
	t.Parallel()
	f := mustFixture(t, 0)
	other, _ := devenv.NewSigner("k1") // same kid, different key
	unknownKid, _ := devenv.NewSigner("k9")
	now := time.Now()

	// alg=none: a header and claims with an empty signature.
	none := func() string {
		tok := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{
			"iss": "https://idp.test", "aud": "mulegate", "sub": "x", "org": "bank-a",
			"scope": "ibans:read", "exp": now.Add(time.Hour).Unix(),
			"cnf": map[string]string{"x5t#S256": f.thumb},
		})
		tok.Header["kid"] = "k1"
		s, err := tok.SignedString(jwt.UnsafeAllowNoneSignatureType)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}()
	// Algorithm confusion: HS256 keyed with the public key's encoding.
	confusion := func() string {
		pub := f.signer.Key.Public().(*ecdsa.PublicKey)
		der, _ := x509.MarshalPKIXPublicKey(pub)
		tok := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
			"iss": "https://idp.test", "aud": "mulegate", "sub": "x", "org": "bank-a",
			"scope": "ibans:read", "exp": now.Add(time.Hour).Unix(),
			"cnf": map[string]string{"x5t#S256": f.thumb},
		})
		tok.Header["kid"] = "k1"
		s, err := tok.SignedString(der)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}()
	sign := func(s *devenv.Signer) string {
		tok, err := s.Token(f.spec(), nil)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}

	tests := []struct {
		name  string
		token string
		code  string
	}{
		{"malformed", "not.a.token", auth.CodeUnauthenticated},
		{"garbage", "abc", auth.CodeUnauthenticated},
		{"expired", f.token(t, func(s *devenv.TokenSpec) { s.TTL = -time.Hour }, map[string]any{"iat": now.Add(-2 * time.Hour).Unix(), "nbf": now.Add(-2 * time.Hour).Unix()}), auth.CodeTokenExpired},
		{"not yet valid", f.token(t, nil, map[string]any{"nbf": now.Add(10 * time.Minute).Unix()}), auth.CodeUnauthenticated},
		{"issued in future", f.token(t, nil, map[string]any{"iat": now.Add(10 * time.Minute).Unix()}), auth.CodeUnauthenticated},
		{"wrong issuer", f.token(t, func(s *devenv.TokenSpec) { s.Issuer = "https://evil.test" }, nil), auth.CodeUnauthenticated},
		{"wrong audience", f.token(t, func(s *devenv.TokenSpec) { s.Audience = "other" }, nil), auth.CodeUnauthenticated},
		{"no exp", f.token(t, nil, map[string]any{"exp": nil}), auth.CodeUnauthenticated},
		{"no sub", f.token(t, func(s *devenv.TokenSpec) { s.Subject = "" }, map[string]any{"sub": nil}), auth.CodeUnauthenticated},
		{"no org", f.token(t, nil, map[string]any{"org": nil}), auth.CodeUnauthenticated},
		{"no scope", f.token(t, nil, map[string]any{"scope": nil}), auth.CodeUnauthenticated},
		{"unknown org", f.token(t, func(s *devenv.TokenSpec) { s.Org = "nobody" }, nil), auth.CodeUnauthenticated},
		{"alg none", none, auth.CodeUnauthenticated},
		{"hs256 with public key", confusion, auth.CodeUnauthenticated},
		{"unknown kid", sign(unknownKid), auth.CodeUnauthenticated},
		{"wrong key same kid", sign(other), auth.CodeUnauthenticated},
		{"no kid", f.token(t, nil, nil)[0:0] + noKid(t, f), auth.CodeUnauthenticated},
		{"no cnf", f.token(t, func(s *devenv.TokenSpec) { s.Thumbprint = "" }, nil), auth.CodeTokenNotBound},
		{"bound to another cert", f.token(t, func(s *devenv.TokenSpec) { s.Thumbprint = "someone-else" }, nil), auth.CodeTokenNotBound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.v.Verify(tt.token, f.thumb)
			var ae *auth.Error
			if !errors.As(err, &ae) {
				t.Fatalf("Verify error = %v, want *auth.Error %s", err, tt.code)
			}
			if ae.Code != tt.code {
				t.Errorf("code = %s (%s), want %s", ae.Code, ae.Msg, tt.code)
			}
		})
	}
}

func noKid(t *testing.T, f *fixture) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{
		"iss": "https://idp.test", "aud": "mulegate", "sub": "x", "org": "bank-a",
		"scope": "ibans:read", "exp": time.Now().Add(time.Hour).Unix(),
	})
	s, err := tok.SignedString(f.signer.Key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestScopesAreCappedByOrgType(t *testing.T) {
	t.Parallel()
	f := mustFixture(t, 0)
	tok := f.token(t, func(s *devenv.TokenSpec) {
		s.Org = "market-a"
		s.Scope = "ibans:read alerts:write alerts:read reports:write"
	}, nil)
	p, err := f.v.Verify(tok, f.thumb)
	if err != nil {
		t.Fatal(err)
	}
	if p.Scopes.Has(auth.ScopeAlertsWrite) || p.Scopes.Has(auth.ScopeAlertsRead) {
		t.Errorf("marketplace token got alert scopes: %s", p.Scopes)
	}
	if !p.Scopes.Has(auth.ScopeIBANsRead | auth.ScopeReportsWrite) {
		t.Errorf("scopes = %s, want ibans:read reports:write", p.Scopes)
	}
	if p.Scopes.Has(auth.ScopeReportsRead) {
		t.Errorf("scope reports:read granted though the token did not ask for it")
	}
}

func TestScopeAsArray(t *testing.T) {
	t.Parallel()
	f := mustFixture(t, 0)
	tok := f.token(t, nil, map[string]any{"scope": []string{"ibans:read", "reports:read"}})
	p, err := f.v.Verify(tok, f.thumb)
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Scopes.String(); got != "ibans:read reports:read" {
		t.Errorf("scopes = %q", got)
	}
}

func TestCacheServesAndStillChecksBinding(t *testing.T) {
	t.Parallel()
	f := mustFixture(t, 100)
	var hits, misses int
	f.v.OnCache = func(hit bool) {
		if hit {
			hits++
		} else {
			misses++
		}
	}
	tok := f.token(t, nil, nil)
	for range 3 {
		if _, err := f.v.Verify(tok, f.thumb); err != nil {
			t.Fatal(err)
		}
	}
	if hits != 2 || misses != 1 {
		t.Errorf("hits=%d misses=%d, want 2 and 1", hits, misses)
	}
	// A cached token presented over another certificate is still refused.
	_, err := f.v.Verify(tok, "another-cert")
	var ae *auth.Error
	if !errors.As(err, &ae) || ae.Code != auth.CodeTokenNotBound {
		t.Fatalf("cached token over another cert: %v, want token_not_bound", err)
	}
}

func TestKeyRemovalRevokesCachedTokens(t *testing.T) {
	t.Parallel()
	f := mustFixture(t, 100)
	tok := f.token(t, nil, nil)
	if _, err := f.v.Verify(tok, f.thumb); err != nil {
		t.Fatal(err)
	}
	other, _ := devenv.NewSigner("k2")
	if err := os.WriteFile(f.jwks, devenv.JWKS(other), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := f.keys.Reload(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := f.v.Verify(tok, f.thumb); err == nil {
		t.Fatal("token signed by a removed key still accepted after JWKS reload")
	}
}

func TestParseJWKSRefusesBadKeys(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, doc string }{
		{"no kid", `{"keys":[{"kty":"EC","crv":"P-256","x":"AA","y":"AA"}]}`},
		{"symmetric", `{"keys":[{"kty":"oct","kid":"a","k":"c2VjcmV0"}]}`},
		{"private", `{"keys":[{"kty":"EC","kid":"a","crv":"P-256","x":"AA","y":"AA","d":"AA"}]}`},
		{"off curve", `{"keys":[{"kty":"EC","kid":"a","crv":"P-256","x":"` + strings.Repeat("A", 43) + `","y":"` + strings.Repeat("A", 43) + `"}]}`},
		{"short rsa", `{"keys":[{"kty":"RSA","kid":"a","n":"` + base64.RawURLEncoding.EncodeToString(make([]byte, 128)) + `","e":"AQAB"}]}`},
		{"not json", `{`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := auth.ParseJWKS([]byte(tt.doc)); err == nil {
				t.Fatal("accepted")
			}
		})
	}
	var doc map[string]any
	if err := json.Unmarshal(devenv.JWKS(mustSigner(t)), &doc); err != nil {
		t.Fatal(err)
	}
}

func mustSigner(t *testing.T) *devenv.Signer {
	t.Helper()
	s, err := devenv.NewSigner("x")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestCheckAlgorithm(t *testing.T) {
	t.Parallel()
	for _, a := range []string{"none", "HS256", "HS512", "foo"} {
		if auth.CheckAlgorithm(a, false) == nil {
			t.Errorf("%s allowed without dev HS256", a)
		}
	}
	if auth.CheckAlgorithm("HS256", true) != nil {
		t.Error("HS256 refused with dev secret")
	}
	if auth.CheckAlgorithm("none", true) == nil {
		t.Error("none allowed")
	}
}

func BenchmarkVerifyCold(b *testing.B) {
	f := mustFixture(b, -1)
	tok, _ := f.signer.Token(f.spec(), nil)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.v.Verify(tok, f.thumb); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyCached(b *testing.B) {
	f := mustFixture(b, 1000)
	tok, _ := f.signer.Token(f.spec(), nil)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.v.Verify(tok, f.thumb); err != nil {
			b.Fatal(err)
		}
	}
}

// TestDevHS256 accepts HS256 only with the development secret configured.
func TestDevHS256(t *testing.T) {
	t.Parallel()
	secret := []byte("a-development-secret-of-32-bytes!")
	keys := auth.StaticKeys(mustKeySet(t))
	mk := func(dev []byte) *auth.Verifier {
		algs := []string{"ES256"}
		if dev != nil {
			algs = append(algs, "HS256")
		}
		v, err := auth.NewVerifier(auth.VerifierConfig{Issuer: "i", Audience: "a", Algorithms: algs, HS256Secret: dev,
			Keys: keys, CacheSize: -1, Orgs: auth.NewRegistry(auth.Orgs{"bank-a": {ID: "bank-a", Type: "bank"}})})
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	tok, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"iss": "i", "aud": "a", "sub": "s", "org": "bank-a",
		"scope": "ibans:read", "exp": time.Now().Add(time.Hour).Unix(), "cnf": map[string]string{"x5t#S256": "t"}}).SignedString(secret)
	if _, err := mk(secret).Verify(tok, "t"); err != nil {
		t.Fatalf("HS256 with the dev secret: %v", err)
	}
	if _, err := mk(nil).Verify(tok, "t"); err == nil {
		t.Fatal("HS256 accepted without the dev secret")
	}
	if _, err := auth.NewVerifier(auth.VerifierConfig{Issuer: "i", Audience: "a", Algorithms: []string{"HS256"}, Keys: keys,
		Orgs: auth.NewRegistry(nil)}); err == nil {
		t.Fatal("a verifier allowing HS256 without a dev secret was built")
	}
}

func mustKeySet(t *testing.T) *auth.KeySet {
	t.Helper()
	ks, err := auth.ParseJWKS(devenv.JWKS(mustSigner(t)))
	if err != nil {
		t.Fatal(err)
	}
	return ks
}

// TestJWKSRefreshRevokes: with a refresh period, a key removed from the
// JWKS file stops working within about one period, cached tokens included.
func TestJWKSRefreshRevokes(t *testing.T) {
	t.Parallel()
	signer := mustSigner(t)
	path := filepath.Join(t.TempDir(), "jwks.json")
	mustWrite(t, path, devenv.JWKS(signer))
	keys, err := auth.NewJWKSSource(t.Context(), auth.JWKSOptions{File: path, Refresh: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	go keys.Run(t.Context())
	v := mustVerifier(t, auth.VerifierConfig{Issuer: "i", Audience: "a", Keys: keys, CacheSize: 100,
		Orgs: auth.NewRegistry(auth.Orgs{"bank-a": {ID: "bank-a", Type: "bank"}})})
	tok := mustToken(t, signer, devenv.TokenSpec{Issuer: "i", Audience: "a", Subject: "s", Org: "bank-a", Scope: "ibans:read", Thumbprint: "t"}, nil)
	if _, err := v.Verify(tok, "t"); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, path, devenv.JWKS(mustSigner(t))) // rotated: the old key is gone
	deadline := time.Now().Add(2 * time.Second)
	for {
		if _, err := v.Verify(tok, "t"); err != nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("a token signed by a removed key still verifies 2 s after the rotation (refresh 100 ms)")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestJWKSFromURL: keys can come from an HTTPS URL as well as the file,
// merged, and a refresh picks up a rotation at the URL.
func TestJWKSFromURL(t *testing.T) {
	t.Parallel()
	fileSigner, urlSigner := mustSigner(t), mustSigner(t)
	urlSigner.Kid = "url-key"
	var served atomic.Value
	served.Store(devenv.JWKS(urlSigner))
	hs := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/jwk-set+json")
		w.Write(served.Load().([]byte))
	}))
	defer hs.Close()
	path := filepath.Join(t.TempDir(), "jwks.json")
	mustWrite(t, path, devenv.JWKS(fileSigner))
	keys, err := auth.NewJWKSSource(t.Context(), auth.JWKSOptions{File: path, URL: hs.URL, Client: hs.Client()})
	if err != nil {
		t.Fatal(err)
	}
	v := mustVerifier(t, auth.VerifierConfig{Issuer: "i", Audience: "a", Keys: keys, CacheSize: -1,
		Orgs: auth.NewRegistry(auth.Orgs{"bank-a": {ID: "bank-a", Type: "bank"}})})
	spec := devenv.TokenSpec{Issuer: "i", Audience: "a", Subject: "s", Org: "bank-a", Scope: "ibans:read", Thumbprint: "t"}
	for _, s := range []*devenv.Signer{fileSigner, urlSigner} {
		tok := mustToken(t, s, spec, nil)
		if _, err := v.Verify(tok, "t"); err != nil {
			t.Fatalf("key %s: %v", s.Kid, err)
		}
	}
	rotated := mustSigner(t)
	rotated.Kid = "url-key-2"
	served.Store(devenv.JWKS(rotated))
	if err := keys.Reload(t.Context()); err != nil {
		t.Fatal(err)
	}
	old := mustToken(t, urlSigner, spec, nil)
	if _, err := v.Verify(old, "t"); err == nil {
		t.Error("a key removed from the JWKS URL still verifies after a refresh")
	}
	fresh := mustToken(t, rotated, spec, nil)
	if _, err := v.Verify(fresh, "t"); err != nil {
		t.Errorf("the new key from the URL: %v", err)
	}
}

func mustWrite(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func mustVerifier(t *testing.T, cfg auth.VerifierConfig) *auth.Verifier {
	t.Helper()
	v, err := auth.NewVerifier(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func mustToken(t *testing.T, s *devenv.Signer, spec devenv.TokenSpec, extra map[string]any) string {
	t.Helper()
	tok, err := s.Token(spec, extra)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}
