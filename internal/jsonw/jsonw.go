// Package jsonw writes JSON by hand, byte for byte as encoding/json
// would, for the hot paths where reflection costs more than the answer
// (the lookup body, the audit record). It imports the standard library
// only.
package jsonw

import (
	"encoding/json"
	"unicode/utf8"
)

// AppendString appends s as a JSON string the way encoding/json does
// (HTML characters escaped, "\b" and "\f" short, other control
// characters as \u00XX); a string with anything beyond ASCII goes
// through encoding/json itself (its U+2028, U+2029 and invalid UTF-8
// rules). FuzzAppendString holds it to encoding/json.
func AppendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			q, _ := json.Marshal(s)
			return append(b, q...)
		}
	}
	b = append(b, '"')
	from := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
			continue
		}
		b = append(b, s[from:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		case '\b':
			b = append(b, '\\', 'b')
		case '\f':
			b = append(b, '\\', 'f')
		default:
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		from = i + 1
	}
	b = append(b, s[from:]...)
	return append(b, '"')
}

const hexDigits = "0123456789abcdef"

// AppendStrings appends ss as a JSON array of strings.
func AppendStrings(b []byte, ss []string) []byte {
	b = append(b, '[')
	for n, s := range ss {
		if n > 0 {
			b = append(b, ',')
		}
		b = AppendString(b, s)
	}
	return append(b, ']')
}
