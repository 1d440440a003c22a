package config

import (
	"fmt"
	"reflect"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// unknownKeys walks a configuration document and names every key the
// Config does not know, with its path and line, and the known key it most
// likely meant ("api.lisen: … did you mean api.listen?"), where yaml's
// strict decoding would only say "field lisen not found in type
// config.Config".
func unknownKeys(doc *yaml.Node) []error {
	if doc == nil || len(doc.Content) == 0 {
		return nil
	}
	var out []error
	walkKeys(doc.Content[0], reflect.TypeFor[Config](), "", &out)
	return out
}

func walkKeys(n *yaml.Node, t reflect.Type, path string, out *[]error) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t.Kind() == reflect.Struct && n.Kind == yaml.MappingNode:
		fields := yamlFields(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			ft, ok := fields[k.Value]
			if !ok {
				ft, ok = fields[anyKey]
			}
			if !ok {
				msg := fmt.Sprintf("config: line %d: unknown key %s", k.Line, join(path, k.Value))
				if near := nearest(k.Value, fields); near != "" {
					msg += ", did you mean " + join(path, near) + "?"
				}
				*out = append(*out, fmt.Errorf("%s", msg))
				continue
			}
			walkKeys(v, ft, join(path, k.Value), out)
		}
	case t.Kind() == reflect.Map && n.Kind == yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			walkKeys(n.Content[i+1], t.Elem(), join(path, n.Content[i].Value), out)
		}
	case t.Kind() == reflect.Slice && n.Kind == yaml.SequenceNode:
		for i, c := range n.Content {
			walkKeys(c, t.Elem(), fmt.Sprintf("%s[%d]", path, i), out)
		}
	}
}

// yamlFields are a struct's yaml keys and their types (inline structs
// flattened).
func yamlFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("yaml")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if strings.Contains(opts, "inline") && f.Type.Kind() == reflect.Map {
			out[anyKey] = f.Type.Elem() // any other key, of the map's values
			continue
		}
		if strings.Contains(opts, "inline") {
			for k, v := range yamlFields(f.Type) {
				out[k] = v
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out[name] = f.Type
	}
	return out
}

// anyKey stands for the keys of an inline map (limits' org types).
const anyKey = "\x00any"

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// nearest is the known key closest to k within two edits ("" for none).
func nearest(k string, known map[string]reflect.Type) string {
	names := make([]string, 0, len(known))
	for n := range known {
		if n != anyKey {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	best, bestD := "", 3
	for _, n := range names {
		if d := editDistance(k, n); d < bestD {
			best, bestD = n, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance of two short strings.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

// EnvNames are the MULEGATE_* variables the configuration reads (every
// scalar and string-list key, by its yaml path).
func EnvNames() []string {
	var out []string
	envNames(reflect.TypeFor[Config](), "MULEGATE", &out)
	sort.Strings(out)
	return out
}

func envNames(t reflect.Type, prefix string, out *[]string) {
	for i := range t.NumField() {
		f := t.Field(i)
		tag := strings.Split(f.Tag.Get("yaml"), ",")[0]
		if tag == "" || tag == "-" {
			continue
		}
		name := prefix + "_" + strings.ToUpper(tag)
		if f.Type.Kind() == reflect.Struct {
			envNames(f.Type, name, out)
			continue
		}
		*out = append(*out, name)
	}
}

// otherEnv are MULEGATE_* variables read elsewhere than the gateway's
// configuration (the CLI's, the load generator's, the tests').
var otherEnv = map[string]bool{"MULEGATE_CLIENT_URL": true, "MULEGATE_CLIENT_CERT": true, "MULEGATE_CLIENT_KEY": true,
	"MULEGATE_CLIENT_CA": true, "MULEGATE_CLIENT_TOKEN": true, "MULEGATE_CLIENT_TOKEN_URL": true, "MULEGATE_CLIENT_PURPOSE": true,
	"MULEGATE_TOKEN": true, "MULEGATE_TEST_TOPOLOGY": true, "MULEGATE_BENCH_RATE": true, "MULEGATE_DIR": true}

// UnknownEnv names the MULEGATE_* variables of environ (KEY=VALUE) that
// nothing reads, each with the known one it most likely meant: a typo in
// a variable is otherwise silently ignored.
func UnknownEnv(environ []string) []string {
	known := map[string]reflect.Type{}
	for _, n := range EnvNames() {
		known[n] = nil
	}
	var out []string
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, "MULEGATE_") || otherEnv[name] {
			continue
		}
		if _, ok := known[name]; ok {
			continue
		}
		msg := name
		if near := nearest(name, known); near != "" {
			msg += " (did you mean " + near + "?)"
		}
		out = append(out, msg)
	}
	sort.Strings(out)
	return out
}
