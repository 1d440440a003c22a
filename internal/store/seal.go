package store

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
)

// sealer encrypts the IBAN a report's holder may read back (GET
// /v1/reports/{id}) with AES-256-GCM under a key derived from the
// pseudonym secret, with the book's pseudonym as additional data, so that
// a Redis dump without the secret reveals nothing and a sealed IBAN
// cannot be moved to another IBAN's book. The sealed form is raw bytes
// (nonce, ciphertext, tag): 46 bytes for a Dutch IBAN, 62 at most, so a
// book keeps its compact encoding.
type sealer struct{ aead cipher.AEAD }

func newSealer(secret []byte) (*sealer, error) {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("mulegate iban sealing v1"))
	block, err := aes.NewCipher(m.Sum(nil))
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &sealer{aead: aead}, nil
}

func (s *sealer) seal(id, plain string) (string, error) {
	nonce := make([]byte, s.aead.NonceSize(), s.aead.NonceSize()+len(plain)+s.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	return string(s.aead.Seal(nonce, nonce, []byte(plain), []byte(id))), nil
}

func (s *sealer) open(id, sealed string) (string, error) {
	b := []byte(sealed)
	if len(b) < s.aead.NonceSize() {
		return "", errors.New("sealed iban: malformed")
	}
	n := s.aead.NonceSize()
	plain, err := s.aead.Open(nil, b[:n], b[n:], []byte(id))
	if err != nil {
		return "", errors.New("sealed iban: does not open")
	}
	return string(plain), nil
}

// openLegacy opens an IBAN sealed by the layout before books: base64,
// with the report id as additional data (mulegate migrate).
func (s *sealer) openLegacy(id, sealed string) (string, error) {
	b, err := base64.RawStdEncoding.DecodeString(sealed)
	if err != nil {
		return "", errors.New("sealed iban: malformed")
	}
	return s.open(id, string(b))
}
