package auth

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
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
	// MaxLifetime refuses tokens whose exp − iat (or exp − now without
	// iat) is longer: a leaked long-lived token is a long-lived breach.
	// Default 24 h.
	MaxLifetime time.Duration
	Now         func() time.Time
}

// MaxTokenBytes is the largest token accepted (16 KiB): anything larger
// is refused before any parsing.
const MaxTokenBytes = 16 << 10

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
			return nil, fmt.Errorf("config: auth.algorithms: %w", err)
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
	if cfg.MaxLifetime <= 0 {
		cfg.MaxLifetime = 24 * time.Hour
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
		return errors.New("HS256 is refused unless auth.dev_hs256_secret (development only) is set")
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

// verified is what a valid signature establishes about a token, and all
// the cache keeps: never the org's type or the effective scopes, which
// follow the current registry on every request.
type verified struct {
	Subject    string
	OrgID      string
	Scopes     Scope // as the token grants them, before the org type caps them
	Expires    time.Time
	Thumbprint string
}

// Verify checks a bearer token presented over a connection whose verified
// client certificate has the given thumbprint. The signature check may
// come from the cache; the org, its type and the effective scopes are
// read from the current registry every time, so a reload that removes or
// re-types an org takes effect on its next request.
func (v *Verifier) Verify(token, certThumbprint string) (Principal, error) {
	return v.VerifyWith(token, ClientCert{Thumbprint: certThumbprint})
}

// ClientCert is what the gateway knows of the verified client certificate
// of a connection: its RFC 8705 thumbprint and its names (subject CN, DNS
// and URI SANs), for orgs that list the certificates they own.
type ClientCert struct {
	Thumbprint string
	Names      []string
}

// CertNames lists a certificate's names, typed: "cn:" its subject CN
// (only when the subject has exactly one), "dns:" each DNS SAN, "uri:"
// each URI SAN. A name matches a cert_subjects entry only through its
// own type, so a DNS SAN never stands in for a CN, nor a CN for a URI.
func CertNames(cert *x509.Certificate) []string {
	names := []string{}
	cns := 0
	for _, a := range cert.Subject.Names {
		if a.Type.Equal(oidCommonName) {
			cns++
		}
	}
	if cns == 1 && cert.Subject.CommonName != "" {
		names = append(names, "cn:"+cert.Subject.CommonName)
	}
	for _, d := range cert.DNSNames {
		names = append(names, "dns:"+d)
	}
	for _, u := range cert.URIs {
		names = append(names, "uri:"+u.String())
	}
	return names
}

var oidCommonName = asn1.ObjectIdentifier{2, 5, 4, 3}

// TypedSubject is a cert_subjects entry in the typed form CertNames
// uses: "cn:NAME", "dns:NAME" and "uri:URI" as written (the type in any
// case), anything else a subject CN ("police-nl" is "cn:police-nl", and
// so is a bare "spiffe://…": write "uri:spiffe://…" for a URI SAN).
func TypedSubject(entry string) string {
	if typ, name, ok := strings.Cut(entry, ":"); ok {
		switch t := strings.ToLower(typ); t {
		case "cn", "dns", "uri":
			return t + ":" + name
		}
	}
	return "cn:" + entry
}

// VerifyWith is Verify with the whole client certificate identity: an org
// that lists cert_subjects accepts its tokens only over a certificate
// named by one of them (an identity provider that mints a token for the
// wrong org is not enough).
func (v *Verifier) VerifyWith(token string, cert ClientCert) (Principal, error) {
	certThumbprint := cert.Thumbprint
	if len(token) > MaxTokenBytes {
		return Principal{}, fail(CodeUnauthenticated, "the token is too large")
	}
	now := v.now()
	var key [32]byte
	var t verified
	hit := false
	if v.cache != nil {
		key = tokenKey(token)
		t, hit = v.cache.get(key, now, v.cfg.Keys.Generation())
		if v.OnCache != nil {
			v.OnCache(hit)
		}
	}
	if !hit {
		gen := v.cfg.Keys.Generation()
		var err error
		if t, err = v.verify(token, now); err != nil {
			return Principal{}, err
		}
		if v.cache != nil {
			v.cache.put(key, t, gen)
		}
	}
	if err := v.checkBinding(t.Thumbprint, certThumbprint); err != nil {
		return Principal{}, err
	}
	org, ok := v.cfg.Orgs.Get(t.OrgID)
	if !ok {
		return Principal{}, fail(CodeUnauthenticated, "the token's org is not registered")
	}
	if len(org.CertSubjects) > 0 && !certMatches(cert.Names, org.CertSubjects) {
		return Principal{}, fail(CodeUnauthenticated, "the client certificate does not belong to the token's org")
	}
	return Principal{Subject: t.Subject, Org: org, Scopes: t.Scopes & TypeScopes[org.Type],
		Expires: t.Expires, Thumbprint: t.Thumbprint}, nil
}

func (v *Verifier) checkBinding(tokenThumb, certThumbprint string) error {
	if tokenThumb == "" {
		if v.cfg.RequireBinding {
			return fail(CodeTokenNotBound, "the token has no cnf.x5t#S256 certificate binding")
		}
		return nil
	}
	if tokenThumb != certThumbprint {
		// Even with binding optional, a token that names a certificate is
		// only good over that certificate.
		return fail(CodeTokenNotBound, "the token is bound to another client certificate")
	}
	return nil
}

func (v *Verifier) verify(token string, now time.Time) (verified, error) {
	if err := checkNumericClaims(token); err != nil {
		return verified{}, err
	}
	var c claims
	_, err := v.parser.ParseWithClaims(token, &c, v.keyFunc)
	if err != nil {
		switch {
		case errors.Is(err, jwt.ErrTokenExpired):
			return verified{}, fail(CodeTokenExpired, "the token has expired")
		case errors.Is(err, jwt.ErrTokenMalformed):
			return verified{}, fail(CodeUnauthenticated, "the token is malformed")
		case errors.Is(err, jwt.ErrTokenSignatureInvalid):
			return verified{}, fail(CodeUnauthenticated, "the token signature is invalid")
		case errors.Is(err, jwt.ErrTokenNotValidYet):
			return verified{}, fail(CodeUnauthenticated, "the token is not valid yet")
		case errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
			return verified{}, fail(CodeUnauthenticated, "the token was issued in the future")
		case errors.Is(err, jwt.ErrTokenInvalidIssuer):
			return verified{}, fail(CodeUnauthenticated, "the token issuer is not accepted")
		case errors.Is(err, jwt.ErrTokenInvalidAudience):
			return verified{}, fail(CodeUnauthenticated, "the token audience is not accepted")
		case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
			return verified{}, fail(CodeUnauthenticated, "the token lacks a required claim (exp)")
		}
		var ae *Error
		if errors.As(err, &ae) {
			return verified{}, ae
		}
		return verified{}, fail(CodeUnauthenticated, "the token is not valid")
	}
	switch {
	case c.Subject == "":
		return verified{}, fail(CodeUnauthenticated, "the token lacks the sub claim")
	case c.Org == "":
		return verified{}, fail(CodeUnauthenticated, "the token lacks the org claim")
	case c.Scope == nil:
		return verified{}, fail(CodeUnauthenticated, "the token lacks the scope claim")
	}
	exp := c.ExpiresAt.Time
	start := now
	if c.IssuedAt != nil {
		start = c.IssuedAt.Time
	}
	if exp.Sub(start) > v.cfg.MaxLifetime {
		return verified{}, fail(CodeUnauthenticated, fmt.Sprintf("the token's lifetime exceeds the %s this gateway accepts", v.cfg.MaxLifetime))
	}
	t := verified{Subject: c.Subject, OrgID: c.Org, Scopes: ParseScopes(*c.Scope...), Expires: exp}
	if c.Cnf != nil {
		t.Thumbprint = c.Cnf.X5t
	}
	return t, nil
}

// maxNumericDate is the largest exp/nbf/iat accepted: int64 seconds, so
// that no later arithmetic on it can overflow.
const maxNumericDate = 1 << 62

// checkNumericClaims insists that exp, nbf and iat, when present, are JSON
// numbers (golang-jwt also takes a numeric string) within int64 seconds,
// and that no claim appears twice (one meaning per token). It reads the
// unverified payload only to refuse it early; nothing from it is trusted.
func checkNumericClaims(token string) error {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return fail(CodeUnauthenticated, "the token is malformed")
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return fail(CodeUnauthenticated, "the token is malformed")
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return fail(CodeUnauthenticated, "the token's claims are not a JSON object")
	}
	seen := map[string]bool{}
	for dec.More() {
		k, err := dec.Token()
		name, ok := k.(string)
		if err != nil || !ok {
			return fail(CodeUnauthenticated, "the token's claims are not valid JSON")
		}
		if seen[name] {
			return fail(CodeUnauthenticated, "the token repeats the claim "+strconv.Quote(name))
		}
		seen[name] = true
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return fail(CodeUnauthenticated, "the token's claims are not valid JSON")
		}
		switch name {
		case "exp", "nbf", "iat":
			if len(raw) == 0 || (raw[0] != '-' && (raw[0] < '0' || raw[0] > '9')) {
				return fail(CodeUnauthenticated, "the "+name+" claim must be a number")
			}
			f, err := strconv.ParseFloat(string(raw), 64)
			if err != nil || math.IsNaN(f) || f > maxNumericDate || f < -maxNumericDate {
				return fail(CodeUnauthenticated, "the "+name+" claim is out of range")
			}
		}
	}
	return nil
}

// checkHeader refuses what the gateway does not understand: any crit
// header parameter (RFC 7515 §4.1.11: a recipient that does not
// understand it must reject the token) and a typ other than JWT or
// at+jwt (RFC 9068), with or without the "application/" prefix.
func checkHeader(h map[string]any) error {
	if _, ok := h["crit"]; ok {
		return fail(CodeUnauthenticated, "the token has crit header parameters, which this gateway does not understand")
	}
	if typ, ok := h["typ"]; ok {
		s, _ := typ.(string)
		s = strings.TrimPrefix(strings.ToLower(s), "application/")
		if s != "jwt" && s != "at+jwt" {
			return fail(CodeUnauthenticated, "the token's typ must be JWT or at+jwt")
		}
	}
	return nil
}

// keyFunc selects the verification key by kid and insists that the key's
// type matches the signing method, so that a public key can never be used
// as an HMAC secret (algorithm confusion) and an RSA key never checks an
// ECDSA signature.
func (v *Verifier) keyFunc(t *jwt.Token) (any, error) {
	if err := checkHeader(t.Header); err != nil {
		return nil, err
	}
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

// certMatches says whether one of a certificate's typed names (CertNames)
// is one of the org's cert_subjects entries (TypedSubject).
func certMatches(names, subjects []string) bool {
	for _, a := range subjects {
		want := TypedSubject(a)
		for _, n := range names {
			if n == want {
				return true
			}
		}
	}
	return false
}

// tokenKey is the cache key of a token: its SHA-256. A token of usual
// size is copied to the stack for the hash (a []byte(token) conversion
// would put a copy of every request's token on the heap).
func tokenKey(token string) [32]byte {
	var buf [2048]byte
	if len(token) <= len(buf) {
		return sha256.Sum256(append(buf[:0], token...))
	}
	return sha256.Sum256([]byte(token))
}
