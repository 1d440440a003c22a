package store

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/mulegate/mulegate/internal/iban"
	"github.com/mulegate/mulegate/internal/redistest"
	"github.com/mulegate/mulegate/internal/report"
	"github.com/redis/go-redis/v9"
)

// TestMigrate writes an IBAN in the layout before books, as that
// version's scripts left it (a forwarded report with an open review, a
// cancelled one, one past retention, a marker, the threshold flag and
// their idempotency records), and checks that after Migrate the counts,
// the report's status, its IBAN for the holder, replays and conflicts are
// what they were, and that no old key is left.
func TestMigrate(t *testing.T) {
	srv := redistest.StartTopology(t) // the cluster pass migrates a cluster
	rdb := srv.Client(t)
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	s, err := New(rdb, Options{Secret: []byte("0123456789abcdef0123456789abcdef"), Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	i, _ := iban.Parse("NL91ABNA0417164300")
	sub := report.Submission{IBAN: i, Category: "phishing"}
	pseudo, part := s.Pseudonym(i)
	tag := s.tags[part]
	key := func(x string) string { return "mg:" + tag + ":" + x + ":" + pseudo }
	ms := func(t time.Time) string { return fmt.Sprint(t.UnixMilli()) }
	old := func(org, idem string, rcv time.Time, extra ...any) string {
		id := s.ReportID(org, idem)
		sealed := s.seal.sealFull(id, i.String())
		f := []any{"st", "forwarded", "at", 1, "org", org, "src", "bank", "cat", "phishing", "rcv", ms(rcv), "n", 1,
			"h", "bank-h", "rb", ms(rcv.Add(7 * 24 * time.Hour)), "rv", "open", "ps", pseudo,
			"ie", base64.RawStdEncoding.EncodeToString([]byte(sealed)), "pref", "POL-1", "fwd", ms(rcv.Add(time.Second))}
		rdb.HSet(ctx, "mg:"+tag+":r:"+id, append(f, extra...)...)
		rdb.HSet(ctx, "mg:idem:"+id, "h", s.fingerprint(sub.Canonical()), "v", tag)
		return id
	}
	rcv := now.Add(-time.Hour)
	a := old("bank-a", "k1", rcv)
	rdb.ZAdd(ctx, key("z"), redisZ(rcv, a+"|phishing|bank|bank-a"))
	b := old("bank-b", "k2", rcv, "rv", "cancelled", "can", ms(rcv.Add(time.Minute)), "cr", "filed by mistake")
	rdb.ZAdd(ctx, key("x"), redisZ(rcv, b))
	c := old("bank-c", "k3", now.Add(-800*24*time.Hour))
	rdb.HSet(ctx, key("i"), "c:phishing", 1, "s:bank", 1, "v:open", 1, "wm", ms(rcv))
	rdb.HSet(ctx, key("m"), "ft", "mule_account", "bt", "police", "by", "police", "at", ms(rcv), "det", "seen before")
	rdb.Set(ctx, key("t"), 1, 0)

	stats, err := s.Migrate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if stats != (MigrateStats{IBANs: 1, Reports: 2, Expired: 1, Markers: 1}) {
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
	if st.Status != report.StatusForwarded || st.PoliceReference != "POL-1" || st.IBAN != i.String() || st.Review.Holder != "bank-h" ||
		st.Review.State != report.ReviewOpen || !st.Review.RespondBy.Equal(rcv.Add(7*24*time.Hour)) || st.Attempts != 1 {
		t.Errorf("report after migrating: %+v", st)
	}
	if st, _ := s.ReportStatus(ctx, b); st.Review.CancelReason != "filed by mistake" {
		t.Errorf("cancelled report after migrating: %+v", st)
	}
	if _, err := s.ReportStatus(ctx, c); report.ErrorCode(err) != report.CodeNotFound {
		t.Errorf("the report past retention: %v, want not found", err)
	}
	if acc, err := s.Accept(ctx, "bank-a", report.OrgBank, "k1", sub); err != nil || !acc.Replayed || acc.ID != a {
		t.Errorf("replay after migrating: %+v %v", acc, err)
	}
	other := report.Submission{IBAN: i, Category: "other"}
	if _, err := s.Accept(ctx, "bank-a", report.OrgBank, "k1", other); report.ErrorCode(err) != report.CodeConflict {
		t.Errorf("another request under a migrated key: %v, want a conflict", err)
	}
	crossed, _, err := s.ThresholdCrossing(ctx, i.String(), 1)
	if err != nil || crossed {
		t.Errorf("threshold flag after migrating: crossed %v %v, want already announced", crossed, err)
	}
	keys := func(pat string) []string {
		if c, ok := rdb.(*redis.ClusterClient); ok {
			var all []string
			var mu sync.Mutex
			_ = c.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
				k := m.Keys(ctx, pat).Val()
				mu.Lock()
				all = append(all, k...)
				mu.Unlock()
				return nil
			})
			return all
		}
		return rdb.Keys(ctx, pat).Val()
	}
	for _, pat := range []string{"mg:{p*}:[iozvxmt]:*", "mg:{p*}:r:*", "mg:idem:*"} {
		if left := keys(pat); len(left) > 0 {
			t.Errorf("old keys left: %q", left)
		}
	}
	again, err := s.Migrate(ctx)
	if err != nil || again.Reports != 0 {
		t.Errorf("a second run: %+v %v", again, err)
	}
}

func redisZ(t time.Time, m string) redis.Z { return redis.Z{Score: float64(t.UnixMilli()), Member: m} }

// sealFull seals in the "ie" form; as the layouts before wrote it.
func (s *sealer) sealFull(id, plain string) string {
	nonce := make([]byte, s.full.NonceSize(), s.full.NonceSize()+len(plain)+s.full.Overhead())
	_, _ = rand.Read(nonce)
	return string(s.full.Seal(nonce, nonce, []byte(plain), []byte(id)))
}

// TestIdempotencyEntriesFromBeforeStillCount: an idempotency entry in the
// 14-byte form written before the 8-byte fingerprint still makes the same
// request a replay, the key with another request a conflict, and names
// its partition for GET /v1/reports/{id}.
func TestIdempotencyEntriesFromBeforeStillCount(t *testing.T) {
	rdb := redistest.StartTopology(t).Client(t)
	st, err := New(rdb, Options{Secret: []byte("0123456789abcdef0123456789abcdef")})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	i, _ := iban.Parse("NL91ABNA0417164300")
	sub := report.Submission{IBAN: i, Category: "phishing"}
	first, err := st.Accept(ctx, "bank-a", report.OrgBank, "old", sub)
	if err != nil {
		t.Fatal(err)
	}
	raw, k := rawID(first.ID), st.keysFor(i)
	fp := st.fingerprintSum(sub.Canonical())
	old := dayBytes(day(st.now())) + string(fp[:10]) + string([]byte{0, byte(k.part)})
	rdb.HSet(ctx, idemBucket(raw), raw, old)
	if p, ok := claimPart(old); !ok || p != k.part {
		t.Errorf("the old entry's partition: %d %v, want %d", p, ok, k.part)
	}
	again, err := st.Accept(ctx, "bank-a", report.OrgBank, "old", sub)
	if err != nil || !again.Replayed || again.ReportCount != 1 {
		t.Errorf("the same request again: %+v %v, want a replay", again, err)
	}
	other := report.Submission{IBAN: i, Category: "other"}
	if _, err := st.Accept(ctx, "bank-a", report.OrgBank, "old", other); report.ErrorCode(err) != report.CodeConflict {
		t.Errorf("the key with another request: %v, want a conflict", err)
	}
	if _, err := st.ReportStatus(ctx, first.ID); err != nil {
		t.Errorf("the report: %v", err)
	}
}
