package audit

import (
	"encoding/json"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func writeTrail(t *testing.T, path string, n int) {
	t.Helper()
	w, err := Open(path, nil, 100)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		w.Write(Record{Time: time.Unix(int64(i), 0).UTC(), RequestID: "r", Org: "bank-a", Method: "GET", Route: "/v1/ibans/:iban",
			Action: "lookup", Pseudonyms: []string{"p"}, Purpose: "payment_check", Status: 200})
	}
	if err := w.Close(); err != nil {
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

// TestFullQueueDrops: a writer whose queue is full drops and counts,
// never blocks.
func TestFullQueueDrops(t *testing.T) {
	t.Parallel()
	w := &Writer{limit: 1, kick: make(chan struct{}, 1)}
	w.Write(Record{})
	if w.Write(Record{}) || w.Dropped.Load() != 1 {
		t.Errorf("a full queue: dropped %d", w.Dropped.Load())
	}
}

// TestWriteAfterClose: a request that outlives the shutdown cannot crash
// the writer; its record is counted as dropped.
func TestWriteAfterClose(t *testing.T) {
	t.Parallel()
	w, err := Open(filepath.Join(t.TempDir(), "a.jsonl"), nil, 10)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if w.Write(Record{}) || w.Dropped.Load() != 1 {
		t.Errorf("write after close: dropped %d", w.Dropped.Load())
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
			Action: pick(), ReportID: pick(), Pseudonyms: list(), Purpose: pick(), Status: r.IntN(600) - 1, Risk: list(), Prev: pick()}
		want, err := json.Marshal(rec)
		if err != nil {
			t.Fatal(err)
		}
		if got := rec.appendJSON(nil); string(got) != string(want) {
			t.Fatalf("record %d:\n got %s\nwant %s", n, got, want)
		}
	}
}

// countingWriter counts the write calls that reach the sink.
type countingWriter struct {
	mu     sync.Mutex
	calls  int
	buffer strings.Builder
}

func (c *countingWriter) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls++
	return c.buffer.Write(p)
}

// TestRecordsAreWrittenInBatches: records reach the sink without Close,
// soon, many to a write call (not one syscall per request), and chained.
func TestRecordsAreWrittenInBatches(t *testing.T) {
	t.Parallel()
	out := &countingWriter{}
	w, err := Open("-", out, 10000)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	const n = 1000
	for range n {
		w.Write(Record{RequestID: "r", Method: "GET", Route: "/v1/ibans/:iban", Action: "lookup", Status: 200})
	}
	for deadline := time.Now().Add(5 * time.Second); w.Written.Load() < n; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d records written after 5 s", w.Written.Load(), n)
		}
	}
	out.mu.Lock()
	calls, text := out.calls, out.buffer.String()
	out.mu.Unlock()
	if calls > n/10 {
		t.Errorf("%d records took %d write calls", n, calls)
	}
	if got, err := Verify(strings.NewReader(text)); err != nil || got != n {
		t.Errorf("the batch verifies as %d records, %v", got, err)
	}
}
