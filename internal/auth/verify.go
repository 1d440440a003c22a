package auth

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Failure codes, as the API shows them.
const (
	CodeUnauthenticated = "unauthenticated"
	CodeTokenExpired    = "token_expired"
	CodeTokenNotBound   = "token_not_bound"
)

// Error is an authentication failure. Msg is safe to show the caller.
type Error struct {
	Code string
	Msg  string
}

func (e *Error) Error() string { return e.Code + ": " + e.Msg }

func fail(code, msg string) *Error { return &Error{Code: code, Msg: msg} }

// Principal is an authenticated caller.
type Principal struct {
	Subject string
	Org     Org
	Scopes  Scope // token scopes intersected with what the org type allows
	Expires time.Time
	// Thumbprint is the x5t#S256 the token is bound to ("" when binding
	// is off and the token has no cnf).
	Thumbprint string
}

// DefaultAlgorithms is the spec's default allow-list.
var DefaultAlgorithms = []string{"ES256", "EdDSA", "RS256", "PS256"}

// VerifierConfig configures token verification.
type VerifierConfig struct {
	Issuer     string
	Audience   string
	Algorithms []string
	Leeway     time.Duration
	// RequireBinding demands cnf.x5t#S256 equal to the client certificate's
	// thumbprint (RFC 8705). On by default in config.
	RequireBinding bool
	// HS256Secret enables HS256 for development only; never in production.
	HS256Secret []byte
	Orgs        *Registry
	Keys        *JWKSSource
	CacheSize   int
	Now         func() time.Time
}

// Verifier verifies bearer tokens.
type Verifier struct {
	cfg    VerifierConfig
	parser *jwt.Parser
	cache  *tokenCache
	now    func() time.Time
	// OnCache, if set, is told about every cache hit or miss (for metrics).
	OnCache func(hit bool)
}

// NewVerifier checks the configuration and builds a Verifier.
func NewVerifier(cfg VerifierConfig) (*Verifier, error) {
	if cfg.Issuer == "" || cfg.Audience == "" {
		return nil, errors.New("auth: issuer and audience are required")
	}
	if len(cfg.Algorithms) == 0 {
		cfg.Algorithms = DefaultAlgorithms
	}
	for _, a := range cfg.Algorithms {
		if err := CheckAlgorithm(a, len(cfg.HS256Secret) > 0); err != nil {
			return nil, err
		}
	}
	if cfg.Keys == nil {
		return nil, errors.New("auth: no key source")
	}
	if cfg.Orgs == nil {
		return nil, errors.New("auth: no organisation registry")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.CacheSize == 0 {
		cfg.CacheSize = 10000
	}
	v := &Verifier{cfg: cfg, now: cfg.Now}
	v.parser = jwt.NewParser(
		jwt.WithValidMethods(cfg.Algorithms),
		jwt.WithIssuer(cfg.Issuer),
		jwt.WithAudience(cfg.Audience),
		jwt.WithLeeway(cfg.Leeway),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithTimeFunc(cfg.Now),
		jwt.WithJSONNumber(),
	)
	if cfg.CacheSize > 0 {
		v.cache = newTokenCache(cfg.CacheSize)
	}
	return v, nil
}

// CheckAlgorithm says whether an algorithm may be on the allow-list.
// "none" never may; HMAC only as HS256 and only when a dev secret is set.
func CheckAlgorithm(alg string, devHS256 bool) error {
	switch alg {
	case "ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "EdDSA":
		return nil
	case "HS256":
		if devHS256 {
			return nil
		}
		return errors.New("HS256 is refused unless the development-only HS256 secret is set")
	}
	return fmt.Errorf("algorithm %q is not allowed", alg)
}

// claims are the token claims mulegate reads.
type claims struct {
	jwt.RegisteredClaims
	Org   string     `json:"org"`
	Scope *scopeList `json:"scope"`
	Cnf   *struct {
		X5t string `json:"x5t#S256"`
	} `json:"cnf"`
}

// scopeList accepts the RFC 8693 space-separated string and, leniently, a
// JSON array of strings.
type scopeList []string

func (s *scopeList) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*s = scopeList{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return errors.New("scope must be a string")
	}
	*s = many
	return nil
}

// Thumbprint is the RFC 8705 x5t#S256 of a certificate: the unpadded
// base64url SHA-256 of its DER.
func Thumbprint(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// Verify checks a bearer token presented over a connection whose verified
// client certificate has the given thumbprint.
func (v *Verifier) Verify(token, certThumbprint string) (Principal, error) {
	now := v.now()
	var key [32]byte
	if v.cache != nil {
		key = sha256.Sum256([]byte(token))
		if p, ok := v.cache.get(key, now, v.cfg.Keys.Generation()); ok {
			if v.OnCache != nil {
				v.OnCache(true)
			}
			return p, v.checkBinding(p, certThumbprint)
		}
		if v.OnCache != nil {
			v.OnCache(false)
		}
	}
	gen := v.cfg.Keys.Generation()
	p, err := v.verify(token, now)
	if err != nil {
		return Principal{}, err
	}
	if err := v.checkBinding(p, certThumbprint); err != nil {
		return Principal{}, err
	}
	if v.cache != nil {
		v.cache.put(key, p, gen)
	}
	return p, nil
}

func (v *Verifier) checkBinding(p Principal, certThumbprint string) error {
	if p.Thumbprint == "" {
		if v.cfg.RequireBinding {
			return fail(CodeTokenNotBound, "the token has no cnf.x5t#S256 certificate binding")
		}
		return nil
	}
	if p.Thumbprint != certThumbprint {
		// Even with binding optional, a token that names a certificate is
		// only good over that certificate.
		return fail(CodeTokenNotBound, "the token is bound to another client certificate")
	}
	return nil
}

func (v *Verifier) verify(token string, now time.Time) (Principal, error) {
	var c claims
	_, err := v.parser.ParseWithClaims(token, &c, v.keyFunc)
	if err != nil {
		switch {
		case errors.Is(err, jwt.ErrTokenExpired):
			return Principal{}, fail(CodeTokenExpired, "the token has expired")
		case errors.Is(err, jwt.ErrTokenMalformed):
			return Principal{}, fail(CodeUnauthenticated, "the token is malformed")
		case errors.Is(err, jwt.ErrTokenSignatureInvalid):
			return Principal{}, fail(CodeUnauthenticated, "the token signature is invalid")
		case errors.Is(err, jwt.ErrTokenNotValidYet):
			return Principal{}, fail(CodeUnauthenticated, "the token is not valid yet")
		case errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
			return Principal{}, fail(CodeUnauthenticated, "the token was issued in the future")
		case errors.Is(err, jwt.ErrTokenInvalidIssuer):
			return Principal{}, fail(CodeUnauthenticated, "the token issuer is not accepted")
		case errors.Is(err, jwt.ErrTokenInvalidAudience):
			return Principal{}, fail(CodeUnauthenticated, "the token audience is not accepted")
		case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
			return Principal{}, fail(CodeUnauthenticated, "the token lacks a required claim (exp)")
		}
		var ae *Error
		if errors.As(err, &ae) {
			return Principal{}, ae
		}
		return Principal{}, fail(CodeUnauthenticated, "the token is not valid")
	}
	switch {
	case c.Subject == "":
		return Principal{}, fail(CodeUnauthenticated, "the token lacks the sub claim")
	case c.Org == "":
		return Principal{}, fail(CodeUnauthenticated, "the token lacks the org claim")
	case c.Scope == nil:
		return Principal{}, fail(CodeUnauthenticated, "the token lacks the scope claim")
	}
	org, ok := v.cfg.Orgs.Get(c.Org)
	if !ok {
		return Principal{}, fail(CodeUnauthenticated, "the token's org is not registered")
	}
	p := Principal{
		Subject: c.Subject,
		Org:     org,
		Scopes:  ParseScopes(*c.Scope...) & TypeScopes[org.Type],
		Expires: c.ExpiresAt.Time,
	}
	if c.Cnf != nil {
		p.Thumbprint = c.Cnf.X5t
	}
	return p, nil
}

// keyFunc selects the verification key by kid and insists that the key's
// type matches the signing method, so that a public key can never be used
// as an HMAC secret (algorithm confusion) and an RSA key never checks an
// ECDSA signature.
func (v *Verifier) keyFunc(t *jwt.Token) (any, error) {
	alg := t.Method.Alg()
	if alg == "HS256" {
		if len(v.cfg.HS256Secret) == 0 {
			return nil, fail(CodeUnauthenticated, "HS256 is not accepted")
		}
		return v.cfg.HS256Secret, nil
	}
	kid, _ := t.Header["kid"].(string)
	if kid == "" {
		return nil, fail(CodeUnauthenticated, "the token header has no kid")
	}
	k, ok := v.cfg.Keys.Keys().Lookup(kid)
	if !ok {
		return nil, fail(CodeUnauthenticated, "the token's kid is not in the JWKS")
	}
	if k.Alg != "" && k.Alg != alg {
		return nil, fail(CodeUnauthenticated, "the token's alg does not match its key")
	}
	okType := false
	switch pub := k.Pub.(type) {
	case *ecdsa.PublicKey:
		switch alg {
		case "ES256":
			okType = pub.Curve.Params().BitSize == 256
		case "ES384":
			okType = pub.Curve.Params().BitSize == 384
		case "ES512":
			okType = pub.Curve.Params().BitSize == 521
		}
	case *rsa.PublicKey:
		switch alg {
		case "RS256", "RS384", "RS512", "PS256", "PS384", "PS512":
			okType = true
		}
	case ed25519.PublicKey:
		okType = alg == "EdDSA"
	}
	if !okType {
		return nil, fail(CodeUnauthenticated, "the token's alg does not match its key")
	}
	return k.Pub, nil
}
