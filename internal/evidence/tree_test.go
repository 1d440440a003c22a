package evidence

import (
	"bytes"
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/mulegate/mulegate/internal/audit"
)

// writeRecords appends n records to the audit file at path, through the
// real writer (which continues the file's chain and sequence).
func writeRecords(t testing.TB, path string, n int) {
	t.Helper()
	w, err := audit.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if err := w.Write(audit.Record{Time: time.Now().UTC(), RequestID: "r", Org: []string{"bank-a", "bank-b"}[i%2], Method: "GET",
			Route: "/v1/ibans/:iban", Action: "lookup", Purpose: "payment_check", Status: 200}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

func noteKeys(t *testing.T) (note.Signer, string) {
	t.Helper()
	skey, vkey, err := note.GenerateKey(rand.Reader, "mulegate/test")
	if err != nil {
		t.Fatal(err)
	}
	s, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	return s, vkey
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// TestTreeProofs: the audit records are the leaves of an RFC 6962 tree;
// an inclusion proof and a consistency proof check out with tlog's own
// checkers against a checkpoint's root, and fail with one hash flipped.
func TestTreeProofs(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	writeRecords(t, path, 13)
	signer, vkey := noteKeys(t)
	tr, err := OpenTree(path, "mulegate/test", signer)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := tr.Checkpoint(fileSize(t, path)); !ok || err != nil {
		t.Fatalf("checkpoint: %v %v", ok, err)
	}
	if ok, _ := tr.Checkpoint(fileSize(t, path)); ok {
		t.Error("a checkpoint without growth")
	}
	c, err := ParseCheckpoint(string(tr.Latest()[:bytes.Index(tr.Latest(), []byte("\n\n"))+1]))
	if err != nil || c.Size != 13 || c.Origin != "mulegate/test" {
		t.Fatalf("the checkpoint: %+v %v", c, err)
	}
	v, _ := note.NewVerifier(vkey)
	if _, err := note.Open(tr.Latest(), note.VerifierList(v)); err != nil {
		t.Fatalf("the checkpoint's signature: %v", err)
	}
	for seq := int64(1); seq <= 13; seq++ {
		leaf, proof, err := tr.ProveRecord(seq, 13)
		if err != nil {
			t.Fatal(err)
		}
		line, _ := tr.Record(seq)
		if leaf != tlog.RecordHash(line) {
			t.Errorf("record %d: the leaf hash is not SHA-256(0x00 ‖ line)", seq)
		}
		if err := tlog.CheckRecord(proof, 13, c.Root, seq-1, leaf); err != nil {
			t.Errorf("record %d: %v", seq, err)
		}
		if len(proof) > 0 {
			proof[len(proof)/2][0] ^= 1
			if tlog.CheckRecord(proof, 13, c.Root, seq-1, leaf) == nil {
				t.Errorf("record %d: a flipped proof hash checks", seq)
			}
		}
	}
	for from := int64(1); from < 13; from++ {
		p, err := tr.ProveTree(from, 13)
		if err != nil {
			t.Fatal(err)
		}
		old, _ := tr.Root(from)
		if err := tlog.CheckTree(p, 13, c.Root, from, old); err != nil {
			t.Errorf("consistency %d→13: %v", from, err)
		}
		p[0][0] ^= 1
		if tlog.CheckTree(p, 13, c.Root, from, old) == nil {
			t.Errorf("consistency %d→13: a flipped hash checks", from)
		}
	}
	if org, _ := tr.RecordOrg(2); org != "bank-b" {
		t.Errorf("record 2's org: %q", org)
	}
}

// TestCheckpointsCatchRewrites: checkpoints of a trail fail `audit verify`
// once the trail is edited (even with its hash chain recomputed), cut,
// reordered or has a record removed; they still hold after restarts and a
// torn last line, and a gateway whose checkpoints cover more records than
// its file refuses to start.
func TestCheckpointsCatchRewrites(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.jsonl")
	signer, vkey := noteKeys(t)
	// Three runs of the same origin, the second ending in a torn line.
	for run, n := range []int{5, 4, 6} {
		writeRecords(t, path, n)
		tr, err := OpenTree(path, "mulegate/test", signer)
		if err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
		if ok, err := tr.Checkpoint(fileSize(t, path)); !ok || err != nil {
			t.Fatalf("run %d: checkpoint %v %v", run, ok, err)
		}
		if run == 1 {
			f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0o600)
			_, _ = f.WriteString(`{"seq":99,"time":"2026-`)
			_ = f.Close()
		}
	}
	cps, _ := os.ReadFile(path + ".checkpoints")
	if n, err := VerifyCheckpoints(path, cps, vkey); err != nil || n != 3 {
		t.Fatalf("the untouched trail: %d checkpoints, %v", n, err)
	}
	orig, _ := os.ReadFile(path)
	lines := strings.SplitAfter(string(orig), "\n")
	lines = lines[:len(lines)-1]
	for _, c := range []struct {
		name string
		edit func([]string) []string
	}{
		{"a record edited", func(l []string) []string { l[3] = strings.Replace(l[3], "bank-b", "bank-x", 1); return l }},
		{"two records swapped", func(l []string) []string { l[2], l[3] = l[3], l[2]; return l }},
		{"a record removed", func(l []string) []string { return append(l[:4:4], l[5:]...) }},
		{"the tail cut", func(l []string) []string { return l[:len(l)-2] }},
		{"the head cut", func(l []string) []string { return l[1:] }},
	} {
		edited := c.edit(append([]string{}, lines...))
		p := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "-")+".jsonl")
		if err := os.WriteFile(p, []byte(strings.Join(edited, "")), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := VerifyCheckpoints(p, cps, vkey); err == nil {
			t.Errorf("%s: the checkpoints still verify", c.name)
		}
	}
	_, otherKey := noteKeys(t)
	if _, err := VerifyCheckpoints(path, cps, otherKey); err == nil {
		t.Error("checkpoints verify with another key")
	}
	// The file cut back below a checkpoint: the gateway refuses to start.
	if err := os.WriteFile(path, []byte(strings.Join(lines[:3], "")), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenTree(path, "mulegate/test", signer); err == nil || !strings.Contains(err.Error(), "3") {
		t.Errorf("a trail shorter than its checkpoints opened: %v", err)
	}
}

// TestStoredHashesAreTlogs: the tree's own stored-hash arithmetic
// (addLeaf) gives exactly what tlog.StoredHashes gives, record after
// record, and the same tree hashes, with its hashes spilled to a file
// in chunks of 16 (the tests' chunkLen).
func TestStoredHashesAreTlogs(t *testing.T) {
	ours := newTree(filepath.Join(t.TempDir(), "audit.jsonl"))
	if ours.hashes.file == nil {
		t.Fatal("no spill file")
	}
	var theirs []tlog.Hash
	r := tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(idx))
		for i, x := range idx {
			out[i] = theirs[x]
		}
		return out, nil
	})
	for n := int64(0); n < 300; n++ {
		data := []byte(strings.Repeat("r", int(n%7)) + string(rune('a'+n%26)))
		hs, err := tlog.StoredHashes(n, data, r)
		if err != nil {
			t.Fatal(err)
		}
		theirs = append(theirs, hs...)
		if err := ours.addLeaf(tlog.RecordHash(data)); err != nil {
			t.Fatal(err)
		}
		if last, err := ours.hashes.at(ours.hashes.len() - 1); err != nil || ours.hashes.len() != int64(len(theirs)) || last != theirs[len(theirs)-1] {
			t.Fatalf("record %d: the stored hashes differ from tlog's", n)
		}
		want, _ := tlog.TreeHash(n+1, r)
		if got, _ := ours.Root(n + 1); got != want {
			t.Fatalf("tree of %d: root differs from tlog's", n+1)
		}
	}
}
