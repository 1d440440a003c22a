package auth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Key is one verification key from a JWKS.
type Key struct {
	ID  string
	Alg string // the JWK's "alg", if it pins one
	Pub crypto.PublicKey
}

// KeySet is an immutable set of verification keys by kid.
type KeySet struct {
	keys map[string]Key
}

// Lookup returns the key with this kid.
func (ks *KeySet) Lookup(kid string) (Key, bool) {
	if ks == nil {
		return Key{}, false
	}
	k, ok := ks.keys[kid]
	return k, ok
}

// Len is the number of keys.
func (ks *KeySet) Len() int { return len(ks.keys) }

type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y"`
	N   string `json:"n"`
	E   string `json:"e"`
	D   string `json:"d"`
	K   string `json:"k"`
}

// ParseJWKS parses a JSON Web Key Set. Keys without a kid, keys not meant
// for signatures, symmetric keys and private keys are refused: a JWKS is
// public material and a kid is what selects the key.
func ParseJWKS(data []byte) (*KeySet, error) {
	var doc struct {
		Keys []jwk `json:"keys"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("jwks: %w", err)
	}
	ks := &KeySet{keys: make(map[string]Key, len(doc.Keys))}
	for i, k := range doc.Keys {
		if k.Use != "" && k.Use != "sig" {
			continue
		}
		if k.Kid == "" {
			return nil, fmt.Errorf("jwks: key %d has no kid", i)
		}
		if k.D != "" || k.K != "" {
			return nil, fmt.Errorf("jwks: key %q contains private or symmetric key material", k.Kid)
		}
		pub, err := k.publicKey()
		if err != nil {
			return nil, fmt.Errorf("jwks: key %q: %w", k.Kid, err)
		}
		if _, dup := ks.keys[k.Kid]; dup {
			return nil, fmt.Errorf("jwks: duplicate kid %q", k.Kid)
		}
		ks.keys[k.Kid] = Key{ID: k.Kid, Alg: k.Alg, Pub: pub}
	}
	return ks, nil
}

func (k jwk) publicKey() (crypto.PublicKey, error) {
	switch k.Kty {
	case "EC":
		var curve elliptic.Curve
		switch k.Crv {
		case "P-256":
			curve = elliptic.P256()
		case "P-384":
			curve = elliptic.P384()
		case "P-521":
			curve = elliptic.P521()
		default:
			return nil, fmt.Errorf("unsupported curve %q", k.Crv)
		}
		x, err1 := b64(k.X)
		y, err2 := b64(k.Y)
		if err := errors.Join(err1, err2); err != nil {
			return nil, err
		}
		size := (curve.Params().BitSize + 7) / 8
		if len(x) != size || len(y) != size {
			return nil, errors.New("bad EC coordinate length")
		}
		// Build the uncompressed point and let crypto/ecdh-backed parsing
		// check that it is on the curve.
		raw := append(append([]byte{4}, x...), y...)
		pub, err := ecdsa.ParseUncompressedPublicKey(curve, raw)
		if err != nil {
			return nil, errors.New("EC point is not on the curve")
		}
		return pub, nil
	case "RSA":
		n, err1 := b64(k.N)
		e, err2 := b64(k.E)
		if err := errors.Join(err1, err2); err != nil {
			return nil, err
		}
		if len(n)*8 < 2048 {
			return nil, errors.New("RSA keys must have at least 2048 bits")
		}
		eb := new(big.Int).SetBytes(e)
		if !eb.IsInt64() || eb.Int64() < 3 || eb.Int64() > 1<<31-1 {
			return nil, errors.New("bad RSA exponent")
		}
		return &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(eb.Int64())}, nil
	case "OKP":
		if k.Crv != "Ed25519" {
			return nil, fmt.Errorf("unsupported OKP curve %q", k.Crv)
		}
		x, err := b64(k.X)
		if err != nil {
			return nil, err
		}
		if len(x) != ed25519.PublicKeySize {
			return nil, errors.New("bad Ed25519 key length")
		}
		return ed25519.PublicKey(x), nil
	}
	return nil, fmt.Errorf("unsupported key type %q", k.Kty)
}

func b64(s string) ([]byte, error) {
	if s == "" {
		return nil, errors.New("missing key parameter")
	}
	return base64.RawURLEncoding.DecodeString(s)
}

// JWKSSource holds the current key set, loaded from a file and optionally
// an HTTPS URL, and refreshes both in the background. The two are kept
// apart: a failing URL never stops the file from being reloaded (a key
// removed from the file stops verifying at the next refresh), and keys
// from the URL are dropped once no fetch has succeeded for maxStale (the
// file's keys stay). Each change bumps a generation number; the token
// cache drops entries from older generations, so a key removed from the
// JWKS stops working within one refresh period.
type JWKSSource struct {
	file     string
	url      string
	client   *http.Client
	refresh  time.Duration
	maxStale time.Duration
	log      *slog.Logger
	now      func() time.Time

	mu       sync.Mutex
	fileRaw  []byte
	fileSet  *KeySet
	urlRaw   []byte
	urlSet   *KeySet
	urlAt    time.Time // last successful fetch
	last     string    // what the current merged set was built from
	set      atomic.Pointer[KeySet]
	gen      atomic.Uint64
	failures atomic.Int64
}

// JWKSOptions configure a JWKSSource.
type JWKSOptions struct {
	File, URL string
	Refresh   time.Duration // 0: never refresh
	MaxStale  time.Duration // URL keys without a successful fetch this long are dropped; default 24 h
	Client    *http.Client
	Log       *slog.Logger
	Now       func() time.Time
}

// NewJWKSSource loads the key set once. The start fails when the file
// cannot be loaded, or when the URL is the only source and cannot be
// fetched; a URL failing beside a good file is logged and retried.
func NewJWKSSource(ctx context.Context, opt JWKSOptions) (*JWKSSource, error) {
	if opt.Client == nil {
		opt.Client = &http.Client{Timeout: 10 * time.Second}
	}
	if opt.MaxStale <= 0 {
		opt.MaxStale = 24 * time.Hour
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	s := &JWKSSource{file: opt.File, url: opt.URL, client: opt.Client, refresh: opt.Refresh,
		maxStale: opt.MaxStale, log: opt.Log, now: opt.Now}
	fileErr, urlErr := s.reload(ctx)
	if fileErr != nil {
		return nil, fileErr
	}
	if urlErr != nil {
		if s.file == "" {
			return nil, urlErr
		}
		if s.log != nil {
			s.log.Warn("jwks url not reachable at start; using the file's keys and retrying", "err", urlErr)
		}
	}
	return s, nil
}

// StaticKeys wraps a fixed key set, for tests and tools.
func StaticKeys(ks *KeySet) *JWKSSource {
	s := &JWKSSource{}
	s.set.Store(ks)
	return s
}

// Keys is the current key set.
func (s *JWKSSource) Keys() *KeySet { return s.set.Load() }

// Generation changes whenever the key set changes.
func (s *JWKSSource) Generation() uint64 { return s.gen.Load() }

// Failures counts failed loads of the file or the URL since start.
func (s *JWKSSource) Failures() int64 { return s.failures.Load() }

// Reload reads the file and the URL now. Whatever loads is used even if
// the other fails; the errors of both are returned.
func (s *JWKSSource) Reload(ctx context.Context) error {
	fileErr, urlErr := s.reload(ctx)
	return errors.Join(fileErr, urlErr)
}

func (s *JWKSSource) reload(ctx context.Context) (fileErr, urlErr error) {
	fileRaw, fileSet, fileErr := s.loadFile()
	urlRaw, urlSet, urlErr := s.loadURL(ctx)
	for _, err := range []error{fileErr, urlErr} {
		if err != nil {
			s.failures.Add(1)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if fileSet != nil {
		s.fileRaw, s.fileSet = fileRaw, fileSet
	}
	if urlSet != nil {
		s.urlRaw, s.urlSet, s.urlAt = urlRaw, urlSet, now
	} else if s.urlSet != nil && now.Sub(s.urlAt) > s.maxStale {
		if s.log != nil {
			s.log.Warn("jwks url keys dropped: no successful fetch within auth.jwks_max_stale", "max_stale", s.maxStale.String())
		}
		s.urlRaw, s.urlSet = nil, nil
	}
	s.publish()
	return fileErr, urlErr
}

// loadFile reads and parses the JWKS file (nothing when none is set).
func (s *JWKSSource) loadFile() ([]byte, *KeySet, error) {
	if s.file == "" {
		return nil, nil, nil
	}
	b, err := os.ReadFile(s.file)
	if err != nil {
		return nil, nil, fmt.Errorf("jwks file: %w", err)
	}
	ks, err := ParseJWKS(b)
	if err != nil {
		return nil, nil, fmt.Errorf("jwks file: %w", err)
	}
	return b, ks, nil
}

// loadURL fetches and parses the JWKS URL (nothing when none is set).
func (s *JWKSSource) loadURL(ctx context.Context) ([]byte, *KeySet, error) {
	if s.url == "" {
		return nil, nil, nil
	}
	b, err := s.fetch(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("jwks url: %w", err)
	}
	ks, err := ParseJWKS(b)
	if err != nil {
		return nil, nil, fmt.Errorf("jwks url: %w", err)
	}
	return b, ks, nil
}

// publish merges the file's and the URL's keys into the current set when
// either changed, and bumps the generation. The file's keys win over a URL
// key with the same kid: the file is the operator's own configuration.
// Called with s.mu held.
func (s *JWKSSource) publish() {
	basis := string(s.fileRaw) + "\x00" + string(s.urlRaw)
	if s.set.Load() != nil && basis == s.last {
		return
	}
	if s.fileSet == nil && s.urlSet == nil && s.set.Load() == nil {
		return // nothing loaded yet
	}
	merged := &KeySet{keys: map[string]Key{}}
	for _, ks := range []*KeySet{s.urlSet, s.fileSet} {
		if ks == nil {
			continue
		}
		for kid, k := range ks.keys {
			merged.keys[kid] = k
		}
	}
	s.last = basis
	s.set.Store(merged)
	s.gen.Add(1)
}

func (s *JWKSSource) fetch(ctx context.Context) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("status %d", resp.StatusCode)
	}
	return io.ReadAll(io.LimitReader(resp.Body, 1<<20))
}

// Run refreshes the key set every refresh period until ctx ends. A failed
// refresh keeps the previous keys of that source (within maxStale for the
// URL) and is logged.
func (s *JWKSSource) Run(ctx context.Context) error {
	if s.refresh <= 0 {
		<-ctx.Done()
		return nil
	}
	t := time.NewTicker(s.refresh)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if err := s.Reload(ctx); err != nil && s.log != nil {
				s.log.Warn("jwks refresh failed; keeping the previous keys of the failing source", "err", err)
			}
		}
	}
}
