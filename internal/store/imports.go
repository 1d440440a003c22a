package store

import (
	"context"
	"encoding/hex"
	"errors"
	"time"

	"github.com/mulegate/mulegate/internal/domain"
	"github.com/mulegate/mulegate/internal/iban"
	"github.com/redis/go-redis/v9"
)

// What "mulegate migrate" (package store/migrate) uses to write older
// layouts' data in the current one. The migration reads the older forms
// itself; the current form is written only by the store's own code, so
// the hot path reads one layout.

// Client is the Redis client the store writes through.
func (s *conn) Client() redis.UniversalClient { return s.rdb }

// Imported is one IBAN of an older layout, to be written as its book.
type Imported struct {
	Key       domain.IBANKey
	Holder    string // the book's holding bank ("" for none)
	IBAN      string // "" when no report names it
	Reports   []ImportedReport
	Marker    map[string]string // the marker's fields: ft, bt, by, at (ms), det
	Threshold bool              // the iban.threshold event was sent
}

// ImportedReport is one report of an older layout: its status as GET
// /v1/reports/{id} shows it, how many reports its IBAN had when it was
// accepted, and its idempotency record's fingerprint (nil for none).
type ImportedReport struct {
	domain.ReportStatus
	N           int64
	Fingerprint []byte
}

// Import writes an IBAN's book, its report index entries and its reports'
// idempotency entries, each field only if the book does not hold it yet
// (a record the current layout has wins), and recomputes the book's
// watermark. Reports past retention are left out; kept is how many were
// written.
func (s *conn) Import(ctx context.Context, in Imported) (kept int, err error) {
	if in.Key.Partition < 0 || in.Key.Partition >= len(s.tags) {
		return 0, errors.New("migrate: a partition that is not configured here (storage.partitions must not change)")
	}
	k := s.keysOf(in.Key)
	cutoff := s.now().Add(-s.opt.Retention)
	fields := map[string]any{}
	index := map[string]int64{} // raw id -> the day its report arrived
	idems := map[string]string{}
	for _, r := range in.Reports {
		if r.ReceivedAt.Before(cutoff) {
			continue
		}
		raw := rawID(r.ID)
		if err := s.importRecord(fields, raw, r, in.Holder); err != nil {
			return kept, err
		}
		index[raw] = day(r.ReceivedAt)
		if len(r.Fingerprint) >= 8 {
			idems[raw] = s.claimEntry(day(r.ReceivedAt), r.Fingerprint, k.part)
		}
		kept++
	}
	for f, v := range in.Marker {
		if v != "" {
			fields["m:"+f] = v
		}
	}
	if in.Threshold {
		fields["t"] = "1"
	}
	if in.Holder != "" || in.IBAN != "" {
		fields["j"] = s.bookHead(k, in.Holder, in.IBAN)
	}
	if len(fields) == 0 {
		return kept, nil
	}
	if err := s.importBook(ctx, k, fields, index, in.Marker["at"] != ""); err != nil {
		return kept, err
	}
	return kept, s.importClaims(ctx, idems)
}

// importRecord adds a report's record and its own fields to fields.
func (s *conn) importRecord(fields map[string]any, raw string, r ImportedReport, holder string) error {
	rv := r.Review
	rec := record{Received: r.ReceivedAt, Category: r.Category, Source: r.ReporterType, Org: r.ReporterOrg, N: r.N,
		Status: r.Status, Attempts: r.Attempts, Holder: rv.Holder, BookHolder: rv.Holder != "" && rv.Holder == holder,
		RespondBy: rv.RespondBy, Review: rv.State, PoliceRef: r.PoliceReference,
		Ack: rv.AcknowledgedAt, Closed: rv.ClosedAt, Cancels: rv.CancelledAt, Result: rv.Result, FraudType: rv.FraudType}
	if r.ForwardedAt != nil {
		rec.Forwarded = *r.ForwardedAt
	}
	core, rest, err := rec.encode()
	if err != nil {
		return err
	}
	if len(core) > maxRecord && rec.PoliceRef != "" {
		fields["p:"+raw] = rec.PoliceRef
		rec.PoliceRef, rec.RefSpilled = "", true
		if core, rest, err = rec.encode(); err != nil {
			return err
		}
	}
	fields[raw] = core
	for f, v := range map[string]string{"x:": rest, "e:": r.LastError, "d:": rv.Details, "c:": rv.CancelReason} {
		if v != "" {
			fields[f+raw] = v
		}
	}
	return nil
}

// bookHead is a book's j field: the holder, the separator, the sealed
// IBAN ("" when unknown).
func (s *conn) bookHead(k ibanKeys, holder, plain string) string {
	sealed := ""
	if i, err := iban.Parse(plain); err == nil {
		sealed = s.seal.seal(k.rawPseudo(), i)
	}
	return holder + sep + sealed
}

func (s *conn) importBook(ctx context.Context, k ibanKeys, fields map[string]any, index map[string]int64, marker bool) error {
	book := k.book()
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		for f, v := range fields {
			p.HSetNX(ctx, book, f, v)
		}
		// Books have no TTL unless they hold a marker: the report index
		// entries, stamped with each report's own day, retire them.
		if marker {
			p.Expire(ctx, book, time.Duration(s.ttlSeconds())*time.Second)
		} else {
			p.Persist(ctx, book)
		}
		for raw, d := range index {
			// The top level, which takes any number: locate asks every level.
			b := indexBucketAt(k.tag, indexTopLevel, raw[0])
			p.HSetNX(ctx, b, raw, dayBytes(d)+k.rawPseudo())
			// lo 0: the bucket's next write or prune finds its oldest day.
			p.HSet(ctx, b, "lo", 0)
			p.Expire(ctx, b, time.Duration(s.ttlSeconds())*time.Second)
		}
		return nil
	})
	if err != nil {
		return err
	}
	return s.recomputeW(ctx, book)
}

func (s *conn) importClaims(ctx context.Context, idems map[string]string) error {
	now := s.now()
	for raw, v := range idems {
		b := idemBucket(raw)
		_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.HSetNX(ctx, b, raw, v)
			p.HSetNX(ctx, b, "lo", day(now)-s.idemDays())
			p.Expire(ctx, b, time.Duration(s.idemDays()+1)*24*time.Hour)
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// recomputeW sets a book's w field from its records.
func (s *conn) recomputeW(ctx context.Context, book string) error {
	h, err := s.rdb.HGetAll(ctx, book).Result()
	if err != nil {
		return err
	}
	holder, _ := splitHead(h["j"])
	var wm, lo, nc int64
	for f, v := range h {
		if len(f) != 16 {
			continue
		}
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
		if r.Review != domain.ReviewCancelled {
			nc++
		}
	}
	if m := msTime(h["m:at"]); !m.IsZero() {
		wm = max(wm, m.UnixMilli())
	}
	return s.rdb.HSet(ctx, book, "w", formatW(wm, lo, nc)).Err()
}

// SetBookHead writes a book's j field (its holder and IBAN) and deletes
// the fields it replaces (drop).
func (s *conn) SetBookHead(ctx context.Context, book, holder, plain string, drop ...string) error {
	raw := book[len(book)-16:]
	sealed := ""
	if plain != "" {
		i, err := iban.Parse(plain)
		if err != nil {
			return err
		}
		sealed = s.seal.seal(raw, i)
	}
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, book, "j", holder+sep+sealed)
		if len(drop) > 0 {
			p.HDel(ctx, book, drop...)
		}
		return nil
	})
	return err
}

// OpenBookIBAN opens an IBAN sealed in the compact form for book.
func (s *conn) OpenBookIBAN(book, sealed string) (string, error) {
	return s.seal.open(book[len(book)-16:], sealed)
}

// ClaimEntry is an idempotency entry in the current form (day, 8
// fingerprint bytes, partition) from its parts.
func (s *conn) ClaimEntry(d int64, fp []byte, part int) string { return s.claimEntry(d, fp, part) }

// SealEvent, SealAlertIBAN and SealOutbox seal a feed event's data, an
// alert's IBAN and an outbox body where they belong; IsSealed says
// whether a value is sealed.
func (s *conn) SealEvent(org, eventID string, data []byte) string {
	return s.sealEventData(org, eventID, data)
}

// CompactEvent brings a feed entry written before layout 5 (event id in
// hex, the type's name, JSON data sealed with its nonce) into the current
// form, in place; false
// when it was in it already (or its data does not open: left as it is).
func (s *conn) CompactEvent(org string, values map[string]any) bool {
	id, _ := values["event_id"].(string)
	typ, _ := values["type"].(string)
	data, _ := values["data"].(string)
	changed := false
	if raw := rawID(id); raw != "" {
		values["event_id"], changed = raw, true
	} else if len(id) == 16 {
		id = hex.EncodeToString([]byte(id))
	}
	if c := eventCode(domain.EventType(typ)); c != typ {
		values["type"], changed = c, true
	}
	// Sealed with a stored nonce (S1): resealed, compact, under the id's
	// nonce where the id is one (an id that is not keeps S1).
	if plain, err := s.blobs.open(adEvent(org, id), data); err == nil && (rawID(id) != "" || len(plain) == 0 || plain[0] != compactMark) {
		values["data"], changed = s.sealEventData(org, id, plain), true
	}
	return changed
}

// CompactWorkMember is a work list's member in the current form (the
// raw report id) and whether it changed.
func CompactWorkMember(m string) (string, bool) {
	w := workMember(m)
	return w, w != m
}

func (s *conn) SealAlertIBAN(org, alertID, i string) string {
	return s.blobs.seal(adAlert(org, alertID), []byte(i))
}

func (s *conn) SealOutbox(reportID string, body []byte) string {
	return s.blobs.seal(adOutbox(reportID), body)
}

func IsSealed(v string) bool { return sealed(v) }

// ReportKey finds the IBAN (its key) a report is about.
func (s *conn) ReportKey(ctx context.Context, id string) (domain.IBANKey, error) {
	k, err := s.locate(ctx, id)
	if err != nil {
		return domain.IBANKey{}, err
	}
	return domain.IBANKey{Pseudonym: k.pseudo, Partition: k.part}, nil
}

// EachKey calls each for every key matching pattern, on every master.
func (s *conn) EachKey(ctx context.Context, pattern string, each func(key string) error) error {
	return s.eachNode(ctx, func(ctx context.Context, c redis.UniversalClient) error {
		return scanKeys(ctx, c, pattern, each)
	})
}
