package store

import (
	"context"
	"sync"
	"time"
)

// On a single Redis, which holds every slot, intake's two steps (the
// claim, then the accept) run as one script, and the scripts of
// concurrent reports are combined: while batches are on their way to
// Redis, the reports that arrive queue, and the next batch carries them
// in one EVALSHA (acceptManyScript), so a report costs a share of one
// round trip and of one script call instead of two of each. Each report
// in a batch is still its own atomic step (the whole batch is one),
// answered as if it had run alone; a batch that fails fails each report
// in it, which the clients retry with their Idempotency-Key like any
// failed intake.
const (
	combineMax      = 16 // reports per batch
	combineInFlight = 8  // batches on their way to Redis at once (2 held intake to 4,200 reports/s here)
)

type combined struct {
	ctx  context.Context
	keys []string
	args []any
	done chan combinedResult // buffered: the batch never waits for a reader
}

type combinedResult struct {
	v   any
	err error
}

type combiner struct {
	s       *conn
	mu      sync.Mutex
	queue   []*combined
	running int
}

// do runs one report's part of acceptManyScript, combined with whatever
// else is queued, and waits for its answer or for ctx to end.
func (c *combiner) do(ctx context.Context, keys []string, args []any) (any, error) {
	p := &combined{ctx: ctx, keys: keys, args: args, done: make(chan combinedResult, 1)}
	c.mu.Lock()
	c.queue = append(c.queue, p)
	var batch []*combined
	if c.running < combineInFlight {
		c.running++
		batch = c.take()
	}
	c.mu.Unlock()
	if batch != nil {
		c.run(batch) // this caller's own report is in it
		c.next()
	}
	select {
	case r := <-p.done:
		return r.v, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// take removes up to combineMax reports from the queue; c.mu is held.
func (c *combiner) take() []*combined {
	n := min(len(c.queue), combineMax)
	batch := c.queue[:n:n]
	c.queue = c.queue[n:]
	return batch
}

// next starts the batch of what queued meanwhile, if anything did, on a
// goroutine of its own (the caller has its answer and goes on).
func (c *combiner) next() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.queue) == 0 {
		c.running--
		return
	}
	batch := c.take()
	go func() {
		c.run(batch)
		c.next()
	}()
}

func (c *combiner) run(batch []*combined) {
	ctx := batch[0].ctx
	if len(batch) > 1 {
		// The batch runs until the latest of its reports' deadlines: one
		// report's deadline does not cut the others short.
		var latest time.Time
		for _, p := range batch {
			if d, ok := p.ctx.Deadline(); ok && d.After(latest) {
				latest = d
			}
		}
		if latest.IsZero() {
			latest = time.Now().Add(5 * time.Second)
		}
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(context.WithoutCancel(ctx), latest)
		defer cancel()
	}
	var keys []string
	var args []any
	for _, p := range batch {
		keys, args = append(keys, p.keys...), append(args, p.args...)
	}
	v, err := c.s.runReplicated(ctx, acceptManyScript, keys, args...)
	out, _ := v.([]any)
	for n, p := range batch {
		switch {
		case err != nil:
			p.done <- combinedResult{nil, err}
		case n < len(out):
			p.done <- combinedResult{out[n], nil}
		default:
			p.done <- combinedResult{nil, errUnexpected(v)}
		}
	}
}
