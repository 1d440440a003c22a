package main

import (
	"bufio"
	"context"
	"io"
	"sync"
	"time"
)

// logSink buffers log output and flushes it every flushEvery and on Close,
// so that the access log costs one write syscall per batch of lines rather
// than per request (nginx's "access_log … buffer= flush=" does the same).
// At most flushEvery of log lines can be lost if the process is killed.
type logSink struct {
	mu sync.Mutex
	w  *bufio.Writer
}

const flushEvery = 200 * time.Millisecond

func newLogSink(w io.Writer) *logSink { return &logSink{w: bufio.NewWriterSize(w, 64<<10)} }

func (s *logSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func (s *logSink) Flush() {
	s.mu.Lock()
	defer s.mu.Unlock()
	_ = s.w.Flush()
}

// Run flushes periodically until ctx ends, then once more.
func (s *logSink) Run(ctx context.Context) error {
	t := time.NewTicker(flushEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			s.Flush()
			return nil
		case <-t.C:
			s.Flush()
		}
	}
}
