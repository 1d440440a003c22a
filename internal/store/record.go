package store

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/mulegate/mulegate/internal/domain"
)

// The book: everything about one IBAN in one hash, so that a lookup is a
// single HGETALL (atomic, read-only, exact on any replica) and a reported
// IBAN costs one key. Its fields:
//
//	<16-byte report id>  the report's record (below), one per report
//	w                    "wm:lo:nc" in base 36: the newest change (ms), how
//	                     long before it the oldest record was received (ms;
//	                     "" for none) and the number of records not cancelled;
//	                     absent while the book has at most three records, none
//	                     changed since accepted (all three follow from them)
//	j                    the holding bank's name, which records cite as "="
//	                     ("" for none), the separator, then the IBAN, sealed
//	                     (AES-GCM, additional data: the book's pseudonym;
//	                     seal.go), for the holder's eyes
//	t                    present while the IBAN is past the iban.threshold event
//	m:ft m:bt m:by m:at m:det   the IBAN's marker
//	d:<id> c:<id>        a report's review details and cancel reason
//	e:<id> p:<id>        a report's last forwarding error; its police
//	                     reference when it does not fit in the record
//	k:<id>               a linked report's chain: its source's and its root's
//	                     raw ids (16 bytes each), then the root's reporter
//	o:<id>               a source report's linked reports: raw ids, one after
//	                     the other
//	u:<id>               the version (µs) of the source's word a linked
//	                     report's record holds (chains.go)
//
// A record is its fields joined by the unit separator (0x1F), trailing
// empty fields left off, short codes for the closed sets. The free texts
// (details, reasons, errors) live in their own fields, only while there
// is one, so a record stays under 64 bytes and the book keeps Redis'
// compact listpack encoding.
const sep = "\x1f"

// Record field positions (0-based; the Lua scripts use these plus one).
const (
	fRcv       = iota // received, ms, base 36
	fCat              // category code
	fSrc              // reporter type code
	fOrg              // reporter org
	fN                // reports counted at acceptance, base 36
	fSt               // forwarding status code
	fAt               // forwarding attempts, decimal
	fHolder           // holding bank org
	fRespondBy        // holder's deadline, ms (or minutes: after) after received, base 36
	fReview           // review state code
	fRes              // result code
	fFwd              // forwarded, ms after received, base 36
	fRef              // police reference ("~": in the p:<id> field)
	fAck              // acknowledged, ms after received, base 36 (may be in x:<id>)
	fCls              // closed (may be in x:<id>)
	fCan              // cancelled (may be in x:<id>)
	fFT               // fraud type code (may be in x:<id>)
	fAmount           // the report's amount: currency and value ("EUR249.95")
	fRecovery         // its recovery's state code ("" for none)
	fRecovered        // the amount its recovery returned: its value, after its currency unless that is fAmount's
	fHop              // a linked report's hop in its chain, base 36 ("" for hop 0; its source and root in k:<id>)
	fUpstream         // "1" while its source confirms it (closed agreed by another org); set from the source (u:<id>)
	nFields
)

// luaRecord is the Lua prelude the scripts read records with: the field
// positions (1-based, as Lua indexes) and the codes the scripts compare
// with, built from the Go constants and code tables above, so that the
// Go codec and the scripts cannot disagree on where a field is.
var luaRecord = func() string {
	var b strings.Builder
	for _, f := range []struct {
		name string
		pos  int
	}{{"F_RCV", fRcv}, {"F_N", fN}, {"F_ST", fSt}, {"F_AT", fAt}, {"F_REVIEW", fReview}, {"F_FWD", fFwd}, {"F_REF", fRef}, {"F_UPSTREAM", fUpstream}} {
		fmt.Fprintf(&b, "local %s = %d\n", f.name, f.pos+1)
	}
	fmt.Fprintf(&b, "local NFIELDS, MAX_RECORD, ID_LEN = %d, %d, %d\n", nFields, maxRecord, rawIDLen)
	fmt.Fprintf(&b, "local INDEX_LEVELS, INDEX_FILL = %d, %d\n", indexLevels, indexFill)
	fmt.Fprintf(&b, "local SEP, SAME_HOLDER, SPILLED = '\\%d', '%s', '%s'\n", sep[0], sameHolder, spilled)
	fmt.Fprintf(&b, "local ST_QUEUED, ST_FORWARDED, ST_REJECTED = '%s', '%s', '%s'\n",
		statusCodes.code("queued"), statusCodes.code("forwarded"), statusCodes.code("rejected"))
	fmt.Fprintf(&b, "local RV_CANCELLED = '%s'\n", reviewCodes.code("cancelled"))
	// An idempotency entry's fingerprint bytes (claimValue): after the day.
	fmt.Fprintf(&b, "local CLAIM_FP, CLAIM_FP_END = %d, %d\n", 3, 2+claimFPLen)
	return b.String()
}()

// The spilled fields (review times and fraud type), fSpill to fSpillEnd,
// go to the x:<id> field when the whole record would pass maxRecord
// bytes, and are left empty in the record itself; every other field stays
// at its position. Lookups and the scripts read no spilled field.
const (
	fSpill    = fAck
	fSpillEnd = fFT + 1
)

// maxRecord is the longest record kept whole: longer ones spill (x:<id>,
// p:<id>), so that a book keeps Redis' compact listpack encoding.
const maxRecord = 64

// rawIDLen is a report id's length in bytes, its field name in a book;
// claimFPLen the fingerprint bytes an idempotency entry keeps.
const (
	rawIDLen   = 16
	claimFPLen = 8
)

// sameHolder in the holder field means the book's holder (in its j field):
// the bank that holds an IBAN is nearly always the same for all its
// reports, so its name is kept once.
const sameHolder = "="

// splitHead reads a book's holder and compact sealed IBAN from its j
// field: the holder's name, the separator, the sealed IBAN.
func splitHead(j string) (holder, sealed string) {
	holder, sealed, _ = strings.Cut(j, sep)
	return holder, sealed
}

// spilled marks a police reference kept in its own field.
const spilled = "~"

// record is one report as its IBAN's book holds it.
type record struct {
	Received             time.Time
	Category             domain.Category
	Source               domain.OrgType
	Org                  string
	N                    int64
	Status               domain.Status
	Attempts             int64
	Holder               string
	RespondBy            time.Time
	Review               domain.ReviewState
	Forwarded            time.Time
	PoliceRef            string
	RefSpilled           bool
	BookHolder           bool // Holder is the book's (stored as sameHolder)
	Ack, Closed, Cancels time.Time
	Result               domain.Result
	FraudType            domain.FraudType
	Amount               domain.Amount // zero: none
	Recovery             domain.RecoveryState
	Recovered            domain.Amount // what the recovery returned
	Hop                  int
	Upstream             bool
}

// Codes for the closed sets. A value not in its table (a later version's)
// is stored as itself: every value in a table is longer than one byte.
var (
	catCodes = newCodes(map[string]byte{"helpdesk_fraud": 'h', "marketplace_fraud": 'm', "phishing": 'p', "investment_fraud": 'i',
		"romance_fraud": 'r', "ransomware": 'w', "money_mule": 'u', "other": 'o'})
	srcCodes    = newCodes(map[string]byte{"bank": 'b', "marketplace": 'm', "police": 'p'})
	reviewCodes = newCodes(map[string]byte{"open": 'o', "acknowledged": 'a', "closed": 'c', "cancelled": 'x', "unrouted": 'u'})
	statusCodes = newCodes(map[string]byte{"queued": 'q', "forwarded": 'f', "rejected": 'r'})
	resultCodes = newCodes(map[string]byte{"agreed": 'a', "disagreed": 'd'})
	ftCodes     = newCodes(map[string]byte{"mule_account": 'm', "scammer_account": 's', "account_takeover": 't', "other": 'o'})
	rcvCodes    = newCodes(map[string]byte{"requested": 'q', "held": 'h', "returned": 'r', "rejected": 'j', "released": 'l'})
)

// codes map a closed set's values to one-byte codes and back.
type codes struct {
	of    map[string]string
	value [256]string
}

func newCodes(m map[string]byte) *codes {
	c := &codes{of: map[string]string{}}
	for v, k := range m {
		c.of[v] = string([]byte{k})
		c.value[k] = v
	}
	return c
}

func (c *codes) code(v string) string {
	if k, ok := c.of[v]; ok {
		return k
	}
	return v
}

func (c *codes) valueOf(k string) string {
	if len(k) == 1 && c.value[k[0]] != "" {
		return c.value[k[0]]
	}
	return k
}

func b36(n int64) string { return strconv.FormatInt(n, 36) }

// unb36 reads a base-36 number as strconv.ParseInt does, 0 where it
// fails ("" is 0). It reads record fields on every lookup, most of them
// short and many empty: a plain number of up to 12 digits (no int64
// overflows) is parsed by hand, without strconv's error values.
func unb36(s string) int64 {
	d := s
	if len(d) > 0 && d[0] == '-' {
		d = d[1:]
	}
	if len(d) == 0 && len(s) == 0 {
		return 0
	}
	var n int64
	for i := 0; i < len(d); i++ {
		c := d[i]
		var v byte
		switch {
		case '0' <= c && c <= '9':
			v = c - '0'
		case 'a' <= c && c <= 'z':
			v = c - 'a' + 10
		case 'A' <= c && c <= 'Z':
			v = c - 'A' + 10
		default:
			v = 255
		}
		if v == 255 || len(d) > 12 || len(d) == 0 {
			n, _ = strconv.ParseInt(s, 36, 64)
			return n
		}
		n = n*36 + int64(v)
	}
	if len(d) == 0 { // "-"
		return 0
	}
	if len(d) != len(s) {
		return -n
	}
	return n
}

// after is t as ms after base in base 36 ("" for a zero t), or as
// whole minutes after base (minuteMark, then base 36) where that is
// shorter: a review deadline is the receipt plus a configured period, so
// 72 h is ".3c0" instead of "4abk00", two bytes a record.
func after(base, t time.Time) string {
	if t.IsZero() {
		return ""
	}
	ms := max(0, t.UnixMilli()-base.UnixMilli())
	if v := b36(ms); ms%minute != 0 || len(v) <= 1+len(b36(ms/minute)) {
		return v
	}
	return minuteMark + b36(ms/minute)
}

const (
	minute     = 60_000 // ms
	minuteMark = "."    // not a base-36 digit
)

func since(base time.Time, s string) time.Time {
	if s == "" {
		return time.Time{}
	}
	if m, ok := strings.CutPrefix(s, minuteMark); ok {
		return time.UnixMilli(base.UnixMilli() + unb36(m)*minute).UTC()
	}
	return time.UnixMilli(base.UnixMilli() + unb36(s)).UTC()
}

// errBadRecord is a record that does not parse: never written by us.
var errBadRecord = errors.New("store: malformed report record")

// encode packs the record into its core and, when the whole would not
// fit in 64 bytes, the rest for its x:<id> field (else ""). It refuses an
// org name holding the separator (configuration never has one).
func (r record) encode() (core, rest string, err error) {
	if strings.Contains(r.Org, sep) || strings.Contains(r.Holder, sep) {
		return "", "", errors.New("store: an org name holds a control character")
	}
	var f [nFields]string
	f[fRcv] = b36(r.Received.UnixMilli())
	f[fCat] = catCodes.code(string(r.Category))
	f[fSrc] = srcCodes.code(string(r.Source))
	f[fOrg] = r.Org
	f[fN] = b36(r.N)
	f[fSt] = statusCodes.code(string(r.Status))
	if r.Attempts > 0 {
		f[fAt] = strconv.FormatInt(r.Attempts, 10)
	}
	f[fHolder] = r.Holder
	if r.BookHolder {
		f[fHolder] = sameHolder
	}
	f[fRespondBy] = after(r.Received, r.RespondBy)
	f[fReview] = reviewCodes.code(string(r.Review))
	f[fFwd] = after(r.Received, r.Forwarded)
	f[fRef] = r.PoliceRef
	if r.RefSpilled {
		f[fRef] = spilled
	}
	f[fAck] = after(r.Received, r.Ack)
	f[fCls] = after(r.Received, r.Closed)
	f[fCan] = after(r.Received, r.Cancels)
	f[fRes] = resultCodes.code(string(r.Result))
	f[fFT] = ftCodes.code(string(r.FraudType))
	f[fAmount] = packAmount(r.Amount)
	f[fRecovery] = rcvCodes.code(string(r.Recovery))
	f[fRecovered] = packAmount(r.Recovered)
	if r.Recovered.Currency == r.Amount.Currency {
		f[fRecovered] = r.Recovered.Value
	}
	if r.Hop > 0 {
		f[fHop] = b36(int64(r.Hop))
	}
	if r.Upstream {
		f[fUpstream] = "1"
	}
	if all := join(f[:]); len(all) <= maxRecord {
		return all, "", nil
	}
	rest = join(f[fSpill:fSpillEnd])
	clear(f[fSpill:fSpillEnd])
	return join(f[:]), rest, nil
}

// packAmount is an amount in a record: its currency, then its value.
func packAmount(a domain.Amount) string {
	if a.Value == "" {
		return ""
	}
	return a.Currency + a.Value
}

// unpackRecovered reads fRecovered: a value alone is in fAmount's currency.
func unpackRecovered(s, amount string) domain.Amount {
	if s != "" && s[0] >= '0' && s[0] <= '9' {
		return domain.Amount{Currency: unpackAmount(amount).Currency, Value: s}
	}
	return unpackAmount(s)
}

func unpackAmount(s string) domain.Amount {
	if len(s) < 4 {
		return domain.Amount{}
	}
	return domain.Amount{Currency: s[:3], Value: s[3:]}
}

// join joins fields, trailing empty ones left off.
func join(f []string) string {
	n := len(f)
	for n > 0 && f[n-1] == "" {
		n--
	}
	return strings.Join(f[:n], sep)
}

// decodeRecord unpacks a record: its core, its x:<id> field and the
// book's holder.
func decodeRecord(core, rest, bookHolder string) (record, error) {
	var f [nFields]string
	split(core, f[:])
	if rest != "" {
		split(rest, f[fSpill:fSpillEnd])
	}
	if f[fRcv] == "" {
		return record{}, errBadRecord
	}
	rcv := time.UnixMilli(unb36(f[fRcv])).UTC()
	r := record{
		Received: rcv, Category: domain.Category(catCodes.valueOf(f[fCat])), Source: domain.OrgType(srcCodes.valueOf(f[fSrc])),
		Org: f[fOrg], N: unb36(f[fN]), Status: domain.Status(statusCodes.valueOf(f[fSt])), Holder: f[fHolder],
		RespondBy: since(rcv, f[fRespondBy]), Review: domain.ReviewState(reviewCodes.valueOf(f[fReview])),
		Forwarded: since(rcv, f[fFwd]), PoliceRef: f[fRef], RefSpilled: f[fRef] == spilled,
		Ack: since(rcv, f[fAck]), Closed: since(rcv, f[fCls]), Cancels: since(rcv, f[fCan]),
		Result: domain.Result(resultCodes.valueOf(f[fRes])), FraudType: domain.FraudType(ftCodes.valueOf(f[fFT])),
		Amount: unpackAmount(f[fAmount]), Recovery: domain.RecoveryState(rcvCodes.valueOf(f[fRecovery])),
		Recovered: unpackRecovered(f[fRecovered], f[fAmount]), Hop: int(unb36(f[fHop])),
		Upstream: f[fUpstream] == "1",
	}
	if r.RefSpilled {
		r.PoliceRef = ""
	}
	if r.Holder == sameHolder {
		r.Holder, r.BookHolder = bookHolder, true
	}
	r.Attempts, _ = strconv.ParseInt(f[fAt], 10, 64)
	return r, nil
}

// split fills f with s's fields.
func split(s string, f []string) {
	for n := 0; n < len(f); n++ {
		j := strings.IndexByte(s, sep[0])
		if j < 0 {
			f[n] = s
			break
		}
		f[n], s = s[:j], s[j+1:]
	}
}

// formatW writes the book's "w" field (the scripts' setw does the same).
func formatW(wm, lo, nc int64) string {
	w := b36(wm) + ":"
	if lo > 0 {
		w += b36(max(0, wm-lo))
	}
	return w + ":" + b36(nc)
}

// parseW reads the book's "w" field.
func parseW(w string) (wm, lo, nc int64) {
	a, rest, _ := strings.Cut(w, ":")
	b, c, _ := strings.Cut(rest, ":")
	wm = unb36(a)
	return wm, wm - unb36(b), unb36(c)
}

// rawID is a report id's 16 bytes, its field name in the book.
func rawID(id string) string {
	b, err := hex.DecodeString(id)
	if err != nil || len(b) != 16 {
		return ""
	}
	return string(b)
}

// Day-stamped buckets: the idempotency index (report id -> fingerprint
// and partition, on a slot of its own as the SPEC's two-step intake
// needs) and each partition's report index (report id -> the IBAN's
// pseudonym, on the IBAN's slot, so a report is found from the IBAN's own
// keys when its idempotency record is lost). Each value starts with the
// day it was written (2 bytes); a write into a bucket whose oldest entry
// has aged out drops the aged-out entries first (at most once a day per
// bucket), and the bucket's TTL is renewed once a day. An index entry
// that ages out also retires its report's record from the book, and a
// book left empty (prune.go).
const idemBuckets = 1 << 14 // ~60 per bucket at a million reports

func day(t time.Time) int64 { return t.Unix() / 86400 }

func dayBytes(d int64) string {
	var b [2]byte
	binary.BigEndian.PutUint16(b[:], uint16(d))
	return string(b[:])
}
