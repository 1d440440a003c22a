package store

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/mulegate/mulegate/internal/iban"
	"github.com/mulegate/mulegate/internal/report"
	"github.com/redis/go-redis/v9"
)

// MigrateStats say what Migrate did.
type MigrateStats struct {
	IBANs, Reports, Expired, Markers int
	Sealed                           SealStats
}

// Migrate rewrites the layout before books (counters, reporters, time
// index, review buckets, cancelled index, marker and threshold keys per
// IBAN; a hash per report; an idempotency key per report) into books,
// report index and idempotency buckets, and deletes the old keys. Run it
// with intake stopped. It is safe to run again (a record already in its
// book is kept as it is) and safe to interrupt: an IBAN's old keys are
// deleted only after its book was written. Reports past retention are
// dropped. Outbox entries queued before stay where they are; the
// forwarders find their report through the report index.
func (s *Store) Migrate(ctx context.Context) (MigrateStats, error) {
	var st MigrateStats
	if v, err := s.rdb.HGet(ctx, layoutKey, "s").Result(); err == nil && v != s.secretCheck() {
		return st, fmt.Errorf("%w: the data was written with another pseudonym secret: migrating with this one would orphan it", ErrLayout)
	}
	scan := func(ctx context.Context, c redis.UniversalClient) error {
		// Every old report hash names its IBAN's pseudonym (ps), except
		// those accepted before reviews existed: their IBAN is found
		// from the time index and cancelled index members.
		owner := map[string]oldIBAN{} // report id -> its IBAN
		for _, pat := range []string{"mg:{p*}:z:*", "mg:{p*}:x:*"} {
			err := scanKeys(ctx, c, pat, func(key string) error {
				members, err := c.ZRange(ctx, key, 0, -1).Result()
				if err != nil {
					return err
				}
				o, ok := oldKeyParts(key)
				if !ok {
					return nil
				}
				for _, m := range members {
					id, _, _ := strings.Cut(m, "|")
					owner[id] = o
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
		books := map[oldIBAN][]string{} // IBAN -> its report ids
		err := scanKeys(ctx, c, "mg:{p*}:r:*", func(key string) error {
			i := strings.LastIndex(key, ":r:")
			id := key[i+3:]
			if !ValidReportID(id) {
				return nil
			}
			ps, err := c.HGet(ctx, key, "ps").Result()
			if err != nil && !errors.Is(err, redis.Nil) {
				return err
			}
			o, ok := owner[id]
			if ps != "" {
				o, ok = oldIBAN{tag: strings.TrimPrefix(key[:i], "mg:"), pseudo: ps}, true
			}
			if ok {
				books[o] = append(books[o], id)
			}
			return nil
		})
		if err != nil {
			return err
		}
		// IBANs with a marker or a threshold flag but no report hash left.
		for _, pat := range []string{"mg:{p*}:m:*", "mg:{p*}:t:*"} {
			err := scanKeys(ctx, c, pat, func(key string) error {
				if o, ok := oldKeyParts(key); ok {
					if _, seen := books[o]; !seen {
						books[o] = nil
					}
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
		for o, ids := range books {
			if err := s.migrateIBAN(ctx, o, ids, &st); err != nil {
				return err
			}
		}
		return nil
	}
	// Each master's keys are scanned on it; writes go through the
	// cluster client.
	if err := s.eachNode(ctx, scan); err != nil {
		return st, err
	}
	// Layout 3: the feeds, alerts and rejected bodies sealed; then the
	// data is marked as current (with this secret's check).
	var err error
	if st.Sealed, err = s.sealFeeds(ctx); err != nil {
		return st, err
	}
	return st, s.markLayout(ctx)
}

// scanOn scans one node and reads and writes through the whole client.
type scanOn struct {
	node *redis.Client
	redis.UniversalClient
}

func (c *scanOn) Scan(ctx context.Context, cursor uint64, match string, count int64) *redis.ScanCmd {
	return c.node.Scan(ctx, cursor, match, count)
}

func scanKeys(ctx context.Context, c redis.UniversalClient, match string, each func(string) error) error {
	var cursor uint64
	for {
		keys, next, err := c.Scan(ctx, cursor, match, 1000).Result()
		if err != nil {
			return err
		}
		for _, k := range keys {
			if err := each(k); err != nil {
				return err
			}
		}
		if next == 0 {
			return nil
		}
		cursor = next
	}
}

// oldIBAN is an IBAN in the layout before books: its partition tag and
// hex pseudonym.
type oldIBAN struct{ tag, pseudo string }

// key names one of the IBAN's old keys ("i", "o", "z", "v", "x", "m", "t").
func (o oldIBAN) key(x string) string { return "mg:" + o.tag + ":" + x + ":" + o.pseudo }

// report names an old report hash of the IBAN's partition.
func (o oldIBAN) report(id string) string { return "mg:" + o.tag + ":r:" + id }

// oldKeyParts reads the IBAN of an old per-IBAN key "mg:{pK}:X:HEX".
func oldKeyParts(key string) (oldIBAN, bool) {
	parts := strings.Split(key, ":")
	if len(parts) != 4 || len(parts[3]) != 32 {
		return oldIBAN{}, false
	}
	if _, err := hex.DecodeString(parts[3]); err != nil {
		return oldIBAN{}, false
	}
	return oldIBAN{tag: parts[1], pseudo: parts[3]}, true
}

func (s *Store) migrateIBAN(ctx context.Context, o oldIBAN, ids []string, st *MigrateStats) error {
	tag, pseudo := o.tag, o.pseudo
	part := -1
	for p, t := range s.tags {
		if t == tag {
			part = p
		}
	}
	if part < 0 {
		return errors.New("migrate: partition " + tag + " is not configured here (storage.partitions must not change)")
	}
	k := ibanKeys{tag: tag, pseudo: pseudo, part: part}
	book := k.book()
	now := s.now()
	cutoff := now.Add(-s.opt.Retention)
	cur, err := s.rdb.HMGet(ctx, book, "j", "h", "i", "ie").Result()
	if err != nil {
		return err
	}
	str := func(n int) string { v, _ := cur[n].(string); return v }
	holder, _ := splitJ(str(0), str(1), str(2))
	sealedBefore := str(2) != "" || str(3) != "" // a book sealed before the j field
	var sealed string
	fields := map[string]any{}
	var oldKeys []string
	for _, x := range []string{"i", "o", "z", "v", "x", "m", "t"} {
		oldKeys = append(oldKeys, o.key(x))
	}
	type idem struct{ raw, value string }
	var idems []idem
	index := map[string]int64{} // raw id -> the day its report arrived
	for _, id := range ids {
		h, err := s.rdb.HGetAll(ctx, o.report(id)).Result()
		if err != nil {
			return err
		}
		oldKeys = append(oldKeys, o.report(id), idemKey(id))
		if len(h) == 0 {
			continue
		}
		rcv := msTime(h["rcv"])
		if rcv.Before(cutoff) {
			st.Expired++
			continue
		}
		raw := rawID(id)
		if holder == "" {
			holder = h["h"]
		}
		r := record{Received: rcv, Category: report.Category(h["cat"]), Source: report.OrgType(h["src"]), Org: h["org"],
			Status: report.Status(h["st"]), Holder: h["h"], RespondBy: msTime(h["rb"]), Review: report.ReviewState(h["rv"]),
			Forwarded: msTime(h["fwd"]), PoliceRef: h["pref"], Ack: msTime(h["ack"]), Closed: msTime(h["cls"]),
			Cancels: msTime(h["can"]), Result: report.Result(h["res"]), FraudType: report.FraudType(h["ft"])}
		if r.Review == "" {
			r.Review = report.ReviewUnrouted // accepted before reviews existed
		}
		r.N, _ = strconv.ParseInt(h["n"], 10, 64)
		r.Attempts, _ = strconv.ParseInt(h["at"], 10, 64)
		r.BookHolder = r.Holder != "" && r.Holder == holder
		core, rest, err := r.encode()
		if err != nil {
			return err
		}
		if len(core) > 64 && r.PoliceRef != "" {
			fields["p:"+raw] = r.PoliceRef
			r.PoliceRef, r.RefSpilled = "", true
			core, rest, _ = r.encode()
		}
		fields[raw] = core
		for f, v := range map[string]string{"x:": rest, "e:": h["err"], "d:": h["det"], "c:": h["cr"]} {
			if v != "" {
				fields[f+raw] = v
			}
		}
		if sealed == "" && h["ie"] != "" {
			plain, err := s.seal.openLegacy(id, h["ie"])
			if err != nil {
				return errors.New("migrate: report " + id + ": " + err.Error())
			}
			i, err := iban.Parse(plain)
			if err != nil {
				return errors.New("migrate: report " + id + ": sealed iban: " + err.Error())
			}
			sealed = s.seal.seal(k.rawPseudo(), i)
		}
		index[raw] = day(rcv)
		// The idempotency record moves to its bucket.
		ih, err := s.rdb.HGetAll(ctx, idemKey(id)).Result()
		if err != nil {
			return err
		}
		if fp, err := hex.DecodeString(ih["h"]); err == nil && len(fp) >= 10 {
			idems = append(idems, idem{raw, s.claimEntry(day(rcv), fp, part)}) // with the old record's fingerprint
		}
		st.Reports++
	}
	m, err := s.rdb.HGetAll(ctx, o.key("m")).Result()
	if err != nil {
		return err
	}
	if m["at"] != "" {
		st.Markers++
		for _, f := range []string{"ft", "bt", "by", "at", "det"} {
			if m[f] != "" {
				fields["m:"+f] = m[f]
			}
		}
	}
	if n, _ := s.rdb.Exists(ctx, o.key("t")).Result(); n == 1 {
		fields["t"] = "1"
	}
	switch {
	case sealedBefore:
		if holder != "" {
			fields["h"] = holder
		}
	case holder != "" || sealed != "":
		fields["j"] = holder + sep + sealed
	}
	if len(fields) > 0 {
		// HSETNX per field: a record the new layout already holds wins.
		_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
			for f, v := range fields {
				p.HSetNX(ctx, book, f, v)
			}
			// Books have no TTL (prune.go) unless they hold a marker: the
			// index entries, stamped with each report's own day, retire them.
			if m["at"] != "" {
				p.Expire(ctx, book, time.Duration(s.ttlSeconds())*time.Second)
			} else {
				p.Persist(ctx, book)
			}
			for raw, d := range index {
				p.HSetNX(ctx, indexBucket(tag, raw), raw, dayBytes(d)+k.rawPseudo())
				// lo 0: the bucket's next write or prune finds its oldest day.
				p.HSet(ctx, indexBucket(tag, raw), "lo", 0)
				p.Expire(ctx, indexBucket(tag, raw), time.Duration(s.ttlSeconds())*time.Second)
			}
			return nil
		})
		if err != nil {
			return err
		}
		if err := s.recomputeW(ctx, book); err != nil {
			return err
		}
		for _, e := range idems {
			b := idemBucket(e.raw)
			_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
				p.HSetNX(ctx, b, e.raw, e.value)
				p.HSetNX(ctx, b, "lo", day(now)-s.idemDays())
				p.Expire(ctx, b, time.Duration(s.idemDays()+1)*24*time.Hour)
				return nil
			})
			if err != nil {
				return err
			}
		}
	}
	st.IBANs++
	for _, key := range oldKeys {
		if err := s.rdb.Del(ctx, key).Err(); err != nil {
			return err
		}
	}
	return nil
}

// recomputeW sets a book's w field from its records.
func (s *Store) recomputeW(ctx context.Context, book string) error {
	h, err := s.rdb.HGetAll(ctx, book).Result()
	if err != nil {
		return err
	}
	var wm, lo, nc int64
	for f, v := range h {
		if len(f) != 16 {
			continue
		}
		holder, _ := splitJ(h["j"], h["h"], h["i"])
		r, err := decodeRecord(v, h["x:"+f], holder)
		if err != nil {
			continue
		}
		at := r.Received.UnixMilli()
		if lo == 0 || at < lo {
			lo = at
		}
		for _, t := range []time.Time{r.Received, r.Ack, r.Closed, r.Cancels} {
			wm = max(wm, msOrZero(t))
		}
		if r.Review != report.ReviewCancelled {
			nc++
		}
	}
	if m := msTime(h["m:at"]); !m.IsZero() {
		wm = max(wm, m.UnixMilli())
	}
	return s.rdb.HSet(ctx, book, "w", formatW(wm, lo, nc)).Err()
}
