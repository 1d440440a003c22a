package store

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/mulegate/mulegate/internal/jsonw"
)

// Compact event data. A bank's feed keeps every event for the event
// retention, so what an event's data costs in Redis is paid per report:
// the JSON of a report.received is mostly its field names, 32-character
// hex ids and RFC 3339 times. Before it is sealed, an event's data is
// written in a compact form that reads back to the same JSON value (same
// members in the same order, same strings, numbers as written):
//
//	compactMark, then one value
//	value   tagNull | tagFalse | tagTrue
//	        tagString  uvarint(len) bytes
//	        tagWord    byte          a string in compactWords
//	        tagID      16 bytes      32 lower-case hex digits
//	        tagMilli   uvarint(ms)   an RFC 3339 UTC time to the ms, as Go
//	        tagNano    uvarint(ns)   writes it (RFC3339Nano, "Z")
//	        tagUint    uvarint(n)    a non-negative integer as Go writes it
//	        tagNumber  uvarint(len) bytes   any other number, as written
//	        tagUpper   byte(len) bytes   a string of 8 to 64 capital letters
//	                   and digits, a letter first (an IBAN, a BIC), as one
//	                   base-36 number (about 35 % smaller)
//	        tagObject  (key value)* tagEnd
//	        tagArray   value* tagEnd
//	key     keyWord+n: compactWords[n] (n < 127)
//	        keyLiteral uvarint(len) bytes
//
// A JSON text starts with '{' or white space, never with compactMark, so
// data written before this form (plain JSON) still reads. compactWords
// only grows at its end: an index, once written, means its word forever.
const compactMark = 0x01

const (
	tagNull byte = iota + 1
	tagFalse
	tagTrue
	tagString
	tagWord
	tagID
	tagMilli
	tagNano
	tagUint
	tagNumber
	tagObject
	tagArray
	tagEnd
	tagUpper
)

const (
	keyWord    = 0x80
	keyLiteral = 0xff
)

// compactWords are the field names and closed-set values events carry.
// Append only.
var compactWords = []string{
	// field names
	"report_id", "iban", "category", "occurred_at", "amount", "reference", "description",
	"reporter_org", "reporter_type", "received_at", "respond_by", "source_report_id",
	"root_report_id", "hop", "cancelled_at", "reason", "reporter_count", "report_count",
	"window", "value", "currency", "alert_id", "bank_org", "severity", "message", "created_at",
	"fraud_type", "registered_at", "result", "closed_at", "hold_by", "answer_by", "partial",
	"cleared_at", "previous_risk", "risk", "status", "at", "by", "details", "requested_at",
	"held_at", "returned_at", "rejected_at", "released_at", "recovered", "requester_org",
	"holder_org", "withdrawn", "lookup_at", "purpose",
	// values
	"phishing", "helpdesk_fraud", "marketplace_fraud", "investment_fraud", "romance_fraud",
	"invoice_fraud", "other", "bank", "marketplace", "police", "30d", "EUR", "agreed",
	"disagreed", "mule_account", "low", "medium", "high", "none", "info", "warning",
	"critical",
}

var compactIndex = func() map[string]byte {
	m := make(map[string]byte, len(compactWords))
	for n, w := range compactWords {
		m[w] = byte(n)
	}
	return m
}()

// compactJSON writes a JSON value in the compact form; data that is not
// one valid JSON value is returned as it is (it reads back unchanged).
func compactJSON(data []byte) []byte {
	out, _ := compactJSONWithout(data, "", "")
	return out
}

// compactJSONWithout is compactJSON leaving out the top-level member
// key (if any) whose value is the string val; dropped says it did.
func compactJSONWithout(data []byte, key, val string) (out []byte, dropped bool) {
	c := compactor{d: json.NewDecoder(bytes.NewReader(data)), dropKey: key, dropVal: val}
	c.d.UseNumber()
	out, err := c.value(append(make([]byte, 0, len(data)/2+8), compactMark), 0)
	if err != nil {
		return data, false
	}
	if _, err := c.d.Token(); !errors.Is(err, io.EOF) {
		return data, false // more than one value
	}
	return out, c.dropped
}

// compactor writes the values its decoder reads, leaving out the
// top-level member dropKey: dropVal (dropped says it met it).
type compactor struct {
	d                *json.Decoder
	dropKey, dropVal string
	dropped          bool
}

// value writes the next value the decoder holds.
func (c *compactor) value(out []byte, depth int) ([]byte, error) {
	t, err := c.d.Token()
	if err != nil {
		return nil, err
	}
	return c.token(t, out, depth)
}

func (c *compactor) token(t json.Token, out []byte, depth int) ([]byte, error) {
	switch v := t.(type) {
	case nil:
		return append(out, tagNull), nil
	case bool:
		if v {
			return append(out, tagTrue), nil
		}
		return append(out, tagFalse), nil
	case json.Number:
		return compactNumber(out, string(v)), nil
	case string:
		return compactString(out, v), nil
	case json.Delim:
		return c.nested(v, out, depth)
	}
	return nil, errors.New("compact: unexpected token")
}

func (c *compactor) nested(open json.Delim, out []byte, depth int) ([]byte, error) {
	var err error
	if open == '[' {
		out = append(out, tagArray)
		for c.d.More() {
			if out, err = c.value(out, depth+1); err != nil {
				return nil, err
			}
		}
	} else {
		out = append(out, tagObject)
		for c.d.More() {
			if out, err = c.member(out, depth); err != nil {
				return nil, err
			}
		}
	}
	if _, err := c.d.Token(); err != nil { // the closing delimiter
		return nil, err
	}
	return append(out, tagEnd), nil
}

// member writes an object's next key and value (or neither: the member
// to drop).
func (c *compactor) member(out []byte, depth int) ([]byte, error) {
	k, err := c.d.Token()
	if err != nil {
		return nil, err
	}
	key, _ := k.(string)
	var v json.Token
	read := false // v holds the member's value already
	if depth == 0 && c.dropKey != "" && key == c.dropKey && !c.dropped {
		if v, err = c.d.Token(); err != nil {
			return nil, err
		}
		if s, ok := v.(string); ok && s == c.dropVal {
			c.dropped = true
			return out, nil
		}
		read = true
	}
	if w, ok := compactIndex[key]; ok && w < keyLiteral-keyWord {
		out = append(out, keyWord+w)
	} else {
		out = append(out, keyLiteral)
		out = binary.AppendUvarint(out, uint64(len(key)))
		out = append(out, key...)
	}
	if read {
		return c.token(v, out, depth+1)
	}
	return c.value(out, depth+1)
}

func compactNumber(out []byte, n string) []byte {
	if u, err := strconv.ParseUint(n, 10, 64); err == nil && strconv.FormatUint(u, 10) == n {
		return binary.AppendUvarint(append(out, tagUint), u)
	}
	out = binary.AppendUvarint(append(out, tagNumber), uint64(len(n)))
	return append(out, n...)
}

func compactString(out []byte, s string) []byte {
	if w, ok := compactIndex[s]; ok {
		return append(out, tagWord, w)
	}
	if len(s) == 32 {
		if b, err := hex.DecodeString(s); err == nil && hex.EncodeToString(b) == s {
			return append(append(out, tagID), b...)
		}
	}
	if len(s) >= 20 && len(s) <= 30 && s[len(s)-1] == 'Z' {
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil && t.Year() >= 1970 && t.Year() < 2200 &&
			t.UTC().Format(time.RFC3339Nano) == s {
			ns := t.UnixNano()
			if ns%int64(time.Millisecond) == 0 {
				return binary.AppendUvarint(append(out, tagMilli), uint64(ns/int64(time.Millisecond)))
			}
			return binary.AppendUvarint(append(out, tagNano), uint64(ns))
		}
	}
	if upper(s) {
		var n big.Int
		n.SetString(s, 36)
		b := n.Bytes()
		return append(append(out, tagUpper, byte(len(b))), b...)
	}
	out = binary.AppendUvarint(append(out, tagString), uint64(len(s)))
	return append(out, s...)
}

// upper says whether s is 8 to 64 capital letters and digits, a letter
// first (so its base-36 number loses no leading zero).
func upper(s string) bool {
	if len(s) < 8 || len(s) > 64 || s[0] < 'A' || s[0] > 'Z' {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; (c < 'A' || c > 'Z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

var errCompact = errors.New("compact event data: malformed")

// expandJSON reads data back to JSON: compact data is expanded, anything
// else (JSON written before the compact form) is returned as it is.
func expandJSON(data []byte) ([]byte, error) {
	if len(data) == 0 || data[0] != compactMark {
		return data, nil
	}
	r := &compactReader{b: data[1:]}
	out, err := r.value(make([]byte, 0, 2*len(data)+32), 0)
	if err != nil || len(r.b) != 0 {
		return nil, errCompact
	}
	return out, nil
}

type compactReader struct{ b []byte }

func (r *compactReader) byte() (byte, error) {
	if len(r.b) == 0 {
		return 0, errCompact
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c, nil
}

func (r *compactReader) uvarint() (uint64, error) {
	u, n := binary.Uvarint(r.b)
	if n <= 0 {
		return 0, errCompact
	}
	r.b = r.b[n:]
	return u, nil
}

func (r *compactReader) bytes(n uint64) ([]byte, error) {
	if n > uint64(len(r.b)) {
		return nil, errCompact
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out, nil
}

// sized reads a length, then that many bytes.
func (r *compactReader) sized() ([]byte, error) {
	n, err := r.uvarint()
	if err != nil {
		return nil, err
	}
	return r.bytes(n)
}

func (r *compactReader) word() (string, error) {
	c, err := r.byte()
	if err != nil || int(c) >= len(compactWords) {
		return "", errCompact
	}
	return compactWords[c], nil
}

// maxDepth bounds nesting, so malformed data cannot exhaust the stack.
const maxDepth = 32

func (r *compactReader) value(out []byte, depth int) ([]byte, error) {
	tag, err := r.byte()
	if err != nil || depth > maxDepth {
		return nil, errCompact
	}
	switch tag {
	case tagNull:
		return append(out, "null"...), nil
	case tagFalse:
		return append(out, "false"...), nil
	case tagTrue:
		return append(out, "true"...), nil
	case tagObject:
		return r.object(append(out, '{'), depth)
	case tagArray:
		return r.array(append(out, '['), depth)
	}
	return r.scalar(tag, out)
}

func (r *compactReader) scalar(tag byte, out []byte) ([]byte, error) {
	switch tag {
	case tagString, tagNumber:
		b, err := r.sized()
		if err != nil {
			return nil, err
		}
		if tag == tagNumber {
			if !json.Valid(b) || (b[0] != '-' && (b[0] < '0' || b[0] > '9')) {
				return nil, errCompact
			}
			return append(out, b...), nil
		}
		return jsonw.AppendString(out, string(b)), nil
	case tagWord:
		w, err := r.word()
		if err != nil {
			return nil, err
		}
		return jsonw.AppendString(out, w), nil
	case tagUpper:
		n, err := r.byte()
		if err != nil {
			return nil, err
		}
		b, err := r.bytes(uint64(n))
		if err != nil {
			return nil, err
		}
		t := strings.ToUpper(new(big.Int).SetBytes(b).Text(36))
		if !upper(t) {
			return nil, errCompact
		}
		return append(append(append(out, '"'), t...), '"'), nil
	case tagID:
		b, err := r.bytes(16)
		if err != nil {
			return nil, err
		}
		return append(hex.AppendEncode(append(out, '"'), b), '"'), nil
	case tagMilli, tagNano, tagUint:
		u, err := r.uvarint()
		if err != nil {
			return nil, err
		}
		switch tag {
		case tagUint:
			return strconv.AppendUint(out, u, 10), nil
		case tagMilli:
			return append(time.UnixMilli(int64(u)).UTC().AppendFormat(append(out, '"'), time.RFC3339Nano), '"'), nil
		default:
			return append(time.Unix(0, int64(u)).UTC().AppendFormat(append(out, '"'), time.RFC3339Nano), '"'), nil
		}
	}
	return nil, errCompact
}

func (r *compactReader) object(out []byte, depth int) ([]byte, error) {
	for first := true; ; first = false {
		k, err := r.byte()
		if err != nil {
			return nil, err
		}
		if k == tagEnd {
			return append(out, '}'), nil
		}
		if !first {
			out = append(out, ',')
		}
		var key string
		switch {
		case k == keyLiteral:
			b, err := r.sized()
			if err != nil {
				return nil, err
			}
			key = string(b)
		case k >= keyWord && int(k-keyWord) < len(compactWords):
			key = compactWords[k-keyWord]
		default:
			return nil, errCompact
		}
		out = append(jsonw.AppendString(out, key), ':')
		if out, err = r.value(out, depth+1); err != nil {
			return nil, err
		}
	}
}

func (r *compactReader) array(out []byte, depth int) ([]byte, error) {
	for first := true; ; first = false {
		if len(r.b) > 0 && r.b[0] == tagEnd {
			r.b = r.b[1:]
			return append(out, ']'), nil
		}
		if !first {
			out = append(out, ',')
		}
		var err error
		if out, err = r.value(out, depth+1); err != nil {
			return nil, err
		}
	}
}
