package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/mulegate/mulegate/internal/audit"
)

// cmdAudit is "mulegate audit verify FILE": it checks an audit trail's
// hash chain and names the first broken record.
func cmdAudit(args []string, stdout, stderr io.Writer) error {
	if len(args) != 2 || args[0] != "verify" {
		fmt.Fprintln(stderr, "usage: mulegate audit verify FILE")
		return errUsage
	}
	f, err := os.Open(args[1])
	if err != nil {
		return err
	}
	defer f.Close()
	n, err := audit.Verify(f)
	var b *audit.Broken
	if errors.As(err, &b) {
		return fmt.Errorf("%s: %d records intact, then the chain breaks at %w", args[1], n, err)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: %d records, chain intact\n", args[1], n)
	return nil
}
