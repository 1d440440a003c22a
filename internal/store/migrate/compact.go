package migrate

import (
	"context"
	"strings"

	"github.com/mulegate/mulegate/internal/store"
	"github.com/redis/go-redis/v9"
)

// compactFeeds brings layout 4's feeds into layout 5: each event entry
// with its id raw, its type's code and its data in the compact form
// (rewriteStream keeps the entry ids), and the event id sets and work
// lists with raw ids (scores kept).
func (m *migration) compactFeeds(ctx context.Context) error {
	err := m.st.EachKey(ctx, "mg:{a:*}:events", func(key string) error {
		org := strings.TrimSuffix(strings.TrimPrefix(key, "mg:{a:"), "}:events")
		n, err := rewriteStream(ctx, m.rdb, key, func(e redis.XMessage) bool { return m.st.CompactEvent(org, e.Values) })
		m.stats.Compacted += n
		return err
	})
	if err != nil {
		return err
	}
	for _, kind := range []string{"eidx", "due", "rdue", "rreq"} {
		if err := m.st.EachKey(ctx, "mg:{a:*}:"+kind, func(key string) error { return m.rawMembers(ctx, key) }); err != nil {
			return err
		}
	}
	return nil
}

// rawMembers rewrites a sorted set's hex ids raw, keeping their scores.
func (m *migration) rawMembers(ctx context.Context, key string) error {
	zs, err := m.rdb.ZRangeWithScores(ctx, key, 0, -1).Result()
	if err != nil {
		return err
	}
	_, err = m.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		for _, z := range zs {
			old, _ := z.Member.(string)
			if raw, changed := store.CompactWorkMember(old); changed {
				p.ZRem(ctx, key, old)
				p.ZAdd(ctx, key, redis.Z{Score: z.Score, Member: raw})
				m.stats.Members++
			}
		}
		return nil
	})
	return err
}
