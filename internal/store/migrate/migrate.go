// Package migrate brings a Redis written by an older mulegate to the
// store's current data layout ("mulegate migrate"). It is the only code
// that reads the older layouts: the store's hot path reads the current
// one, and "serve" and "forward" refuse to start on anything else
// (store.CheckLayout). What each layout changed:
//
//   - before books (Part 1): per IBAN a counter hash i, reporters o, a
//     time index z, review buckets v, cancelled index x, marker m and
//     threshold flag t; per report a hash r:ID with the IBAN sealed in
//     base64 ("ie", the report id as additional data); per report an
//     idempotency record mg:idem:ID. Rewritten into books (beforebooks.go).
//   - books before the j field: the holder in h and the compact sealed
//     IBAN in i, or the IBAN sealed whole in ie; idempotency entries of 14
//     bytes; Part 2's event id hash eids. Rewritten in place (books.go).
//   - before layout 3: plaintext feed events, alerts, rejected and queued
//     outbox bodies, outbox entries without their IBAN's pseudonym. Sealed
//     and completed in place, the outbox streams with their consumer
//     groups' positions and pending entries kept (feeds.go, outbox.go).
//   - layout 4: feed events with hex ids, type names and JSON data; hex
//     report and event ids in the event id sets and work lists.
//     Rewritten in layout 5's compact form (compact.go).
//   - layout 5: each partition's report index in 256 buckets. Read as
//     layout 6's top level (the levels below it fill first, keys.go in
//     package store): nothing is rewritten, the data is only marked, so
//     that a build before layout 6, which would not look in the new
//     levels for a report, refuses it.
//
// Run it with every gateway stopped. It is safe to run again and safe to
// interrupt: each step finds what is still in an older form.
package migrate

import (
	"context"
	"errors"
	"fmt"

	"github.com/mulegate/mulegate/internal/store"
	"github.com/redis/go-redis/v9"
)

// Stats say what Run did.
type Stats struct {
	IBANs, Reports, Expired, Markers int // the layout before books
	Books, Claims, EventIDs          int // books, idempotency entries and event ids rewritten
	Events, Alerts, Rejected         int // feed values sealed
	Outbox                           int // outbox entries sealed or completed
	Compacted, Members               int // feed events and set members in layout 5's form
}

// Options are what the migration needs besides the store.
type Options struct {
	// Secret is the pseudonym secret (storage.pseudonym_secret): the
	// older layouts sealed with keys derived from it.
	Secret []byte
	// Partitions is storage.partitions (it must not have changed).
	Partitions int
}

// Run migrates the data st reads to store.LayoutVersion and marks it.
func Run(ctx context.Context, st *store.Store, opt Options) (Stats, error) {
	m := &migration{st: st, rdb: st.Client(), opt: opt}
	var err error
	if m.legacy, err = newLegacySealer(opt.Secret); err != nil {
		return m.stats, err
	}
	if v, err := m.rdb.HGet(ctx, "mg:layout", "s").Result(); err == nil && v != st.SecretCheck() {
		return m.stats, fmt.Errorf("%w: the data was written with another pseudonym secret: migrating with this one would orphan it", store.ErrLayout)
	} else if err != nil && !errors.Is(err, redis.Nil) {
		return m.stats, err
	}
	for _, step := range []func(context.Context) error{m.beforeBooks, m.books, m.claims, m.eventIDs, m.feeds, m.rejected, m.outbox, m.compactFeeds} {
		if err := step(ctx); err != nil {
			return m.stats, err
		}
	}
	return m.stats, st.MarkLayout(ctx)
}

type migration struct {
	st     *store.Store
	rdb    redis.UniversalClient
	opt    Options
	legacy *legacySealer
	stats  Stats
}

var isSealed = store.IsSealed
