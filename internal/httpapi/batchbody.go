package httpapi

import "strings"

// The batch lookup's body, read without reflection. A bank's batch is
// {"ibans":[…]} with up to 1000 plain strings: strictjson and
// encoding/json spend about 0.3 ms and two allocations an IBAN on it.
// fastIBANList reads exactly that shape and nothing else; every other
// body (escapes, non-ASCII, other fields, null, a syntax error) goes to
// decodeJSON, which decides and names what is wrong. FuzzBatchFastPath
// holds the two to the same answer for every body the fast path takes.

// fastIBANList is the list of a body that is {"ibans":[…]} of strings of
// printable ASCII without escapes (JSON whitespace anywhere JSON allows
// it); ok is false for any other body. The strings share one copy of the
// body.
func fastIBANList(body []byte) (list []string, ok bool) {
	s := string(body)
	i := skipSpace(s, 0)
	for _, tok := range [...]string{"{", `"ibans"`, ":", "["} {
		if !strings.HasPrefix(s[i:], tok) {
			return nil, false
		}
		i = skipSpace(s, i+len(tok))
	}
	list = make([]string, 0, len(s)/24) // an IBAN and its quotes and comma: 20 to 37 bytes
	for i < len(s) && s[i] == '"' {
		j := i + 1
		for j < len(s) && s[j] != '"' {
			if c := s[j]; c < 0x20 || c > 0x7e || c == '\\' {
				return nil, false
			}
			j++
		}
		if j == len(s) {
			return nil, false
		}
		list = append(list, s[i+1:j])
		if i = skipSpace(s, j+1); i == len(s) || s[i] != ',' {
			break
		}
		if i = skipSpace(s, i+1); i == len(s) || s[i] != '"' {
			return nil, false // a comma before the ] or before a non-string
		}
	}
	for _, tok := range [...]string{"]", "}"} {
		if !strings.HasPrefix(s[i:], tok) {
			return nil, false
		}
		i = skipSpace(s, i+len(tok))
	}
	return list, i == len(s)
}

// skipSpace is the index of the first byte at or after i that is not
// JSON whitespace.
func skipSpace(s string, i int) int {
	for i < len(s) {
		switch s[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}
