package migrate

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mulegate/mulegate/internal/domain"
	"github.com/mulegate/mulegate/internal/iban"
	"github.com/mulegate/mulegate/internal/redistest"
	"github.com/mulegate/mulegate/internal/store"
	"github.com/redis/go-redis/v9"
)

var secret = []byte("0123456789abcdef0123456789abcdef")

func opts() Options { return Options{Secret: secret, Partitions: 64} }

// seal seals an IBAN in the form the layouts before the compact seal
// wrote (nonce, ciphertext, tag; ad: a report id or a book's pseudonym).
func (l *legacySealer) seal(ad, plain string) string {
	nonce := make([]byte, l.aead.NonceSize(), l.aead.NonceSize()+len(plain)+l.aead.Overhead())
	_, _ = rand.Read(nonce)
	return string(l.aead.Seal(nonce, nonce, []byte(plain), []byte(ad)))
}

// fingerprint is the store's keyed fingerprint of a request's bytes, as
// the idempotency records of every layout kept it.
func fingerprint(canonical []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("fingerprint\x00"))
	m.Write(canonical)
	return m.Sum(nil)
}

// bookKey, rawID and idemBucket name what the store's keys.go does.
func bookKey(s *store.Store, i iban.IBAN) string {
	ps, part := s.Pseudonym(i)
	return fmt.Sprintf("mg:{p%d}:b:", part) + rawID(ps)
}

func rawID(id string) string { b, _ := hex.DecodeString(id); return string(b) }

func idemBucket(id string) string {
	b, _ := hex.DecodeString(id)
	return fmt.Sprintf("mg:{d:%x}", (int(b[0])<<8|int(b[1]))%(1<<14))
}

func newStore(t *testing.T, rdb redis.UniversalClient, now time.Time) *store.Store {
	t.Helper()
	st, err := store.New(rdb, store.Options{Secret: secret, Now: func() time.Time { return now },
		HolderOf: func(iban.IBAN) string { return "bank-h" }})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestBeforeBooks writes an IBAN in the layout before books, as that
// version's scripts left it (a forwarded report with an open review, a
// cancelled one, one past retention, a marker, the threshold flag and
// their idempotency records), and checks that after Run the counts, the
// report's status, its IBAN for the holder, replays and conflicts are
// what they were, and that no old key is left.
func TestBeforeBooks(t *testing.T) {
	srv := redistest.StartTopology(t) // the cluster pass migrates a cluster
	rdb := srv.Client(t)
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	s := newStore(t, rdb, now)
	legacy, _ := newLegacySealer(secret)
	ctx := context.Background()
	i, _ := iban.Parse("NL91ABNA0417164300")
	sub := domain.Submission{IBAN: i, Category: "phishing"}
	pseudo, part := s.Pseudonym(i)
	tag := fmt.Sprintf("{p%d}", part)
	key := func(x string) string { return "mg:" + tag + ":" + x + ":" + pseudo }
	ms := func(t time.Time) string { return fmt.Sprint(t.UnixMilli()) }
	old := func(org, idem string, rcv time.Time, extra ...any) string {
		id := s.ReportID(org, idem)
		f := []any{"st", "forwarded", "at", 1, "org", org, "src", "bank", "cat", "phishing", "rcv", ms(rcv), "n", 1,
			"h", "bank-h", "rb", ms(rcv.Add(7 * 24 * time.Hour)), "rv", "open", "ps", pseudo,
			"ie", base64.RawStdEncoding.EncodeToString([]byte(legacy.seal(id, i.String()))), "pref", "POL-1", "fwd", ms(rcv.Add(time.Second))}
		rdb.HSet(ctx, "mg:"+tag+":r:"+id, append(f, extra...)...)
		rdb.HSet(ctx, "mg:idem:"+id, "h", hex.EncodeToString(fingerprint(sub.Canonical())), "v", tag)
		return id
	}
	rcv := now.Add(-time.Hour)
	a := old("bank-a", "k1", rcv)
	rdb.ZAdd(ctx, key("z"), redis.Z{Score: float64(rcv.UnixMilli()), Member: a + "|phishing|bank|bank-a"})
	b := old("bank-b", "k2", rcv, "rv", "cancelled", "can", ms(rcv.Add(time.Minute)), "cr", "filed by mistake")
	rdb.ZAdd(ctx, key("x"), redis.Z{Score: float64(rcv.UnixMilli()), Member: b})
	c := old("bank-c", "k3", now.Add(-800*24*time.Hour))
	rdb.HSet(ctx, key("i"), "c:phishing", 1, "s:bank", 1, "v:open", 1, "wm", ms(rcv))
	rdb.HSet(ctx, key("m"), "ft", "mule_account", "bt", "police", "by", "police", "at", ms(rcv), "det", "seen before")
	rdb.Set(ctx, key("t"), 1, 0)

	if err := s.CheckLayout(ctx); !errors.Is(err, store.ErrLayout) {
		t.Fatalf("the layout before books: %v, want refused", err)
	}
	stats, err := Run(ctx, s, opts())
	if err != nil {
		t.Fatal(err)
	}
	if stats.IBANs != 1 || stats.Reports != 2 || stats.Expired != 1 || stats.Markers != 1 {
		t.Errorf("stats %+v", stats)
	}
	cnt, err := s.Lookup(ctx, i)
	if err != nil {
		t.Fatal(err)
	}
	if cnt.ReportCount != 1 || cnt.Cancelled != 1 || cnt.ReporterCount != 1 || cnt.Review.Open != 1 || cnt.Marker == nil || cnt.Marker.Details != "seen before" {
		t.Errorf("counts after migrating: %+v (marker %+v)", cnt, cnt.Marker)
	}
	st, err := s.ReportStatus(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != domain.StatusForwarded || st.PoliceReference != "POL-1" || st.IBAN != i.String() || st.Review.Holder != "bank-h" ||
		st.Review.State != domain.ReviewOpen || !st.Review.RespondBy.Equal(rcv.Add(7*24*time.Hour)) || st.Attempts != 1 {
		t.Errorf("report after migrating: %+v", st)
	}
	if st, _ := s.ReportStatus(ctx, b); st.Review.CancelReason != "filed by mistake" {
		t.Errorf("cancelled report after migrating: %+v", st)
	}
	if _, err := s.ReportStatus(ctx, c); domain.ErrorCode(err) != domain.CodeNotFound {
		t.Errorf("the report past retention: %v, want not found", err)
	}
	if acc, err := s.Accept(ctx, "bank-a", domain.OrgBank, "k1", sub); err != nil || !acc.Replayed || acc.ID != a {
		t.Errorf("replay after migrating: %+v %v", acc, err)
	}
	other := domain.Submission{IBAN: i, Category: "other"}
	if _, err := s.Accept(ctx, "bank-a", domain.OrgBank, "k1", other); domain.ErrorCode(err) != domain.CodeConflict {
		t.Errorf("another request under a migrated key: %v, want a conflict", err)
	}
	crossed, _, err := s.ThresholdCrossing(ctx, i.String(), 1)
	if err != nil || crossed {
		t.Errorf("threshold flag after migrating: crossed %v %v, want already announced", crossed, err)
	}
	dump := srv.Dump(t)
	for k := range dump {
		if strings.HasPrefix(k, "mg:idem:") || strings.Contains(k, ":r:") || strings.Contains(k, ":"+pseudo) && !strings.Contains(k, ":a:") {
			t.Errorf("old key left: %q", k)
		}
	}
	if err := s.CheckLayout(ctx); err != nil {
		t.Errorf("after the migration: %v", err)
	}
	if again, err := Run(ctx, s, opts()); err != nil || again != (Stats{}) {
		t.Errorf("a second run: %+v %v, want nothing to do", again, err)
	}
}

// TestBooksBeforeTheJField: books written before the j field (the holder
// in h and the compact seal in i; or the IBAN sealed whole in ie), an
// idempotency entry of 14 bytes and Part 2's event id hash are refused by
// the layout check and rewritten by Run: the reports show their holder
// and IBAN, the old request is a replay and another under its key a
// conflict, and an event Part 2 wrote is not added twice.
func TestBooksBeforeTheJField(t *testing.T) {
	srv := redistest.StartTopology(t)
	rdb := srv.Client(t)
	now := time.Now()
	s := newStore(t, rdb, now)
	legacy, _ := newLegacySealer(secret)
	ctx := context.Background()
	nl, _ := iban.Parse("NL91ABNA0417164300")
	de, _ := iban.Parse("DE89370400440532013000")
	sub := domain.Submission{IBAN: nl, Category: "phishing"}
	first, err := s.Accept(ctx, "bank-a", domain.OrgBank, "k1", sub)
	if err != nil {
		t.Fatal(err)
	}
	second, err := s.Accept(ctx, "bank-b", domain.OrgBank, "k2", domain.Submission{IBAN: de, Category: "phishing"})
	if err != nil {
		t.Fatal(err)
	}
	// The NL book as the build before j wrote it: h and i.
	nlBook, deBook := bookKey(s, nl), bookKey(s, de)
	holder, sealed, _ := strings.Cut(rdb.HGet(ctx, nlBook, "j").Val(), "\x1f")
	rdb.HDel(ctx, nlBook, "j")
	rdb.HSet(ctx, nlBook, "h", holder, "i", sealed)
	// The DE book as the build before the compact seal wrote it: ie.
	rdb.HDel(ctx, deBook, "j")
	rdb.HSet(ctx, deBook, "h", "bank-h", "ie", legacy.seal(deBook[len(deBook)-16:], de.String()))
	// The first report's idempotency entry in 14 bytes.
	raw := rawID(first.ID)
	_, part := s.Pseudonym(nl)
	fp := fingerprint(sub.Canonical())
	d := now.Unix() / 86400
	rdb.HSet(ctx, idemBucket(first.ID), raw, string([]byte{byte(d >> 8), byte(d)})+string(fp[:10])+string([]byte{0, byte(part)}))
	// Part 2's event ids.
	ev := domain.Event{ID: s.EventID(domain.EventReportReceived, first.ID), Type: domain.EventReportReceived, Data: []byte(`{}`), CreatedAt: now}
	rdb.HSet(ctx, "mg:{a:bank-h}:eids", ev.ID, "1-0")
	rdb.HSet(ctx, "mg:layout", "v", 3)

	if err := s.CheckLayout(ctx); !errors.Is(err, store.ErrLayout) || !strings.Contains(err.Error(), "mulegate migrate") {
		t.Fatalf("layout 3: %v, want a refusal naming the migration", err)
	}
	stats, err := Run(ctx, s, opts())
	if err != nil {
		t.Fatal(err)
	}
	if stats.Books != 2 || stats.Claims != 1 || stats.EventIDs != 1 {
		t.Errorf("stats %+v, want 2 books, 1 claim, 1 event id", stats)
	}
	for _, c := range []struct {
		id   string
		want iban.IBAN
	}{{first.ID, nl}, {second.ID, de}} {
		got, err := s.ReportStatus(ctx, c.id)
		if err != nil || got.IBAN != c.want.String() || got.Review.Holder != "bank-h" {
			t.Errorf("report %s: IBAN %q, holder %q, %v", c.id, got.IBAN, got.Review.Holder, err)
		}
	}
	for _, b := range []string{nlBook, deBook} {
		if n := rdb.HExists(ctx, b, "h").Val() || rdb.HExists(ctx, b, "i").Val() || rdb.HExists(ctx, b, "ie").Val(); n {
			t.Errorf("book %q keeps an old field", b)
		}
	}
	if again, err := s.Accept(ctx, "bank-a", domain.OrgBank, "k1", sub); err != nil || !again.Replayed {
		t.Errorf("the old request again: %+v %v, want a replay", again, err)
	}
	if _, err := s.Accept(ctx, "bank-a", domain.OrgBank, "k1", domain.Submission{IBAN: nl, Category: "other"}); domain.ErrorCode(err) != domain.CodeConflict {
		t.Errorf("another request under the old key: %v, want a conflict", err)
	}
	if added, err := s.AppendEvent(ctx, "bank-h", ev); err != nil || added {
		t.Errorf("an event Part 2 wrote, again: added %v %v", added, err)
	}
	if err := s.CheckLayout(ctx); err != nil {
		t.Errorf("after the migration: %v", err)
	}
}

// TestSealsFeedsAndOutbox (SPEC Part 3 precise point 15): what Part 2
// kept in plaintext (a bank's feed events and alerts, a rejected
// report's body, queued outbox entries without their IBAN's pseudonym) is
// sealed and completed; the feeds read as before; the outbox's consumer
// groups go on where they were (the pending entry with its consumer and
// delivery count, the delivered one not delivered again, the new one
// next); no value holds the IBAN. Another secret is refused.
func TestSealsFeedsAndOutbox(t *testing.T) {
	srv := redistest.StartTopology(t)
	rdb := srv.Client(t)
	ctx := context.Background()
	const ibanText = "NL91ABNA0417164300"
	now := time.Now()
	st := newStore(t, rdb, now)
	i, _ := iban.Parse(ibanText)
	acc, err := st.Accept(ctx, "bank-a", domain.OrgBank, "k1", domain.Submission{IBAN: i, Category: "phishing"})
	if err != nil {
		t.Fatal(err)
	}
	pseudo, part := st.Pseudonym(i)
	outboxKey := st.OutboxKey(part)
	if err := st.EnsureGroups(ctx); err != nil {
		t.Fatal(err)
	}
	// Part 2's values.
	xadd := func(stream string, vals ...any) string {
		id, err := rdb.XAdd(ctx, &redis.XAddArgs{Stream: stream, Values: vals}).Result()
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	xadd("mg:{a:bank-a}:events", "event_id", "e1", "type", "report.received", "data", `{"report_id":"r1","iban":"`+ibanText+`"}`, "at", now.UnixMilli())
	xadd("mg:{a:bank-a}:alerts", "alert_id", "a1", "iban", ibanText, "severity", "info", "message", "m", "reference", "r", "police", "police-nl")
	rdb.HSet(ctx, "mg:{p3}:rejected", "0123456789abcdef0123456789abcdef", `{"iban":"`+ibanText+`"}`)
	// Two more Part 2 outbox entries of the report: plaintext, no ps.
	rdb.Del(ctx, outboxKey)
	if err := st.EnsureGroups(ctx); err != nil {
		t.Fatal(err)
	}
	e1 := xadd(outboxKey, "id", acc.ID, "body", `{"iban":"`+ibanText+`","n":1}`)
	e2 := xadd(outboxKey, "id", acc.ID, "body", `{"iban":"`+ibanText+`","n":2}`)
	e3 := xadd(outboxKey, "id", acc.ID, "body", `{"iban":"`+ibanText+`","n":3}`)
	// The forwarders took e1 and e2; e1 is done, e2 is pending with fw-1,
	// delivered twice. e3 is new.
	if _, err := rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "forwarders", Consumer: "fw-1", Streams: []string{outboxKey, ">"}, Count: 2, Block: -1}).Result(); err != nil {
		t.Fatal(err)
	}
	rdb.XAck(ctx, outboxKey, "forwarders", e1)
	rdb.XClaim(ctx, &redis.XClaimArgs{Stream: outboxKey, Group: "forwarders", Consumer: "fw-1", Messages: []string{e2}})
	rdb.HSet(ctx, "mg:layout", "v", 3)

	stats, err := Run(ctx, st, opts())
	if err != nil {
		t.Fatal(err)
	}
	if stats.Events != 1 || stats.Alerts != 1 || stats.Rejected != 1 || stats.Outbox != 3 {
		t.Errorf("stats %+v, want one event, one alert, one rejected, three outbox entries", stats)
	}
	for key, val := range srv.Dump(t) {
		if strings.Contains(val, ibanText) || strings.Contains(val, ibanText[4:12]) {
			t.Errorf("%s still holds the IBAN: %.200s", key, val)
		}
	}
	evs, _, _, err := st.Events(ctx, "bank-a", "", 10, nil)
	if err != nil || len(evs) != 1 || !strings.Contains(string(evs[0].Data), ibanText) {
		t.Errorf("the feed after sealing: %+v %v", evs, err)
	}
	als, _, _, err := st.Alerts(ctx, "bank-a", "", 10)
	if err != nil || len(als) != 1 || als[0].IBAN != ibanText {
		t.Errorf("the alerts after sealing: %+v %v", als, err)
	}
	pend, err := rdb.XPendingExt(ctx, &redis.XPendingExtArgs{Stream: outboxKey, Group: "forwarders", Start: "-", End: "+", Count: 10}).Result()
	if err != nil || len(pend) != 1 || pend[0].ID != e2 || pend[0].Consumer != "fw-1" || pend[0].RetryCount != 2 {
		t.Errorf("pending after the migration: %+v %v, want %s with fw-1, delivered twice", pend, err, e2)
	}
	next, err := st.ReadOutbox(ctx, part, "fw-2", 10)
	if err != nil || len(next) != 1 || next[0].StreamID != e3 || !strings.Contains(string(next[0].Body), `"n":3`) || next[0].Pseudonym != pseudo {
		t.Errorf("the next entry after the migration: %+v %v, want %s, opened, with its pseudonym", next, err, e3)
	}
	if held, err := st.ReadForHolders(ctx, part, "relay-1", 10); err != nil || len(held) != 3 {
		t.Errorf("the holders' group after the migration: %d entries %v, want all 3 still to read", len(held), err)
	}
	if again, err := Run(ctx, st, opts()); err != nil || again != (Stats{}) {
		t.Errorf("a second migration: %+v %v, want nothing to do", again, err)
	}
	other, _ := store.New(rdb, store.Options{Secret: []byte("another secret of at least 16 bytes")})
	if err := other.CheckLayout(ctx); !errors.Is(err, store.ErrLayout) || !strings.Contains(err.Error(), "another pseudonym secret") {
		t.Errorf("another secret: %v", err)
	}
	if _, err := Run(ctx, other, Options{Secret: []byte("another secret of at least 16 bytes"), Partitions: 64}); !errors.Is(err, store.ErrLayout) {
		t.Errorf("migrating with another secret: %v, want refused", err)
	}
}

// TestCompactsLayout4Feeds (issue 29, goal 3): layout 4's feed entry (hex
// event id, type name, sealed JSON), its hex id in the event id set and
// hex report ids in the work lists become layout 5's compact forms: the
// feed reads the same event at the same cursor, the work list the same
// reports in the same order, and the relay writing the event again adds
// nothing.
func TestCompactsLayout4Feeds(t *testing.T) {
	srv := redistest.StartTopology(t)
	rdb := srv.Client(t)
	ctx := context.Background()
	now := time.Now()
	st := newStore(t, rdb, now)
	ev := domain.Event{ID: st.EventID(domain.EventReportReceived, "29728e6958ac6f8d20894090aad42ff3"), Type: domain.EventReportReceived,
		CreatedAt: now, Data: []byte(`{"iban":"NL91ABNA0417164300","report_id":"29728e6958ac6f8d20894090aad42ff3"}`)}
	// Layout 3's plaintext form, which the migration seals, then compacts.
	cursor, err := rdb.XAdd(ctx, &redis.XAddArgs{Stream: "mg:{a:bank-a}:events", Values: []any{"event_id", ev.ID,
		"type", string(ev.Type), "data", string(ev.Data), "at", now.UnixMilli()}}).Result()
	if err != nil {
		t.Fatal(err)
	}
	rdb.ZAdd(ctx, "mg:{a:bank-a}:eidx", redis.Z{Score: float64(now.UnixMilli()), Member: ev.ID})
	ids := []string{"00000000000000000000000000000002", "ff000000000000000000000000000001", "0a000000000000000000000000000003"}
	for n, id := range ids {
		rdb.ZAdd(ctx, "mg:{a:bank-a}:due", redis.Z{Score: float64(now.UnixMilli() + int64(n%2)), Member: id})
	}
	rdb.HSet(ctx, "mg:layout", "v", 4)

	stats, err := Run(ctx, st, opts())
	if err != nil {
		t.Fatal(err)
	}
	if stats.Compacted != 1 || stats.Members != 4 {
		t.Errorf("stats %+v, want one event and four members compacted", stats)
	}
	evs, _, _, err := st.Events(ctx, "bank-a", "", 10, nil)
	if err != nil || len(evs) != 1 || evs[0].ID != ev.ID || evs[0].Cursor != cursor || evs[0].Type != ev.Type || string(evs[0].Data) != string(ev.Data) {
		t.Fatalf("the feed after compacting: %+v %v", evs, err)
	}
	items, err := st.WorkList(ctx, domain.ReviewsDue, "bank-a", domain.WorkCursor{}, 10, time.Time{})
	var got []string
	for _, it := range items {
		got = append(got, it.ReportID)
	}
	if want := []string{ids[0], ids[2], ids[1]}; err != nil || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("the work list after compacting: %v %v, want %v", got, err, want)
	}
	if added, err := st.AppendEvent(ctx, "bank-a", ev); err != nil || added {
		t.Errorf("the event written again: added %v %v", added, err)
	}
	if err := st.TrackDue(ctx, "bank-a", ids[0], time.Time{}, false); err != nil {
		t.Fatal(err)
	}
	if open, _, err := st.ReviewBacklog(ctx, []string{"bank-a"}); err != nil || open["bank-a"] != 2 {
		t.Errorf("%v reviews due after closing one of three (%v)", open, err)
	}
	for key, val := range srv.Dump(t) {
		if strings.Contains(val, ev.ID) || strings.Contains(val, ids[1]) {
			t.Errorf("%s still holds a hex id: %.200s", key, val)
		}
	}
	if again, err := Run(ctx, st, opts()); err != nil || again != (Stats{}) {
		t.Errorf("a second migration: %+v %v, want nothing to do", again, err)
	}
}
