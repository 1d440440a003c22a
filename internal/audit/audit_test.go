package audit

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func writeTrail(t *testing.T, path string, n int) {
	t.Helper()
	w, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		mustWrite(t, w, Record{Time: time.Unix(int64(i), 0).UTC(), RequestID: "r", Org: "bank-a", Method: "GET", Route: "/v1/ibans/:iban",
			Action: "lookup", Pseudonyms: []string{"p"}, Purpose: "payment_check", Status: 200})
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

func mustWrite(t *testing.T, w *Writer, r Record) {
	t.Helper()
	if err := w.Write(r); err != nil {
		t.Fatal(err)
	}
}

func lines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSpace(string(b)), "\n")
}

// TestVerifyFindsTheFirstBrokenRecord: an intact trail verifies (also one
// continued by a second writer); deleting, editing or reordering lines is
// found, at the right line.
func TestVerifyFindsTheFirstBrokenRecord(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	writeTrail(t, path, 3)
	writeTrail(t, path, 3) // a restart continues the chain
	good := lines(t, path)
	if n, err := Verify(strings.NewReader(strings.Join(good, "\n"))); err != nil || n != 6 {
		t.Fatalf("intact trail: %d records, %v", n, err)
	}
	for _, tc := range []struct {
		name string
		edit func([]string) []string
		line int
	}{
		{"delete a line", func(l []string) []string { return append(append([]string{}, l[:2]...), l[3:]...) }, 3},
		{"edit a line", func(l []string) []string {
			c := append([]string{}, l...)
			c[3] = strings.Replace(c[3], `"status":200`, `"status":404`, 1)
			return c
		}, 4},
		{"reorder two lines", func(l []string) []string {
			c := append([]string{}, l...)
			c[1], c[2] = c[2], c[1]
			return c
		}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Verify(strings.NewReader(strings.Join(tc.edit(good), "\n")))
			var b *Broken
			if !errors.As(err, &b) || b.Line != tc.line {
				t.Errorf("got %v, want a break at line %d", err, tc.line)
			}
		})
	}
}

// TestWriteAfterClose: a request that outlives the shutdown cannot crash
// the writer; it is told its record was not written.
func TestWriteAfterClose(t *testing.T) {
	t.Parallel()
	w, err := Open(filepath.Join(t.TempDir(), "a.jsonl"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Write(Record{}); !errors.Is(err, ErrClosed) {
		t.Errorf("write after close: %v, want ErrClosed", err)
	}
}

// TestRecordJSONMatchesEncodingJSON: the record written by hand is
// encoding/json's bytes, for records with and without each optional
// field and with strings that need escaping.
func TestRecordJSONMatchesEncodingJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	strs := []string{"", "bank-a", `q"<&>\`, "é\u2028\x01", "\xff", "0123456789abcdef0123456789abcdef"}
	pick := func() string { return strs[r.IntN(len(strs))] }
	list := func() []string {
		out := make([]string, r.IntN(3))
		for n := range out {
			out[n] = pick()
		}
		return out
	}
	for n := range 3000 {
		rec := Record{Log: pick(), Seq: r.Uint64(), Time: time.Unix(r.Int64N(1<<34), r.Int64N(1e9)).In(time.FixedZone("", 3600*r.IntN(3))),
			RequestID: pick(), Org: pick(), OrgType: pick(), Sub: pick(), Thumbprint: pick(), Method: pick(), Route: pick(),
			Action: pick(), ReportID: pick(), Pseudonyms: list(), Purpose: pick(), Status: r.IntN(600) - 1, Risk: list(),
			Count: r.Int64N(3) - 1, Detail: pick(), Prev: pick()}
		want, err := json.Marshal(rec)
		if err != nil {
			t.Fatal(err)
		}
		if got := rec.appendJSON(nil); string(got) != string(want) {
			t.Fatalf("record %d:\n got %s\nwant %s", n, got, want)
		}
	}
}

// failingWriter fails while fail is set, after writing half of what it
// is given (a partial write, as a full disk leaves it).
type failingWriter struct {
	mu   sync.Mutex
	fail bool
	b    strings.Builder
}

func (f *failingWriter) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail {
		return 0, syscall.ENOSPC
	}
	return f.b.Write(p)
}

func (f *failingWriter) set(fail bool) { f.mu.Lock(); f.fail = fail; f.mu.Unlock() }

func (f *failingWriter) String() string { f.mu.Lock(); defer f.mu.Unlock(); return f.b.String() }

// TestWriteIsInTheSinkWhenItReturns (issue 21.3): a record is in the sink
// when Write returns, with no Close and no wait; records stay chained.
func TestWriteIsInTheSinkWhenItReturns(t *testing.T) {
	t.Parallel()
	out := &failingWriter{}
	w := NewWriter(out)
	defer w.Close()
	for n := range 100 {
		mustWrite(t, w, Record{RequestID: "r", Method: "GET", Route: "/v1/ibans/:iban", Action: "lookup", Status: 200})
		if got, err := Verify(strings.NewReader(out.String())); err != nil || got != n+1 {
			t.Fatalf("after Write %d returned the sink holds %d records, %v", n+1, got, err)
		}
	}
}

// TestSinkThatCannotWrite (issue 21.3): a write that fails (disk full) is
// reported to the caller, counted, and breaks the writer (Healthy false)
// without moving the chain on; once the sink can write again a probe
// writes "audit.resumed" with the number of refused requests and the
// chain verifies across the gap.
func TestSinkThatCannotWrite(t *testing.T) {
	t.Parallel()
	out := &failingWriter{}
	w := NewWriter(out)
	defer w.Close()
	mustWrite(t, w, Record{RequestID: "before", Method: "GET", Route: "/", Action: "lookup", Status: 200})
	out.set(true)
	if err := w.Write(Record{RequestID: "lost"}); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("write to a full disk: %v, want ENOSPC", err)
	}
	if w.Healthy() || w.Failed.Load() != 1 || w.Err() == nil {
		t.Fatalf("after a failed write: healthy %v failed %d err %v", w.Healthy(), w.Failed.Load(), w.Err())
	}
	w.Refused.Add(7)
	out.set(false)
	for deadline := time.Now().Add(5 * time.Second); !w.Healthy(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the writer did not resume within 5 s of the sink writing again")
		}
	}
	mustWrite(t, w, Record{RequestID: "after", Method: "GET", Route: "/", Action: "lookup", Status: 200})
	text := out.String()
	if n, err := Verify(strings.NewReader(text)); err != nil || n != 3 {
		t.Fatalf("trail across the gap: %d records, %v\n%s", n, err, text)
	}
	if strings.Contains(text, `"lost"`) || !strings.Contains(text, `"action":"audit.resumed"`) || !strings.Contains(text, `"count":7`) {
		t.Errorf("trail: %s", text)
	}
	if w.Refused.Load() != 7 {
		t.Errorf("Refused = %d after the resume, want 7 (a counter: it only grows)", w.Refused.Load())
	}
}

// TestPartialWriteIsCutBack (issue 21.3): a write that reached the file
// only in part is cut back off, so no torn line is left mid-file.
func TestPartialWriteIsCutBack(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "a.jsonl")
	w, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	mustWrite(t, w, Record{RequestID: "one", Method: "GET", Route: "/", Action: "lookup", Status: 200})
	w.mu.Lock()
	w.out = &halfWriter{f: w.file}
	w.mu.Unlock()
	if err := w.Write(Record{RequestID: "two", Method: "GET", Route: "/", Action: "lookup", Status: 200}); err == nil {
		t.Fatal("a partial write was taken as written")
	}
	w.mu.Lock()
	w.out = w.file
	w.mu.Unlock()
	for deadline := time.Now().Add(5 * time.Second); !w.Healthy(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no resume")
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	if n, err := Verify(strings.NewReader(string(b))); err != nil || n != 2 {
		t.Errorf("after a partial write: %d records, %v\n%s", n, err, b)
	}
}

type halfWriter struct{ f *os.File }

func (h *halfWriter) Write(p []byte) (int, error) {
	n, _ := h.f.Write(p[:len(p)/2])
	return n, syscall.ENOSPC
}

// TestTornLastLineIsMovedAside (issue 21.2): a last line cut off by a
// crash does not stop the writer: it is moved aside to
// <path>.torn-<time>, the file is cut back to its last whole record, and
// the chain goes on with "audit.recovered" naming the bytes.
func TestTornLastLineIsMovedAside(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, torn string }{
		{"cut mid-record", `{"seq":4,"time":"2026-12-03T06:5`},
		{"whole record without its newline", ""}, // filled below
		{"garbage line", "\x00\x00\x00\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "audit.jsonl")
			writeTrail(t, path, 3)
			torn := tc.torn
			if torn == "" {
				ls := lines(t, path)
				torn = strings.Replace(ls[2], `"seq":3`, `"seq":4`, 1) // no newline
			}
			f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
			f.WriteString(torn)
			f.Close()
			w, err := Open(path, nil)
			if err != nil {
				t.Fatalf("a torn trail stopped the writer: %v", err)
			}
			mustWrite(t, w, Record{RequestID: "next", Method: "GET", Route: "/", Action: "lookup", Status: 200})
			w.Close()
			b, _ := os.ReadFile(path)
			if n, err := Verify(strings.NewReader(string(b))); err != nil || n != 5 {
				t.Fatalf("after recovery: %d records, %v\n%s", n, err, b)
			}
			moved, _ := filepath.Glob(path + ".torn-*")
			if len(moved) != 1 {
				t.Fatalf("moved aside: %v", moved)
			}
			if got, _ := os.ReadFile(moved[0]); string(got) != torn {
				t.Errorf("moved aside %q, want %q", got, torn)
			}
			ls := lines(t, path)
			if !strings.Contains(ls[3], `"action":"audit.recovered"`) || !strings.Contains(ls[3], fmt.Sprintf(`"count":%d`, len(torn))) ||
				!strings.Contains(ls[3], filepath.Base(moved[0])) || !strings.Contains(ls[3], `"seq":4`) {
				t.Errorf("recovery record: %s", ls[3])
			}
		})
	}
}

// TestTwoBadLinesAreNotACrash: a crash tears one line; a trail whose last
// two lines are unreadable was edited, and is refused.
func TestTwoBadLinesAreNotACrash(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	writeTrail(t, path, 2)
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString("garbage\n{\"seq\":3")
	f.Close()
	if _, err := Open(path, nil); err == nil || !strings.Contains(err.Error(), "not a crash") {
		t.Errorf("two unreadable last lines: %v, want a refusal", err)
	}
}
