// Package audit is mulegate's accountability trail: one record per /v1
// request (who, with which certificate, did what, about which IBAN
// pseudonyms, for which declared purpose, with which answer), written as
// JSON lines to a sink of its own and chained by SHA-256 so that a removed,
// edited or reordered record is detected (Verify). It never holds a
// plaintext IBAN. It imports the standard library and internal/jsonw only.
package audit

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mulegate/mulegate/internal/jsonw"
)

// Record is one audited request. Seq, Prev and Hash are set by the
// writer.
type Record struct {
	Log        string    `json:"log,omitempty"` // "audit" on stdout, to tell it from the operational log
	Seq        uint64    `json:"seq"`
	Time       time.Time `json:"time"`
	RequestID  string    `json:"request_id"`
	Org        string    `json:"org,omitempty"`
	OrgType    string    `json:"org_type,omitempty"`
	Sub        string    `json:"sub,omitempty"`
	Thumbprint string    `json:"cert_thumbprint,omitempty"`
	Method     string    `json:"method"`
	Route      string    `json:"route"`
	Action     string    `json:"action"`
	ReportID   string    `json:"report_id,omitempty"`
	Pseudonyms []string  `json:"ibans,omitempty"` // keyed pseudonyms, never IBANs
	Purpose    string    `json:"purpose"`
	// Actor is the person at the org's keyboard (X-Actor, e.g. the
	// console's user), absent when the caller named none.
	Actor  string   `json:"actor,omitempty"`
	Status int      `json:"status"`
	Risk   []string `json:"risk,omitempty"` // for lookups: the risk answered, per IBAN
	// Count and Detail describe records about the trail or about many
	// requests: "audit.recovered" (bytes moved aside), "audit.resumed"
	// (requests refused while the sink was broken), "refused.suppressed"
	// (refused requests of one certificate in one second).
	Count  int64  `json:"count,omitempty"`
	Detail string `json:"detail,omitempty"`
	// BodySHA256 is, for a signed answer, the SHA-256 (hex) of the body
	// that was signed.
	BodySHA256 string `json:"body_sha256,omitempty"`
	Prev       string `json:"prev"`
}

// appendJSON writes the record as encoding/json would, without
// reflection (a record is written for every request).
func (r Record) appendJSON(b []byte) []byte {
	str := func(name, v string, omitEmpty bool) {
		if v == "" && omitEmpty {
			return
		}
		b = jsonw.AppendString(append(append(append(b, ',', '"'), name...), '"', ':'), v)
	}
	b = append(b, '{')
	if r.Log != "" {
		b = jsonw.AppendString(append(b, `"log":`...), r.Log)
		b = append(b, ',')
	}
	b = strconv.AppendUint(append(b, `"seq":`...), r.Seq, 10)
	if y := r.Time.Year(); y >= 0 && y <= 9999 {
		b = append(r.Time.AppendFormat(append(b, `,"time":"`...), time.RFC3339Nano), '"')
	} else if t, err := r.Time.MarshalJSON(); err == nil {
		b = append(append(b, `,"time":`...), t...)
	} else {
		b = append(b, `,"time":null`...) // a year past 9999: encoding/json would fail the record
	}
	str("request_id", r.RequestID, false)
	str("org", r.Org, true)
	str("org_type", r.OrgType, true)
	str("sub", r.Sub, true)
	str("cert_thumbprint", r.Thumbprint, true)
	str("method", r.Method, false)
	str("route", r.Route, false)
	str("action", r.Action, false)
	str("report_id", r.ReportID, true)
	if len(r.Pseudonyms) > 0 {
		b = jsonw.AppendStrings(append(b, `,"ibans":`...), r.Pseudonyms)
	}
	str("purpose", r.Purpose, false)
	str("actor", r.Actor, true)
	b = strconv.AppendInt(append(b, `,"status":`...), int64(r.Status), 10)
	if len(r.Risk) > 0 {
		b = jsonw.AppendStrings(append(b, `,"risk":`...), r.Risk)
	}
	if r.Count != 0 {
		b = strconv.AppendInt(append(b, `,"count":`...), r.Count, 10)
	}
	str("detail", r.Detail, true)
	str("body_sha256", r.BodySHA256, true)
	str("prev", r.Prev, false)
	return append(b, '}')
}

// Purposes are the accepted X-Purpose values; absent is "unspecified".
var Purposes = []string{"payment_check", "onboarding", "investigation", "monitoring", "other"}

// ValidPurpose reports whether p is an accepted X-Purpose.
func ValidPurpose(p string) bool {
	for _, k := range Purposes {
		if p == k {
			return true
		}
	}
	return false
}

// appendLine appends a record's JSON line with its hash to b: the hash is
// SHA-256 over the previous record's hash and the record's own bytes, so
// it covers the exact line that is written.
func appendLine(b []byte, h hash.Hash, r Record) ([]byte, string) {
	start := len(b)
	b = r.appendJSON(b)
	end := len(b)
	b = append(b, r.Prev...) // hashed first, from b's spare room (no copy per record); cut off below
	h.Reset()
	h.Write(b[end:])
	h.Write(b[start:end])
	b = b[:end]
	var sum [sha256.Size]byte
	var hexSum [2 * sha256.Size]byte
	hex.Encode(hexSum[:], h.Sum(sum[:0]))
	b = append(append(append(b[:len(b)-1], `,"hash":"`...), hexSum[:]...), "\"}\n"...)
	return b, string(hexSum[:])
}

// Writer appends records to a sink, in order, chaining each to the one
// before. Write returns only once the record is in the sink (written,
// not yet synced): the API calls it before a response leaves, so a
// process killed at any moment has a record of every request it
// answered. A file sink is fsync'd at least every second and on Close,
// so a crash of the machine loses at most the last second.
//
// A record that cannot be written (disk full, an I/O error) is cut back
// off the file (no torn line is left mid-file), and the Writer is broken:
// Healthy is false, the API refuses new requests with 503 and /readyz
// says so, until a probe every second writes an "audit.resumed" record
// (with the count of requests refused meanwhile).
type Writer struct {
	stdout bool
	stop   chan struct{} // closed by Close
	done   chan struct{}

	Written atomic.Int64 // records written
	Failed  atomic.Int64 // records that could not be written
	Refused atomic.Int64 // requests refused while the sink was broken (only grows)
	broken  atomic.Bool
	dirty   atomic.Bool // written to the file since its last fsync

	// syncMu orders Sync's fsyncs; synced is how many bytes of
	// syncedFile the last one covered.
	syncMu     sync.Mutex
	syncedFile *os.File
	synced     int64

	mu     sync.Mutex
	out    io.Writer
	file   *os.File // nil for stdout
	size   int64    // bytes of whole records in the file
	seq    uint64
	prev   string
	h      hash.Hash
	buf    []byte
	closed bool
	err    error // the last write error while broken
	// refusedAtResume is Refused when the sink last resumed: the next
	// audit.resumed record counts the refusals since.
	refusedAtResume int64
}

// ErrClosed is Write's answer after Close.
var ErrClosed = errors.New("audit: the trail is closed")

// Open appends to path (created if needed), continuing the chain of the
// records already there; "" or "-" writes to stdout instead. A last line
// cut off by a crash is moved aside first (see recoverTorn), and the
// chain goes on with an "audit.recovered" record naming it.
func Open(path string, stdout io.Writer) (*Writer, error) {
	if path == "" || path == "-" {
		return newWriter(stdout, nil, 0, "", 0, true), nil
	}
	seq, prev, size, torn, err := recoverTorn(path, time.Now())
	if err != nil {
		return nil, fmt.Errorf("audit.path: %w", err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit.path: %w", err)
	}
	w := newWriter(f, f, seq, prev, size, false)
	if torn.Bytes > 0 {
		err := w.Write(Record{Time: time.Now().UTC(), Action: "audit.recovered", Method: "-", Route: "-", Purpose: "-",
			Count: int64(torn.Bytes), Detail: fmt.Sprintf("moved %d bytes of a torn last record aside to %s", torn.Bytes, filepath.Base(torn.File))})
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("audit.path: %w", err)
		}
	}
	return w, nil
}

// Rotate moves the trail to another file (SIGHUP with a new audit.path):
// the current file is synced and closed, and records go on in path,
// continuing its own chain (a new file starts one). Records written
// before Rotate returns are in the old file, those after in the new one.
func (w *Writer) Rotate(path string) error {
	if w.stdout || path == "" || path == "-" {
		return errors.New("audit: only a file trail rotates, to a file")
	}
	seq, prev, size, torn, err := recoverTorn(path, time.Now())
	if err != nil {
		return fmt.Errorf("audit.path: %w", err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("audit.path: %w", err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		f.Close()
		return ErrClosed
	}
	old := w.file
	if err := old.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("audit: sync before rotating: %w", err)
	}
	w.out, w.file, w.seq, w.prev, w.size = f, f, seq, prev, size
	_ = old.Close()
	if torn.Bytes > 0 {
		return w.writeLocked(Record{Time: time.Now().UTC(), Action: "audit.recovered", Method: "-", Route: "-", Purpose: "-",
			Count: int64(torn.Bytes), Detail: fmt.Sprintf("moved %d bytes of a torn last record aside to %s", torn.Bytes, filepath.Base(torn.File))})
	}
	return nil
}

// NewWriter writes to out (a test's sink, or any io.Writer) as Open does
// to a file, starting a new chain.
func NewWriter(out io.Writer) *Writer { return newWriter(out, nil, 0, "", 0, false) }

func newWriter(out io.Writer, f *os.File, seq uint64, prev string, size int64, stdout bool) *Writer {
	w := &Writer{out: out, file: f, seq: seq, prev: prev, size: size, stdout: stdout, h: sha256.New(),
		stop: make(chan struct{}), done: make(chan struct{})}
	go w.run()
	return w
}

// Write appends r to the trail and returns once it is in the sink. An
// error means it is not: the caller must not answer as if it were.
func (w *Writer) Write(r Record) error {
	_, err := w.WriteSeq(r)
	return err
}

// WriteSeq is Write, and says which sequence number the record got.
func (w *Writer) WriteSeq(r Record) (uint64, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return 0, ErrClosed
	}
	if err := w.writeLocked(r); err != nil {
		return 0, err
	}
	return w.seq, nil
}

// Sync writes the file to disk now and returns the records and bytes
// synced (every whole record written so far). A signed answer leaves
// only after it (its record must exist whatever happens next), and a
// checkpoint covers only what it synced. Stdout and test sinks sync
// nothing.
//
// The fsync runs outside the writer's lock, so requests are not held up
// by it, and concurrent callers share one (group commit): a caller that
// waited while another synced past its records returns without syncing.
func (w *Writer) Sync() (records uint64, size int64, err error) {
	w.mu.Lock()
	f, records, size := w.file, w.seq, w.size
	w.mu.Unlock()
	if f == nil {
		return records, size, nil
	}
	w.syncMu.Lock()
	defer w.syncMu.Unlock()
	if w.syncedFile == f && w.synced >= size {
		return records, size, nil
	}
	w.mu.Lock()
	upTo := w.size // everything written now is covered by the fsync below
	w.mu.Unlock()
	if err := f.Sync(); err != nil {
		return 0, 0, fmt.Errorf("audit: sync: %w", err)
	}
	w.syncedFile, w.synced = f, upTo
	return records, size, nil
}

func (w *Writer) writeLocked(r Record) error {
	r.Seq, r.Prev = w.seq+1, w.prev
	if w.stdout {
		r.Log = "audit"
	}
	var sum string
	w.buf, sum = appendLine(w.buf[:0], w.h, r)
	n, err := w.out.Write(w.buf)
	if err == nil && n != len(w.buf) {
		err = io.ErrShortWrite
	}
	if err != nil {
		if w.file != nil && n > 0 {
			// Cut the partial line back off: the chain continues from the
			// last whole record once the sink can write again.
			_ = w.file.Truncate(w.size)
		}
		w.err = err
		w.broken.Store(true)
		w.Failed.Add(1)
		return fmt.Errorf("audit: write: %w", err)
	}
	w.seq, w.prev, w.size = r.Seq, sum, w.size+int64(n)
	if cap(w.buf) > 64<<10 {
		w.buf = nil // a large batch lookup's record: do not keep its buffer
	}
	w.dirty.Store(w.file != nil)
	w.Written.Add(1)
	return nil
}

// Healthy is false while the sink cannot write.
func (w *Writer) Healthy() bool { return !w.broken.Load() }

// Err is the write error that broke the sink (nil when healthy).
func (w *Writer) Err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.broken.Load() {
		return nil
	}
	return w.err
}

// run syncs the file every second, and while the sink is broken probes
// it with an "audit.resumed" record.
func (w *Writer) run() {
	defer close(w.done)
	every := time.NewTicker(time.Second)
	defer every.Stop()
	for {
		select {
		case <-w.stop:
			return
		case <-every.C:
		}
		if w.dirty.Swap(false) {
			w.mu.Lock()
			f := w.file // Rotate may swap it; a file closed meanwhile was synced by Rotate
			w.mu.Unlock()
			_ = f.Sync()
		}
		if w.broken.Load() {
			w.probe()
		}
	}
}

func (w *Writer) probe() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed || !w.broken.Load() {
		return
	}
	refused := w.Refused.Load()
	err := w.writeLocked(Record{Time: time.Now().UTC(), Action: "audit.resumed", Method: "-", Route: "-", Purpose: "-",
		Count: refused - w.refusedAtResume, Detail: "the trail can be written again; count is the requests refused (503) meanwhile"})
	if err == nil {
		w.refusedAtResume = refused
		w.broken.Store(false)
		w.err = nil
	}
}

// Close syncs and closes the file; later writes get ErrClosed.
func (w *Writer) Close() error {
	w.mu.Lock()
	already := w.closed
	w.closed = true
	w.mu.Unlock()
	if !already {
		close(w.stop)
	}
	<-w.done
	if w.file == nil || already {
		return nil
	}
	serr := w.file.Sync()
	return errors.Join(serr, w.file.Close())
}

// Torn is what recoverTorn moved aside.
type Torn struct {
	File  string
	Bytes int
}

// tailWindow bounds how much of a trail's end recoverTorn reads: two of
// the largest records (a batch lookup of 1000 IBANs is about 70 KiB).
const tailWindow = 4 << 20

// recoverTorn reads the last record of an existing trail, so the chain
// goes on from it. A last line that is not a whole record (a crash cut it
// off mid-write, or a partial write left it) is moved aside to
// "<path>.torn-<time>" and the file is cut back to the record before it:
// a torn trail never stops the gateway. A line before that which is not a
// record either is not a crash's doing: it is refused.
func recoverTorn(path string, now time.Time) (seq uint64, prev string, size int64, torn Torn, err error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if errors.Is(err, os.ErrNotExist) {
		return 0, "", 0, Torn{}, nil
	}
	if err != nil {
		return 0, "", 0, Torn{}, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, "", 0, Torn{}, err
	}
	if !st.Mode().IsRegular() {
		return 0, "", 0, Torn{}, fmt.Errorf("%s is not a regular file", path)
	}
	size = st.Size()
	from := max(0, size-tailWindow)
	buf := make([]byte, size-from)
	if _, err := f.ReadAt(buf, from); err != nil && !errors.Is(err, io.EOF) {
		return 0, "", 0, Torn{}, err
	}
	// The last line, and where it starts.
	body := buf
	cut := len(body)
	if n := len(body); n > 0 && body[n-1] == '\n' {
		body = body[:n-1]
	}
	start := bytes.LastIndexByte(body, '\n') + 1
	if start == 0 && from > 0 {
		return 0, "", 0, Torn{}, fmt.Errorf("the last line of %s is longer than %d bytes", path, tailWindow)
	}
	last := body[start:]
	if len(bytes.TrimSpace(last)) == 0 {
		return 0, "", size, Torn{}, nil
	}
	if s, h, ok := recordHead(last); ok && len(buf) > 0 && buf[len(buf)-1] == '\n' {
		return s, h, size, Torn{}, nil
	}
	// Torn: the record before it must be whole (a crash tears one line),
	// then the last line is moved aside and the file cut back before it.
	var pseq uint64
	var phash string
	if before := bytes.TrimRight(body[:start], "\n"); len(before) > 0 {
		var ok bool
		if pseq, phash, ok = recordHead(before[bytes.LastIndexByte(before, '\n')+1:]); !ok {
			return 0, "", 0, Torn{}, fmt.Errorf("the record of %s before its torn last line is not readable either: not a crash's doing; check the file (mulegate audit verify)", path)
		}
	} else if from > 0 {
		return 0, "", 0, Torn{}, fmt.Errorf("the record before the torn line of %s is beyond %d bytes", path, tailWindow)
	}
	torn = Torn{File: path + ".torn-" + now.UTC().Format("20060102T150405.000000000Z"), Bytes: cut - start}
	if err := os.WriteFile(torn.File, buf[start:cut], 0o600); err != nil {
		return 0, "", 0, Torn{}, fmt.Errorf("moving a torn last record aside: %w", err)
	}
	size = from + int64(start)
	if err := f.Truncate(size); err != nil {
		return 0, "", 0, Torn{}, fmt.Errorf("cutting a torn last record off: %w", err)
	}
	if err := f.Sync(); err != nil {
		return 0, "", 0, Torn{}, err
	}
	return pseq, phash, size, torn, nil
}

// recordHead reads a record line's seq and hash.
func recordHead(line []byte) (uint64, string, bool) {
	var r struct {
		Seq  uint64 `json:"seq"`
		Hash string `json:"hash"`
	}
	if err := json.Unmarshal(line, &r); err != nil || len(r.Hash) != 64 {
		return 0, "", false
	}
	return r.Seq, r.Hash, true
}

// Broken is the first record that breaks the chain.
type Broken struct {
	Line int    // 1-based line number in the file
	Seq  uint64 // the seq it carries (0 if unreadable)
	Why  string
}

func (b *Broken) Error() string {
	return fmt.Sprintf("line %d (seq %d): %s", b.Line, b.Seq, b.Why)
}

// Verify reads a trail and checks every record: its hash covers its own
// bytes and the previous hash, and seq goes up by one. It returns the
// number of records and, at the first break, a *Broken naming the line.
// A trail may start anywhere (a rotated file): the first record's prev
// and seq are taken as given.
func Verify(r io.Reader) (int, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	n, lineNo := 0, 0
	var prevHash string
	var prevSeq uint64
	for sc.Scan() {
		lineNo++
		raw := sc.Bytes()
		if len(bytes.TrimSpace(raw)) == 0 {
			continue
		}
		var head struct {
			Seq  uint64 `json:"seq"`
			Prev string `json:"prev"`
			Hash string `json:"hash"`
		}
		if err := json.Unmarshal(raw, &head); err != nil {
			return n, &Broken{Line: lineNo, Why: "not a JSON record"}
		}
		suffix := []byte(`,"hash":"` + head.Hash + `"}`)
		if !bytes.HasSuffix(raw, suffix) || len(head.Hash) != 64 {
			return n, &Broken{Line: lineNo, Seq: head.Seq, Why: "the hash is missing or not last"}
		}
		body := append(append([]byte{}, raw[:len(raw)-len(suffix)]...), '}')
		h := sha256.New()
		h.Write([]byte(head.Prev))
		h.Write(body)
		if hex.EncodeToString(h.Sum(nil)) != head.Hash {
			return n, &Broken{Line: lineNo, Seq: head.Seq, Why: "the record was changed (its hash does not match)"}
		}
		if n > 0 && head.Prev != prevHash {
			return n, &Broken{Line: lineNo, Seq: head.Seq, Why: "it does not follow the record before it (a record was removed or moved)"}
		}
		if n > 0 && head.Seq != prevSeq+1 {
			return n, &Broken{Line: lineNo, Seq: head.Seq, Why: fmt.Sprintf("seq %d follows %d", head.Seq, prevSeq)}
		}
		prevHash, prevSeq = head.Hash, head.Seq
		n++
	}
	return n, sc.Err()
}
