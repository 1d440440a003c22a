package evidence

import (
	"path/filepath"
	"testing"
)

// BenchmarkTreeCatchUp is the tree's cost per audit record (read from the
// file, leaf and stored hashes): CPU the gateway spends off the request
// path for every request.
//
//	go test ./internal/evidence -run '^$' -bench TreeCatchUp -benchtime 5x
func BenchmarkTreeCatchUp(b *testing.B) {
	path := filepath.Join(b.TempDir(), "audit.jsonl")
	const n = 50_000
	writeRecords(b, path, n)
	defer func(was int64) { chunkLen = was }(chunkLen)
	chunkLen = 1 << 16
	b.ResetTimer()
	for b.Loop() {
		t := newTree(path)
		if err := t.CatchUp(-1); err != nil || t.n != n {
			b.Fatal(err, t.n)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n/1000, "us/record")
}
