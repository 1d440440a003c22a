package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/mulegate/mulegate/internal/domain"
	"github.com/mulegate/mulegate/internal/iban"
	"github.com/mulegate/mulegate/internal/redistest"
	"github.com/mulegate/mulegate/internal/store"
)

// TestChainWords: what a source report says of its linked reports is read
// from the source's book with a version (the time on its node), and a
// linked report keeps only the latest reading, so words that land out of
// order (two gateways, a redelivered entry) leave it as the source is. A
// marker on the source's IBAN confirms; a cancelled source confirms
// nothing, marker or not.
func TestChainWords(t *testing.T) {
	ctx := context.Background()
	srv := redistest.StartTopology(t)
	st, err := store.New(srv.Client(t), store.Options{Secret: secret, HolderOf: func(iban.IBAN) string { return "bank-h" }})
	if err != nil {
		t.Fatal(err)
	}
	victim := domain.Caller{Org: "bank-v", Type: domain.OrgBank}
	holder := domain.Caller{Org: "bank-h", Type: domain.OrgBank}
	police := domain.Caller{Org: "police", Type: domain.OrgPolice}
	src := mustSub(t, "NL91ABNA0417164300", "phishing", "")
	a, err := st.Accept(ctx, victim.Org, victim.Type, "w-0", src)
	if err != nil {
		t.Fatal(err)
	}
	source, err := st.ReportStatus(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	onward, _ := iban.Parse("DE89370400440532013000")
	link, _ := domain.Link(a.ID, "", 0, domain.ChainPolicy{MaxHops: 5, MaxTransfers: 50})
	link.RootReporter = victim.Org
	amount, _ := domain.NewAmount(domain.Amount{Value: "10", Currency: "EUR"}, "amount")
	if _, err := st.Onward(ctx, holder, "w-1", source, []domain.Transfer{{IBAN: onward, Amount: amount, At: time.Now().Add(-time.Minute)}}, link); err != nil {
		t.Fatal(err)
	}
	source, _ = st.ReportStatus(ctx, a.ID)
	if len(source.Children) != 1 {
		t.Fatalf("the source's linked reports: %v", source.Children)
	}
	kid := source.Children[0]
	confirmed := func() bool {
		t.Helper()
		c, err := st.Lookup(ctx, onward)
		if err != nil {
			t.Fatal(err)
		}
		return c.ConfirmedUpstream
	}
	word := func(want bool) int64 {
		t.Helper()
		up, v, err := st.SourceWord(ctx, a.ID)
		if err != nil || up != want {
			t.Fatalf("the source's word: %v %v, want %v", up, err, want)
		}
		return v
	}
	if confirmed() {
		t.Fatal("confirmed before anything confirms the source")
	}
	v0 := word(false)
	if _, err := st.ChangeMarker(ctx, src.IBAN, police, "bank-h", &domain.Marker{FraudType: "mule_account",
		ByType: domain.OrgPolice, ByOrg: police.Org, RegisteredAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	v1 := word(true)
	if v1 <= v0 {
		t.Fatalf("versions do not grow: %d then %d", v0, v1)
	}
	set := func(up bool, v int64) {
		t.Helper()
		if err := st.SetUpstream(ctx, kid, up, v); err != nil {
			t.Fatal(err)
		}
	}
	set(true, v1)
	set(false, v0) // an older reading, landing late
	if !confirmed() {
		t.Error("an older word overwrote a newer one")
	}
	if _, err := st.ChangeMarker(ctx, src.IBAN, police, "bank-h", nil); err != nil {
		t.Fatal(err)
	}
	set(false, word(false))
	if confirmed() {
		t.Error("still confirmed after the marker was lifted")
	}
	// Marked again, then cleared, then cancelled by its reporter: no
	// word confirms.
	if _, err := st.ChangeMarker(ctx, src.IBAN, police, "bank-h", &domain.Marker{FraudType: "mule_account",
		ByType: domain.OrgPolice, ByOrg: police.Org, RegisteredAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	word(true)
	if !confirmed() {
		t.Error("the marker's change did not tell the linked report at once")
	}
	// Marked and cleared by the police: a cleared source confirms
	// nothing, and the clear writes that into the linked report at once.
	if _, err := st.ClearIBAN(ctx, src.IBAN, domain.Clear{At: time.Now(), Reason: domain.ClearError, By: police.Org}, domain.RiskHigh, ""); err != nil {
		t.Fatal(err)
	}
	word(false)
	if confirmed() {
		t.Error("still confirmed after its source was cleared")
	}
	if _, err := st.WithdrawClear(ctx, src.IBAN); err != nil {
		t.Fatal(err)
	}
	word(false) // the clear lifted the marker, and the withdrawal leaves it lifted
	if _, _, err := st.Review(ctx, a.ID, victim, mustCancel(t)); err != nil {
		t.Fatal(err)
	}
	word(false)
}
