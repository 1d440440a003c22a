package store

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
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
// bytes for a Dutch IBAN, 25 for a German one.
type sealer struct{ compact cipher.AEAD }

func newSealer(secret []byte) (*sealer, error) {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("mulegate iban sealing v1"))
	block, err := aes.NewCipher(m.Sum(nil))
	if err != nil {
		return nil, err
	}
	s := &sealer{}
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
