package evidence

// chunked is an append-only list kept in fixed chunks: the tree grows by
// one record per request, and one growing slice of millions of hashes
// was copied whole at each doubling (in a profile of the lookup load,
// 60 % of the tree's CPU was that copying and its page faults). A chunk,
// once full, is never moved.
type chunked[T any] struct {
	chunks [][]T
	n      int64
}

// chunkLen is the entries a chunk holds (2 MiB of hashes).
const chunkLen = 1 << 16

func (c *chunked[T]) add(v T) {
	if c.n%chunkLen == 0 {
		c.chunks = append(c.chunks, make([]T, 0, chunkLen))
	}
	last := &c.chunks[len(c.chunks)-1]
	*last = append(*last, v)
	c.n++
}

// at is entry i (0 ≤ i < len).
func (c *chunked[T]) at(i int64) T { return c.chunks[i/chunkLen][i%chunkLen] }

func (c *chunked[T]) len() int64 { return c.n }
