// Package evidence makes mulegate's answers and trail usable as evidence
// (SPEC Part 3, "Evidence"): answers signed as detached compact JWS
// (RFC 7515 Appendix F, ES256) over their exact bytes, and the audit
// trail as an RFC 6962 Merkle tree with signed checkpoints (tree.go).
//
// Signing uses go-jose v4: it serialises and verifies detached compact
// JWS directly (DetachedCompactSerialize, ParseDetached), takes extra
// protected header fields, and is the JOSE library most Go projects use
// and keep current; golang-jwt signs JWTs (claims), not arbitrary
// payloads. It imports the standard library, go-jose and x/mod only.
package evidence

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// AnswerType is the typ of a signed answer's protected header.
const AnswerType = "mulegate-answer+jws"

// Answer is what a signed answer's protected header says besides alg,
// kid and typ: when, to whom, for which request and purpose, and which
// audit record holds it ("<origin>#<seq>").
type Answer struct {
	IssuedAt  time.Time
	Org       string
	RequestID string
	Purpose   string
	Audit     string
}

// key is one signing key.
type key struct {
	id   string
	priv *ecdsa.PrivateKey
}

// Signer signs answers with the current key and lists it with the one
// before it (GET /v1/evidence/keys). Reload replaces the key (SIGHUP):
// the old one stays listed, so answers it signed still verify.
type Signer struct {
	mu        sync.RWMutex
	cur, prev *key
}

// LoadSigner reads an EC P-256 private key (PEM, SEC1 or PKCS#8) named
// kid.
func LoadSigner(file, kid string) (*Signer, error) {
	k, err := readKey(file, kid)
	if err != nil {
		return nil, err
	}
	return &Signer{cur: k}, nil
}

// Reload reads the key file again: a different key (or key id) becomes
// current and the current one previous.
func (s *Signer) Reload(file, kid string) error {
	k, err := readKey(file, kid)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur.id != k.id || !s.cur.priv.Equal(k.priv) {
		s.prev, s.cur = s.cur, k
	}
	return nil
}

func readKey(file, kid string) (*key, error) {
	if kid == "" {
		return nil, errors.New("evidence.key_id: required with evidence.signing_key_file")
	}
	raw, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("evidence.signing_key_file: %w", err)
	}
	priv, err := ParseECKey(raw)
	if err != nil {
		return nil, fmt.Errorf("evidence.signing_key_file %s: %w", file, err)
	}
	return &key{id: kid, priv: priv}, nil
}

// ParseECKey reads a PEM EC P-256 private key, SEC1 ("EC PRIVATE KEY")
// or PKCS#8 ("PRIVATE KEY").
func ParseECKey(raw []byte) (*ecdsa.PrivateKey, error) {
	block, _ := pem.Decode(raw)
	if block == nil {
		return nil, errors.New("no PEM block")
	}
	var priv *ecdsa.PrivateKey
	switch block.Type {
	case "EC PRIVATE KEY":
		k, err := x509.ParseECPrivateKey(block.Bytes)
		if err != nil {
			return nil, err
		}
		priv = k
	case "PRIVATE KEY":
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, err
		}
		ec, ok := k.(*ecdsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("a %T, not an EC key", k)
		}
		priv = ec
	default:
		return nil, fmt.Errorf("PEM block %q, want EC PRIVATE KEY or PRIVATE KEY", block.Type)
	}
	if priv.Curve != elliptic.P256() {
		return nil, errors.New("the key is not on P-256 (ES256)")
	}
	return priv, nil
}

// Sign signs body as a detached compact JWS (header..signature) with a
// the current key.
func (s *Signer) Sign(body []byte, a Answer) (string, error) {
	s.mu.RLock()
	k := s.cur
	s.mu.RUnlock()
	opts := (&jose.SignerOptions{}).WithType(AnswerType).
		WithHeader("iat", a.IssuedAt.Unix()).WithHeader("org", a.Org).WithHeader("request_id", a.RequestID).
		WithHeader("purpose", a.Purpose).WithHeader("audit", a.Audit)
	sg, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: k.priv, KeyID: k.id}}, opts)
	if err != nil {
		return "", err
	}
	jws, err := sg.Sign(body)
	if err != nil {
		return "", err
	}
	return jws.DetachedCompactSerialize()
}

// JWKS is the JSON Web Key Set of the current and previous public keys.
func (s *Signer) JWKS() ([]byte, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	set := jose.JSONWebKeySet{}
	for _, k := range []*key{s.cur, s.prev} {
		if k != nil {
			set.Keys = append(set.Keys, jose.JSONWebKey{Key: &k.priv.PublicKey, KeyID: k.id, Algorithm: string(jose.ES256), Use: "sig"})
		}
	}
	return json.Marshal(set)
}

// Verified is what a verified answer's protected header says.
type Verified struct {
	KeyID     string
	IssuedAt  time.Time
	Org       string
	RequestID string
	Purpose   string
	Audit     string
}

// VerifyAnswer checks a detached JWS over body against a JWKS: ES256 only,
// typ mulegate-answer+jws, the key named by kid.
func VerifyAnswer(jwks []byte, sig string, body []byte) (Verified, error) {
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(jwks, &set); err != nil {
		return Verified{}, fmt.Errorf("the key set: %w", err)
	}
	jws, err := jose.ParseDetached(sig, body, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		return Verified{}, fmt.Errorf("the signature: %w", err)
	}
	if len(jws.Signatures) != 1 {
		return Verified{}, errors.New("the signature: want one signature")
	}
	h := jws.Signatures[0].Protected
	keys := set.Key(h.KeyID)
	if len(keys) == 0 {
		return Verified{}, fmt.Errorf("no key %q in the key set", h.KeyID)
	}
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); typ != AnswerType {
		return Verified{}, fmt.Errorf("typ %q, want %s", typ, AnswerType)
	}
	if err := jws.DetachedVerify(body, keys[0].Key); err != nil {
		return Verified{}, fmt.Errorf("the signature does not match the body and key %q: %w", h.KeyID, err)
	}
	str := func(name string) string { v, _ := h.ExtraHeaders[jose.HeaderKey(name)].(string); return v }
	v := Verified{KeyID: h.KeyID, Org: str("org"), RequestID: str("request_id"), Purpose: str("purpose"), Audit: str("audit")}
	if iat, ok := h.ExtraHeaders["iat"].(float64); ok {
		v.IssuedAt = time.Unix(int64(iat), 0).UTC()
	}
	return v, nil
}
