package store

import (
	"context"
	"encoding/hex"
	"errors"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/mulegate/mulegate/internal/domain"
	"github.com/mulegate/mulegate/internal/iban"
	"github.com/redis/go-redis/v9"
)

// Correcting the record (SPEC Part 3) keeps two words in the IBAN's book
// (record.go), each one short field beside its free text:
//
//	hs hsd   the holding bank's status: "<status>:<since ms>"; its details
//	cl cld   the police's clear: "<reason>:<at ms>:<police org>"; its details
//
// A clear rewrites no record: the reports received before its time stop
// counting where they are counted (domain.Counter.Cleared), so a clear of
// an IBAN with any number of reports is one write.

// parseHolderStatus reads an hs field (nil for none or garbled).
func parseHolderStatus(v, details string) *domain.HolderStatus {
	st, ms, ok := strings.Cut(v, ":")
	at, err := strconv.ParseInt(ms, 10, 64)
	if !ok || err != nil || !domain.HolderStatusKind(st).Valid() {
		return nil
	}
	return &domain.HolderStatus{Status: domain.HolderStatusKind(st), Since: time.UnixMilli(at).UTC(), Details: details}
}

// parseClear reads a cl field (nil for none or garbled).
func parseClear(v, details string) *domain.Clear {
	parts := strings.SplitN(v, ":", 3)
	if len(parts) != 3 {
		return nil
	}
	at, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil {
		return nil
	}
	return &domain.Clear{Reason: domain.ClearReason(parts[0]), At: time.UnixMilli(at).UTC(), By: parts[2], Details: details}
}

// clearOf finds the clear among a book's pairs before they are counted.
func clearOf(kv []string) *domain.Clear {
	var cl, det string
	for n := 0; n+1 < len(kv); n += 2 {
		if len(kv[n]) == 2 && kv[n] == "cl" {
			cl = kv[n+1]
		} else if len(kv[n]) == 3 && kv[n] == "cld" {
			det = kv[n+1]
		}
	}
	if cl == "" {
		return nil
	}
	return parseClear(cl, det)
}

// bookWordsScript sets and deletes an IBAN's own fields (a status, a
// clear) and moves the book's watermark.
var bookWordsScript = newScript("book_words", []string{"lib/record"}, bookWordsArgs{})

// bookWordsArgs: the fields to write.
type bookWordsArgs struct {
	Now    int64 `lua:"now"` // ms
	TTL    int64 `lua:"ttl"`
	Fields []any `lua:"fields"` // name, value ("" deletes)
}

func (a bookWordsArgs) argv() []any { return argvOf(a) }

func (s *IBANs) writeWords(ctx context.Context, i iban.IBAN, now time.Time, fields ...any) error {
	k := s.keysFor(i)
	args := bookWordsArgs{Now: now.UnixMilli(), TTL: s.ttlSeconds(), Fields: fields}
	if _, err := s.runReplicated(ctx, bookWordsScript, []string{k.book()}, args.argv()...); err != nil {
		return s.fail(opReport, "book words", err)
	}
	return nil
}

// SetHolderStatus records the holding bank's status of an IBAN.
func (s *IBANs) SetHolderStatus(ctx context.Context, i iban.IBAN, h domain.HolderStatus) error {
	return s.writeWords(ctx, i, s.now(), "hs", string(h.Status)+":"+strconv.FormatInt(h.Since.UnixMilli(), 10), "hsd", h.Details)
}

// DeleteHolderStatus removes it.
func (s *IBANs) DeleteHolderStatus(ctx context.Context, i iban.IBAN) error {
	return s.writeWords(ctx, i, s.now(), "hs", "", "hsd", "")
}

// clearScript applies a clear (lua/clear.lua).
var clearScript = newScript("clear", []string{"lib/record", "lib/words"}, clearArgs{})

// clearArgs: a clear.
type clearArgs struct {
	Now       int64  `lua:"now"` // the clear's time, ms
	TTL       int64  `lua:"ttl"`
	Value     string `lua:"value"` // the cl field
	Details   string `lua:"details"`
	Reason    string `lua:"reason"`
	Previous  string `lua:"previous"` // the risk a lookup answered before it
	Subject   string `lua:"subject"`  // the correction entry's id
	IBAN      string `lua:"iban"`     // sealed, for the correction entry
	Pseudo    string `lua:"pseudo"`
	Wake      string `lua:"wake"`
	Partition int    `lua:"partition"`
	Holder    string `lua:"holder"`   // the bank that hears the marker lifted ("" none)
	MSubject  string `lua:"msubject"` // that feed entry's id
	MEvent    string `lua:"mevent"`   // marker.cancelled
	MBody     string `lua:"mbody"`    // its data, sealed
}

func (a clearArgs) argv() []any { return argvOf(a) }

// ClearIBAN records the police's clear of an IBAN (at c.At): the reports
// received before it stop counting, its marker is lifted (and holder, the
// bank holding the IBAN, "" for none, hears marker.cancelled as when the
// police lift it), the linked reports of its reports hear that their
// sources confirm nothing now, and a correction is queued for those who
// acted on the old answer (which was previous). It returns how many
// reports stopped counting.
func (s *IBANs) ClearIBAN(ctx context.Context, i iban.IBAN, c domain.Clear, previous domain.Risk, holder string) (int64, error) {
	k := s.keysFor(i)
	subject := "clear:" + k.pseudo + ":" + strconv.FormatInt(c.At.UnixMilli(), 10)
	args := clearArgs{Now: c.At.UnixMilli(), TTL: s.ttlSeconds(), Value: clearValue(c), Details: c.Details, Reason: string(c.Reason),
		Previous: string(previous), Subject: subject, IBAN: s.blobs.seal(adIBAN(subject), []byte(i.String())), Pseudo: k.pseudo,
		Wake: WakeChannel, Partition: k.part}
	if holder != "" {
		var err error
		args.MSubject, args.MBody, err = s.markerFeed(k, markerEvent{IBAN: i.String(), CancelledAt: c.At.UTC().Format(time.RFC3339Nano)}, c.At)
		if err != nil {
			return 0, err
		}
		args.Holder, args.MEvent = holder, string(domain.EventMarkerCancelled)
	}
	v, err := s.runReplicated(ctx, clearScript, []string{k.book(), s.OutboxKey(k.part)}, args.argv()...)
	if err != nil {
		return 0, s.fail(opReport, "clear", err)
	}
	out, _ := v.([]any)
	if len(out) == 0 {
		return 0, domain.Internal("clear", errUnexpected(v))
	}
	n, _ := out[0].(int64)
	s.spreadWords(ctx, k, out[1:])
	return n, (&Reports{s.conn}).releaseCleared(ctx, k, c)
}

// releaseCleared releases the open recoveries of the reports a clear
// covers (their holders and requesters hear of it as of any release),
// each a change of its own report. A failure leaves the clear in place;
// the police may clear again (the same reports, released then).
func (s *Reports) releaseCleared(ctx context.Context, k ibanKeys, c domain.Clear) error {
	fields, err := s.rdb.HKeys(ctx, k.book()).Result()
	if err != nil {
		return s.fail(opReport, "clear: recoveries", err)
	}
	for _, f := range fields {
		raw, ok := strings.CutPrefix(f, "r:")
		if !ok || len(raw) != rawIDLen {
			continue
		}
		id := hex.EncodeToString([]byte(raw))
		for range 5 {
			st, _, old, err := s.readReport(ctx, id)
			if err != nil {
				return err
			}
			if st.Cleared == nil || st.Recovery == nil {
				break
			}
			r, open := st.Recovery.ReleaseOnClear(s.now())
			if !open {
				break
			}
			ch := change{rec: old.rec}
			if err := s.recoveryChange(&ch, k, st, r, c.By); err != nil {
				return err
			}
			if done, err := s.apply(ctx, k, id, old, ch, s.now()); err != nil || done {
				if err != nil {
					return err
				}
				break
			}
		}
	}
	return nil
}

// spreadWords writes the words a script queued (source id, linked ids,
// …) at once as well (spreadWord).
func (s *conn) spreadWords(ctx context.Context, k ibanKeys, words []any) {
	for w := 0; w+1 < len(words); w += 2 {
		id, _ := words[w].(string)
		kids, _ := words[w+1].(string)
		s.spreadWord(ctx, k, id, splitIDs(kids))
	}
}

func clearValue(c domain.Clear) string {
	return string(c.Reason) + ":" + strconv.FormatInt(c.At.UnixMilli(), 10) + ":" + c.By
}

// unclearScript withdraws a clear (lua/unclear.lua).
var unclearScript = newScript("unclear", []string{"lib/record", "lib/words"}, unclearArgs{})

// unclearArgs: the clear withdrawn.
type unclearArgs struct {
	Expected  string `lua:"expected"` // its cl field
	At        int64  `lua:"at"`       // its time, ms
	Now       int64  `lua:"now"`
	Subject   string `lua:"subject"`
	IBAN      string `lua:"iban"` // sealed
	Pseudo    string `lua:"pseudo"`
	Wake      string `lua:"wake"`
	Partition int    `lua:"partition"`
}

func (a unclearArgs) argv() []any { return argvOf(a) }

// WithdrawClear undoes the IBAN's clear if it was made in error (SPEC
// Part 3, precise point 8): its reports count again, the clear before it
// (if any) holds again, and the orgs it corrected hear of it
// (clear_withdrawn). 404 without a clear, 409 for another reason. It
// returns the clear withdrawn.
func (s *IBANs) WithdrawClear(ctx context.Context, i iban.IBAN) (domain.Clear, error) {
	k := s.keysFor(i)
	for range 5 {
		cur, err := s.rdb.HGet(ctx, k.book(), "cl").Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			return domain.Clear{}, s.fail(opReport, "clear: read", err)
		}
		c := parseClear(cur, "")
		if c == nil {
			return domain.Clear{}, &domain.Error{Code: domain.CodeNotFound, Msg: "the IBAN has no clear"}
		}
		if c.Reason != domain.ClearError {
			return *c, &domain.Error{Code: domain.CodeInvalidState, Msg: "only a clear made in error can be withdrawn; this one's reason is " +
				string(c.Reason)}
		}
		subject := "unclear:" + k.pseudo + ":" + strconv.FormatInt(c.At.UnixMilli(), 10)
		args := unclearArgs{Expected: cur, At: c.At.UnixMilli(), Now: s.now().UnixMilli(), Subject: subject,
			IBAN: s.blobs.seal(adIBAN(subject), []byte(i.String())), Pseudo: k.pseudo, Wake: WakeChannel, Partition: k.part}
		v, err := s.runReplicated(ctx, unclearScript, []string{k.book(), s.OutboxKey(k.part)}, args.argv()...)
		if err != nil {
			return *c, s.fail(opReport, "clear: withdraw", err)
		}
		if out, ok := v.([]any); ok && len(out) > 0 {
			s.spreadWords(ctx, k, out[1:])
			return *c, nil
		}
	}
	return domain.Clear{}, domain.Unavailable("clear", errTooManyChanges)
}

// CorrectionRecipients are the orgs an IBAN's clear at (ms) corrects
// (SPEC Part 3, precise point 9), in org order: every bank or marketplace
// whose lookups of it span a moment within lookback before the clear (the
// lookup log keeps each org's first and last), every reporter of a report
// the clear covers, and every holder of one, and the bank that holds it
// now. The police have no feed. due are the open reviews of the reports
// the clear covers: a clear ends their overdue flags (and a withdrawal
// brings them back).
func (s *IBANs) CorrectionRecipients(ctx context.Context, pseudo string, part int, at int64, lookback time.Duration,
	ibanText string) (orgs []domain.Caller, due []domain.DueReview, err error) {
	k := s.keysOf(domain.IBANKey{Pseudonym: pseudo, Partition: part})
	var log, book *redis.MapStringStringCmd
	if _, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		log, book = p.HGetAll(ctx, k.lookupLog()), p.HGetAll(ctx, k.book())
		return nil
	}); err != nil {
		return nil, nil, s.fail(opReport, "corrections: read", err)
	}
	byOrg := map[string]domain.OrgType{}
	add := func(org string, t domain.OrgType) {
		if org != "" && (t == domain.OrgBank || t == domain.OrgMarketplace) {
			byOrg[org] = t
		}
	}
	l := log.Val()
	for f, v := range l {
		org, ok := strings.CutPrefix(f, "n:")
		if !ok || v == "0" {
			continue
		}
		first, last := msTime(l["f:"+org]).UnixMilli(), msTime(l["l:"+org]).UnixMilli()
		if first <= at && last >= at-lookback.Milliseconds() {
			add(org, domain.OrgType(l["t:"+org]))
		}
	}
	b := book.Val()
	bookHolder, _ := splitHead(b["j"])
	for f, v := range b {
		if len(f) != rawIDLen {
			continue
		}
		r, err := decodeRecord(v, "", bookHolder)
		if err != nil || r.Received.UnixMilli() >= at {
			continue
		}
		add(r.Org, r.Source)
		add(r.Holder, domain.OrgBank)
		if (r.Review == domain.ReviewOpen || r.Review == domain.ReviewAcknowledged) && r.Holder != "" {
			due = append(due, domain.DueReview{Holder: r.Holder, ReportID: hex.EncodeToString([]byte(f)), RespondBy: r.RespondBy})
		}
	}
	if i, err := iban.Parse(ibanText); err == nil {
		add(s.opt.HolderOf(i), domain.OrgBank)
	}
	orgs = make([]domain.Caller, 0, len(byOrg))
	for org, t := range byOrg {
		orgs = append(orgs, domain.Caller{Org: org, Type: t})
	}
	sort.Slice(orgs, func(a, b int) bool { return orgs[a].Org < orgs[b].Org })
	return orgs, due, nil
}

// AccessRecord reads everything the gateway holds about an IBAN (its
// book and its lookup log, in one round trip: they share a slot), for the
// account holder's access request.
func (s *IBANs) AccessRecord(ctx context.Context, i iban.IBAN) (domain.AccessRecord, error) {
	k := s.keysFor(i)
	var logCmd, bookCmd *redis.MapStringStringCmd
	if _, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		logCmd, bookCmd = p.HGetAll(ctx, k.lookupLog()), p.HGetAll(ctx, k.book())
		return nil
	}); err != nil {
		return domain.AccessRecord{}, s.fail(opReport, "record: read", err)
	}
	b := bookCmd.Val()
	var out domain.AccessRecord
	cutoff := s.now().Add(-s.opt.Retention)
	var mk markerFields
	for f, v := range b {
		if len(f) != rawIDLen {
			mk.set(f, v)
			continue
		}
		id := hex.EncodeToString([]byte(f))
		st, r, err := s.reportFrom(k, id, func(name string) string {
			switch name {
			case f, "j", "cl":
				return b[name]
			}
			return b[name+f]
		})
		if err != nil {
			return domain.AccessRecord{}, err
		}
		counted := st.Review.State != domain.ReviewCancelled && st.Cleared == nil && !r.Received.Before(cutoff)
		out.Reports = append(out.Reports, domain.RecordReport{ReportStatus: st, Counted: counted})
	}
	sort.Slice(out.Reports, func(a, c int) bool {
		ra, rc := out.Reports[a].ReceivedAt, out.Reports[c].ReceivedAt
		return ra.Before(rc) || ra.Equal(rc) && out.Reports[a].ID < out.Reports[c].ID
	})
	out.Marker = mk.marker()
	out.HolderStatus = parseHolderStatus(b["hs"], b["hsd"])
	out.Cleared = parseClear(b["cl"], b["cld"])
	l := logCmd.Val()
	for f, v := range l {
		rest, ok := strings.CutPrefix(f, "m:")
		if !ok || len(rest) < 9 {
			continue
		}
		n, _ := strconv.ParseInt(v, 10, 64)
		org := rest[8:]
		out.Lookups = append(out.Lookups, domain.MonthLookups{Org: org, OrgType: domain.OrgType(l["t:"+org]), Month: rest[:7], Count: n})
	}
	sort.Slice(out.Lookups, func(a, c int) bool {
		la, lc := out.Lookups[a], out.Lookups[c]
		return la.Month < lc.Month || la.Month == lc.Month && la.Org < lc.Org
	})
	return out, nil
}
