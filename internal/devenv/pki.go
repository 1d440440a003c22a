package devenv

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// CA is a development certificate authority.
type CA struct {
	Cert *x509.Certificate
	Key  *ecdsa.PrivateKey
}

// NewCA makes a self-signed ECDSA P-256 CA valid for a year.
func NewCA(name string) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: name, Organization: []string{"mulegate development (NOT FOR PRODUCTION)"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &CA{Cert: cert, Key: key}, nil
}

// CRL is a PEM certificate revocation list, signed by the CA, revoking
// the given leaves (none: an empty CRL). number must grow with each CRL.
func (ca *CA) CRL(number int64, revoked ...*Leaf) ([]byte, error) {
	tmpl := &x509.RevocationList{Number: big.NewInt(number), ThisUpdate: time.Now().Add(-time.Minute), NextUpdate: time.Now().Add(24 * time.Hour)}
	for _, l := range revoked {
		tmpl.RevokedCertificateEntries = append(tmpl.RevokedCertificateEntries,
			x509.RevocationListEntry{SerialNumber: l.Cert.SerialNumber, RevocationTime: time.Now().Add(-time.Minute)})
	}
	der, err := x509.CreateRevocationList(rand.Reader, tmpl, ca.Cert, ca.Key)
	if err != nil {
		return nil, err
	}
	return pemBlock("X509 CRL", der), nil
}

// Leaf is an issued certificate with its key.
type Leaf struct {
	Cert *x509.Certificate
	Key  *ecdsa.PrivateKey
}

// TLS returns the leaf as a tls.Certificate.
func (l *Leaf) TLS() tls.Certificate {
	return tls.Certificate{Certificate: [][]byte{l.Cert.Raw}, PrivateKey: l.Key, Leaf: l.Cert}
}

// Thumbprint is the RFC 8705 x5t#S256 of the leaf.
func (l *Leaf) Thumbprint() string {
	sum := sha256.Sum256(l.Cert.Raw)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// CertPEM and KeyPEM encode the leaf.
func (l *Leaf) CertPEM() []byte { return pemBlock("CERTIFICATE", l.Cert.Raw) }

func (l *Leaf) KeyPEM() []byte {
	der, _ := x509.MarshalPKCS8PrivateKey(l.Key)
	return pemBlock("PRIVATE KEY", der)
}

// CertPEM encodes the CA certificate.
func (ca *CA) CertPEM() []byte { return pemBlock("CERTIFICATE", ca.Cert.Raw) }

// Pool is a pool holding just this CA.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}

// IssueServer issues a TLS server certificate for the given hosts.
func (ca *CA) IssueServer(hosts ...string) (*Leaf, error) {
	tmpl := ca.template(hosts[0])
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	return ca.issue(tmpl)
}

// IssueClient issues a TLS client certificate.
func (ca *CA) IssueClient(name string) (*Leaf, error) {
	tmpl := ca.template(name)
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	return ca.issue(tmpl)
}

func (ca *CA) template(cn string) *x509.Certificate {
	return &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: cn, Organization: []string{"mulegate development (NOT FOR PRODUCTION)"}},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(90 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
}

func (ca *CA) issue(tmpl *x509.Certificate) (*Leaf, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.Key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &Leaf{Cert: cert, Key: key}, nil
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	return n
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

// Signer is a token signing key with a kid.
type Signer struct {
	Kid    string
	Key    crypto.Signer
	Method jwt.SigningMethod
}

// NewSigner makes an ES256 signing key.
func NewSigner(kid string) (*Signer, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	return &Signer{Kid: kid, Key: key, Method: jwt.SigningMethodES256}, nil
}

// JWKS returns the public JWKS document for the given signers.
func JWKS(signers ...*Signer) []byte {
	keys := make([]map[string]string, 0, len(signers))
	for _, s := range signers {
		pub := s.Key.Public().(*ecdsa.PublicKey)
		raw, _ := pub.Bytes() // uncompressed point 0x04 || X || Y
		size := (len(raw) - 1) / 2
		keys = append(keys, map[string]string{
			"kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": s.Kid,
			"x": base64.RawURLEncoding.EncodeToString(raw[1 : 1+size]),
			"y": base64.RawURLEncoding.EncodeToString(raw[1+size:]),
		})
	}
	b, _ := json.MarshalIndent(map[string]any{"keys": keys}, "", "  ")
	return b
}

// TokenSpec describes a token to mint.
type TokenSpec struct {
	Issuer, Audience, Subject, Org, Scope string
	Thumbprint                            string // cnf.x5t#S256; "" for none
	TTL                                   time.Duration
	Header                                map[string]any // extra JOSE header parameters (typ, crit…)
}

// Token signs a token for spec. Extra claims override the defaults.
func (s *Signer) Token(spec TokenSpec, extra map[string]any) (string, error) {
	now := time.Now()
	if spec.TTL == 0 {
		spec.TTL = time.Hour
	}
	c := jwt.MapClaims{
		"iss": spec.Issuer, "aud": spec.Audience, "sub": spec.Subject,
		"org": spec.Org, "scope": spec.Scope,
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(spec.TTL).Unix(),
	}
	if spec.Thumbprint != "" {
		c["cnf"] = map[string]string{"x5t#S256": spec.Thumbprint}
	}
	for k, v := range extra {
		if v == nil {
			delete(c, k)
			continue
		}
		c[k] = v
	}
	t := jwt.NewWithClaims(s.Method, c)
	t.Header["kid"] = s.Kid
	for k, v := range spec.Header {
		if v == nil {
			delete(t.Header, k)
			continue
		}
		t.Header[k] = v
	}
	return t.SignedString(s.Key)
}

// KeyPEM encodes the signing key (PKCS#8).
func (s *Signer) KeyPEM() ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(s.Key)
	if err != nil {
		return nil, err
	}
	return pemBlock("PRIVATE KEY", der), nil
}

// LoadSigner reads a PKCS#8 EC key written by KeyPEM.
func LoadSigner(path, kid string) (*Signer, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, fmt.Errorf("%s: no PEM block", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, err
	}
	ek, ok := k.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%s: not an EC key", path)
	}
	return &Signer{Kid: kid, Key: ek, Method: jwt.SigningMethodES256}, nil
}

// LoadCert reads a PEM certificate.
func LoadCert(path string) (*x509.Certificate, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, fmt.Errorf("%s: no PEM block", path)
	}
	return x509.ParseCertificate(blk.Bytes)
}

// WriteFile writes data to dir/name with the given mode, creating dir.
func WriteFile(dir, name string, data []byte, mode os.FileMode) (string, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	p := filepath.Join(dir, name)
	return p, os.WriteFile(p, data, mode)
}
