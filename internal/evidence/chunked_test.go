package evidence

import (
	"os"
	"strconv"
	"testing"
)

// The package's tests cross chunks often: every tree of more than a few
// records spills (BenchmarkTreeCatchUp sets the real size back).
func init() { chunkLen = 16 }

// TestChunkedSpills: entries read back as added whether they are in the
// spill file, in a full chunk kept in memory or in the chunk being
// filled; a spill file that cannot be written keeps what it holds
// readable and the rest in memory; without one, all stays in memory.
func TestChunkedSpills(t *testing.T) {
	check := func(name string, c *chunked[int64], n int64) {
		t.Helper()
		if c.len() != n {
			t.Fatalf("%s: %d entries, want %d", name, c.len(), n)
		}
		for i := range n {
			if v, err := c.at(i); err != nil || v != i*7 {
				t.Fatalf("%s: entry %d reads %d (%v)", name, i, v, err)
			}
		}
		if _, err := c.at(n); err == nil {
			t.Fatalf("%s: entry %d of %d read", name, n, n)
		}
	}
	var spilled chunked[int64]
	spilled.spillTo(t.TempDir(), "audit.jsonl.offsets")
	if spilled.file == nil {
		t.Fatal("no spill file")
	}
	const n = 5*16 + 3
	for i := range int64(n) {
		spilled.add(i * 7)
	}
	check("spilled", &spilled, n)
	if spilled.onDisk != 5*16 || len(spilled.full) != 0 {
		t.Fatalf("%d entries on disk, %d chunks in memory", spilled.onDisk, len(spilled.full))
	}

	var broken chunked[int64]
	broken.spillTo(t.TempDir(), "audit.jsonl.offsets")
	for i := range int64(2 * 16) {
		broken.add(i * 7)
	}
	// Writing fails from now on (the file is read-only); reads go on.
	ro, err := os.Open("/proc/self/fd/" + strconv.FormatUint(uint64(broken.file.Fd()), 10))
	if err != nil {
		t.Skip("no /proc to reopen the spill file read-only:", err)
	}
	broken.file = ro
	for i := int64(2 * 16); i < n; i++ {
		broken.add(i * 7)
	}
	check("broken", &broken, n)
	if !broken.stop || broken.onDisk != 2*16 || len(broken.full) != 3 {
		t.Fatalf("stop %v, %d on disk, %d chunks in memory", broken.stop, broken.onDisk, len(broken.full))
	}

	var memory chunked[int64]
	for i := range int64(n) {
		memory.add(i * 7)
	}
	check("memory", &memory, n)
}

// TestSpillLeavesNoFile: the spill files are unlinked at once.
func TestSpillLeavesNoFile(t *testing.T) {
	dir := t.TempDir()
	var c chunked[int64]
	c.spillTo(dir, "audit.jsonl.tree")
	if c.file == nil {
		t.Fatal("no spill file")
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Fatalf("left in the audit file's folder: %v", left)
	}
}
