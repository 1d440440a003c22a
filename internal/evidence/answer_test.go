package evidence

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func writeKey(t *testing.T, dir, name string, pkcs8 bool) (string, *ecdsa.PrivateKey) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var block *pem.Block
	if pkcs8 {
		der, _ := x509.MarshalPKCS8PrivateKey(k)
		block = &pem.Block{Type: "PRIVATE KEY", Bytes: der}
	} else {
		der, _ := x509.MarshalECPrivateKey(k)
		block = &pem.Block{Type: "EC PRIVATE KEY", Bytes: der}
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	return p, k
}

// verifyStdlib checks a detached compact JWS with crypto/ecdsa alone,
// not the library that signed it: the signing input is the protected
// header, a dot and the base64url body (RFC 7515 §5.2, Appendix F), the
// signature R‖S, 32 bytes each.
func verifyStdlib(t *testing.T, pub *ecdsa.PublicKey, sig string, body []byte) (map[string]any, bool) {
	t.Helper()
	parts := strings.Split(sig, ".")
	if len(parts) != 3 || parts[1] != "" {
		t.Fatalf("not a detached compact JWS: %q", sig)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || len(raw) != 64 {
		return nil, false
	}
	hdrJSON, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		return nil, false
	}
	var hdr map[string]any
	if json.Unmarshal(hdrJSON, &hdr) != nil {
		return nil, false
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + base64.RawURLEncoding.EncodeToString(body)))
	r, s := new(big.Int).SetBytes(raw[:32]), new(big.Int).SetBytes(raw[32:])
	return hdr, ecdsa.Verify(pub, sum[:], r, s)
}

// TestSignedAnswer: an answer's signature checks out with the standard
// library over the exact body, carries the SPEC's protected header, and
// fails for a changed body, header or key; VerifyAnswer agrees.
func TestSignedAnswer(t *testing.T) {
	dir := t.TempDir()
	for _, pkcs8 := range []bool{false, true} {
		file, priv := writeKey(t, dir, "k.pem", pkcs8)
		s, err := LoadSigner(file, "k1")
		if err != nil {
			t.Fatal(err)
		}
		body := []byte(`{"iban":"NL91ABNA0417164300","report_count":2,"risk":"medium"}`)
		at := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
		sig, err := s.Sign(body, Answer{IssuedAt: at, Org: "bank-a", RequestID: "r1", Purpose: "payment_check", Audit: "mulegate/gw1#42"})
		if err != nil {
			t.Fatal(err)
		}
		hdr, ok := verifyStdlib(t, &priv.PublicKey, sig, body)
		if !ok {
			t.Fatal("the signature does not verify with crypto/ecdsa")
		}
		for k, want := range map[string]any{"alg": "ES256", "kid": "k1", "typ": AnswerType, "iat": float64(at.Unix()), "org": "bank-a",
			"request_id": "r1", "purpose": "payment_check", "audit": "mulegate/gw1#42"} {
			if hdr[k] != want {
				t.Errorf("header %s = %v, want %v", k, hdr[k], want)
			}
		}
		if _, ok := verifyStdlib(t, &priv.PublicKey, sig, append([]byte{}, append(body[:len(body)-1], ' ', '}')...)); ok {
			t.Error("a changed body verifies")
		}
		other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if _, ok := verifyStdlib(t, &other.PublicKey, sig, body); ok {
			t.Error("another key verifies")
		}
		parts := strings.Split(sig, ".")
		hdrJSON, _ := base64.RawURLEncoding.DecodeString(parts[0])
		forged := base64.RawURLEncoding.EncodeToString([]byte(strings.Replace(string(hdrJSON), "bank-a", "bank-b", 1))) + ".." + parts[2]
		if _, ok := verifyStdlib(t, &priv.PublicKey, forged, body); ok {
			t.Error("a changed header verifies")
		}
		jwks, _ := s.JWKS()
		v, err := VerifyAnswer(jwks, sig, body)
		if err != nil || v.Org != "bank-a" || v.Audit != "mulegate/gw1#42" || !v.IssuedAt.Equal(at) {
			t.Errorf("VerifyAnswer: %+v %v", v, err)
		}
		if _, err := VerifyAnswer(jwks, forged, body); err == nil {
			t.Error("VerifyAnswer took a changed header")
		}
		if _, err := VerifyAnswer(jwks, sig, []byte(`{}`)); err == nil {
			t.Error("VerifyAnswer took another body")
		}
	}
}

// TestKeyRotation: after a reload with a new key, answers are signed with
// it and the key set lists both, so answers signed before still verify.
func TestKeyRotation(t *testing.T) {
	dir := t.TempDir()
	file, _ := writeKey(t, dir, "k.pem", false)
	s, err := LoadSigner(file, "2026-11")
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{}`)
	old, _ := s.Sign(body, Answer{IssuedAt: time.Now()})
	writeKey(t, dir, "k.pem", true)
	if err := s.Reload(file, "2026-12"); err != nil {
		t.Fatal(err)
	}
	now, _ := s.Sign(body, Answer{IssuedAt: time.Now()})
	jwks, _ := s.JWKS()
	for _, sig := range []string{old, now} {
		if _, err := VerifyAnswer(jwks, sig, body); err != nil {
			t.Errorf("after rotation: %v", err)
		}
	}
	if v, _ := VerifyAnswer(jwks, now, body); v.KeyID != "2026-12" {
		t.Errorf("signed with %q after the rotation", v.KeyID)
	}
	if err := s.Reload(filepath.Join(dir, "missing.pem"), "x"); err == nil {
		t.Error("a missing key file reloaded")
	}
	if _, err := LoadSigner(file, ""); err == nil {
		t.Error("a key without an id loaded")
	}
}
