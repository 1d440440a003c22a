package store

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"maps"
	"reflect"
	"testing"

	"github.com/mulegate/mulegate/internal/domain"
	"github.com/redis/go-redis/v9"
)

// A report.received as the holders' relay writes it.
const receivedSample = `{"amount":{"currency":"EUR","value":"249.95"},"category":"phishing",` +
	`"description":"Fake helpdesk <call> \"urgent\"","iban":"NL91ABNA0417164300","occurred_at":"2026-12-01T09:15:00Z",` +
	`"received_at":"2026-12-03T19:30:41.123Z","report_id":"29728e6958ac6f8d20894090aad42ff3","reporter_org":"org-b",` +
	`"reporter_type":"marketplace","respond_by":"2026-12-10T19:30:41.123456789Z","hop":2,"partial":false,"x":null,` +
	`"list":[1,-2.5e3,"a",[],{}],"unicode":"caf\u00e9 \u2028"}`

func TestCompactJSONReadsBackTheSameValue(t *testing.T) {
	for _, in := range []string{receivedSample, `{}`, `[]`, `"x"`, `0`, `-0`, `1e400`, `18446744073709551616`,
		`["NL91ABNA0417164300","MT84MALT011000012345MTLCAST001S","ABNANL2A","A0000000","a0000000","0AAAAAAAA","ABNANL2"]`,
		`{"report_id":"29728E6958AC6F8D20894090AAD42FF3","received_at":"2026-12-03T19:30:41+01:00"}`,
		`{"received_at":"2026-12-03T19:30:41.100Z","t":"2026-12-03T19:30:41Z"}`} {
		c := compactJSON([]byte(in))
		if c[0] != compactMark {
			t.Fatalf("%s: not compacted", in)
		}
		out, err := expandJSON(c)
		if err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		if !sameJSON(t, []byte(in), out) {
			t.Errorf("read back\n %s\nas\n %s", in, out)
		}
	}
	// What encoding/json writes reads back byte for byte.
	var v map[string]any
	_ = json.Unmarshal([]byte(receivedSample), &v)
	want, _ := json.Marshal(v)
	if out, _ := expandJSON(compactJSON(want)); !bytes.Equal(out, want) {
		t.Errorf("read back\n %s\nas\n %s", want, out)
	}
	if c := compactJSON(want); len(c) > len(want)*6/10 {
		t.Errorf("compact form %d bytes of %d", len(c), len(want))
	}
}

func TestCompactJSONLeavesOtherDataAlone(t *testing.T) {
	for _, in := range []string{``, `{`, `{} {}`, `not json`} {
		if c := compactJSON([]byte(in)); string(c) != in {
			t.Errorf("%q became %q", in, c)
		}
		if out, err := expandJSON([]byte(in)); err != nil || string(out) != in {
			t.Errorf("%q read as %q, %v", in, out, err)
		}
	}
	for _, bad := range []string{"\x01", "\x01\x0b", "\x01\x0b\x80", "\x01\x04\x05ab", "\x01\x06abc", "\x01\x05\xf0",
		"\x01\x0a\x01x", "\x01\x0a\x01[", "\x01\x03\x03", "\x01\x0b\xff\x09"} {
		if out, err := expandJSON([]byte(bad)); err == nil {
			t.Errorf("%q read as %s", bad, out)
		}
	}
}

// compactJSONWithout leaves out only the top-level member with the given
// value.
func TestCompactJSONWithout(t *testing.T) {
	for _, c := range []struct {
		in, want string
		dropped  bool
	}{
		{`{"a":1,"report_id":"r1","b":{"report_id":"r1"}}`, `{"a":1,"b":{"report_id":"r1"}}`, true},
		{`{"report_id":"r2","a":1}`, `{"report_id":"r2","a":1}`, false},
		{`{"report_id":null,"a":1}`, `{"report_id":null,"a":1}`, false},
		{`{"report_id":["r1"]}`, `{"report_id":["r1"]}`, false},
		{`["report_id","r1"]`, `["report_id","r1"]`, false},
	} {
		c2, dropped := compactJSONWithout([]byte(c.in), "report_id", "r1")
		out, err := expandJSON(c2)
		if err != nil || dropped != c.dropped || !sameJSON(t, []byte(c.want), out) {
			t.Errorf("%s: %s, dropped %v (%v), want %s, %v", c.in, out, dropped, err, c.want, c.dropped)
		}
	}
}

// The compact form is stored for the event retention: a word's index
// must never change. This pins the form of a sample.
func TestCompactFormIsStable(t *testing.T) {
	in := `{"report_id":"29728e6958ac6f8d20894090aad42ff3","category":"phishing","reporter_type":"marketplace",` +
		`"received_at":"2026-12-03T19:30:41.123Z","n":3,"critical":"critical","iban":"NL91ABNA0417164300"}`
	const want = "010b800629728e6958ac6f8d20894090aad42ff382053388053b8907e3e68ceba334" +
		"ff016e0903c80548810e0c15d6d4ed3c5af0cf59b302300d"
	if got := hex.EncodeToString(compactJSON([]byte(in))); got != want {
		t.Fatalf("compact form changed:\n got %s\nwant %s", got, want)
	}
}

func FuzzCompactJSON(f *testing.F) {
	f.Add([]byte(receivedSample))
	f.Add([]byte(`{"a":[true,false,null,1.5,"2026-01-01T00:00:00Z"]}`))
	f.Add([]byte("\x01\x0b\xff\x01a\x0d\x0d"))
	f.Fuzz(func(t *testing.T, in []byte) {
		if out, err := expandJSON(in); err == nil && len(in) > 0 && in[0] == compactMark && !json.Valid(out) {
			t.Fatalf("%q read as invalid JSON %q", in, out)
		}
		if !json.Valid(in) {
			return
		}
		out, err := expandJSON(compactJSON(in))
		if err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		if !sameJSON(t, in, out) {
			t.Fatalf("read back\n %s\nas\n %s", in, out)
		}
		if c, _ := compactJSONWithout(in, "report_id", "r1"); c[0] == compactMark {
			if out, err := expandJSON(c); err != nil || !json.Valid(out) {
				t.Fatalf("%s without report_id read as %q, %v", in, out, err)
			}
		}
	})
}

func sameJSON(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	da, db := json.NewDecoder(bytes.NewReader(a)), json.NewDecoder(bytes.NewReader(b))
	da.UseNumber()
	db.UseNumber()
	if err := da.Decode(&x); err != nil {
		t.Fatalf("%s: %v", a, err)
	}
	if err := db.Decode(&y); err != nil {
		t.Fatalf("read back invalid JSON %s: %v", b, err)
	}
	return reflect.DeepEqual(x, y)
}

// TestCompactEventBringsLayout4Entries: a feed entry as layout 4 wrote it
// (hex id, the type's name, sealed JSON) is rewritten into the compact
// form, smaller, and reads as the same event; a second pass changes
// nothing.
func TestCompactEventBringsLayout4Entries(t *testing.T) {
	b, err := newBlobSealer([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	s := &conn{blobs: b}
	const id = "29728e6958ac6f8d20894090aad42ff3"
	data := `{"category":"phishing","iban":"NL91ABNA0417164300","received_at":"2026-12-03T19:30:41.123Z","report_id":"` + id + `"}`
	old := map[string]any{"event_id": id, "type": "report.received", "data": b.seal(adEvent("bank-a", id), []byte(data)), "at": "1796326297282"}
	before := s.eventFrom("bank-a", redis.XMessage{ID: "1796326297283-0", Values: maps.Clone(old)})
	m := maps.Clone(old)
	if !s.CompactEvent("bank-a", m) {
		t.Fatal("a layout 4 entry was left as it was")
	}
	if len(m["event_id"].(string)) != 16 || m["type"] != "r" || len(m["data"].(string)) >= len(old["data"].(string))-40 {
		t.Errorf("compacted entry %q", m)
	}
	after := s.eventFrom("bank-a", redis.XMessage{ID: "1796326297283-0", Values: m})
	if before.ID != id || after.ID != id || after.Type != domain.EventReportReceived || string(after.Data) != data ||
		!after.CreatedAt.Equal(before.CreatedAt) {
		t.Errorf("read as %+v (data %s), was %+v", after, after.Data, before)
	}
	if s.CompactEvent("bank-a", m) {
		t.Error("a second pass changed the entry")
	}
}

// Every event type has its own short code.
func TestEventCodes(t *testing.T) {
	seen := map[string]bool{}
	for _, typ := range domain.EventTypes {
		c, ok := eventCodes[typ]
		if !ok || seen[c] || eventType(c) != typ {
			t.Errorf("%s: code %q", typ, c)
		}
		seen[c] = true
	}
}

// An event's data sealed under its id's nonce stores 8 nonce bytes, not
// 24, and opens only for its own id and place.
func TestSealForID(t *testing.T) {
	b, err := newBlobSealer([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	id, other := rawID("29728e6958ac6f8d20894090aad42ff3"), rawID("29728e6958ac6f8d20894090aad42ff4")
	v := b.sealForID("event\x00bank-a", id, []byte("data"))
	if len(v) != len(sealedMarkID)+8+4+16 || !sealed(v) {
		t.Errorf("sealed in %d bytes", len(v))
	}
	if got, err := b.openForID("event\x00bank-a", id, v); err != nil || string(got) != "data" {
		t.Errorf("opened to %q %v", got, err)
	}
	if _, err := b.openForID("event\x00bank-a", other, v); err == nil {
		t.Error("opened for another id")
	}
	if _, err := b.openForID("event\x00bank-b", id, v); err == nil {
		t.Error("opened for another place")
	}
	if v2 := b.sealForID("event\x00bank-a", id, []byte("data")); v2 == v {
		t.Error("two seals of one id share their nonce")
	}
	if got, err := b.openForID("ad", id, b.seal("ad", []byte("old"))); err != nil || string(got) != "old" {
		t.Errorf("a value sealed with its nonce opened to %q %v", got, err)
	}
}
