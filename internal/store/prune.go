package store

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"time"
)

// Books have no TTL (a TTL costs Redis about 40 bytes per key). A book
// is retired by its partition's report index instead: the index's
// entries are stamped with the day their report arrived, and whenever an
// entry ages out (retention plus a day) the report's record leaves its
// book, and a book left with no record and no marker is deleted
// (lua/prune.lua, lua/lib/trim.lua). Intake does that for the bucket it writes
// into, at most once a day per bucket; Prune does it for every bucket,
// so that books no one reports again are retired as well. Counts never
// depend on it: a lookup leaves out records past retention whether or
// not they were pruned.

// Prune runs one pass over every partition's report index and returns
// how many index entries (reports past retention) it retired.
func (s *conn) Prune(ctx context.Context) (int64, error) {
	now := s.now()
	before := day(now) - s.ttlDays()
	cutoff := now.Add(-s.opt.Retention).UnixMilli()
	var total int64
	for p := range s.opt.Partitions {
		args := pruneArgs{FirstDay: before, Cutoff: cutoff, BookPrefix: bookPrefix(s.tags[p])}.argv()
		err := eachIndexBucket(s.tags[p], func(k string) error {
			n, err := pruneScript.Run(ctx, s.rdb, []string{k}, args...).Int64()
			if err != nil {
				return s.fail(opPrune, "prune: bucket "+k, err)
			}
			total += n
			return nil
		})
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// RunPrune runs Prune every interval (the first pass after a random part
// of it, so that gateways started together do not prune together) until
// ctx ends.
func (s *conn) RunPrune(ctx context.Context, every time.Duration, log *slog.Logger) error {
	wait := rand.N(every)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		wait = every
		start := time.Now()
		n, err := s.Prune(ctx)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			log.Warn("prune: pass failed, next in "+every.String(), "err", err)
		case n > 0:
			log.Info("prune: reports past retention retired", "reports", n, "took", time.Since(start).Round(time.Millisecond).String())
		}
	}
}
