package main

import (
	"strings"
	"testing"

	"github.com/mulegate/mulegate/internal/devenv"
)

// TestCertificateBelongsToTheOrg (issue 11): an org that lists its
// certificates accepts its tokens only over one of them. A police token
// bound to a marketplace's certificate (an identity provider that minted
// it for the wrong org) does not post a police alert.
func TestCertificateBelongsToTheOrg(t *testing.T) {
	p := mustPKI(t)
	cfg := p.config(mustRedisAddrs(t), "")
	withSubjects := strings.Replace(cfg, "- id: police-nl\n    type: police\n", "- id: police-nl\n    type: police\n    cert_subjects: [police-nl, \"spiffe://police.example/gateway-client\"]\n", 1)
	if withSubjects == cfg {
		t.Fatal("test config did not change")
	}
	gw := mustGatewayConfig(t, withSubjects)
	alert := `{"iban":"NL91ABNA0417164300","severity":"info","message":"m","reference":"r"}`
	police := p.client(t, p.clients["police-nl"])
	if got := do(t, police, "POST", gw.api+"/v1/alerts", p.token(t, "police-nl", nil, nil), alert); got.status != 201 {
		t.Fatalf("the police over their own certificate: %d %s", got.status, got.body)
	}
	market := p.client(t, p.clients["market-a"])
	forged := p.token(t, "police-nl", func(s *devenv.TokenSpec) { s.Thumbprint = p.clients["market-a"].Thumbprint() }, nil)
	got := do(t, market, "POST", gw.api+"/v1/alerts", forged, alert)
	if got.status != 401 || problemCode(t, got) != "unauthenticated" {
		t.Errorf("a police token over a marketplace certificate: %d %s, want 401", got.status, got.body)
	}
	// An org without cert_subjects is unchanged.
	if got := do(t, market, "GET", gw.api+"/v1/ibans/NL91ABNA0417164300", p.token(t, "market-a", nil, nil), ""); got.status != 200 {
		t.Errorf("market-a lookup: %d", got.status)
	}
}
