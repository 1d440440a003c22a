package migrate

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
)

// legacySealer opens the IBANs the layouts before the compact seal kept:
// AES-256-GCM under the store's IBAN sealing key, a random 12-byte nonce
// before the ciphertext and its 16-byte tag, the IBAN as text; the
// additional data is the book's pseudonym (a book's "ie" field) or the
// report id (a report hash of the layout before books, in base64).
type legacySealer struct{ aead cipher.AEAD }

func newLegacySealer(secret []byte) (*legacySealer, error) {
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
	return &legacySealer{aead: aead}, nil
}

// open opens a sealed IBAN (nonce, ciphertext, tag) for ad.
func (l *legacySealer) open(ad, sealed string) (string, error) {
	b := []byte(sealed)
	n := l.aead.NonceSize()
	if len(b) < n {
		return "", errors.New("sealed iban: malformed")
	}
	plain, err := l.aead.Open(nil, b[:n], b[n:], []byte(ad))
	if err != nil {
		return "", errors.New("sealed iban: does not open")
	}
	return string(plain), nil
}

// openBase64 opens a report hash's "ie" field (the layout before books).
func (l *legacySealer) openBase64(id, sealed string) (string, error) {
	b, err := base64.RawStdEncoding.DecodeString(sealed)
	if err != nil {
		return "", errors.New("sealed iban: malformed")
	}
	return l.open(id, string(b))
}
