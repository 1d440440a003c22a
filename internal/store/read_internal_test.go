package store

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mulegate/mulegate/internal/domain"
	"github.com/mulegate/mulegate/internal/iban"
	"github.com/mulegate/mulegate/internal/redistest"
)

// TestRecordRoundTrip: a report record encodes and decodes to itself,
// stays within the 64 bytes that keep a book compact for a forwarded,
// reviewed report with usual org names, and the Lua helpers split and
// join it the way Go does (a record Lua rewrote decodes in Go).
func TestRecordRoundTrip(t *testing.T) {
	rcv := time.UnixMilli(1764547200123).UTC()
	at := rcv.Add
	for name, r := range map[string]record{
		"new": {Received: rcv, Category: "phishing", Source: domain.OrgBank, Org: "bank-a", N: 3,
			Status: domain.StatusQueued, Review: domain.ReviewUnrouted},
		"forwarded and closed": {Received: rcv, Category: "money_mule", Source: domain.OrgMarketplace, Org: "marktplaats",
			N: 40, Status: domain.StatusForwarded, Attempts: 2, Holder: "rabobank", BookHolder: true, RespondBy: at(7 * 24 * time.Hour),
			Review: domain.ReviewClosed, Forwarded: at(time.Second), PoliceRef: "PR-20261201-1",
			Ack: at(time.Hour), Closed: at(2 * time.Hour), Result: domain.ResultAgreed, FraudType: "mule_account"},
		"a later version's category": {Received: rcv, Category: "deepfake_fraud", Source: "bank", Org: "o", Status: "queued", Review: "open"},
		"with an amount and a returned recovery": {Received: rcv, Category: "phishing", Source: domain.OrgBank, Org: "bank-a", N: 2,
			Status: domain.StatusForwarded, Holder: "rabobank", BookHolder: true, RespondBy: at(7 * 24 * time.Hour),
			Review: domain.ReviewClosed, Forwarded: at(time.Second), RefSpilled: true, Ack: at(time.Hour), Closed: at(2 * time.Hour),
			Result: domain.ResultAgreed, FraudType: "mule_account", Amount: domain.Amount{Value: "249.95", Currency: "EUR"},
			Recovery: domain.RecoveryReturned, Recovered: domain.Amount{Value: "100.00", Currency: "EUR"}},
	} {
		core, rest, err := r.encode()
		if err != nil {
			t.Fatal(err)
		}
		got, err := decodeRecord(core, rest, "rabobank")
		if err != nil {
			t.Fatal(err)
		}
		if got != r {
			t.Errorf("%s: decoded %+v, want %+v", name, got, r)
		}
		// What lookups read stays in the record whether or not it spilled.
		if r.Amount.Value != "" && !strings.Contains(core, "EUR249.95") || r.Recovered.Value != "" && !strings.Contains(core, "100.00") {
			t.Errorf("%s: the amounts are not in the record itself (%q, x: %q)", name, core, rest)
		}
		if len(core) > 64 || len(rest) > 64 {
			t.Errorf("%s: %d + %d bytes, want at most 64 each (%q, %q)", name, len(core), len(rest), core, rest)
		}
	}
	// Offsets of whole minutes are written in minutes where that is
	// shorter; records written before that (ms only) still read.
	for _, c := range []struct {
		d    time.Duration
		want string
	}{{72 * time.Hour, ".3c0"}, {time.Hour, ".1o"}, {time.Minute, ".1"}, {59 * time.Second, "19iw"}, {1500 * time.Millisecond, "15o"},
		{72*time.Hour + time.Millisecond, "4abk01"}, {0, "0"}} {
		if got := after(rcv, at(c.d)); got != c.want {
			t.Errorf("after(%v) = %q, want %q", c.d, got, c.want)
		}
		if got := since(rcv, c.want); !got.Equal(at(c.d)) {
			t.Errorf("since(%q) = %v, want %v", c.want, got, at(c.d))
		}
	}
	if got := since(rcv, "4abk00"); !got.Equal(at(72 * time.Hour)) {
		t.Errorf("since(ms form of 72 h) = %v", got)
	}
	if _, _, err := (record{Received: rcv, Org: "a\x1fb"}).encode(); err == nil {
		t.Error("an org name with the separator was encoded")
	}

	// The real scripts edit records through the field names the Go
	// constants give them (luaRecord): a failed attempt (holdScript), then
	// the forwarding outcome (finishScript), read back by the Go codec.
	srv := redistest.Start(t)
	ctx := context.Background()
	st, err := New(srv.Client(t), Options{Secret: []byte("0123456789abcdef0123456789abcdef"),
		HolderOf: func(iban.IBAN) string { return "bank-b" }, Now: func() time.Time { return rcv }})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.EnsureGroups(ctx); err != nil {
		t.Fatal(err)
	}
	sub, err := domain.NewSubmission("NL91ABNA0417164300", "phishing", nil, nil, "", "", rcv, 0)
	if err != nil {
		t.Fatal(err)
	}
	a, err := st.Accept(ctx, "bank-a", domain.OrgBank, "record-1", sub)
	if err != nil {
		t.Fatal(err)
	}
	entries, err := st.ReadOutbox(ctx, st.KeyOf(sub.IBAN).Partition, "c", 10)
	if err != nil || len(entries) != 1 {
		t.Fatalf("outbox: %v %v", entries, err)
	}
	if owned, err := st.RecordAttempt(ctx, entries[0], "c", "police store answered 503"); err != nil || !owned {
		t.Fatalf("attempt: %v %v", owned, err)
	}
	if err := st.MarkForwarded(ctx, entries[0], "REF-1", at(1500*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	got, err := st.ReportStatus(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Attempts != 2 || got.Status != domain.StatusForwarded || got.ForwardedAt == nil || !got.ForwardedAt.Equal(at(1500*time.Millisecond)) ||
		got.PoliceReference != "REF-1" || got.LastError != "" || got.Review.Holder != "bank-b" || got.Review.State != domain.ReviewOpen {
		t.Errorf("after the scripts: %+v", got)
	}
	r := record{Received: rcv, Category: "phishing", Source: domain.OrgBank, Org: "bank-a", N: 1, Status: domain.StatusQueued,
		Attempts: 1, Review: domain.ReviewOpen, Holder: "bank-b", RespondBy: at(time.Hour)}
	enc, _, _ := r.encode()
	r.N, r.Holder, r.BookHolder = 0, "", false
	bare, _, _ := r.encode()
	head, mid, tail := splitRecord(bare)
	if head+sep+"1"+sep+mid+sep+"bank-b"+sep+tail != enc {
		t.Errorf("splitRecord(%q) = %q, %q, %q; does not rebuild %q", bare, head, mid, tail, enc)
	}
}

// TestLookupHonoursTheDeadline: the autopipeliner runs queued commands
// on its own context, so a Redis that accepts and never answers must
// still give the caller an unavailable lookup when its deadline passes,
// not after the client's read timeout.
func TestLookupHonoursTheDeadline(t *testing.T) {
	srv := redistest.Start(t)
	st, err := New(srv.Client(t), Options{Secret: []byte("0123456789abcdef0123456789abcdef")})
	if err != nil {
		t.Fatal(err)
	}
	i, _ := iban.Parse("NL91ABNA0417164300")
	if _, err := st.Lookup(context.Background(), i); err != nil {
		t.Fatal(err)
	}
	resume := srv.Freeze(t)
	defer resume()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = st.Lookup(ctx, i)
	if took := time.Since(start); domain.ErrorCode(err) != domain.CodeUnavailable || took > 2*time.Second {
		t.Errorf("lookup on a frozen Redis: %v after %v, want unavailable at the 300 ms deadline", err, took)
	}
}

// FuzzUnb36: unb36 reads any string as strconv.ParseInt(s, 36, 64) does
// (0 where that fails).
func FuzzUnb36(f *testing.F) {
	for _, s := range []string{"", "0", "z", "-1", "+5", "-", "lzzzzzzz", "zzzzzzzzzzzz", "zzzzzzzzzzzzz", "1y2p0ij32e8e7", "a_b", "ZZ", " 1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, _ := strconv.ParseInt(s, 36, 64)
		if got := unb36(s); got != want {
			t.Fatalf("unb36(%q) = %d, strconv reads %d", s, got, want)
		}
	})
}

// TestBookKeyName: a book's name is its partition's prefix and the
// pseudonym's 16 bytes, built in one buffer; a longer pseudonym than the
// buffer holds is named the same way.
func TestBookKeyName(t *testing.T) {
	for _, k := range []ibanKeys{
		{tag: "{p0}", pseudo: "00112233445566778899aabbccddeeff"},
		{tag: "{p63}", pseudo: "ffeeddccbbaa99887766554433221100"},
		{tag: "{p1023}", pseudo: strings.Repeat("ab", 40)},
	} {
		raw := make([]byte, len(k.pseudo)/2)
		for n := range raw {
			v, _ := strconv.ParseUint(k.pseudo[2*n:2*n+2], 16, 8)
			raw[n] = byte(v)
		}
		if got, want := k.book(), "mg:"+k.tag+":b:"+string(raw); got != want {
			t.Errorf("%v: %q, want %q", k, got, want)
		}
	}
}
