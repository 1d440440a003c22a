package store

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/mulegate/mulegate/internal/iban"
	"github.com/mulegate/mulegate/internal/report"
	"github.com/redis/go-redis/v9"
)

// The lookup read path. A lookup is a handful of plain read commands on
// the IBAN's own keys, queued together (concurrent lookups share round
// trips through go-redis' autopipeliner, a batch is one pipeline per
// node), so it never writes, needs no script and may be answered by a
// replica. Two guards keep it exact:
//
//   - Every write to an IBAN's counted keys (intake, a review, a marker)
//     bumps the "ver" field of its counters; the first and the last
//     command read it. If they differ, a write landed between the reads
//     and the answer could mix two states.
//   - The counters include reports past retention that no write has
//     trimmed yet; the read counts them (ZCOUNT up to the cutoff).
//
// Either guard failing sends this one lookup to lookupScript on the
// master (one atomic, read-only script that takes expired reports off
// every count). Both are rare: writes are few next to lookups, and intake
// trims whatever expired before it counts a new report.

// readCmds are the queued commands of one lookup.
type readCmds struct {
	counters, marker                    *redis.MapStringStringCmd
	reporters, live, expired, cancelled *redis.IntCmd
	first, last, recent                 *redis.ZSliceCmd
	ver                                 *redis.StringCmd
	k                                   ibanKeys
	starts                              [len(report.WindowDays)]int64
}

// queueRead builds one IBAN's lookup commands and hands each to queue
// (a pipeline's, or the autopipeliner's); their answers are read with
// counts once they have run.
func (s *Store) queueRead(ctx context.Context, queue func(redis.Cmder), k ibanKeys, now time.Time) *readCmds {
	r := &readCmds{k: k}
	cutoff, starts := s.windows(now)
	r.starts = starts
	cut := strconv.FormatInt(cutoff, 10)
	i, z := k.counters(), k.index()
	r.counters = redis.NewMapStringStringCmd(ctx, "hgetall", i)
	r.reporters = redis.NewIntCmd(ctx, "hlen", k.reporters())
	r.live = redis.NewIntCmd(ctx, "zcount", z, cut, "+inf")
	r.expired = redis.NewIntCmd(ctx, "zcount", z, "-inf", "("+cut)
	r.first = redis.NewZSliceCmd(ctx, "zrangebyscore", z, cut, "+inf", "withscores", "limit", 0, 1)
	r.last = redis.NewZSliceCmd(ctx, "zrevrangebyscore", z, "+inf", cut, "withscores", "limit", 0, 1)
	r.recent = redis.NewZSliceCmd(ctx, "zrangebyscore", z, r.starts[len(r.starts)-1], "+inf", "withscores")
	r.cancelled = redis.NewIntCmd(ctx, "zcount", k.cancelled(), cut, "+inf")
	r.marker = redis.NewMapStringStringCmd(ctx, "hgetall", k.marker())
	r.ver = redis.NewStringCmd(ctx, "hget", i, "ver")
	for _, c := range r.all() {
		queue(c)
	}
	return r
}

// all are the commands in the order they are sent: the version read
// first (in the counters) and last.
func (r *readCmds) all() [10]redis.Cmder {
	return [10]redis.Cmder{r.counters, r.reporters, r.live, r.expired, r.first, r.last, r.recent, r.cancelled, r.marker, r.ver}
}

// err is the first Redis error among the answers.
func (r *readCmds) err() error {
	for _, c := range r.all() {
		if err := c.Err(); err != nil && !errors.Is(err, redis.Nil) { // no "ver" yet is nil
			return err
		}
	}
	return nil
}

// counts builds the answer; exact is false when a guard failed and the
// lookup must be read again atomically.
func (r *readCmds) counts() (c report.Counts, exact bool) {
	h := r.counters.Val()
	if h["ver"] != r.ver.Val() || r.expired.Val() > 0 {
		return report.Counts{}, false
	}
	c = report.Counts{ByCategory: map[string]int64{}, BySource: map[string]int64{},
		Cancelled: r.cancelled.Val(), Watermark: msTime(h["wm"]), Marker: markerFrom(r.marker.Val())}
	n := r.live.Val()
	if n == 0 {
		return c, true
	}
	c.ReportCount, c.ReporterCount = n, r.reporters.Val()
	if f := r.first.Val(); len(f) == 1 {
		c.First = time.UnixMilli(int64(f[0].Score)).UTC()
	}
	if l := r.last.Val(); len(l) == 1 {
		c.Last = time.UnixMilli(int64(l[0].Score)).UTC()
	}
	for name, v := range h {
		val, _ := strconv.ParseInt(v, 10, 64)
		addCounter(&c, name, val)
	}
	// A window's reporters are the orgs whose newest report falls in it
	// (the scan is oldest first, so the last score seen is the newest).
	newest := map[string]int64{}
	for _, z := range r.recent.Val() {
		m, _ := z.Member.(string)
		at := int64(z.Score)
		newest[memberOrg(m)] = at
		for w, start := range r.starts {
			if at >= start {
				c.Windows[w].Reports++
			}
		}
	}
	for _, at := range newest {
		for w, start := range r.starts {
			if at >= start {
				c.Windows[w].Reporters++
			}
		}
	}
	c.Last30Days = c.Windows[1].Reports
	return c, true
}

// addCounter puts one counter field of an IBAN's counters hash (c:CAT,
// s:SOURCE, v:BUCKET) on the counts; others (wm, ver) are not counts.
func addCounter(c *report.Counts, name string, val int64) {
	if val <= 0 {
		return
	}
	switch {
	case strings.HasPrefix(name, "c:"):
		c.ByCategory[name[2:]] = val
	case strings.HasPrefix(name, "s:"):
		c.BySource[name[2:]] = val
	case name == "v:open":
		c.Review.Open = val
	case name == "v:confirmed":
		c.Review.Confirmed = val
	case name == "v:disputed":
		c.Review.Disputed = val
	}
}

// memberOrg is the reporting org of a time-index member (id|cat|src|org).
func memberOrg(m string) string {
	for n := 0; n < 3; n++ {
		j := strings.IndexByte(m, '|')
		if j < 0 {
			return ""
		}
		m = m[j+1:]
	}
	return m
}

// markerFrom reads a marker hash (nil when there is none).
func markerFrom(h map[string]string) *report.Marker {
	if len(h) == 0 {
		return nil
	}
	return &report.Marker{FraudType: report.FraudType(h["ft"]), ByType: report.OrgType(h["bt"]), ByOrg: h["by"],
		RegisteredAt: msTime(h["at"]), Details: h["det"]}
}

// Lookup returns the counts for one IBAN.
func (s *Store) Lookup(ctx context.Context, i iban.IBAN) (report.Counts, error) {
	return s.LookupKey(ctx, s.KeyOf(i))
}

// LookupKey returns the counts for one IBAN known by its key (the
// request already computed it for the audit trail): its reads ride a
// shared round trip with concurrent lookups, and may be served by a
// replica. The autopipeliner runs a queued command on its own context,
// so the wait for the answers is what honours ctx: past it the lookup is
// unavailable, whatever the batch does later.
func (s *Store) LookupKey(ctx context.Context, key report.IBANKey) (report.Counts, error) {
	if s.ap == nil { // a client without an autopipeliner: a batch of one
		out, err := s.LookupKeys(ctx, []report.IBANKey{key})
		if err != nil {
			return report.Counts{}, err
		}
		return out[0], nil
	}
	k := s.keysOf(key)
	var futures [10]redis.AutoFuture
	n := 0
	r := s.queueRead(ctx, func(c redis.Cmder) { futures[n] = s.ap.Submit(ctx, c); n++ }, k, s.now())
	for _, f := range futures[:n] {
		if err := f.WaitContext(ctx); err != nil && (errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)) {
			return report.Counts{}, s.fail(opLookup, "lookup", err)
		}
	}
	if err := r.err(); err != nil {
		return report.Counts{}, s.fail(opLookup, "lookup", err)
	}
	if c, ok := r.counts(); ok {
		return c, nil
	}
	return s.lookupAtomic(ctx, k)
}

// lookupAtomic reads one IBAN with lookupScript on its master: the exact
// answer when the plain reads saw a write in between or expired reports.
func (s *Store) lookupAtomic(ctx context.Context, k ibanKeys) (report.Counts, error) {
	keys, args := s.lookupArgs(k)
	v, err := lookupScript.Run(ctx, s.rdb, keys, args...).Slice()
	if err != nil {
		return report.Counts{}, s.fail(opLookup, "lookup script", err)
	}
	return parseCounts(v)
}

// LookupMany returns counts for many IBANs.
func (s *Store) LookupMany(ctx context.Context, ibans []iban.IBAN) ([]report.Counts, error) {
	keys := make([]report.IBANKey, len(ibans))
	for n, i := range ibans {
		keys[n] = s.KeyOf(i)
	}
	return s.LookupKeys(ctx, keys)
}

// LookupKeys returns counts for many IBANs known by their keys with one
// pipelined round trip per Redis node (go-redis splits a cluster
// pipeline by node), plus one more for the IBANs whose plain reads were
// not exact.
func (s *Store) LookupKeys(ctx context.Context, keys []report.IBANKey) ([]report.Counts, error) {
	out := make([]report.Counts, len(keys))
	if len(keys) == 0 {
		return out, nil
	}
	now := s.now()
	reads := make([]*readCmds, len(keys))
	p := s.reads.Pipeline()
	queue := func(c redis.Cmder) { _ = p.Process(ctx, c) }
	for n, key := range keys {
		reads[n] = s.queueRead(ctx, queue, s.keysOf(key), now)
	}
	// Exec reports the first failed command, and an absent "ver" field
	// is a nil answer, not a failure: each read's own answers say.
	_, _ = p.Exec(ctx)
	var redo []int
	for n, r := range reads {
		if err := r.err(); err != nil {
			return nil, s.fail(opLookup, "lookup batch", err)
		}
		c, ok := r.counts()
		if !ok {
			redo = append(redo, n)
			continue
		}
		out[n] = c
	}
	if len(redo) == 0 {
		return out, nil
	}
	// The inexact ones again, atomically, in one more pipelined round
	// trip per master: a batch stays within two round trips per node
	// even when every IBAN in it has expired reports left to trim.
	scripts := make([]*redis.Cmd, len(redo))
	err := s.pipelined(ctx, func(pp redis.Pipeliner) error {
		for j, n := range redo {
			keys, args := s.lookupArgs(reads[n].k)
			scripts[j] = lookupScript.EvalSha(ctx, pp, keys, args...)
		}
		return nil
	})
	if err != nil {
		return nil, s.fail(opLookup, "lookup batch script", err)
	}
	for j, n := range redo {
		v, err := scripts[j].Slice()
		if err != nil {
			return nil, s.fail(opLookup, "lookup batch script", err)
		}
		if out[n], err = parseCounts(v); err != nil {
			return nil, err
		}
	}
	return out, nil
}
