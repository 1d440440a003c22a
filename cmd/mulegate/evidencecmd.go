package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/mulegate/mulegate/internal/evidence"
)

// cmdEvidence is "mulegate evidence verify": offline checks of what a
// gateway signed.
func cmdEvidence(args []string, stdout, stderr io.Writer) error {
	const usage = "usage: mulegate evidence verify --keys JWKS_FILE --signature SIG BODY_FILE"
	if len(args) == 0 || args[0] != "verify" {
		fmt.Fprintln(stderr, usage)
		return errUsage
	}
	fs := flag.NewFlagSet("evidence verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	keys := fs.String("keys", "", "the gateway's answer keys: a saved GET /v1/evidence/keys (JWKS)")
	sig := fs.String("signature", "", "the answer's Mulegate-Signature header value")
	if err := fs.Parse(args[1:]); err != nil || fs.NArg() != 1 || *keys == "" || *sig == "" {
		fmt.Fprintln(stderr, usage)
		return errUsage
	}
	jwks, err := os.ReadFile(*keys)
	if err != nil {
		return err
	}
	body, err := os.ReadFile(fs.Arg(0))
	if err != nil {
		return err
	}
	v, err := evidence.VerifyAnswer(jwks, *sig, body)
	if err != nil {
		return errors.Join(errVerify, err)
	}
	return printJSON(stdout, map[string]any{"verified": true, "key_id": v.KeyID, "issued_at": v.IssuedAt, "org": v.Org,
		"request_id": v.RequestID, "purpose": v.Purpose, "audit": v.Audit})
}

// errVerify marks a check that failed: exit status 1.
var errVerify = errors.New("not verified")
