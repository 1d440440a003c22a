package migrate

import (
	"context"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/mulegate/mulegate/internal/domain"
	"github.com/mulegate/mulegate/internal/iban"
	"github.com/mulegate/mulegate/internal/store"
	"github.com/redis/go-redis/v9"
)

// oldIBAN is an IBAN in the layout before books: its partition tag
// ("{pK}") and hex pseudonym.
type oldIBAN struct{ tag, pseudo string }

// key names one of the IBAN's old keys ("i", "o", "z", "v", "x", "m", "t").
func (o oldIBAN) key(x string) string { return "mg:" + o.tag + ":" + x + ":" + o.pseudo }

// report names an old report hash of the IBAN's partition.
func (o oldIBAN) report(id string) string { return "mg:" + o.tag + ":r:" + id }

// idemKey is a report's idempotency record in the layout before books.
func idemKey(id string) string { return "mg:idem:" + id }

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

// beforeBooks rewrites the layout before books into books, report index
// and idempotency buckets (store.Import), and deletes the old keys of an
// IBAN once its book is written. Reports past retention are dropped.
func (m *migration) beforeBooks(ctx context.Context) error {
	owner, err := m.reportOwners(ctx)
	if err != nil {
		return err
	}
	books, err := m.oldBooks(ctx, owner)
	if err != nil {
		return err
	}
	for o, ids := range books {
		if err := m.migrateIBAN(ctx, o, ids); err != nil {
			return err
		}
	}
	return nil
}

// reportOwners maps report ids to their IBAN from the time and cancelled
// indexes: the report hashes accepted before reviews existed do not name
// their IBAN's pseudonym.
func (m *migration) reportOwners(ctx context.Context) (map[string]oldIBAN, error) {
	owner := map[string]oldIBAN{}
	for _, pat := range []string{"mg:{p*}:z:*", "mg:{p*}:x:*"} {
		err := m.st.EachKey(ctx, pat, func(key string) error {
			o, ok := oldKeyParts(key)
			if !ok {
				return nil
			}
			members, err := m.rdb.ZRange(ctx, key, 0, -1).Result()
			for _, mem := range members {
				id, _, _ := strings.Cut(mem, "|")
				owner[id] = o
			}
			return err
		})
		if err != nil {
			return nil, err
		}
	}
	return owner, nil
}

// oldBooks groups the old report hashes by IBAN, with the IBANs that
// have only a marker or a threshold flag left.
func (m *migration) oldBooks(ctx context.Context, owner map[string]oldIBAN) (map[oldIBAN][]string, error) {
	books := map[oldIBAN][]string{}
	err := m.st.EachKey(ctx, "mg:{p*}:r:*", func(key string) error {
		i := strings.LastIndex(key, ":r:")
		id := key[i+3:]
		if len(id) != 32 {
			return nil
		}
		ps, err := m.rdb.HGet(ctx, key, "ps").Result()
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
		return nil, err
	}
	for _, pat := range []string{"mg:{p*}:m:*", "mg:{p*}:t:*"} {
		err := m.st.EachKey(ctx, pat, func(key string) error {
			if o, ok := oldKeyParts(key); ok {
				if _, seen := books[o]; !seen {
					books[o] = nil
				}
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return books, nil
}

func (m *migration) migrateIBAN(ctx context.Context, o oldIBAN, ids []string) error {
	part, err := strconv.Atoi(strings.Trim(o.tag, "{p}"))
	if err != nil || part >= m.opt.Partitions {
		return errors.New("migrate: partition " + o.tag + " is not configured here (storage.partitions must not change)")
	}
	in := store.Imported{Key: domain.IBANKey{Pseudonym: o.pseudo, Partition: part}}
	oldKeys := []string{o.key("i"), o.key("o"), o.key("z"), o.key("v"), o.key("x"), o.key("m"), o.key("t")}
	for _, id := range ids {
		oldKeys = append(oldKeys, o.report(id), idemKey(id))
		if err := m.readReport(ctx, o, id, &in); err != nil {
			return err
		}
	}
	if in.Marker, err = m.rdb.HGetAll(ctx, o.key("m")).Result(); err != nil {
		return err
	}
	if in.Marker["at"] != "" {
		m.stats.Markers++
	}
	n, err := m.rdb.Exists(ctx, o.key("t")).Result()
	if err != nil {
		return err
	}
	in.Threshold = n == 1
	kept, err := m.st.Import(ctx, in)
	if err != nil {
		return err
	}
	m.stats.IBANs++
	m.stats.Reports += kept
	m.stats.Expired += len(in.Reports) - kept
	for _, k := range oldKeys { // one by one: on a cluster they are on several slots
		if err := m.rdb.Del(ctx, k).Err(); err != nil {
			return err
		}
	}
	return nil
}

// readReport adds an old report hash (and its idempotency record's
// fingerprint) to in; the first one with a holder names the book's, the
// first with a sealed IBAN its IBAN.
func (m *migration) readReport(ctx context.Context, o oldIBAN, id string, in *store.Imported) error {
	h, err := m.rdb.HGetAll(ctx, o.report(id)).Result()
	if err != nil || len(h) == 0 {
		return err
	}
	if in.Holder == "" {
		in.Holder = h["h"]
	}
	if in.IBAN == "" && h["ie"] != "" {
		plain, err := m.legacy.openBase64(id, h["ie"])
		if err != nil {
			return errors.New("migrate: report " + id + ": " + err.Error())
		}
		if _, err := iban.Parse(plain); err != nil {
			return errors.New("migrate: report " + id + ": sealed iban: " + err.Error())
		}
		in.IBAN = plain
	}
	r := oldReport(id, h)
	ih, err := m.rdb.HGetAll(ctx, idemKey(id)).Result()
	if err != nil {
		return err
	}
	if fp, err := hex.DecodeString(ih["h"]); err == nil && len(fp) >= 8 {
		r.Fingerprint = fp
	}
	in.Reports = append(in.Reports, r)
	return nil
}

// oldReport reads a report hash of the layout before books.
func oldReport(id string, h map[string]string) store.ImportedReport {
	r := store.ImportedReport{ReportStatus: domain.ReportStatus{ID: id, Status: domain.Status(h["st"]),
		ReceivedAt: msTime(h["rcv"]), PoliceReference: h["pref"], ReporterOrg: h["org"], ReporterType: domain.OrgType(h["src"]),
		Category: domain.Category(h["cat"]), LastError: h["err"],
		Review: domain.Review{State: domain.ReviewState(h["rv"]), Holder: h["h"], RespondBy: msTime(h["rb"]),
			AcknowledgedAt: msTime(h["ack"]), ClosedAt: msTime(h["cls"]), CancelledAt: msTime(h["can"]),
			Result: domain.Result(h["res"]), FraudType: domain.FraudType(h["ft"]), Details: h["det"], CancelReason: h["cr"]}}}
	if r.Review.State == "" {
		r.Review.State = domain.ReviewUnrouted // accepted before reviews existed
	}
	if fwd := msTime(h["fwd"]); !fwd.IsZero() {
		r.ForwardedAt = &fwd
	}
	r.N, _ = strconv.ParseInt(h["n"], 10, 64)
	r.Attempts, _ = strconv.ParseInt(h["at"], 10, 64)
	return r
}

func msTime(s string) time.Time {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f <= 0 {
		return time.Time{}
	}
	return time.UnixMilli(int64(f)).UTC()
}
