// Package pemfile loads the PEM files every TLS endpoint of mulegate needs
// (a CA bundle, a certificate with its key) in one way, with errors that
// name the file and never pass silently: a CA bundle without a single
// certificate is an error, not an empty pool. It imports the standard
// library only.
package pemfile

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
)

// CertPool reads a PEM CA bundle. A file that holds no certificate is an
// error: an empty pool would trust nothing (or, for a server, refuse
// every client) without saying why.
func CertPool(path string) (*x509.CertPool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("%s: no PEM certificates found", path)
	}
	return pool, nil
}

// KeyPair reads a PEM certificate (chain) and its private key.
func KeyPair(certPath, keyPath string) (tls.Certificate, error) {
	c, err := tls.LoadX509KeyPair(certPath, keyPath)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("%s / %s: %w", certPath, keyPath, err)
	}
	return c, nil
}

// CRLs reads certificate revocation lists (PEM or DER, several per file in
// PEM) and checks each one's signature against one of the CAs: a CRL that
// no configured CA signed is an error, not a silent no-op.
func CRLs(paths []string, cas []*x509.Certificate) ([]*x509.RevocationList, error) {
	var out []*x509.RevocationList
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		var ders [][]byte
		for rest := b; ; {
			var blk *pem.Block
			blk, rest = pem.Decode(rest)
			if blk == nil {
				break
			}
			if blk.Type == "X509 CRL" {
				ders = append(ders, blk.Bytes)
			}
		}
		if len(ders) == 0 {
			ders = [][]byte{b} // DER
		}
		for _, der := range ders {
			crl, err := x509.ParseRevocationList(der)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", p, err)
			}
			signed := false
			for _, ca := range cas {
				if crl.CheckSignatureFrom(ca) == nil {
					signed = true
					break
				}
			}
			if !signed {
				return nil, fmt.Errorf("%s: the CRL is not signed by a configured client CA", p)
			}
			out = append(out, crl)
		}
	}
	return out, nil
}

// Certs reads every certificate of a PEM bundle.
func Certs(path string) ([]*x509.Certificate, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []*x509.Certificate
	for rest := b; ; {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no PEM certificates found", path)
	}
	return out, nil
}
