package evidence

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// The trail as a Merkle tree (SPEC Part 3, "A trail that proves it was
// only appended to"): the records of an audit file, in order, are the
// leaves of an RFC 6962 tree (leaf = SHA-256(0x00 ‖ the record's JSON
// line without its newline); golang.org/x/mod/sumdb/tlog keeps it), and
// a signed note of the tree's size and root (a C2SP tlog-checkpoint) is
// appended to <audit file>.checkpoints when the tree grew. The tree is
// the file: it is read from the file, off the request path, and rebuilt
// from it at start, so it continues across restarts and crashes of the
// same origin. Record seq N is leaf N-1.

// Tree is one audit file's Merkle tree and its checkpoints.
type Tree struct {
	origin string
	path   string
	cpPath string

	mu      sync.RWMutex
	signer  note.Signer        // nil: no checkpoints
	hashes  chunked[tlog.Hash] // stored hashes, in tlog's layout
	offsets chunked[int64]     // each record's offset in the file
	n       int64              // records in the tree
	read    int64              // bytes of whole lines read
	latest  []byte             // the latest signed checkpoint
	latestN int64
}

// OpenTree builds the tree of an audit file (it may not exist yet) under
// origin, signing checkpoints with signer (nil: none) into
// path+".checkpoints". A file rotated to by SIGHUP has an origin of its
// own, origin/<n> (Rotated): its checkpoints name it, and OpenTree takes
// it from them, so it is stable across restarts. A checkpoint larger than
// the file's tree means the file lost records the gateway vouched for:
// OpenTree refuses, naming both sizes.
func OpenTree(path, origin string, signer note.Signer) (*Tree, error) {
	t := newTree(path)
	t.origin, t.cpPath, t.signer = origin, path+".checkpoints", signer
	if err := t.CatchUp(-1); err != nil {
		return nil, err
	}
	cps, err := os.ReadFile(t.cpPath)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("evidence: %w", err)
	}
	for _, cp := range SplitCheckpoints(cps) {
		c, err := ParseCheckpoint(cp.Text)
		if err != nil || (c.Origin != origin && !strings.HasPrefix(c.Origin, origin+"/")) {
			continue
		}
		t.origin = c.Origin
		if c.Size > t.n {
			return nil, fmt.Errorf("evidence: %s holds a checkpoint of %d records but %s has %d: the trail lost records it had vouched for",
				t.cpPath, c.Size, path, t.n)
		}
		t.latest, t.latestN = cp.Raw, c.Size
	}
	return t, nil
}

// Signer is the checkpoint key (nil: none).
func (t *Tree) Signer() note.Signer {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.signer
}

// SetSigner replaces the checkpoint key (SIGHUP): later checkpoints are
// signed with it; verifiers need both keys for the checkpoints of the
// same origin.
func (t *Tree) SetSigner(s note.Signer) {
	t.mu.Lock()
	t.signer = s
	t.mu.Unlock()
}

// Origin is the tree's origin.
func (t *Tree) Origin() string {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.origin
}

// Rotated is the origin of the tree after cur's when the trail rotates to
// a new file: base/1, then base/2…
func Rotated(cur, base string) string {
	n := 0
	if rest, ok := strings.CutPrefix(cur, base+"/"); ok {
		n, _ = strconv.Atoi(rest)
	}
	return base + "/" + strconv.Itoa(n+1)
}

// Rename gives a tree without checkpoints its origin (a rotated trail's).
func (t *Tree) Rename(origin string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.latest != nil {
		return fmt.Errorf("evidence: %s already has checkpoints as %s", t.path, t.origin)
	}
	t.origin = origin
	return nil
}

// newTree is the empty tree of the audit file at path, its stored hashes
// and offsets spilling beside the file (chunked.spillTo).
func newTree(path string) *Tree {
	t := &Tree{path: path}
	dir, name := filepath.Dir(path), filepath.Base(path)
	t.hashes.spillTo(dir, name+".tree")
	t.offsets.spillTo(dir, name+".offsets")
	return t
}

// Size is the number of records in the tree.
func (t *Tree) Size() int64 {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.n
}

func (t *Tree) reader() tlog.HashReader {
	return tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(idx))
		for i, x := range idx {
			if x < 0 || x >= t.hashes.len() {
				return nil, fmt.Errorf("evidence: no stored hash %d", x)
			}
			h, err := t.hashes.at(x)
			if err != nil {
				return nil, err
			}
			out[i] = h
		}
		return out, nil
	})
}

// CatchUp adds the whole lines of the file up to limit bytes (-1: all)
// to the tree.
func (t *Tree) CatchUp(limit int64) error {
	f, err := os.Open(t.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("evidence: %w", err)
	}
	defer f.Close()
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, err := f.Seek(t.read, io.SeekStart); err != nil {
		return fmt.Errorf("evidence: %w", err)
	}
	var r io.Reader = f
	if limit >= 0 {
		r = io.LimitReader(f, max(0, limit-t.read))
	}
	br := bufio.NewReaderSize(r, 64<<10)
	var long []byte // a line longer than the buffer, gathered
	for {
		line, err := br.ReadSlice('\n') // no copy: the line is only hashed
		if errors.Is(err, bufio.ErrBufferFull) {
			long = append(long, line...)
			continue
		}
		if err != nil { // EOF or a line not yet whole: it waits for the next catch-up
			return nil
		}
		if long != nil {
			line, long = append(long, line...), nil
		}
		if err := t.addLeaf(tlog.RecordHash(line[:len(line)-1])); err != nil {
			return err
		}
		t.offsets.add(t.read)
		t.read += int64(len(line))
	}
}

// addLeaf appends record t.n's stored hashes: its leaf hash, then the
// root of each subtree it completes, as tlog.StoredHashesForRecordHash
// computes them, without its allocations (the tree grows by one record
// per request).
func (t *Tree) addLeaf(h tlog.Hash) error {
	n := t.n
	// The left siblings first: a read that fails leaves the tree as it was.
	var left [64]tlog.Hash
	k := 0
	for i := 0; (n>>uint(i))&1 == 1; i++ {
		l, err := t.hashes.at(tlog.StoredHashIndex(i, n>>uint(i)-1))
		if err != nil {
			return err
		}
		left[k] = l
		k++
	}
	t.hashes.add(h)
	for _, l := range left[:k] {
		h = tlog.NodeHash(l, h)
		t.hashes.add(h)
	}
	t.n++
	return nil
}

// Root is the tree hash of the first size records.
func (t *Tree) Root(size int64) (tlog.Hash, error) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if size < 0 || size > t.n {
		return tlog.Hash{}, fmt.Errorf("evidence: the tree has %d records, not %d", t.n, size)
	}
	return tlog.TreeHash(size, t.reader())
}

// Checkpoint adds the records synced so far (size bytes of the file) and,
// if the tree grew since the last checkpoint, signs one and appends it
// to the checkpoints file. It reports whether it wrote one.
func (t *Tree) Checkpoint(size int64) (bool, error) {
	if err := t.CatchUp(size); err != nil {
		return false, err
	}
	t.mu.RLock()
	n, last, signer := t.n, t.latestN, t.signer
	t.mu.RUnlock()
	if signer == nil || n == last || n == 0 {
		return false, nil
	}
	root, err := t.Root(n)
	if err != nil {
		return false, err
	}
	msg, err := note.Sign(&note.Note{Text: CheckpointText(t.Origin(), n, root)}, signer)
	if err != nil {
		return false, fmt.Errorf("evidence: sign checkpoint: %w", err)
	}
	f, err := os.OpenFile(t.cpPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return false, fmt.Errorf("evidence: %w", err)
	}
	_, werr := f.Write(append(msg, '\n'))
	serr := f.Sync()
	if err := errors.Join(werr, serr, f.Close()); err != nil {
		return false, fmt.Errorf("evidence: write checkpoint: %w", err)
	}
	t.mu.Lock()
	t.latest, t.latestN = msg, n
	t.mu.Unlock()
	return true, nil
}

// Latest is the latest signed checkpoint (nil: none yet).
func (t *Tree) Latest() []byte {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.latest
}

// ProveRecord is the inclusion proof of record seq in the tree of size
// records, with the record's leaf hash.
func (t *Tree) ProveRecord(seq, size int64) (tlog.Hash, tlog.RecordProof, error) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if seq < 1 || size < seq || size > t.n {
		return tlog.Hash{}, nil, fmt.Errorf("evidence: no record %d in a tree of %d (the tree has %d)", seq, size, t.n)
	}
	leaf, err := t.reader().ReadHashes([]int64{tlog.StoredHashIndex(0, seq-1)})
	if err != nil {
		return tlog.Hash{}, nil, err
	}
	p, err := tlog.ProveRecord(size, seq-1, t.reader())
	return leaf[0], p, err
}

// ProveTree is the consistency proof from the tree of from records to
// the tree of to records.
func (t *Tree) ProveTree(from, to int64) (tlog.TreeProof, error) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if from < 1 || to < from || to > t.n {
		return nil, fmt.Errorf("evidence: no consistency proof from %d to %d (the tree has %d)", from, to, t.n)
	}
	return tlog.ProveTree(to, from, t.reader())
}

// Record reads record seq's line from the file.
func (t *Tree) Record(seq int64) ([]byte, error) {
	t.mu.RLock()
	if seq < 1 || seq > t.n {
		t.mu.RUnlock()
		return nil, fmt.Errorf("evidence: no record %d", seq)
	}
	off, err := t.offsets.at(seq - 1)
	end := t.read
	if err == nil && seq < t.n {
		end, err = t.offsets.at(seq)
	}
	t.mu.RUnlock()
	if err != nil {
		return nil, err
	}
	f, err := os.Open(t.path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	buf := make([]byte, end-off)
	if _, err := f.ReadAt(buf, off); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf, []byte("\n")), nil
}

// RecordOrg is the org of record seq's request ("" for none).
func (t *Tree) RecordOrg(seq int64) (string, error) {
	line, err := t.Record(seq)
	if err != nil {
		return "", err
	}
	var r struct {
		Org string `json:"org"`
	}
	if err := json.Unmarshal(line, &r); err != nil {
		return "", fmt.Errorf("evidence: record %d: %w", seq, err)
	}
	return r.Org, nil
}

// CheckpointText is a C2SP tlog-checkpoint body: origin, size, root.
func CheckpointText(origin string, size int64, root tlog.Hash) string {
	return origin + "\n" + strconv.FormatInt(size, 10) + "\n" + base64.StdEncoding.EncodeToString(root[:]) + "\n"
}

// Checkpoint is a parsed checkpoint body.
type Checkpoint struct {
	Origin string
	Size   int64
	Root   tlog.Hash
}

// ParseCheckpoint reads a checkpoint body (its first three lines).
func ParseCheckpoint(text string) (Checkpoint, error) {
	lines := strings.SplitN(text, "\n", 4)
	if len(lines) < 4 {
		return Checkpoint{}, errors.New("a checkpoint has an origin, a size and a root hash")
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || size < 0 {
		return Checkpoint{}, fmt.Errorf("checkpoint size %q", lines[1])
	}
	raw, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(raw) != tlog.HashSize {
		return Checkpoint{}, fmt.Errorf("checkpoint root %q", lines[2])
	}
	c := Checkpoint{Origin: lines[0], Size: size}
	copy(c.Root[:], raw)
	return c, nil
}

// SignedCheckpoint is one signed note of a checkpoints file: its bytes
// and its body.
type SignedCheckpoint struct {
	Raw  []byte
	Text string
}

// SplitCheckpoints splits a checkpoints file into its signed notes: each
// is a body of three lines, a blank line and its signature lines, and
// notes are separated by a blank line.
func SplitCheckpoints(b []byte) []SignedCheckpoint {
	var out []SignedCheckpoint
	for len(b) > 0 {
		end := bytes.Index(b, []byte("\n\n"))
		if end < 0 {
			break
		}
		body := b[:end+1]
		rest := b[end+2:]
		sigEnd := bytes.Index(rest, []byte("\n\n"))
		if sigEnd < 0 {
			sigEnd = len(rest)
		} else {
			sigEnd++
		}
		raw := append(append([]byte{}, b[:end+2]...), rest[:sigEnd]...)
		out = append(out, SignedCheckpoint{Raw: raw, Text: string(body)})
		b = bytes.TrimLeft(rest[sigEnd:], "\n")
	}
	return out
}

// VerifyCheckpoints checks every checkpoint of a checkpoints file
// against an audit file: each is signed by the key vkey names (a
// signed-note verifier key) and its root is the tree hash of the file's
// first size records. It returns how many it checked; an edited,
// reordered, removed or truncated record fails the first checkpoint
// that covers it.
func VerifyCheckpoints(auditPath string, checkpoints []byte, vkey string) (int, error) {
	v, err := note.NewVerifier(strings.TrimSpace(vkey))
	if err != nil {
		return 0, fmt.Errorf("the note key: %w", err)
	}
	t := newTree(auditPath)
	if err := t.CatchUp(-1); err != nil {
		return 0, err
	}
	cps := SplitCheckpoints(checkpoints)
	if len(cps) == 0 {
		return 0, errors.New("no checkpoint in the checkpoints file")
	}
	for n, cp := range cps {
		if _, err := note.Open(cp.Raw, note.VerifierList(v)); err != nil {
			return n, fmt.Errorf("checkpoint %d: not signed by %s: %w", n+1, v.Name(), err)
		}
		c, err := ParseCheckpoint(cp.Text)
		if err != nil {
			return n, fmt.Errorf("checkpoint %d: %w", n+1, err)
		}
		if c.Size > t.n {
			return n, fmt.Errorf("checkpoint %d covers %d records, the file has %d: records were removed or cut off", n+1, c.Size, t.n)
		}
		root, err := t.Root(c.Size)
		if err != nil {
			return n, err
		}
		if root != c.Root {
			return n, fmt.Errorf("checkpoint %d: the file's first %d records do not hash to its root: a record was edited, removed or reordered", n+1, c.Size)
		}
	}
	return len(cps), nil
}

// Proof is an inclusion proof as GET /v1/evidence/proof answers it.
type Proof struct {
	Origin   string   `json:"origin"`
	Seq      int64    `json:"seq"`
	TreeSize int64    `json:"tree_size"`
	LeafHash string   `json:"leaf_hash"`
	Proof    []string `json:"proof"`
}

// NewProof is the Proof of record seq in the tree of size records: the
// one shape the API, `mulegate audit prove` and VerifyInclusion share.
func NewProof(origin string, seq, size int64, leaf tlog.Hash, p tlog.RecordProof) Proof {
	return Proof{Origin: origin, Seq: seq, TreeSize: size, LeafHash: base64.StdEncoding.EncodeToString(leaf[:]), Proof: HashesB64(p)}
}

// HashesB64 are hashes in standard base64, as the proofs carry them.
func HashesB64(hs []tlog.Hash) []string {
	out := make([]string, len(hs))
	for n, h := range hs {
		out[n] = base64.StdEncoding.EncodeToString(h[:])
	}
	return out
}

// VerifyInclusion checks, offline, that an audit record (its JSON line)
// is record proof.Seq of the tree a signed checkpoint vouches for: the
// checkpoint is signed by vkey, names the proof's origin and size, and
// the proof leads from the line's leaf hash to its root.
func VerifyInclusion(line []byte, p Proof, checkpoint []byte, vkey string) (Checkpoint, error) {
	v, err := note.NewVerifier(strings.TrimSpace(vkey))
	if err != nil {
		return Checkpoint{}, fmt.Errorf("the note key: %w", err)
	}
	n, err := note.Open(checkpoint, note.VerifierList(v))
	if err != nil {
		return Checkpoint{}, fmt.Errorf("the checkpoint is not signed by %s: %w", v.Name(), err)
	}
	c, err := ParseCheckpoint(n.Text)
	if err != nil {
		return c, err
	}
	if c.Origin != p.Origin || c.Size != p.TreeSize {
		return c, fmt.Errorf("the proof is for %s at %d records, the checkpoint %s at %d", p.Origin, p.TreeSize, c.Origin, c.Size)
	}
	var rec struct {
		Seq int64 `json:"seq"`
	}
	if err := json.Unmarshal(line, &rec); err != nil || rec.Seq != p.Seq {
		return c, fmt.Errorf("the record is seq %d, the proof is for %d", rec.Seq, p.Seq)
	}
	leaf := tlog.RecordHash(line)
	if base64.StdEncoding.EncodeToString(leaf[:]) != p.LeafHash {
		return c, errors.New("the record's leaf hash is not the proof's: the record differs from the one in the trail")
	}
	proof := make(tlog.RecordProof, len(p.Proof))
	for i, h := range p.Proof {
		raw, err := base64.StdEncoding.DecodeString(h)
		if err != nil || len(raw) != tlog.HashSize {
			return c, fmt.Errorf("proof hash %d is not a base64 SHA-256", i)
		}
		copy(proof[i][:], raw)
	}
	if err := tlog.CheckRecord(proof, c.Size, c.Root, p.Seq-1, leaf); err != nil {
		return c, fmt.Errorf("the proof does not lead to the checkpoint's root: %w", err)
	}
	return c, nil
}
