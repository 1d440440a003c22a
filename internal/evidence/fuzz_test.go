package evidence

import (
	"bytes"
	"testing"

	"golang.org/x/mod/sumdb/tlog"
)

// FuzzCheckpoints: a checkpoints file of any bytes splits and parses
// without panicking; every parsed checkpoint prints back to the body it
// was parsed from, and a checkpoint the gateway writes parses to what it
// wrote.
func FuzzCheckpoints(f *testing.F) {
	f.Add([]byte("mulegate/gw-1\n42\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n— mulegate/gw-1 AbCd\n\n"))
	f.Add([]byte("o\n1\n\n\n\n"))
	f.Add([]byte("\n\n\n\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, cp := range SplitCheckpoints(b) {
			c, err := ParseCheckpoint(cp.Text)
			if err != nil {
				continue
			}
			if got := CheckpointText(c.Origin, c.Size, c.Root); !bytes.HasPrefix([]byte(cp.Text), []byte(got[:len(got)-1])) {
				t.Errorf("%q parsed to %+v, which prints as %q", cp.Text, c, got)
			}
		}
		var root tlog.Hash
		copy(root[:], b)
		text := CheckpointText("mulegate/fuzz", int64(len(b)), root)
		if c, err := ParseCheckpoint(text); err != nil || c.Size != int64(len(b)) || c.Root != root {
			t.Errorf("a written checkpoint does not parse back: %v", err)
		}
	})
}
