package store

import (
	"context"
	"errors"
	"time"

	"github.com/mulegate/mulegate/internal/domain"
	"github.com/mulegate/mulegate/internal/iban"
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

// countBook builds the counts from a book's fields and values, in the
// pairs HGETALL answers (field, value, field, value…): it decodes what
// the counting rules read of each record (domain.Counter applies them)
// and adds the marker and the watermark. It reads them in one pass and
// builds no map.
func countBook(kv []string, p domain.Periods) domain.Counts {
	k := p.Counter()
	cl := clearOf(kv)
	k.Cleared(cl)
	var mk markerFields
	var hs, hsd string
	var newestRcv, wm int64
	for n := 0; n+1 < len(kv); n += 2 {
		f, v := kv[n], kv[n+1]
		if len(f) != rawIDLen {
			switch f {
			case "w":
				wm, _, _ = parseW(v)
				if wm <= 0 {
					wm = -1 // a "w" without a watermark: none, whatever the records say
				}
			case "hs":
				hs = v
			case "hsd":
				hsd = v
			default:
				mk.set(f, v)
			}
			continue
		}
		// Only the fields the counts need are read; no time but the
		// received one is parsed.
		var r [nFields]string
		split(v, r[:])
		if r[fRcv] == "" {
			continue
		}
		at := unb36(r[fRcv])
		newestRcv = max(newestRcv, at)
		k.Add(domain.Counted{Received: at, Org: r[fOrg], Category: catCodes.valueOf(r[fCat]), Source: srcCodes.valueOf(r[fSrc]),
			Review: domain.ReviewState(reviewCodes.valueOf(r[fReview])), Result: domain.Result(resultCodes.valueOf(r[fRes])),
			Amount: unpackAmount(r[fAmount]), Recovered: unpackRecovered(r[fRecovered], r[fAmount]), Hop: int(unb36(r[fHop])), Upstream: r[fUpstream] == "1"})
	}
	c := k.Counts()
	switch {
	case wm > 0:
		c.Watermark = time.UnixMilli(wm).UTC()
	case wm == 0 && newestRcv > 0:
		// A small book whose records have not changed since they were
		// accepted has no "w": its watermark is the newest receipt.
		c.Watermark = time.UnixMilli(newestRcv).UTC()
	}
	c.Marker = mk.marker()
	c.Cleared = cl
	if hs != "" {
		c.HolderStatus = parseHolderStatus(hs, hsd)
	}
	return c
}

// markerFields are a book's marker fields ("m:…").
type markerFields struct{ ft, bt, by, at, det string }

func (m *markerFields) set(f, v string) {
	switch f {
	case "m:ft":
		m.ft = v
	case "m:bt":
		m.bt = v
	case "m:by":
		m.by = v
	case "m:at":
		m.at = v
	case "m:det":
		m.det = v
	}
}

// marker is the book's marker (nil when there is none).
func (m *markerFields) marker() *domain.Marker {
	if m.at == "" {
		return nil
	}
	return &domain.Marker{FraudType: domain.FraudType(m.ft), ByType: domain.OrgType(m.bt), ByOrg: m.by,
		RegisteredAt: msTime(m.at), Details: m.det}
}

// pairsOf is a map's fields and values as HGETALL pairs (a RESP3 client
// answers HGETALL with a map; mulegate's own clients speak RESP2, see
// bookCmd).
func pairsOf(h map[string]string) []string {
	kv := make([]string, 0, 2*len(h))
	for f, v := range h {
		kv = append(kv, f, v)
	}
	return kv
}

// periods are the lookups' periods now, with the score's half-life.
func (s *conn) periods() domain.Periods {
	p := domain.PeriodsAt(s.now(), s.opt.Retention)
	p.HalfLifeDays = s.opt.HalfLifeDays
	return p
}

// Lookup returns the counts for one IBAN.
func (s *IBANs) Lookup(ctx context.Context, i iban.IBAN) (domain.Counts, error) {
	return s.LookupKey(ctx, s.KeyOf(i))
}

// LookupKey returns the counts for one IBAN known by its key (the
// request already computed it for the audit trail): its read rides a
// shared round trip with concurrent lookups, and may be served by a
// replica. The autopipeliner runs a queued command on its own context,
// so the wait for the answer is what honours ctx: past it the lookup is
// unavailable, whatever the batch does later.
func (s *IBANs) LookupKey(ctx context.Context, key domain.IBANKey) (domain.Counts, error) {
	if s.ap == nil { // a client without an autopipeliner: a batch of one
		out, err := s.LookupKeys(ctx, []domain.IBANKey{key})
		if err != nil {
			return domain.Counts{}, err
		}
		return out[0], nil
	}
	ctx, end := span(ctx, "lookup")
	cmd := s.bookCmd(ctx, key)
	err := s.ap.Submit(ctx, cmd).WaitContext(ctx)
	if err == nil {
		err = cmd.Err()
	}
	end(err)
	if err != nil {
		return domain.Counts{}, s.fail(opLookup, "lookup", err)
	}
	return countBook(bookPairs(cmd), s.periods()), nil
}

// bookCmd is the HGETALL of a book. Over RESP2, which mulegate's own
// clients speak (cmd/mulegate), the answer is read into a slice of
// pairs; a RESP3 client answers HGETALL with a map, which go-redis' slice
// commands refuse, so over RESP3 it is read into a map.
func (s *conn) bookCmd(ctx context.Context, key domain.IBANKey) redis.Cmder {
	if s.resp2 {
		return redis.NewStringSliceCmd(ctx, "hgetall", s.keysOf(key).book())
	}
	return redis.NewMapStringStringCmd(ctx, "hgetall", s.keysOf(key).book())
}

// bookPairs is a bookCmd's answer as field, value pairs.
func bookPairs(cmd redis.Cmder) []string {
	switch c := cmd.(type) {
	case *redis.StringSliceCmd:
		return c.Val()
	case *redis.MapStringStringCmd:
		return pairsOf(c.Val())
	}
	return nil
}

// speaksRESP2 tells whether a client talks RESP2 to Redis.
func speaksRESP2(c redis.UniversalClient) bool {
	switch c := c.(type) {
	case *redis.Client:
		return c.Options().Protocol == 2
	case *redis.ClusterClient:
		return c.Options().Protocol == 2
	}
	return false
}

// LookupMany returns counts for many IBANs.
func (s *IBANs) LookupMany(ctx context.Context, ibans []iban.IBAN) ([]domain.Counts, error) {
	keys := make([]domain.IBANKey, len(ibans))
	for n, i := range ibans {
		keys[n] = s.KeyOf(i)
	}
	return s.LookupKeys(ctx, keys)
}

// LookupKeys returns counts for many IBANs known by their keys with one
// pipelined round trip per Redis node (go-redis splits a cluster
// pipeline by node).
func (s *IBANs) LookupKeys(ctx context.Context, keys []domain.IBANKey) ([]domain.Counts, error) {
	out := make([]domain.Counts, len(keys))
	if err := s.LookupKeysInto(ctx, keys, out); err != nil {
		return nil, err
	}
	return out, nil
}

// LookupKeysInto is LookupKeys into out (as long as keys), for a caller
// that reuses its counts (a batch's parts: a Counts is about 400 bytes,
// 0.4 MB for a batch of 1000).
func (s *IBANs) LookupKeysInto(ctx context.Context, keys []domain.IBANKey, out []domain.Counts) error {
	if len(out) != len(keys) {
		return domain.Internal("lookup batch", errors.New("out and keys differ in length"))
	}
	if len(keys) == 0 {
		return nil
	}
	cmds := make([]redis.Cmder, len(keys))
	ctx, end := span(ctx, "lookup batch")
	_, err := s.reads.Pipelined(ctx, func(p redis.Pipeliner) error {
		for n, key := range keys {
			cmds[n] = s.bookCmd(ctx, key)
			_ = p.Process(ctx, cmds[n]) // queued: the answers come with Exec
		}
		return nil
	})
	end(err)
	if err != nil {
		return s.fail(opLookup, "lookup batch", err)
	}
	periods := s.periods()
	for n, c := range cmds {
		out[n] = countBook(bookPairs(c), periods)
	}
	return nil
}
