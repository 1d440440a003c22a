package store

import (
	"embed"
	"fmt"
	"reflect"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"
)

// The Go↔Lua protocol. Each script is a file in lua/, run with the
// record prelude (luaRecord: the record's field positions and codes,
// from record.go), the library files it names, and one prelude per
// argument struct it takes: a Go struct whose fields, in order and named
// by their lua tags, are the script's ARGV. The prelude gives the script
// a function that reads them by name,
//
//	local function accept_args(V, o) return {id = V[o + 1], ...} end
//	local ACCEPT_N = 19
//
// and the struct's argv() sends them in the same order, so neither side
// counts positions by hand. A last field of slice type takes the rest of
// ARGV (pairs of field names and values, for instance).
//
// KEYS are named at the top of each script and built only by keys.go.

//go:embed lua/*.lua lua/lib/*.lua
var luaFiles embed.FS

// newScript builds the script of file from the record prelude, the
// libraries, and the preludes of its argument structs (named by
// luaArgName).
func newScript(file string, libs []string, args ...any) *redis.Script {
	src := scriptText(file, libs, args...)
	sc := redis.NewScript(src)
	sources.Store(sc, src)
	return sc
}

// sources keeps each script's text (for the tests that read them).
var sources sync.Map // *redis.Script -> string

func scriptSource(sc *redis.Script) string { v, _ := sources.Load(sc); s, _ := v.(string); return s }

func scriptText(file string, libs []string, args ...any) string {
	var b strings.Builder
	b.WriteString(luaRecord)
	for _, l := range libs {
		b.WriteString(luaFile(l))
	}
	for _, a := range args {
		b.WriteString(luaArgs(a))
	}
	b.WriteString(luaFile(file))
	return b.String()
}

func luaFile(name string) string {
	src, err := luaFiles.ReadFile("lua/" + name + ".lua")
	if err != nil {
		panic("store: no Lua file " + name) // a build error: the files are embedded
	}
	return string(src)
}

// luaArgName is the Lua name of an argument struct: the type name
// without "Args", in snake case ("acceptArgs" -> "accept", "claimReportArgs" ->
// "claim_report").
func luaArgName(t reflect.Type) string {
	name := strings.TrimSuffix(t.Name(), "Args")
	var b strings.Builder
	for i, r := range name {
		if r >= 'A' && r <= 'Z' {
			if i > 0 {
				b.WriteByte('_')
			}
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}

// luaArgs is the prelude of an argument struct.
func luaArgs(v any) string {
	t := reflect.TypeOf(v)
	name := luaArgName(t)
	var fields []string
	n := 0
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("lua")
		if tag == "" {
			panic("store: " + t.Name() + "." + f.Name + " has no lua tag")
		}
		if f.Type.Kind() == reflect.Slice {
			if i != t.NumField()-1 {
				panic("store: " + t.Name() + "." + f.Name + ": only the last argument takes the rest")
			}
			fields = append(fields, fmt.Sprintf("%s = {unpack(V, o + %d)}", tag, n+1))
			continue
		}
		n++
		fields = append(fields, fmt.Sprintf("%s = V[o + %d]", tag, n))
	}
	return fmt.Sprintf("local function %s_args(V, o)\n  return {%s}\nend\nlocal %s_N = %d\n",
		name, strings.Join(fields, ", "), strings.ToUpper(name), n)
}

// argvOf is an argument struct's ARGV: its fields in order, a last slice
// field's elements after them.
func argvOf(v any) []any {
	rv := reflect.ValueOf(v)
	out := make([]any, 0, rv.NumField())
	for i := range rv.NumField() {
		f := rv.Field(i)
		if f.Kind() == reflect.Slice {
			for j := range f.Len() {
				out = append(out, f.Index(j).Interface())
			}
			continue
		}
		out = append(out, f.Interface())
	}
	return out
}

// nArgs is how many fixed arguments an argument struct has (the stride
// of a batch of them).
func nArgs(v any) int {
	t := reflect.TypeOf(v)
	n := 0
	for i := range t.NumField() {
		if t.Field(i).Type.Kind() != reflect.Slice {
			n++
		}
	}
	return n
}
