package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/mulegate/mulegate/internal/devenv"
)

// The development token endpoint: OAuth 2.0 client credentials (RFC
// 6749 §4.4) with mutual-TLS client authentication (RFC 8705 §2,
// tls_client_auth: the client certificate is the credential, no secret),
// issuing certificate-bound access tokens (RFC 8705 §3: cnf.x5t#S256) in
// the JWT profile (RFC 9068: typ at+jwt, client_id, jti). Clients fetch
// and refresh tokens from it the way they will from a production
// identity provider (client.Config.TokenURL, MULEGATE_CLIENT_TOKEN_URL).

// devTokenServer serves POST /oauth2/token on ln over mTLS with the dev
// PKI, until ctx ends.
func devTokenServer(ctx context.Context, dir string, ln net.Listener, ttl time.Duration) error {
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, "server.pem"), filepath.Join(dir, "server-key.pem"))
	if err != nil {
		return err
	}
	caPEM, err := os.ReadFile(filepath.Join(dir, "ca.pem"))
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return errors.New("dev token endpoint: no CA certificate in ca.pem")
	}
	signer, err := devenv.LoadSigner(filepath.Join(dir, "signing-key.pem"), devKid)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: devTokenHandler(signer, ttl), ReadHeaderTimeout: 5 * time.Second,
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert,
			MinVersion: tls.VersionTLS12}}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.ServeTLS(ln, "", ""); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// tokenError is an RFC 6749 §5.2 error answer.
func tokenError(w http.ResponseWriter, status int, code, desc string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc})
}

func devTokenHandler(signer *devenv.Signer, ttl time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/oauth2/token" || r.Method != http.MethodPost {
			http.NotFound(w, r)
			return
		}
		if err := r.ParseForm(); err != nil {
			tokenError(w, http.StatusBadRequest, "invalid_request", "the body must be application/x-www-form-urlencoded")
			return
		}
		if r.PostForm.Get("grant_type") != "client_credentials" {
			tokenError(w, http.StatusBadRequest, "unsupported_grant_type", "only client_credentials")
			return
		}
		leaf := &devenv.Leaf{Cert: r.TLS.PeerCertificates[0]}
		org := devOrgByID(leaf.Cert.Subject.CommonName)
		if org == nil || (r.PostForm.Get("client_id") != "" && r.PostForm.Get("client_id") != org.ID) {
			tokenError(w, http.StatusUnauthorized, "invalid_client", "the client certificate names no client, or another than client_id")
			return
		}
		scope, ok := grantScope(org.Scope, r.PostForm.Get("scope"))
		if !ok {
			tokenError(w, http.StatusBadRequest, "invalid_scope", "scope asks for more than the client may have: "+org.Scope)
			return
		}
		var jti [16]byte
		_, _ = rand.Read(jti[:])
		tok, err := signer.Token(devenv.TokenSpec{Issuer: devIssuer, Audience: devAudience, Subject: org.ID + "-dev-client", Org: org.ID,
			Scope: scope, Thumbprint: leaf.Thumbprint(), TTL: ttl, Header: map[string]any{"typ": "at+jwt"}},
			map[string]any{"client_id": org.ID, "jti": hex.EncodeToString(jti[:])})
		if err != nil {
			tokenError(w, http.StatusInternalServerError, "server_error", "could not sign the token")
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": tok, "token_type": "Bearer",
			"expires_in": int(ttl.Seconds()), "scope": scope})
	})
}

// devOrgByID is the demo org with that id (nil for none).
func devOrgByID(id string) *devOrg {
	for n := range devOrgs {
		if devOrgs[n].ID == id {
			return &devOrgs[n]
		}
	}
	return nil
}

// grantScope is the scope granted for a request: all of the client's
// when it asks for none, else what it asks for if the client may have
// every part of it.
func grantScope(allowed, asked string) (string, bool) {
	if strings.TrimSpace(asked) == "" {
		return allowed, true
	}
	have := map[string]bool{}
	for _, s := range strings.Fields(allowed) {
		have[s] = true
	}
	for _, s := range strings.Fields(asked) {
		if !have[s] {
			return "", false
		}
	}
	return strings.Join(strings.Fields(asked), " "), true
}
