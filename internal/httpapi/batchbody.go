package httpapi

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
	i := skipSpace(body, 0)
	if i >= len(body) || body[i] != '{' {
		return nil, false
	}
	i = skipSpace(body, i+1)
	const name = `"ibans"`
	if len(body)-i < len(name) || string(body[i:i+len(name)]) != name {
		return nil, false
	}
	i = skipSpace(body, i+len(name))
	if i >= len(body) || body[i] != ':' {
		return nil, false
	}
	i = skipSpace(body, i+1)
	if i >= len(body) || body[i] != '[' {
		return nil, false
	}
	i = skipSpace(body, i+1)
	// Count first, so the list and the strings are one allocation each.
	n, end, ok := scanStrings(body, i)
	if !ok {
		return nil, false
	}
	j := skipSpace(body, end+1)
	if j >= len(body) || body[j] != '}' || skipSpace(body, j+1) != len(body) {
		return nil, false
	}
	s := string(body)
	list = make([]string, 0, n)
	for i < end {
		if s[i] == '"' {
			k := i + 1
			for s[k] != '"' {
				k++
			}
			list = append(list, s[i+1:k])
			i = k + 1
			continue
		}
		i++
	}
	return list, true
}

// scanStrings reads the elements of an array from i (past '[' and
// whitespace) to its ']': n strings, end the index of the ']'. Only
// strings of printable ASCII without a backslash are taken.
func scanStrings(b []byte, i int) (n, end int, ok bool) {
	if i < len(b) && b[i] == ']' {
		return 0, i, true
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return 0, 0, false
		}
		i++
		for i < len(b) && b[i] != '"' {
			if c := b[i]; c < 0x20 || c > 0x7e || c == '\\' {
				return 0, 0, false
			}
			i++
		}
		if i >= len(b) {
			return 0, 0, false
		}
		n++
		i = skipSpace(b, i+1)
		if i >= len(b) {
			return 0, 0, false
		}
		switch b[i] {
		case ']':
			return n, i, true
		case ',':
			i = skipSpace(b, i+1)
		default:
			return 0, 0, false
		}
	}
}

// skipSpace is the index of the first byte at or after i that is not
// JSON whitespace.
func skipSpace(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}
