package store

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"math/big"
	"strings"

	"github.com/mulegate/mulegate/internal/iban"
)

// sealer encrypts the IBAN a report's holder may read back (GET
// /v1/reports/{id}) with AES-256-GCM under a key derived from the
// pseudonym secret, with the book's pseudonym as additional data, so that
// a Redis dump without the secret reveals nothing and a sealed IBAN
// cannot be moved to another IBAN's book.
//
// The book's "i" field is compact: the IBAN packed as one base-36 number
// (country and BBAN; the check digits follow from them), sealed with a
// 12-byte tag under a nonce that is the pseudonym's first 12 bytes, so no
// nonce is stored. That is safe because a pseudonym names one IBAN: a
// nonce only ever seals the one plaintext, always to the same bytes. 23
// bytes for a Dutch IBAN, 25 for a German one (the "ie" field before it,
// still read: a random nonce, a 16-byte tag and the IBAN as text, 46 and
// 50).
type sealer struct{ compact, full cipher.AEAD }

func newSealer(secret []byte) (*sealer, error) {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("mulegate iban sealing v1"))
	block, err := aes.NewCipher(m.Sum(nil))
	if err != nil {
		return nil, err
	}
	s := &sealer{}
	if s.full, err = cipher.NewGCM(block); err != nil {
		return nil, err
	}
	if s.compact, err = cipher.NewGCMWithTagSize(block, 12); err != nil {
		return nil, err
	}
	return s, nil
}

// seal seals an IBAN for the book of pseudonym p (16 raw bytes).
func (s *sealer) seal(p string, i iban.IBAN) string {
	v := i.String()
	var n big.Int
	n.SetString(v[:2]+v[4:], 36) // a letter first: no leading zero is lost
	packed := n.Bytes()
	return string(s.compact.Seal(packed[:0:0], []byte(p[:12]), packed, []byte(p)))
}

// open opens what seal sealed.
func (s *sealer) open(p, sealed string) (string, error) {
	packed, err := s.compact.Open(nil, []byte(p[:12]), []byte(sealed), []byte(p))
	if err != nil {
		return "", errors.New("sealed iban: does not open")
	}
	var n big.Int
	t := strings.ToUpper(n.SetBytes(packed).Text(36))
	if len(t) < 3 {
		return "", errors.New("sealed iban: malformed")
	}
	i, err := iban.FromBBAN(t[:2], t[2:])
	if err != nil {
		return "", errors.New("sealed iban: malformed")
	}
	return i.String(), nil
}

// openFull opens the "ie" form (nonce, ciphertext of the IBAN's text,
// 16-byte tag), with id as additional data: the book's pseudonym, or a
// report id in the layout before books.
func (s *sealer) openFull(id, sealed string) (string, error) {
	b := []byte(sealed)
	if len(b) < s.full.NonceSize() {
		return "", errors.New("sealed iban: malformed")
	}
	n := s.full.NonceSize()
	plain, err := s.full.Open(nil, b[:n], b[n:], []byte(id))
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
	return s.openFull(id, string(b))
}
