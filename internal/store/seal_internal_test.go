package store

import (
	"context"
	"testing"

	"github.com/mulegate/mulegate/internal/domain"
	"github.com/mulegate/mulegate/internal/iban"
	"github.com/mulegate/mulegate/internal/redistest"
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
	first, err := st.Accept(ctx, "bank-a", domain.OrgBank, "k1", domain.Submission{IBAN: i, Category: "phishing"})
	if err != nil {
		t.Fatal(err)
	}
	if h, sealed := splitHead(rdb.HGet(ctx, k.book(), "j").Val()); h != "" || sealed == "" {
		t.Fatalf("unrouted book's j: holder %q, %d sealed bytes", h, len(sealed))
	}
	holder = "bank-h"
	second, err := st.Accept(ctx, "bank-b", domain.OrgBank, "k2", domain.Submission{IBAN: i, Category: "phishing"})
	if err != nil {
		t.Fatal(err)
	}
	if h, _ := splitHead(rdb.HGet(ctx, k.book(), "j").Val()); h != "bank-h" {
		t.Errorf("j holder after a holder appeared: %q", h)
	}
	for _, c := range []struct {
		id, holder string
		state      domain.ReviewState
	}{{first.ID, "", domain.ReviewUnrouted}, {second.ID, "bank-h", domain.ReviewOpen}} {
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
