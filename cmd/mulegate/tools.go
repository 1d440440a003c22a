package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/mulegate/mulegate/internal/devenv"
	"github.com/mulegate/mulegate/internal/iban"
)

// cmdToken mints a development token with dev mode's signing key.
func cmdToken(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", ".mulegate-dev", "dev mode folder holding signing-key.pem")
	org := fs.String("org", "demo-bank", "org claim")
	sub := fs.String("sub", "", "sub claim (default: ORG-dev-client)")
	scope := fs.String("scope", "", "scope claim (default: everything the demo org's type allows)")
	certPath := fs.String("cert", "", "client certificate (PEM) to bind the token to (cnf.x5t#S256); empty: unbound")
	ttl := fs.Duration("ttl", time.Hour, "token lifetime")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	signer, err := devenv.LoadSigner(filepath.Join(*dir, "signing-key.pem"), devKid)
	if err != nil {
		return fmt.Errorf("%w (run 'mulegate dev' once to create it)", err)
	}
	if *scope == "" {
		*scope = "ibans:read reports:write reports:read alerts:read alerts:write events:read reports:review markers:write audit:read"
		for _, o := range devOrgs {
			if o.ID == *org {
				*scope = o.Scope
			}
		}
	}
	if *sub == "" {
		*sub = *org + "-dev-client"
	}
	spec := devenv.TokenSpec{Issuer: devIssuer, Audience: devAudience, Subject: *sub, Org: *org, Scope: *scope, TTL: *ttl}
	if *certPath != "" {
		cert, err := devenv.LoadCert(*certPath)
		if err != nil {
			return err
		}
		spec.Thumbprint = (&devenv.Leaf{Cert: cert}).Thumbprint()
	}
	tok, err := signer.Token(spec, nil)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, tok)
	return nil
}

// cmdIBAN validates IBANs offline and prints one JSON line each.
func cmdIBAN(args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return errors.New("usage: mulegate iban IBAN [IBAN ...]")
	}
	enc := json.NewEncoder(stdout)
	failed := false
	for _, a := range args {
		i, err := iban.Parse(a)
		if err != nil {
			var ie *iban.Error
			errors.As(err, &ie)
			failed = true
			_ = enc.Encode(map[string]any{"input_masked": iban.Mask(a), "valid": false, "rule": ie.Rule, "detail": ie.Detail})
			continue
		}
		_ = enc.Encode(map[string]any{"iban": i.String(), "valid": true, "country": i.Country(), "bank_code": i.BankCode(), "masked": i.Masked()})
	}
	if failed {
		return errors.New("invalid IBAN")
	}
	return nil
}
