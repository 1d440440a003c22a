package evidence

import (
	"encoding/binary"
	"fmt"
	"os"

	"golang.org/x/mod/sumdb/tlog"
)

// chunked is an append-only list of fixed-size values (the tree's stored
// hashes, its records' offsets) kept in chunks. The tree grows by one
// record per request: as one slice it was copied whole at each doubling
// (60 % of the tree's CPU in a profile of the lookup load), and held
// 72 bytes per record in memory for as long as the trail's file, 6 GB a
// day at 1,000 requests a second. A full chunk is written to a spill
// file and read back with ReadAt; memory holds the chunk being filled.
// Without a spill file (none could be made, or writing one failed) full
// chunks stay in memory.
type chunked[T spillable] struct {
	last   []T      // the chunk being filled
	full   [][]T    // full chunks kept in memory (no spill file)
	onDisk int64    // entries [0, onDisk) are in file
	file   *os.File // the spill file (nil: none)
	stop   bool     // writing to file failed: full chunks stay in memory from then on
	elem   int64    // a value's size in the spill file
	n      int64
	buf    []byte
}

// spillable are the values a chunked list holds: the tree's stored
// hashes and its records' offsets.
type spillable interface{ tlog.Hash | int64 }

// chunkLen is the entries a chunk holds (2 MiB of hashes; the tests make
// it small to cross chunks).
var chunkLen int64 = 1 << 16

// spillTo makes c's spill file: an unlinked temporary file in dir (the
// audit file's, which the gateway can write), else in the system's
// temporary directory, else none. Unlinked, it leaves nothing behind and
// its space is freed when the tree is dropped (its *os.File closes when
// collected). It is the tree's cache of the file, rebuilt at start.
func (c *chunked[T]) spillTo(dir, name string) {
	var zero T
	c.elem = int64(binary.Size(zero))
	for _, d := range []string{dir, ""} {
		f, err := os.CreateTemp(d, "."+name+"-*")
		if err != nil {
			continue
		}
		if err := os.Remove(f.Name()); err != nil {
			_ = f.Close()
			_ = os.Remove(f.Name())
			continue
		}
		c.file = f
		return
	}
}

func (c *chunked[T]) add(v T) {
	if c.last == nil {
		c.last = make([]T, 0, chunkLen)
	}
	c.last = append(c.last, v)
	c.n++
	if int64(len(c.last)) < chunkLen {
		return
	}
	if c.file != nil && !c.stop {
		b := appendChunk(c.buf[:0], c.last)
		if _, err := c.file.WriteAt(b, c.onDisk*c.elem); err == nil {
			c.onDisk, c.last, c.buf = c.n, c.last[:0], b[:0]
			return
		}
		c.stop = true // what is on disk stays readable
	}
	c.full = append(c.full, c.last)
	c.last = make([]T, 0, chunkLen)
}

// at is entry i (0 ≤ i < len).
func (c *chunked[T]) at(i int64) (T, error) {
	var v T
	switch {
	case i < 0 || i >= c.n:
		return v, fmt.Errorf("evidence: no entry %d of %d", i, c.n)
	case i < c.onDisk:
		b := make([]byte, c.elem)
		if _, err := c.file.ReadAt(b, i*c.elem); err != nil {
			return v, fmt.Errorf("evidence: the tree's spill file: %w", err)
		}
		return decodeEntry[T](b), nil
	case i >= c.n-int64(len(c.last)):
		return c.last[i-(c.n-int64(len(c.last)))], nil
	default:
		j := i - c.onDisk
		return c.full[j/chunkLen][j%chunkLen], nil
	}
}

func (c *chunked[T]) len() int64 { return c.n }

// appendChunk appends a chunk's entries to b, by hand (binary.Append
// reflects on each entry: it doubled the tree's CPU).
func appendChunk[T spillable](b []byte, chunk []T) []byte {
	switch c := any(chunk).(type) {
	case []tlog.Hash:
		for _, h := range c {
			b = append(b, h[:]...)
		}
	case []int64:
		for _, v := range c {
			b = binary.LittleEndian.AppendUint64(b, uint64(v))
		}
	}
	return b
}

// decodeEntry is the entry appendChunk wrote to b.
func decodeEntry[T spillable](b []byte) T {
	var v T
	switch p := any(&v).(type) {
	case *tlog.Hash:
		copy(p[:], b)
	case *int64:
		*p = int64(binary.LittleEndian.Uint64(b))
	}
	return v
}
