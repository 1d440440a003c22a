package store

import (
	"context"
	"testing"

	"github.com/mulegate/mulegate/internal/iban"
	"github.com/mulegate/mulegate/internal/redistest"
	"github.com/mulegate/mulegate/internal/report"
	"github.com/redis/go-redis/v9"
)

// TestSealRoundTrip: every IBAN shape comes back whole from its compact
// seal (leading zeros in the BBAN, letters in it, the shortest and the
// longest countries), the seal is small, and it opens only for its own
// book.
func TestSealRoundTrip(t *testing.T) {
	s, err := newSealer([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	for _, cb := range [][2]string{{"NL", "ABNA0417164300"}, {"NL", "ABNA0000000001"}, {"DE", "370400440532013000"}, {"NO", "86011117947"},
		{"FR", "20041010050500013M02606"}, {"MT", "MALT011000012345MTLCAST001S"}, {"GB", "WEST12345698765432"}, {"BE", "000000000000"}} {
		i, err := iban.FromBBAN(cb[0], cb[1])
		if err != nil {
			t.Fatal(err)
		}
		raw := i.String()
		p := string(make([]byte, 16))
		sealed := s.seal(p, i)
		if max := (len(raw)-2)*6/8 + 1 + 12; len(sealed) > max {
			t.Errorf("%s: sealed in %d bytes, want at most %d", raw, len(sealed), max)
		}
		if got, err := s.open(p, sealed); err != nil || got != raw {
			t.Errorf("%s: opened to %q, %v", raw, got, err)
		}
		if _, err := s.open("another pseudonym", sealed); err == nil {
			t.Errorf("%s: opened for another book", raw)
		}
	}
}

// TestSealedBeforeCompactStillReads: a book written before the compact
// seal (its IBAN in "ie") still shows the holder the IBAN, and a new
// report in it does not seal the IBAN again.
func TestSealedBeforeCompactStillReads(t *testing.T) {
	rdb, st := holderStore(t, func(iban.IBAN) string { return "bank-h" })
	ctx := context.Background()
	i, _ := iban.Parse("DE89370400440532013000")
	k := st.keysFor(i)
	rdb.HSet(ctx, k.book(), "ie", st.seal.sealFull(k.rawPseudo(), i.String()))
	a, err := st.Accept(ctx, "bank-a", report.OrgBank, "k", report.Submission{IBAN: i, Category: "phishing"})
	if err != nil {
		t.Fatal(err)
	}
	if rdb.HExists(ctx, k.book(), "i").Val() || rdb.HExists(ctx, k.book(), "j").Val() {
		t.Error("the IBAN was sealed again beside the old seal")
	}
	got, err := st.ReportStatus(ctx, a.ID)
	if err != nil || got.IBAN != i.String() {
		t.Errorf("report status: IBAN %q, %v; want %s", got.IBAN, err, i)
	}
}

// TestBookBeforeJFieldStillReads: a book written before the j field (the
// holder in h, the compact seal in i) still shows its reports' holder and
// IBAN, and a new report in it keeps that form instead of adding j.
func TestBookBeforeJFieldStillReads(t *testing.T) {
	rdb, st := holderStore(t, func(iban.IBAN) string { return "bank-h" })
	ctx := context.Background()
	i, _ := iban.Parse("NL91ABNA0417164300")
	k := st.keysFor(i)
	first, err := st.Accept(ctx, "bank-a", report.OrgBank, "k1", report.Submission{IBAN: i, Category: "phishing"})
	if err != nil {
		t.Fatal(err)
	}
	holder, sealed := splitJ(rdb.HGet(ctx, k.book(), "j").Val(), "", "")
	if holder != "bank-h" || sealed == "" {
		t.Fatalf("j field: holder %q, %d sealed bytes", holder, len(sealed))
	}
	// Rewrite the book as the build before j wrote it.
	rdb.HDel(ctx, k.book(), "j")
	rdb.HSet(ctx, k.book(), "h", holder, "i", sealed)
	second, err := st.Accept(ctx, "bank-b", report.OrgBank, "k2", report.Submission{IBAN: i, Category: "phishing"})
	if err != nil || second.ReportCount != 2 {
		t.Fatalf("second report: %+v, %v", second, err)
	}
	if rdb.HExists(ctx, k.book(), "j").Val() {
		t.Error("a j field was added beside h and i")
	}
	for _, id := range []string{first.ID, second.ID} {
		got, err := st.ReportStatus(ctx, id)
		if err != nil || got.IBAN != i.String() || got.Review.Holder != "bank-h" {
			t.Errorf("report %s: IBAN %q, holder %q, %v", id, got.IBAN, got.Review.Holder, err)
		}
	}
}

// TestHolderJoinsAnUnroutedBook: an IBAN no bank held when it was first
// reported gets the holder's name in its j field once a bank holds it;
// the first report stays unrouted, the new one is the holder's to review,
// and both still show the IBAN.
func TestHolderJoinsAnUnroutedBook(t *testing.T) {
	holder := ""
	rdb, st := holderStore(t, func(iban.IBAN) string { return holder })
	ctx := context.Background()
	i, _ := iban.Parse("NL91ABNA0417164300")
	k := st.keysFor(i)
	first, err := st.Accept(ctx, "bank-a", report.OrgBank, "k1", report.Submission{IBAN: i, Category: "phishing"})
	if err != nil {
		t.Fatal(err)
	}
	if h, sealed := splitJ(rdb.HGet(ctx, k.book(), "j").Val(), "", ""); h != "" || sealed == "" {
		t.Fatalf("unrouted book's j: holder %q, %d sealed bytes", h, len(sealed))
	}
	holder = "bank-h"
	second, err := st.Accept(ctx, "bank-b", report.OrgBank, "k2", report.Submission{IBAN: i, Category: "phishing"})
	if err != nil {
		t.Fatal(err)
	}
	if h, _ := splitJ(rdb.HGet(ctx, k.book(), "j").Val(), "", ""); h != "bank-h" {
		t.Errorf("j holder after a holder appeared: %q", h)
	}
	for _, c := range []struct {
		id, holder string
		state      report.ReviewState
	}{{first.ID, "", report.ReviewUnrouted}, {second.ID, "bank-h", report.ReviewOpen}} {
		got, err := st.ReportStatus(ctx, c.id)
		if err != nil || got.IBAN != i.String() || got.Review.Holder != c.holder || got.Review.State != c.state {
			t.Errorf("report %s: IBAN %q, holder %q, state %s, %v; want holder %q, %s", c.id, got.IBAN, got.Review.Holder, got.Review.State, err, c.holder, c.state)
		}
	}
}

// holderStore is a store on its own redis-server whose IBANs are held as
// holderOf says.
func holderStore(t *testing.T, holderOf func(iban.IBAN) string) (*redis.Client, *Store) {
	t.Helper()
	rdb := redistest.Start(t).Client(t)
	st, err := New(rdb, Options{Secret: []byte("0123456789abcdef0123456789abcdef"), HolderOf: holderOf})
	if err != nil {
		t.Fatal(err)
	}
	return rdb, st
}
