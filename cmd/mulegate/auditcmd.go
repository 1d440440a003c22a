package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/mulegate/mulegate/internal/audit"
	"github.com/mulegate/mulegate/internal/evidence"
)

// cmdAudit is "mulegate audit verify FILE [--checkpoints FILE --note-key
// PUBKEY]": it checks an audit trail's hash chain and names the first
// broken record; given the checkpoints, it checks that each is signed by
// the key and that its root is the tree of the file's first records (the
// chain alone is worth nothing against someone who can write the file:
// he can recompute it; he cannot sign a checkpoint).
func cmdAudit(args []string, stdout, stderr io.Writer) error {
	const usage = "usage: mulegate audit verify FILE [--checkpoints FILE --note-key PUBKEY]\n       mulegate audit prove FILE --seq N [--size M] [--origin O]"
	if len(args) >= 2 && args[0] == "prove" {
		return cmdAuditProve(args[1], args[2:], stdout, stderr)
	}
	if len(args) < 2 || args[0] != "verify" {
		fmt.Fprintln(stderr, usage)
		return errUsage
	}
	fs := flag.NewFlagSet("audit verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cpFile := fs.String("checkpoints", "", "the trail's checkpoints (<audit.path>.checkpoints)")
	key := fs.String("note-key", "", "the checkpoint verifier key (name+hash+base64), or a file holding it")
	path := args[1]
	if err := fs.Parse(args[2:]); err != nil || fs.NArg() != 0 || (*cpFile == "") != (*key == "") {
		fmt.Fprintln(stderr, usage)
		return errUsage
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	n, err := audit.Verify(f)
	var b *audit.Broken
	if errors.As(err, &b) {
		return fmt.Errorf("%s: %d records intact, then the chain breaks at %w", path, n, err)
	}
	if err != nil {
		return err
	}
	if *cpFile == "" {
		fmt.Fprintf(stdout, "%s: %d records, chain intact\n", path, n)
		return nil
	}
	cps, err := os.ReadFile(*cpFile)
	if err != nil {
		return err
	}
	k, err := noteKey(*key)
	if err != nil {
		return err
	}
	c, err := evidence.VerifyCheckpoints(path, cps, k)
	if err != nil {
		return errors.Join(errVerify, fmt.Errorf("%s: %d checkpoints hold, then: %w", path, c, err))
	}
	fmt.Fprintf(stdout, "%s: %d records, chain intact, %d signed checkpoints match the file\n", path, n, c)
	return nil
}

// noteKey is a verifier key given inline or in a file.
func noteKey(v string) (string, error) {
	if b, err := os.ReadFile(v); err == nil {
		return string(b), nil
	}
	return v, nil
}

// cmdAuditProve is "mulegate audit prove FILE --seq N [--size M]": the
// inclusion proof of record N in the tree of the file's first M records
// (default: all), made offline from the file, as GET /v1/evidence/proof
// answers it.
func cmdAuditProve(path string, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("audit prove", flag.ContinueOnError)
	fs.SetOutput(stderr)
	seq := fs.Int64("seq", 0, "the record")
	size := fs.Int64("size", 0, "the tree size (a checkpoint's; default: the whole file)")
	origin := fs.String("origin", "", "the trail's evidence.origin, for the answer")
	if err := fs.Parse(args); err != nil || fs.NArg() != 0 || *seq < 1 {
		fmt.Fprintln(stderr, "usage: mulegate audit prove FILE --seq N [--size M] [--origin O]")
		return errUsage
	}
	t, err := evidence.OpenTree(path, *origin, nil)
	if err != nil {
		return err
	}
	if *size == 0 {
		*size = t.Size()
	}
	leaf, proof, err := t.ProveRecord(*seq, *size)
	if err != nil {
		return err
	}
	return printJSON(stdout, evidence.NewProof(*origin, *seq, *size, leaf, proof))
}
