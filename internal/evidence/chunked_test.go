package evidence

import "testing"

// TestChunkedAcrossChunks: entries read back as added, across chunk
// boundaries, and a full chunk is never moved by later adds.
func TestChunkedAcrossChunks(t *testing.T) {
	var c chunked[int64]
	c.add(0)
	first := &c.chunks[0][0]
	for i := int64(1); i < 5*chunkLen/2; i++ {
		c.add(i)
	}
	if c.len() != 5*chunkLen/2 || len(c.chunks) != 3 {
		t.Fatalf("%d entries in %d chunks", c.len(), len(c.chunks))
	}
	for i := range c.len() {
		if c.at(i) != i {
			t.Fatalf("entry %d reads %d", i, c.at(i))
		}
	}
	if &c.chunks[0][0] != first {
		t.Fatal("the first chunk moved")
	}
}
