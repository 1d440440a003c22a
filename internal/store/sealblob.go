package store

import (
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"strings"

	"golang.org/x/crypto/chacha20poly1305"
)

// Values that carry a plaintext IBAN where a reader needs it (outbox
// bodies until forwarded, a bank's feed events and alerts, the review
// events' IBAN for the holder's feed) are sealed in Redis and opened when
// served or sent: XChaCha20-Poly1305 under a key derived from the
// pseudonym secret, a random 24-byte nonce (no nonce reuse however many
// values are sealed), and additional data naming where the value belongs
// (a report id, a bank and event id…), so a sealed value cannot be moved
// to another record. A dump without the secret links no record to an
// IBAN.
//
// A sealed value is sealedMark + nonce + ciphertext and tag (40 bytes
// more than the plaintext). A value without the mark does not open: it
// was not written by this layout (layouts before 3 kept plaintext, which
// "mulegate migrate" seals).
const sealedMark = "\x1fS1"

type blobSealer struct{ aead cipher.AEAD }

func newBlobSealer(secret []byte) (*blobSealer, error) {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("mulegate feed and outbox sealing v1"))
	aead, err := chacha20poly1305.NewX(m.Sum(nil))
	if err != nil {
		return nil, err
	}
	return &blobSealer{aead: aead}, nil
}

// seal seals plaintext for the place named by ad.
func (b *blobSealer) seal(ad string, plaintext []byte) string {
	out := make([]byte, len(sealedMark)+chacha20poly1305.NonceSizeX, len(sealedMark)+chacha20poly1305.NonceSizeX+len(plaintext)+b.aead.Overhead())
	copy(out, sealedMark)
	nonce := out[len(sealedMark):]
	_, _ = rand.Read(nonce)
	return string(b.aead.Seal(out, nonce, plaintext, []byte(ad)))
}

// open opens a value seal sealed for ad.
func (b *blobSealer) open(ad, v string) ([]byte, error) {
	if !strings.HasPrefix(v, sealedMark) {
		return nil, errSealedValue
	}
	rest := v[len(sealedMark):]
	if len(rest) < chacha20poly1305.NonceSizeX+b.aead.Overhead() {
		return nil, errSealedValue
	}
	out, err := b.aead.Open(nil, []byte(rest[:chacha20poly1305.NonceSizeX]), []byte(rest[chacha20poly1305.NonceSizeX:]), []byte(ad))
	if err != nil {
		return nil, errSealedValue
	}
	return out, nil
}

// sealed reports whether v is sealed.
func sealed(v string) bool { return strings.HasPrefix(v, sealedMark) }

var errSealedValue = errors.New("a sealed value does not open (not sealed, another pseudonym secret, or moved)")

// Where sealed values belong (their additional data).
func adOutbox(reportID string) string    { return "outbox\x00" + reportID }
func adIBAN(reportID string) string      { return "ib\x00" + reportID }
func adEvent(org, eventID string) string { return "event\x00" + org + "\x00" + eventID }
func adAlert(org, alertID string) string { return "alert\x00" + org + "\x00" + alertID }
