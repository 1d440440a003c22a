package store

import (
	"context"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mulegate/mulegate/internal/domain"
	"github.com/mulegate/mulegate/internal/iban"
	"github.com/redis/go-redis/v9"
)

// Who looked an IBAN up, for the police (GET /v1/ibans/{iban}/lookups):
// per IBAN a hash "mg:{pK}:a:P" with, per org, the count (n:ORG), the
// first and last time (f:ORG, l:ORG, ms), the org type (t:ORG) and the
// count per month (m:YYYY-MM:ORG, for the access record), kept for the
// retention. Lookups are counted in memory and written in one
// pipelined round trip per node every second, not one per lookup; the
// counts of IBANs whose write failed are kept for the next flush, so none
// is dropped while Redis comes back, and none that was written is
// written twice.

type lookupKey struct{ tag, pseudo string }

type lookupCount struct {
	n           int64
	first, last int64 // ms
	orgType     string
}

// LookupLog counts lookups until they are flushed.
type LookupLog struct {
	s       *conn
	mu      sync.Mutex
	pending map[lookupKey]map[string]*lookupCount
}

// NewLookupLog makes the log; Run flushes it.
func (s *IBANs) NewLookupLog() *LookupLog {
	return &LookupLog{s: s.conn, pending: map[lookupKey]map[string]*lookupCount{}}
}

// Looked counts that org looked the IBANs up at t.
func (l *LookupLog) Looked(org string, orgType domain.OrgType, ibans []domain.IBANKey, t time.Time) {
	ms := t.UnixMilli()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, i := range ibans {
		lk := lookupKey{l.s.tags[i.Partition], i.Pseudonym}
		byOrg := l.pending[lk]
		if byOrg == nil {
			byOrg = map[string]*lookupCount{}
			l.pending[lk] = byOrg
		}
		c := byOrg[org]
		if c == nil {
			c = &lookupCount{first: ms, orgType: string(orgType)}
			byOrg[org] = c
		}
		c.n++
		c.last = ms
	}
}

// Run flushes every second until ctx ends, then once more.
func (l *LookupLog) Run(ctx context.Context) error {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_ = l.Flush(fctx)
			cancel()
			return nil
		case <-t.C:
			_ = l.Flush(ctx)
		}
	}
}

// Flush writes the counts so far; those of IBANs whose write failed are
// kept (merged with what comes next) for the next flush.
func (l *LookupLog) Flush(ctx context.Context) error {
	l.mu.Lock()
	batch := l.pending
	l.pending = map[lookupKey]map[string]*lookupCount{}
	l.mu.Unlock()
	if len(batch) == 0 {
		return nil
	}
	ttl := time.Duration(l.s.ttlSeconds()) * time.Second
	cmds := make(map[lookupKey][]redis.Cmder, len(batch))
	_, err := l.s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for k, byOrg := range batch {
			key := ibanKeys{tag: k.tag, pseudo: k.pseudo}.lookupLog()
			var own []redis.Cmder
			for org, c := range byOrg {
				own = append(own,
					p.HIncrBy(ctx, key, "n:"+org, c.n),
					p.HSetNX(ctx, key, "f:"+org, c.first),
					p.HSet(ctx, key, "l:"+org, c.last, "t:"+org, c.orgType),
					p.HIncrBy(ctx, key, "m:"+time.UnixMilli(c.last).UTC().Format("2006-01")+":"+org, c.n))
			}
			cmds[k] = append(own, p.Expire(ctx, key, ttl))
		}
		return nil
	})
	if err != nil {
		// Keep for the next flush only the IBANs whose writes failed: the
		// others' counts are written (on a Cluster, their nodes answered),
		// and writing them again would count them twice.
		l.mu.Lock()
		for k, byOrg := range batch {
			if !anyFailed(cmds[k]) {
				continue
			}
			cur := l.pending[k]
			if cur == nil {
				l.pending[k] = byOrg
				continue
			}
			for org, c := range byOrg {
				if n := cur[org]; n != nil {
					n.n += c.n
					n.first = min(n.first, c.first)
				} else {
					cur[org] = c
				}
			}
		}
		l.mu.Unlock()
		return l.s.fail(opReport, "lookups log: flush", err)
	}
	return nil
}

// anyFailed says whether one of cmds failed.
func anyFailed(cmds []redis.Cmder) bool {
	for _, c := range cmds {
		if c.Err() != nil {
			return true
		}
	}
	return false
}

// Lookups reads who looked an IBAN up, by org, most lookups first.
func (s *IBANs) Lookups(ctx context.Context, i iban.IBAN) ([]domain.OrgLookups, error) {
	k := s.keysFor(i)
	h, err := s.rdb.HGetAll(ctx, k.lookupLog()).Result()
	if err != nil {
		return nil, s.fail(opReport, "lookups log: read", err)
	}
	var out []domain.OrgLookups
	for f, v := range h {
		org, ok := strings.CutPrefix(f, "n:")
		if !ok {
			continue
		}
		n, _ := strconv.ParseInt(v, 10, 64)
		out = append(out, domain.OrgLookups{Org: org, OrgType: domain.OrgType(h["t:"+org]), Lookups: n,
			First: msTime(h["f:"+org]), Last: msTime(h["l:"+org])})
	}
	sort.Slice(out, func(a, b int) bool {
		if out[a].Lookups != out[b].Lookups {
			return out[a].Lookups > out[b].Lookups
		}
		return out[a].Org < out[b].Org
	})
	return out, nil
}
