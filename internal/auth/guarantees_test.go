package auth_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mulegate/mulegate/internal/auth"
	"github.com/mulegate/mulegate/internal/devenv"
)

// TestReloadAppliesToCachedTokens (issue 8.4): the cache keeps only what
// the signature proved; a reload that removes or re-types an org takes
// effect on the next request of a token that is already cached.
func TestReloadAppliesToCachedTokens(t *testing.T) {
	t.Parallel()
	signer := mustSigner(t)
	orgs := auth.NewRegistry(auth.Orgs{"police-nl": {ID: "police-nl", Type: "police"}, "bank-a": {ID: "bank-a", Type: "bank"}})
	v := mustVerifier(t, auth.VerifierConfig{Issuer: "i", Audience: "a", Keys: auth.StaticKeys(mustKeySetOf(t, signer)), CacheSize: 100, Orgs: orgs})
	spec := devenv.TokenSpec{Issuer: "i", Audience: "a", Subject: "s", Org: "police-nl", Scope: "ibans:read alerts:write", Thumbprint: "t"}
	tok := mustToken(t, signer, spec, nil)
	p, err := v.Verify(tok, "t")
	if err != nil || !p.Scopes.Has(auth.ScopeAlertsWrite) {
		t.Fatalf("police token: %+v %v", p, err)
	}
	orgs.Swap(auth.Orgs{"police-nl": {ID: "police-nl", Type: "marketplace"}, "bank-a": {ID: "bank-a", Type: "bank"}})
	p, err = v.Verify(tok, "t")
	if err != nil {
		t.Fatal(err)
	}
	if p.Org.Type != "marketplace" || p.Scopes.Has(auth.ScopeAlertsWrite) || !p.Scopes.Has(auth.ScopeIBANsRead) {
		t.Errorf("after demotion to marketplace: type %q scopes %q", p.Org.Type, p.Scopes)
	}
	orgs.Swap(auth.Orgs{"bank-a": {ID: "bank-a", Type: "bank"}})
	if _, err := v.Verify(tok, "t"); code(err) != auth.CodeUnauthenticated {
		t.Errorf("after removal: %v, want unauthenticated", err)
	}
}

// TestMaxTokenLifetime (issue 8.4): a token living longer than
// auth.max_token_lifetime is refused, with or without iat.
func TestMaxTokenLifetime(t *testing.T) {
	t.Parallel()
	signer := mustSigner(t)
	v := mustVerifier(t, auth.VerifierConfig{Issuer: "i", Audience: "a", Keys: auth.StaticKeys(mustKeySetOf(t, signer)), CacheSize: 100,
		Orgs: auth.NewRegistry(auth.Orgs{"bank-a": {ID: "bank-a", Type: "bank"}}), MaxLifetime: 24 * time.Hour})
	spec := devenv.TokenSpec{Issuer: "i", Audience: "a", Subject: "s", Org: "bank-a", Scope: "ibans:read", Thumbprint: "t"}
	now := time.Now()
	for _, tc := range []struct {
		name  string
		ttl   time.Duration
		extra map[string]any
		ok    bool
	}{
		{"1h", time.Hour, nil, true},
		{"23h", 23 * time.Hour, nil, true},
		{"25h", 25 * time.Hour, nil, false},
		{"10 years", 10 * 365 * 24 * time.Hour, nil, false},
		{"no iat, 2 days left", 0, map[string]any{"iat": nil, "exp": now.Add(48 * time.Hour).Unix()}, false},
		{"no iat, 1 hour left", 0, map[string]any{"iat": nil, "exp": now.Add(time.Hour).Unix()}, true},
		{"old iat, short left", 0, map[string]any{"iat": now.Add(-30 * time.Hour).Unix(), "nbf": nil, "exp": now.Add(time.Hour).Unix()}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := spec
			s.TTL = tc.ttl
			_, err := v.Verify(mustToken(t, signer, s, tc.extra), "t")
			if tc.ok && err != nil {
				t.Errorf("refused: %v", err)
			}
			if !tc.ok && code(err) != auth.CodeUnauthenticated {
				t.Errorf("got %v, want unauthenticated", err)
			}
		})
	}
}

// TestStrictTokens (issue 8.17): one meaning per token.
func TestStrictTokens(t *testing.T) {
	t.Parallel()
	f := mustFixture(t, 100)
	for _, tc := range []struct {
		name   string
		header map[string]any
		extra  map[string]any
		ok     bool
	}{
		{"typ JWT", map[string]any{"typ": "JWT"}, nil, true},
		{"typ at+jwt", map[string]any{"typ": "at+jwt"}, nil, true},
		{"typ application/at+jwt", map[string]any{"typ": "application/at+jwt"}, nil, true},
		{"no typ", map[string]any{"typ": nil}, nil, true},
		{"typ dpop+jwt", map[string]any{"typ": "dpop+jwt"}, nil, false},
		{"typ number", map[string]any{"typ": 7}, nil, false},
		{"crit", map[string]any{"crit": []string{"exp"}}, nil, false},
		{"exp as string", nil, map[string]any{"exp": "9999999999"}, false},
		{"nbf 1e19", nil, map[string]any{"nbf": 1e19}, false},
		{"iat 1e19", nil, map[string]any{"iat": 1e19}, false},
		{"iat -1e19", nil, map[string]any{"iat": -1e19}, false},
		{"exp as bool", nil, map[string]any{"exp": true}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := f.spec()
			s.Header = tc.header
			_, err := f.v.Verify(mustToken(t, f.signer, s, tc.extra), f.thumb)
			if tc.ok && err != nil {
				t.Errorf("refused: %v", err)
			}
			if !tc.ok && code(err) != auth.CodeUnauthenticated {
				t.Errorf("got %v, want unauthenticated", err)
			}
		})
	}
	t.Run("16 KiB", func(t *testing.T) {
		big := mustToken(t, f.signer, f.spec(), map[string]any{"pad": strings.Repeat("x", 17<<10)})
		if _, err := f.v.Verify(big, f.thumb); code(err) != auth.CodeUnauthenticated {
			t.Errorf("a %d-byte token: %v, want unauthenticated", len(big), err)
		}
	})
	t.Run("duplicate claim", func(t *testing.T) {
		tok := mustToken(t, f.signer, f.spec(), nil)
		parts := strings.Split(tok, ".")
		payload := decodeSeg(t, parts[1])
		dup := strings.Replace(payload, `"org":"bank-a"`, `"org":"bank-a","org":"market-a"`, 1)
		if dup == payload {
			t.Fatalf("payload without org: %s", payload)
		}
		resigned := resign(t, f.signer, parts[0], dup)
		if _, err := f.v.Verify(resigned, f.thumb); code(err) != auth.CodeUnauthenticated {
			t.Errorf("duplicate org claim: %v, want unauthenticated", err)
		}
	})
}

// TestJWKSFailingURLDoesNotBlockFile (issue 8.5): while the URL fails, a
// key removed from the file still stops verifying at the next reload.
func TestJWKSFailingURLDoesNotBlockFile(t *testing.T) {
	t.Parallel()
	fileSigner, urlSigner, path, hs, down := jwksFileAndURL(t)
	keys, err := auth.NewJWKSSource(t.Context(), auth.JWKSOptions{File: path, URL: hs.URL, Client: hs.Client()})
	if err != nil {
		t.Fatal(err)
	}
	v := mustVerifier(t, auth.VerifierConfig{Issuer: "i", Audience: "a", Keys: keys, CacheSize: 100,
		Orgs: auth.NewRegistry(auth.Orgs{"bank-a": {ID: "bank-a", Type: "bank"}})})
	spec := devenv.TokenSpec{Issuer: "i", Audience: "a", Subject: "s", Org: "bank-a", Scope: "ibans:read", Thumbprint: "t"}
	fileTok := mustToken(t, fileSigner, spec, nil)
	urlTok := mustToken(t, urlSigner, spec, nil)
	if _, err := v.Verify(fileTok, "t"); err != nil {
		t.Fatal(err)
	}
	down.Store(true)
	mustWrite(t, path, devenv.JWKS()) // the file's key is revoked
	if err := keys.Reload(t.Context()); err == nil {
		t.Error("a failing URL reported no error")
	}
	if _, err := v.Verify(fileTok, "t"); err == nil {
		t.Error("a key removed from the file still verifies while the URL fails")
	}
	if _, err := v.Verify(urlTok, "t"); err != nil {
		t.Errorf("the URL's key within max stale: %v", err)
	}
	if keys.Failures() == 0 {
		t.Error("the failed fetch was not counted")
	}
}

// TestJWKSURLKeysExpire (issue 8.5): keys from the URL are dropped after
// auth.jwks_max_stale without a successful fetch; the file's stay.
func TestJWKSURLKeysExpire(t *testing.T) {
	t.Parallel()
	fileSigner, urlSigner, path, hs, down := jwksFileAndURL(t)
	var clock atomic.Int64
	clock.Store(time.Now().UnixMilli())
	keys, err := auth.NewJWKSSource(t.Context(), auth.JWKSOptions{File: path, URL: hs.URL, Client: hs.Client(),
		MaxStale: time.Hour, Now: func() time.Time { return time.UnixMilli(clock.Load()) }})
	if err != nil {
		t.Fatal(err)
	}
	v := mustVerifier(t, auth.VerifierConfig{Issuer: "i", Audience: "a", Keys: keys, CacheSize: 100,
		Orgs: auth.NewRegistry(auth.Orgs{"bank-a": {ID: "bank-a", Type: "bank"}})})
	spec := devenv.TokenSpec{Issuer: "i", Audience: "a", Subject: "s", Org: "bank-a", Scope: "ibans:read", Thumbprint: "t"}
	urlTok := mustToken(t, urlSigner, spec, nil)
	if _, err := v.Verify(urlTok, "t"); err != nil {
		t.Fatal(err)
	}
	down.Store(true)
	clock.Add((59 * time.Minute).Milliseconds())
	_ = keys.Reload(t.Context())
	if _, err := v.Verify(urlTok, "t"); err != nil {
		t.Errorf("59 min without a fetch (max stale 1h): %v", err)
	}
	clock.Add((2 * time.Minute).Milliseconds())
	_ = keys.Reload(t.Context())
	if _, err := v.Verify(urlTok, "t"); err == nil {
		t.Error("a URL key still verifies 61 min after the last successful fetch (max stale 1h)")
	}
	if _, err := v.Verify(mustToken(t, fileSigner, spec, nil), "t"); err != nil {
		t.Errorf("the file's key after the URL keys expired: %v", err)
	}
}

func mustKeySetOf(t *testing.T, signers ...*devenv.Signer) *auth.KeySet {
	t.Helper()
	ks, err := auth.ParseJWKS(devenv.JWKS(signers...))
	if err != nil {
		t.Fatal(err)
	}
	return ks
}

func code(err error) string {
	var ae *auth.Error
	if errors.As(err, &ae) {
		return ae.Code
	}
	if err == nil {
		return "ok"
	}
	return err.Error()
}

func decodeSeg(t *testing.T, seg string) string {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// resign signs header.payload (payload given as JSON text) with s.
func resign(t *testing.T, s *devenv.Signer, header, payload string) string {
	t.Helper()
	signing := header + "." + base64.RawURLEncoding.EncodeToString([]byte(payload))
	sig, err := s.Method.Sign(signing, s.Key)
	if err != nil {
		t.Fatal(err)
	}
	return signing + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// TestCertSubjects: an org listing cert_subjects takes tokens only over a
// certificate with one of those names, each matched by its type (issue
// 21.19): a DNS SAN never stands in for a CN, a CN never for a URI SAN,
// and a subject with two CNs matches nothing.
func TestCertSubjects(t *testing.T) {
	t.Parallel()
	signer := mustSigner(t)
	v := mustVerifier(t, auth.VerifierConfig{Issuer: "i", Audience: "a", Keys: auth.StaticKeys(mustKeySetOf(t, signer)), CacheSize: 100,
		Orgs: auth.NewRegistry(auth.Orgs{"police-nl": {ID: "police-nl", Type: "police",
			CertSubjects: []string{"police-nl", "uri:spiffe://police.example/gw", "DNS:police-gw.example"}}})})
	tok := mustToken(t, signer, devenv.TokenSpec{Issuer: "i", Audience: "a", Subject: "s", Org: "police-nl", Scope: "alerts:write", Thumbprint: "t"}, nil)
	spiffe, _ := url.Parse("spiffe://police.example/gw")
	for _, tc := range []struct {
		name string
		tmpl x509.Certificate
		ok   bool
	}{
		{"CN police-nl (a bare entry is a CN)", x509.Certificate{Subject: pkix.Name{CommonName: "police-nl"}}, true},
		{"URI SAN", x509.Certificate{Subject: pkix.Name{CommonName: "other"}, URIs: []*url.URL{spiffe}}, true},
		{"DNS SAN", x509.Certificate{DNSNames: []string{"police-gw.example"}}, true},
		{"CN evil with a DNS SAN police-nl", x509.Certificate{Subject: pkix.Name{CommonName: "evil"}, DNSNames: []string{"police-nl"}}, false},
		{"CN spiffe://… against a URI entry", x509.Certificate{Subject: pkix.Name{CommonName: "spiffe://police.example/gw"}}, false},
		{"CN police-gw.example against a DNS entry", x509.Certificate{Subject: pkix.Name{CommonName: "police-gw.example"}}, false},
		{"two CNs evil and police-nl", x509.Certificate{Subject: pkix.Name{ExtraNames: []pkix.AttributeTypeAndValue{
			{Type: asn1.ObjectIdentifier{2, 5, 4, 3}, Value: "evil"}, {Type: asn1.ObjectIdentifier{2, 5, 4, 3}, Value: "police-nl"}}}}, false},
		{"two CNs police-nl and evil", x509.Certificate{Subject: pkix.Name{ExtraNames: []pkix.AttributeTypeAndValue{
			{Type: asn1.ObjectIdentifier{2, 5, 4, 3}, Value: "police-nl"}, {Type: asn1.ObjectIdentifier{2, 5, 4, 3}, Value: "evil"}}}}, false},
		{"market-a", x509.Certificate{Subject: pkix.Name{CommonName: "market-a"}}, false},
	} {
		cert := mustCert(t, tc.tmpl)
		_, err := v.VerifyWith(tok, auth.ClientCert{Thumbprint: "t", Names: auth.CertNames(cert)})
		if (err == nil) != tc.ok {
			t.Errorf("%s (names %v): %v, want ok=%v", tc.name, auth.CertNames(cert), err, tc.ok)
		}
	}
}

// mustCert makes a self-signed certificate from tmpl, as a TLS peer
// would present it.
func mustCert(t *testing.T, tmpl x509.Certificate) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl.SerialNumber = big.NewInt(1)
	tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
	der, err := x509.CreateCertificate(rand.Reader, &tmpl, &tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// jwksFileAndURL is a JWKS file with one key and a JWKS URL with another
// ("url-key") that answers 503 while down is set.
func jwksFileAndURL(t *testing.T) (fileSigner, urlSigner *devenv.Signer, path string, hs *httptest.Server, down *atomic.Bool) {
	t.Helper()
	fileSigner, urlSigner = mustSigner(t), mustSigner(t)
	urlSigner.Kid = "url-key"
	down = &atomic.Bool{}
	hs = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		w.Write(devenv.JWKS(urlSigner))
	}))
	t.Cleanup(hs.Close)
	path = filepath.Join(t.TempDir(), "jwks.json")
	mustWrite(t, path, devenv.JWKS(fileSigner))
	return
}
