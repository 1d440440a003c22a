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

// A feed event's data is sealed under a nonce that is the event's id (16
// bytes, unique per event and stored beside the data in the entry) and 8
// random bytes (the two seals of one event a repeating relay may make
// share a nonce with chance 2^-64), so only those 8 bytes are stored:
// sealedMarkID + 8 bytes + ciphertext and tag (27 bytes more than the
// plaintext, from 43).
const (
	sealedMarkID = "\x1fS2"
	idNonceRand  = chacha20poly1305.NonceSizeX - 16
)

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

// sealForID seals plaintext for ad under a nonce of id (16 raw bytes)
// and 8 random bytes.
func (b *blobSealer) sealForID(ad, id string, plaintext []byte) string {
	var nonce [chacha20poly1305.NonceSizeX]byte
	copy(nonce[:16], id)
	_, _ = rand.Read(nonce[16:])
	out := make([]byte, len(sealedMarkID)+idNonceRand, len(sealedMarkID)+idNonceRand+len(plaintext)+b.aead.Overhead())
	copy(out, sealedMarkID)
	copy(out[len(sealedMarkID):], nonce[16:])
	return string(b.aead.Seal(out, nonce[:], plaintext, []byte(ad)))
}

// openForID opens a value sealForID (or seal) sealed for ad and id.
func (b *blobSealer) openForID(ad, id, v string) ([]byte, error) {
	if !strings.HasPrefix(v, sealedMarkID) || len(id) != 16 {
		return b.open(ad, v)
	}
	rest := v[len(sealedMarkID):]
	if len(rest) < idNonceRand+b.aead.Overhead() {
		return nil, errSealedValue
	}
	var nonce [chacha20poly1305.NonceSizeX]byte
	copy(nonce[:16], id)
	copy(nonce[16:], rest[:idNonceRand])
	out, err := b.aead.Open(nil, nonce[:], []byte(rest[idNonceRand:]), []byte(ad))
	if err != nil {
		return nil, errSealedValue
	}
	return out, nil
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
func sealed(v string) bool {
	return strings.HasPrefix(v, sealedMark) || strings.HasPrefix(v, sealedMarkID)
}

var errSealedValue = errors.New("a sealed value does not open (not sealed, another pseudonym secret, or moved)")

// Where sealed values belong (their additional data).
func adOutbox(reportID string) string    { return "outbox\x00" + reportID }
func adIBAN(reportID string) string      { return "ib\x00" + reportID }
func adEvent(org, eventID string) string { return "event\x00" + org + "\x00" + eventID }
func adAlert(org, alertID string) string { return "alert\x00" + org + "\x00" + alertID }
