package store

import (
	"context"
	"testing"

	"github.com/mulegate/mulegate/internal/iban"
	"github.com/mulegate/mulegate/internal/redistest"
	"github.com/mulegate/mulegate/internal/report"
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
	rdb := redistest.Start(t).Client(t)
	st, err := New(rdb, Options{Secret: []byte("0123456789abcdef0123456789abcdef"), HolderOf: func(iban.IBAN) string { return "bank-h" }})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	i, _ := iban.Parse("DE89370400440532013000")
	k := st.keysFor(i)
	rdb.HSet(ctx, k.book(), "ie", st.seal.sealFull(k.rawPseudo(), i.String()))
	a, err := st.Accept(ctx, "bank-a", report.OrgBank, "k", report.Submission{IBAN: i, Category: "phishing"})
	if err != nil {
		t.Fatal(err)
	}
	if n := rdb.HExists(ctx, k.book(), "i").Val(); n {
		t.Error("the IBAN was sealed again beside the old seal")
	}
	got, err := st.ReportStatus(ctx, a.ID)
	if err != nil || got.IBAN != i.String() {
		t.Errorf("report status: IBAN %q, %v; want %s", got.IBAN, err, i)
	}
}
