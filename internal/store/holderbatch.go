package store

import (
	"context"

	"github.com/mulegate/mulegate/internal/domain"
	"github.com/mulegate/mulegate/internal/iban"
	"github.com/mulegate/mulegate/internal/outbox"
	"github.com/redis/go-redis/v9"
)

// The holders' relay takes a run of report entries in a few pipelined
// round trips (issue 29) instead of a few round trips each: the events,
// the threshold judgements, the review-due sets and the acknowledgements
// of the whole run. Each step is idempotent, so a run that fails part way
// is simply taken again.

// AppendEvents appends events to their orgs' feeds, in order, each once
// (by its event id), in one pipelined round trip per node; added says
// which were new. With redis.wait_replicas it appends one at a time (each
// waits for its replicas). On an error, added still says which were
// written before it (they are old news when the run is taken again), so
// that what counts them counts each once.
func (s *Feeds) AppendEvents(ctx context.Context, evs []OrgEvent) ([]bool, error) {
	added := make([]bool, len(evs))
	if s.opt.WaitReplicas > 0 {
		for n, e := range evs {
			v, err := s.runReplicated(ctx, appendEventScript, e.keys(), s.appendArgs(e, s.now())...)
			if err != nil {
				return added, s.fail(opAlerts, "append event script", err)
			}
			if added[n], err = s.appended(e.Org, v); err != nil {
				return added, err
			}
		}
		return added, nil
	}
	now := s.now()
	cmds := make([]*redis.Cmd, len(evs))
	var parseErr error
	err := withScripts(func() error {
		_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for n, oe := range evs {
				cmds[n] = appendEventScript.EvalSha(ctx, p, oe.keys(), s.appendArgs(oe, now)...)
			}
			return nil
		})
		// Those that ran are kept from each attempt: a second attempt
		// (after NOSCRIPT on one node) finds them already there.
		for n, c := range cmds {
			if c.Err() != nil {
				continue
			}
			a, perr := s.appended(evs[n].Org, c.Val())
			added[n] = added[n] || a
			if perr != nil && parseErr == nil {
				parseErr = perr
			}
		}
		return err
	}, func() error { return s.LoadScripts(ctx) })
	if err != nil {
		return added, s.fail(opAlerts, "append events", err)
	}
	return added, parseErr
}

// ThresholdCrossings is ThresholdCrossing for several IBANs: their books
// read in one pipelined round trip per node, then the marks lifted (below
// n) or read (at or above) in one more.
func (s *IBANs) ThresholdCrossings(ctx context.Context, raws []string, n int64) ([]bool, []domain.Counts, error) {
	keys := make([]domain.IBANKey, len(raws))
	for k, raw := range raws {
		i, err := iban.Parse(raw)
		if err != nil {
			return nil, nil, domain.Internal("threshold: parse", err)
		}
		keys[k] = s.KeyOf(i)
	}
	counts, err := s.LookupKeys(ctx, keys)
	if err != nil {
		return nil, nil, err
	}
	marks := make([]*redis.BoolCmd, len(keys))
	_, err = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for k, key := range keys {
			book := s.keysOf(key).book()
			if counts[k].Windows[1].Reporters < n {
				p.HDel(ctx, book, "t")
			} else {
				marks[k] = p.HExists(ctx, book, "t")
			}
		}
		return nil
	})
	if err != nil {
		return nil, nil, s.fail(opAlerts, "threshold: marks", err)
	}
	crossed := make([]bool, len(keys))
	for k, m := range marks {
		crossed[k] = m != nil && !m.Val()
	}
	return crossed, counts, nil
}

// DoneForHoldersMany is DoneForHolders for a run of entries, in one
// pipelined round trip per node.
func (s *Outbox) DoneForHoldersMany(ctx context.Context, entries []outbox.Entry) error {
	cmds := make([]*redis.Cmd, len(entries))
	err := withScripts(func() error {
		_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for n, e := range entries {
				cmds[n] = doneScript.EvalSha(ctx, p, []string{s.OutboxKey(e.Partition)},
					doneArgs{Group: holderGroup, Entry: e.StreamID, OtherGroup: forwarderGroup}.argv()...)
			}
			return nil
		})
		return err
	}, func() error { return s.LoadScripts(ctx) })
	if err != nil {
		return s.fail(opOutbox, "outbox: done script", err)
	}
	return nil
}
