package store

import (
	"context"
	"time"

	"github.com/mulegate/mulegate/internal/iban"
	"github.com/mulegate/mulegate/internal/report"
	"github.com/redis/go-redis/v9"
)

// The lookup read path. Everything about an IBAN is in its book
// (record.go), so a lookup is one HGETALL: a single command is atomic, so
// the counts are exact for the state the answering node has, it never
// writes, needs no script and may be answered by a replica. Records past
// retention that intake has not trimmed yet are left out here, so the
// counts are exact whatever the trimming does. Concurrent lookups share
// round trips through go-redis' autopipeliner; a batch is one pipeline
// per node.

// countBook builds the counts from a book's fields, given the retention
// cutoff and the windows' starts (s.windows: computed once per batch).
func countBook(h map[string]string, cutoff int64, starts [len(report.WindowDays)]int64) report.Counts {
	c := report.Counts{ByCategory: map[string]int64{}, BySource: map[string]int64{}}
	w, hasW := h["w"]
	if hasW {
		if wm, _, _ := parseW(w); wm > 0 {
			c.Watermark = time.UnixMilli(wm).UTC()
		}
	}
	c.Marker = markerFrom(h)
	// A window's reporters are the orgs whose newest counted report falls
	// in it; the reporters overall are the orgs with any.
	var newest map[string]int64
	var first, last int64
	for f, v := range h {
		if len(f) != 16 {
			continue
		}
		// Only the fields the counts need are read; no time but the
		// received one is parsed.
		var f [nCore]string
		split(v, f[:])
		at := unb36(f[fRcv])
		if !hasW && at > c.Watermark.UnixMilli() {
			// A small book whose records have not changed since they
			// were accepted has no "w": its watermark is the newest receipt.
			c.Watermark = time.UnixMilli(at).UTC()
		}
		if at < cutoff || f[fRcv] == "" {
			continue
		}
		review := report.ReviewState(reviewCodes.valueOf(f[fReview]))
		if review == report.ReviewCancelled {
			c.Cancelled++
			continue
		}
		c.ReportCount++
		c.ByCategory[catCodes.valueOf(f[fCat])]++
		c.BySource[srcCodes.valueOf(f[fSrc])]++
		switch (report.Review{State: review, Result: report.Result(resultCodes.valueOf(f[fRes]))}).Bucket() {
		case "open":
			c.Review.Open++
		case "confirmed":
			c.Review.Confirmed++
		case "disputed":
			c.Review.Disputed++
		}
		org := f[fOrg]
		if first == 0 || at < first {
			first = at
		}
		last = max(last, at)
		if newest == nil {
			newest = map[string]int64{}
		}
		newest[org] = max(newest[org], at)
		for w, start := range starts {
			if at >= start {
				c.Windows[w].Reports++
			}
		}
	}
	if c.ReportCount > 0 {
		c.First, c.Last = time.UnixMilli(first).UTC(), time.UnixMilli(last).UTC()
		c.ReporterCount = int64(len(newest))
	}
	for _, at := range newest {
		for w, start := range starts {
			if at >= start {
				c.Windows[w].Reporters++
			}
		}
	}
	c.Last30Days = c.Windows[1].Reports
	return c
}

// markerFrom reads the marker fields of a book (nil when there is none).
func markerFrom(h map[string]string) *report.Marker {
	if h["m:at"] == "" {
		return nil
	}
	return &report.Marker{FraudType: report.FraudType(h["m:ft"]), ByType: report.OrgType(h["m:bt"]), ByOrg: h["m:by"],
		RegisteredAt: msTime(h["m:at"]), Details: h["m:det"]}
}

// Lookup returns the counts for one IBAN.
func (s *Store) Lookup(ctx context.Context, i iban.IBAN) (report.Counts, error) {
	return s.LookupKey(ctx, s.KeyOf(i))
}

// LookupKey returns the counts for one IBAN known by its key (the
// request already computed it for the audit trail): its read rides a
// shared round trip with concurrent lookups, and may be served by a
// replica. The autopipeliner runs a queued command on its own context,
// so the wait for the answer is what honours ctx: past it the lookup is
// unavailable, whatever the batch does later.
func (s *Store) LookupKey(ctx context.Context, key report.IBANKey) (report.Counts, error) {
	if s.ap == nil { // a client without an autopipeliner: a batch of one
		out, err := s.LookupKeys(ctx, []report.IBANKey{key})
		if err != nil {
			return report.Counts{}, err
		}
		return out[0], nil
	}
	ctx, end := span(ctx, "lookup")
	cmd := redis.NewMapStringStringCmd(ctx, "hgetall", s.keysOf(key).book())
	err := s.ap.Submit(ctx, cmd).WaitContext(ctx)
	if err == nil {
		err = cmd.Err()
	}
	end(err)
	if err != nil {
		return report.Counts{}, s.fail(opLookup, "lookup", err)
	}
	cutoff, starts := s.windows(s.now())
	return countBook(cmd.Val(), cutoff, starts), nil
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
// pipeline by node).
func (s *Store) LookupKeys(ctx context.Context, keys []report.IBANKey) ([]report.Counts, error) {
	out := make([]report.Counts, len(keys))
	if len(keys) == 0 {
		return out, nil
	}
	cmds := make([]*redis.MapStringStringCmd, len(keys))
	ctx, end := span(ctx, "lookup batch")
	_, err := s.reads.Pipelined(ctx, func(p redis.Pipeliner) error {
		for n, key := range keys {
			cmds[n] = p.HGetAll(ctx, s.keysOf(key).book())
		}
		return nil
	})
	end(err)
	if err != nil {
		return nil, s.fail(opLookup, "lookup batch", err)
	}
	cutoff, starts := s.windows(s.now())
	for n, c := range cmds {
		out[n] = countBook(c.Val(), cutoff, starts)
	}
	return out, nil
}
