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
// an HTTPS URL, and refreshes both in the background. Each change bumps a
// generation number; the token cache drops entries from older generations,
// so a key removed from the JWKS stops working within one refresh period.
type JWKSSource struct {
	file    string
	url     string
	client  *http.Client
	refresh time.Duration
	log     *slog.Logger

	mu   sync.Mutex
	last []byte
	set  atomic.Pointer[KeySet]
	gen  atomic.Uint64
}

// NewJWKSSource loads the key set once; a failure here stops the start.
func NewJWKSSource(ctx context.Context, file, url string, refresh time.Duration, client *http.Client, log *slog.Logger) (*JWKSSource, error) {
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	s := &JWKSSource{file: file, url: url, client: client, refresh: refresh, log: log}
	if err := s.Reload(ctx); err != nil {
		return nil, err
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

// Reload reads the file and the URL now. Keys from both are merged; a kid
// in both must be the same key.
func (s *JWKSSource) Reload(ctx context.Context) error {
	var docs [][]byte
	if s.file != "" {
		b, err := os.ReadFile(s.file)
		if err != nil {
			return fmt.Errorf("jwks file: %w", err)
		}
		docs = append(docs, b)
	}
	if s.url != "" {
		b, err := s.fetch(ctx)
		if err != nil {
			return fmt.Errorf("jwks url: %w", err)
		}
		docs = append(docs, b)
	}
	merged := &KeySet{keys: map[string]Key{}}
	var raw []byte
	for _, d := range docs {
		ks, err := ParseJWKS(d)
		if err != nil {
			return err
		}
		for kid, k := range ks.keys {
			merged.keys[kid] = k
		}
		raw = append(raw, d...)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.set.Load() != nil && string(raw) == string(s.last) {
		return nil
	}
	s.last = raw
	s.set.Store(merged)
	s.gen.Add(1)
	return nil
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
// refresh keeps the previous keys and is logged.
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
				s.log.Warn("jwks refresh failed; keeping the previous keys", "err", err)
			}
		}
	}
}
