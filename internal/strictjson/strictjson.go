// Package strictjson decodes a request body so that it has one
// meaning, the one every other JSON parser reads too: encoding/json
// keeps the last of a repeated field and matches names regardless of
// case, a proxy or a WAF in front of the gateway may do otherwise. It
// names the offending field in every error. The HTTP parts (content
// type, size) are the caller's.
package strictjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"
)

// Error is a body that is refused: Field names where ("body" for the
// whole), Msg says why.
type Error struct{ Field, Msg string }

func (e *Error) Error() string { return e.Field + ": " + e.Msg }

func invalid(field, msg string) error { return &Error{Field: field, Msg: msg} }

// checkFields walks the JSON alongside the Go type it will be decoded
// into and refuses what encoding/json would silently accept: a field
// given twice (it keeps the last) and a field whose name differs from the
// API's only in case (it matches case-insensitively). Syntax and type
// errors are left to the decoder, which names them: at the first syntax
// error the walk stops and says nothing. It scans the bytes itself (the
// decoder's token stream costs an allocation per token): keys without
// escapes are compared as they are, keys with escapes are unescaped by
// encoding/json.
func checkFields(body []byte, t reflect.Type) error {
	w := fieldWalk{b: body}
	if err := w.value(t, ""); !errors.Is(err, errSyntax) {
		return err
	}
	return nil
}

// errSyntax stops a fieldWalk: the decoder will name the error.
var errSyntax = errors.New("syntax")

type fieldWalk struct {
	b []byte
	i int
}

func (w *fieldWalk) space() {
	for w.i < len(w.b) {
		switch w.b[w.i] {
		case ' ', '\t', '\n', '\r':
			w.i++
		default:
			return
		}
	}
}

// next skips white space and returns the next byte (0 at the end).
func (w *fieldWalk) next() byte {
	w.space()
	if w.i >= len(w.b) {
		return 0
	}
	return w.b[w.i]
}

func (w *fieldWalk) value(t reflect.Type, path string) error {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch w.next() {
	case '{':
		return w.object(t, path)
	case '[':
		w.i++
		var et reflect.Type
		if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
			et = t.Elem()
		}
		return w.items(']', func() error { return w.value(et, path) })
	case '"':
		_, err := w.str()
		return err
	case 't':
		return w.literal("true")
	case 'f':
		return w.literal("false")
	case 'n':
		return w.literal("null")
	default:
		return w.number()
	}
}

func (w *fieldWalk) object(t reflect.Type, path string) error {
	w.i++ // {
	var fields map[string]reflect.Type
	if t != nil && t.Kind() == reflect.Struct {
		fields = jsonFields(t)
	}
	var seen []string // few keys: a slice beats a map
	return w.items('}', func() error {
		if w.next() != '"' {
			return errSyntax
		}
		name, err := w.str()
		if err != nil {
			return err
		}
		field := name
		if path != "" {
			field = path + "." + name
		}
		if name == "" {
			field = "body"
		}
		if slices.Contains(seen, name) {
			return invalid(field, fmt.Sprintf("field %q appears more than once", name))
		}
		seen = append(seen, name)
		var ft reflect.Type
		if fields != nil {
			var ok bool
			if ft, ok = fields[name]; !ok {
				return invalid(field, fmt.Sprintf("unknown field %q", name))
			}
		} else if t != nil && t.Kind() == reflect.Map {
			ft = t.Elem()
		}
		if w.next() != ':' { // after the key's own checks, as the token stream has it
			return errSyntax
		}
		w.i++
		return w.value(ft, field)
	})
}

// items walks the comma-separated items of an array or an object up to
// its closing byte; w.i is just past the opening one.
func (w *fieldWalk) items(closing byte, item func() error) error {
	if w.next() == closing {
		w.i++
		return nil
	}
	for {
		if err := item(); err != nil {
			return err
		}
		switch w.next() {
		case ',':
			w.i++
		case closing:
			w.i++
			return nil
		default:
			return errSyntax
		}
	}
}

// str reads a string at w.i (its opening quote) and returns its value.
func (w *fieldWalk) str() (string, error) {
	start, escaped := w.i, false
	for w.i++; w.i < len(w.b); w.i++ {
		switch c := w.b[w.i]; {
		case c == '"':
			w.i++
			raw := w.b[start:w.i]
			if !escaped {
				return string(raw[1 : len(raw)-1]), nil
			}
			var v string
			if json.Unmarshal(raw, &v) != nil {
				return "", errSyntax
			}
			return v, nil
		case c == '\\':
			escaped = true
			w.i++ // the escaped byte; \u's digits are checked by Unmarshal
		case c < 0x20:
			return "", errSyntax
		}
	}
	return "", errSyntax
}

func (w *fieldWalk) literal(lit string) error {
	if !bytes.HasPrefix(w.b[w.i:], []byte(lit)) {
		return errSyntax
	}
	w.i += len(lit)
	return nil
}

// number reads a JSON number: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
func (w *fieldWalk) number() error {
	digits := func() int {
		n := 0
		for w.i < len(w.b) && w.b[w.i] >= '0' && w.b[w.i] <= '9' {
			w.i++
			n++
		}
		return n
	}
	if w.i < len(w.b) && w.b[w.i] == '-' {
		w.i++
	}
	if w.i < len(w.b) && w.b[w.i] == '0' {
		w.i++
	} else if digits() == 0 {
		return errSyntax
	}
	if w.i < len(w.b) && w.b[w.i] == '.' {
		w.i++
		if digits() == 0 {
			return errSyntax
		}
	}
	if w.i < len(w.b) && (w.b[w.i] == 'e' || w.b[w.i] == 'E') {
		w.i++
		if w.i < len(w.b) && (w.b[w.i] == '+' || w.b[w.i] == '-') {
			w.i++
		}
		if digits() == 0 {
			return errSyntax
		}
	}
	return nil
}

// jsonFields maps the exact JSON names of a struct's fields to their
// types (made once per type).
func jsonFields(t reflect.Type) map[string]reflect.Type {
	if m, ok := fieldsOf.Load(t); ok {
		return m.(map[string]reflect.Type)
	}
	out := make(map[string]reflect.Type, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = f.Type
	}
	fieldsOf.Store(t, out)
	return out
}

var fieldsOf sync.Map // reflect.Type -> map[string]reflect.Type

// Decode reads body, one JSON value, into dst, refusing what
// encoding/json would silently accept: unknown fields, a field given
// twice, a field whose name differs from dst's only in case, invalid
// UTF-8 and trailing data. Every error is an *Error naming the field.
func Decode(body []byte, dst any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return invalid("body", "the request body is empty")
	}
	if !utf8.Valid(body) {
		return invalid("body", "the request body is not valid UTF-8")
	}
	if err := checkFields(body, reflect.TypeOf(dst)); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return invalid("body", "the request body must be a single JSON object")
	}
	return nil
}

func jsonError(err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return invalid("body", fmt.Sprintf("malformed JSON at byte %d", syn.Offset))
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			return invalid("body", "the request body must be a JSON object")
		}
		return invalid(field, fmt.Sprintf("%s must be %s", field, jsonKind(typ.Type.Kind().String())))
	case errors.Is(err, io.ErrUnexpectedEOF):
		return invalid("body", "malformed JSON: unexpected end of input")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		field := name
		if field == "" {
			field = "body"
		}
		return invalid(field, fmt.Sprintf("unknown field %q", name))
	}
	return invalid("body", "malformed JSON")
}

func jsonKind(k string) string {
	switch k {
	case "string":
		return "a string"
	case "slice", "array":
		return "an array"
	case "struct", "map", "ptr":
		return "an object"
	case "bool":
		return "a boolean"
	}
	return "a number"
}
