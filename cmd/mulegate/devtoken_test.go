package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mulegate/mulegate/internal/devenv"
)

// TestDevTokenEndpoint: the dev token endpoint answers the client
// credentials grant for the org its client certificate names with an RFC
// 9068 access token (typ at+jwt, client_id, jti) bound to that
// certificate (cnf.x5t#S256), within the scope asked for; other grants,
// other clients and scopes beyond the org's are refused as RFC 6749 says.
func TestDevTokenEndpoint(t *testing.T) {
	ca, err := devenv.NewCA("test")
	if err != nil {
		t.Fatal(err)
	}
	signer, err := devenv.NewSigner(devKid)
	if err != nil {
		t.Fatal(err)
	}
	bank, _ := ca.IssueClient("demo-bank")
	stranger, _ := ca.IssueClient("not-an-org")
	h := devTokenHandler(signer, time.Hour)
	post := func(leaf *devenv.Leaf, form string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("POST", "/oauth2/token", strings.NewReader(form))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{leaf.Cert}}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	w := post(bank, "grant_type=client_credentials&scope=ibans:read+reports:read")
	var ans struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
		Scope       string `json:"scope"`
	}
	_ = json.Unmarshal(w.Body.Bytes(), &ans)
	if w.Code != 200 || ans.TokenType != "Bearer" || ans.Scope != "ibans:read reports:read" || w.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("the grant: %d %s", w.Code, w.Body)
	}
	parts := strings.Split(ans.AccessToken, ".")
	hdr, _ := base64.RawURLEncoding.DecodeString(parts[0])
	body, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var claims struct {
		Org      string            `json:"org"`
		ClientID string            `json:"client_id"`
		Jti      string            `json:"jti"`
		Scope    string            `json:"scope"`
		Cnf      map[string]string `json:"cnf"`
	}
	_ = json.Unmarshal(body, &claims)
	var ch struct{ Typ string }
	_ = json.Unmarshal(hdr, &ch)
	if ch.Typ != "at+jwt" || claims.ClientID != "demo-bank" || claims.Org != "demo-bank" || claims.Jti == "" ||
		claims.Scope != "ibans:read reports:read" || claims.Cnf["x5t#S256"] != bank.Thumbprint() {
		t.Errorf("the token: header %s, claims %s", hdr, body)
	}
	for _, c := range []struct {
		name string
		leaf *devenv.Leaf
		form string
		code int
		err  string
	}{
		{"another grant", bank, "grant_type=password", 400, "unsupported_grant_type"},
		{"a scope beyond the org's", bank, "grant_type=client_credentials&scope=ibans:clear", 400, "invalid_scope"},
		{"another client_id", bank, "grant_type=client_credentials&client_id=demo-police", 401, "invalid_client"},
		{"a certificate of no org", stranger, "grant_type=client_credentials", 401, "invalid_client"},
	} {
		if w := post(c.leaf, c.form); w.Code != c.code || !strings.Contains(w.Body.String(), `"error":"`+c.err+`"`) {
			t.Errorf("%s: %d %s", c.name, w.Code, w.Body)
		}
	}
}
