package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/mulegate/mulegate/internal/evidence"
)

// cmdEvidence is "mulegate evidence verify": offline checks of what a
// gateway signed. With --record, --proof, --checkpoint and --note-key it
// also checks that the answer's audit record (which holds the body's
// SHA-256) is in the trail a signed checkpoint vouches for.
func cmdEvidence(args []string, stdout, stderr io.Writer) error {
	const usage = "usage: mulegate evidence verify --keys JWKS_FILE --signature SIG [--record LINE_FILE --proof PROOF_FILE --checkpoint FILE --note-key PUBKEY] BODY_FILE"
	if len(args) > 0 && args[0] == "keygen" {
		return cmdEvidenceKeygen(args[1:], stdout, stderr)
	}
	if len(args) == 0 || args[0] != "verify" {
		fmt.Fprintln(stderr, usage)
		return errUsage
	}
	fs := flag.NewFlagSet("evidence verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	keys := fs.String("keys", "", "the gateway's answer keys: a saved GET /v1/evidence/keys (JWKS)")
	sig := fs.String("signature", "", "the answer's Mulegate-Signature header value")
	record := fs.String("record", "", "the answer's audit record: a file holding its JSON line")
	proof := fs.String("proof", "", "a saved GET /v1/evidence/proof of that record")
	checkpoint := fs.String("checkpoint", "", "a saved signed checkpoint of the proof's tree size")
	key := fs.String("note-key", "", "the checkpoint verifier key (name+hash+base64), or a file holding it")
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
	out := map[string]any{"verified": true, "key_id": v.KeyID, "issued_at": v.IssuedAt, "org": v.Org,
		"request_id": v.RequestID, "purpose": v.Purpose, "audit": v.Audit}
	if *record != "" {
		cp, err := verifyRecord(v, body, *record, *proof, *checkpoint, *key)
		if err != nil {
			return errors.Join(errVerify, err)
		}
		out["in_trail"] = map[string]any{"origin": cp.Origin, "tree_size": cp.Size}
	}
	return printJSON(stdout, out)
}

// verifyRecord checks that the answer's audit record holds its body and
// is in the tree the checkpoint vouches for.
func verifyRecord(v evidence.Verified, body []byte, recordFile, proofFile, cpFile, key string) (evidence.Checkpoint, error) {
	if proofFile == "" || cpFile == "" || key == "" {
		return evidence.Checkpoint{}, errors.New("--record needs --proof, --checkpoint and --note-key")
	}
	line, err := os.ReadFile(recordFile)
	if err != nil {
		return evidence.Checkpoint{}, err
	}
	line = bytes.TrimRight(line, "\r\n")
	var rec struct {
		Seq        int64  `json:"seq"`
		RequestID  string `json:"request_id"`
		BodySHA256 string `json:"body_sha256"`
	}
	if err := json.Unmarshal(line, &rec); err != nil {
		return evidence.Checkpoint{}, fmt.Errorf("the record: %w", err)
	}
	sum := sha256.Sum256(body)
	if rec.BodySHA256 != hex.EncodeToString(sum[:]) || rec.RequestID != v.RequestID {
		return evidence.Checkpoint{}, errors.New("the record is not this answer's: its body_sha256 or request_id differ")
	}
	origin, seq, _ := strings.Cut(v.Audit, "#")
	if seq != strconv.FormatInt(rec.Seq, 10) {
		return evidence.Checkpoint{}, fmt.Errorf("the answer names record %s, this is record %d", v.Audit, rec.Seq)
	}
	pj, err := os.ReadFile(proofFile)
	if err != nil {
		return evidence.Checkpoint{}, err
	}
	var p evidence.Proof
	if err := json.Unmarshal(pj, &p); err != nil {
		return evidence.Checkpoint{}, fmt.Errorf("the proof: %w", err)
	}
	if p.Origin != origin {
		return evidence.Checkpoint{}, fmt.Errorf("the answer's record is in %s, the proof is for %s", origin, p.Origin)
	}
	cp, err := os.ReadFile(cpFile)
	if err != nil {
		return evidence.Checkpoint{}, err
	}
	cp = append(bytes.TrimRight(cp, "\r\n"), '\n') // a saved note may carry a trailing blank line
	k, err := noteKey(key)
	if err != nil {
		return evidence.Checkpoint{}, err
	}
	return evidence.VerifyInclusion(line, p, cp, k)
}

// errVerify marks a check that failed: exit status 1.
var errVerify = errors.New("not verified")

// cmdEvidenceKeygen is "mulegate evidence keygen --dir DIR --origin O":
// an answer-signing key (answers-key.pem) and a checkpoint signed-note
// key pair named O (checkpoint.key, checkpoint.pub), existing ones kept.
func cmdEvidenceKeygen(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("evidence keygen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", ".", "where to write the keys")
	origin := fs.String("origin", "", "the gateway's evidence.origin (the checkpoint key's name)")
	if err := fs.Parse(args); err != nil || fs.NArg() != 0 || *origin == "" {
		fmt.Fprintln(stderr, "usage: mulegate evidence keygen --dir DIR --origin ORIGIN")
		return errUsage
	}
	if err := os.MkdirAll(*dir, 0o700); err != nil {
		return err
	}
	if err := writeEvidenceKeys(*dir, *origin); err != nil {
		return err
	}
	pub, err := os.ReadFile(filepath.Join(*dir, "checkpoint.pub"))
	if err != nil {
		return err
	}
	return printJSON(stdout, map[string]string{"signing_key_file": filepath.Join(*dir, "answers-key.pem"),
		"checkpoint_key_file": filepath.Join(*dir, "checkpoint.key"), "checkpoint_verifier_key": strings.TrimSpace(string(pub))})
}
