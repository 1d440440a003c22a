package migrate

import (
	"context"
	"encoding/binary"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// books rewrites the books written before the j field: the holder in h
// and the compact sealed IBAN in i, or the IBAN sealed whole in ie,
// become the j field.
func (m *migration) books(ctx context.Context) error {
	return m.st.EachKey(ctx, "mg:{p*}:b:*", func(book string) error {
		v, err := m.rdb.HMGet(ctx, book, "j", "h", "i", "ie").Result()
		if err != nil {
			return err
		}
		str := func(n int) string { s, _ := v[n].(string); return s }
		if str(1) == "" && str(2) == "" && str(3) == "" {
			return nil
		}
		holder, _, _ := strings.Cut(str(0), "\x1f")
		if holder == "" {
			holder = str(1)
		}
		plain := ""
		switch {
		case str(2) != "":
			plain, err = m.st.OpenBookIBAN(book, str(2))
		case str(3) != "":
			plain, err = m.legacy.open(book[len(book)-16:], str(3))
		}
		if err != nil {
			return err
		}
		m.stats.Books++
		return m.st.SetBookHead(ctx, book, holder, plain, "h", "i", "ie")
	})
}

// claims rewrites the idempotency entries of 14 bytes (day, a 10-byte
// fingerprint, a 2-byte partition) into the current form.
func (m *migration) claims(ctx context.Context) error {
	return m.st.EachKey(ctx, "mg:{d:*}", func(bucket string) error {
		all, err := m.rdb.HGetAll(ctx, bucket).Result()
		if err != nil {
			return err
		}
		var set []any
		for raw, v := range all {
			if len(raw) != 16 || len(v) != 14 {
				continue
			}
			d := int64(binary.BigEndian.Uint16([]byte(v[:2])))
			part := int(binary.BigEndian.Uint16([]byte(v[12:14])))
			set = append(set, raw, m.st.ClaimEntry(d, []byte(v[2:12]), part))
		}
		if len(set) == 0 {
			return nil
		}
		m.stats.Claims += len(set) / 2
		return m.rdb.HSet(ctx, bucket, set...).Err()
	})
}

// eventIDs moves Part 2's event id hash (event id -> stream entry) into
// the event id set the feed checks now (scored now: kept for the event
// retention from today), so that no event a relay writes again is added
// twice.
func (m *migration) eventIDs(ctx context.Context) error {
	return m.st.EachKey(ctx, "mg:{a:*}:eids", func(key string) error {
		ids, err := m.rdb.HKeys(ctx, key).Result()
		if err != nil {
			return err
		}
		ttl, err := m.rdb.TTL(ctx, key).Result()
		if err != nil {
			return err
		}
		idx := strings.TrimSuffix(key, ":eids") + ":eidx"
		now := float64(time.Now().UnixMilli())
		_, err = m.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
			for _, id := range ids {
				p.ZAddNX(ctx, idx, redis.Z{Score: now, Member: id})
			}
			if ttl > 0 {
				p.ExpireNX(ctx, idx, ttl) // the feed's next event renews it
			}
			p.Del(ctx, key)
			return nil
		})
		m.stats.EventIDs += len(ids)
		return err
	})
}
