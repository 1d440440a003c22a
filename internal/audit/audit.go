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
	Status     int       `json:"status"`
	Risk       []string  `json:"risk,omitempty"` // for lookups: the risk answered, per IBAN
	Prev       string    `json:"prev"`
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
	if t, err := r.Time.MarshalJSON(); err == nil {
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
	b = strconv.AppendInt(append(b, `,"status":`...), int64(r.Status), 10)
	if len(r.Risk) > 0 {
		b = jsonw.AppendStrings(append(b, `,"risk":`...), r.Risk)
	}
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
	h.Reset()
	h.Write([]byte(r.Prev))
	h.Write(b[start:])
	var sum [sha256.Size]byte
	hexSum := hex.EncodeToString(h.Sum(sum[:0]))
	b = append(append(append(b[:len(b)-1], `,"hash":"`...), hexSum...), "\"}\n"...)
	return b, hexSum
}

// Writer appends records to a sink from one goroutine, in order, chaining
// each to the one before. Write never blocks a request: records wait in a
// bounded queue, and one that does not fit is dropped and counted (a
// metric that must stay 0). The first record into an empty queue wakes
// the writer, which takes what has come batchEvery later and writes it
// with one write call, so the trail costs a request no wake-up and no
// syscall of its own. A file sink is fsync'd at least every second and
// on Close. A crash of the process loses at most the last batchEvery of
// records, a crash of the machine the last second.
type Writer struct {
	out     io.Writer
	file    *os.File // nil for stdout
	stdout  bool
	limit   int // queue size
	seq     uint64
	prev    string
	done    chan struct{}
	stop    chan struct{} // closed by Close
	kick    chan struct{} // a record came into an empty queue
	Written atomic.Int64
	Dropped atomic.Int64

	mu      sync.Mutex
	pending []Record
	closed  bool
}

// batchEvery is how long the writer lets a batch gather after its first
// record before it writes the batch.
const batchEvery = 20 * time.Millisecond

// Open appends to path (created if needed), continuing the chain of the
// records already there; "" or "-" writes to stdout instead.
func Open(path string, stdout io.Writer, queue int) (*Writer, error) {
	w := &Writer{limit: queue, done: make(chan struct{}), stop: make(chan struct{}), kick: make(chan struct{}, 1)}
	if path == "" || path == "-" {
		w.out, w.stdout = stdout, true
	} else {
		seq, prev, err := tail(path)
		if err != nil {
			return nil, fmt.Errorf("audit.path: %w", err)
		}
		f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			return nil, fmt.Errorf("audit.path: %w", err)
		}
		w.out, w.file, w.seq, w.prev = f, f, seq, prev
	}
	go w.run()
	return w, nil
}

// tail reads the last record of an existing file: the chain goes on from it.
func tail(path string) (uint64, string, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, "", nil
	}
	if err != nil {
		return 0, "", err
	}
	defer f.Close()
	var last []byte
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) > 0 {
			last = append(last[:0], sc.Bytes()...)
		}
	}
	if err := sc.Err(); err != nil || last == nil {
		return 0, "", err
	}
	var r struct {
		Seq  uint64 `json:"seq"`
		Hash string `json:"hash"`
	}
	if err := json.Unmarshal(last, &r); err != nil {
		return 0, "", fmt.Errorf("the last record of %s is not readable: %w", path, err)
	}
	return r.Seq, r.Hash, nil
}

// Write queues a record; false when the queue is full (dropped) or the
// writer is closed (a request that outlived the shutdown).
func (w *Writer) Write(r Record) bool {
	w.mu.Lock()
	ok := !w.closed && len(w.pending) < w.limit
	if ok {
		w.pending = append(w.pending, r)
		if len(w.pending) == 1 {
			select {
			case w.kick <- struct{}{}:
			default:
			}
		}
	}
	w.mu.Unlock()
	if !ok {
		w.Dropped.Add(1)
	}
	return ok
}

func (w *Writer) run() {
	defer close(w.done)
	every := time.NewTicker(time.Second)
	defer every.Stop()
	h := sha256.New()
	var buf []byte
	var batch []Record
	dirty := false // written to the file since its last fsync
	for {
		stopping := false
		select {
		case <-w.stop:
			stopping = true
		case <-every.C:
			if dirty {
				_ = w.file.Sync()
				dirty = false
			}
			continue
		case <-w.kick: // the first record of a batch: take what comes with it
			select {
			case <-w.stop:
				stopping = true
			case <-time.After(batchEvery):
			}
		}
		w.mu.Lock()
		batch, w.pending = w.pending, batch[:0]
		w.mu.Unlock()
		buf = buf[:0]
		for i := range batch {
			r := &batch[i]
			w.seq++
			r.Seq, r.Prev = w.seq, w.prev
			if w.stdout {
				r.Log = "audit"
			}
			buf, w.prev = appendLine(buf, h, *r)
			*r = Record{} // let the request's strings go
		}
		if len(buf) > 0 {
			_, _ = w.out.Write(buf)
			w.Written.Add(int64(len(batch)))
			dirty = w.file != nil
		}
		if stopping {
			if dirty {
				_ = w.file.Sync()
			}
			return
		}
	}
}

// Close writes what is queued, syncs and closes the file.
func (w *Writer) Close() error {
	w.mu.Lock()
	if !w.closed {
		w.closed = true
		close(w.stop)
	}
	w.mu.Unlock()
	<-w.done
	if w.file != nil {
		return w.file.Close()
	}
	return nil
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
