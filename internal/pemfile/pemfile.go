// Package pemfile loads the PEM files every TLS endpoint of mulegate needs
// (a CA bundle, a certificate with its key) in one way, with errors that
// name the file and never pass silently: a CA bundle without a single
// certificate is an error, not an empty pool. It imports the standard
// library only.
package pemfile

import (
	"crypto/tls"
	"crypto/x509"
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
