package main

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/mulegate/mulegate/internal/audit"
	"github.com/mulegate/mulegate/internal/evidence"
)

// trail is the gateway's audit trail as evidence: the writer and the
// Merkle tree of its current file. A SIGHUP that moves audit.path
// rotates it: the old file gets a last checkpoint and stays verifiable,
// records go on in the new one, whose tree starts anew under
// <evidence.origin>/<n> (precise point 14). It serves the API's evidence
// routes for the current tree.
type trail struct {
	w    *audit.Writer
	base string // evidence.origin
	mu   sync.Mutex
	tree atomic.Pointer[evidence.Tree]
}

func (t *trail) cur() *evidence.Tree { return t.tree.Load() }

// Origin is the current tree's origin (signed answers name it).
func (t *trail) Origin() string { return t.cur().Origin() }

// Latest is the current tree's latest signed checkpoint.
func (t *trail) Latest() []byte { return t.cur().Latest() }

// ProveRecord proves a record of the current tree.
func (t *trail) ProveRecord(seq, size int64) (tlog.Hash, tlog.RecordProof, error) {
	return t.cur().ProveRecord(seq, size)
}

// ProveTree proves the current tree extends an earlier size of it.
func (t *trail) ProveTree(from, to int64) (tlog.TreeProof, error) { return t.cur().ProveTree(from, to) }

// RecordOrg is the org of a record of the current file.
func (t *trail) RecordOrg(seq int64) (string, error) { return t.cur().RecordOrg(seq) }

// checkpoint syncs the file and checkpoints the tree over what is synced;
// rotation waits for it (the size must be the same file's).
func (t *trail) checkpoint() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	_, size, err := t.w.Sync()
	if err == nil {
		_, err = t.cur().Checkpoint(size)
	}
	return err
}

// run checkpoints every interval until ctx ends, then once more.
func (t *trail) run(ctx context.Context, interval time.Duration, logf func(string, ...any)) error {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			if err := t.checkpoint(); err != nil {
				logf("evidence: last checkpoint failed", "err", err)
			}
			return nil
		case <-tick.C:
			if err := t.checkpoint(); err != nil {
				logf("evidence: checkpoint failed; will retry", "err", err)
			}
		}
	}
}

// rotate moves the trail to path: a last checkpoint of the old file, the
// writer moved, a new tree (its origin the next <base>/<n>, unless its
// checkpoints already name one: a restart).
func (t *trail) rotate(path string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	old := t.cur()
	if _, size, err := t.w.Sync(); err == nil {
		_, _ = old.Checkpoint(size)
	}
	nt, err := evidence.OpenTree(path, t.base, old.Signer())
	if err != nil {
		return err
	}
	if nt.Origin() == t.base {
		if err := nt.Rename(evidence.Rotated(old.Origin(), t.base)); err != nil {
			return err
		}
	}
	if err := t.w.Rotate(path); err != nil {
		return err
	}
	t.tree.Store(nt)
	return nil
}
