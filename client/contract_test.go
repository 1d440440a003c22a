package client

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"maps"
	"net/http"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
)

// TestTypesFollowTheContract: every type the client sends or decodes has
// exactly the JSON fields its schema in api/openapi.yaml has, each of a
// matching kind; an enum's Go type has exactly the enum's values as
// constants; a nullable field can hold null; a request's optional field is
// left out when zero and a required one never is. Every struct type with
// JSON fields in the package is checked here, or is an event payload
// (checked against the real server by cmd/mulegate's spec-checking
// client).
func TestTypesFollowTheContract(t *testing.T) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromFile("../api/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	component := func(name string) *openapi3.Schema {
		ref := doc.Components.Schemas[name]
		if ref == nil {
			t.Fatalf("no schema %s in api/openapi.yaml", name)
		}
		return ref.Value
	}
	op := func(path, method string) *openapi3.Operation {
		item := doc.Paths.Value(path)
		if item == nil || item.GetOperation(method) == nil {
			t.Fatalf("no %s %s in api/openapi.yaml", method, path)
		}
		return item.GetOperation(method)
	}
	answer := func(path, method string, status int) *openapi3.Schema {
		r := op(path, method).Responses.Status(status)
		if r == nil || r.Value.Content.Get("application/json") == nil {
			t.Fatalf("no JSON %d answer for %s %s", status, method, path)
		}
		return r.Value.Content.Get("application/json").Schema.Value
	}
	body := func(path, method string) *openapi3.Schema {
		return op(path, method).RequestBody.Value.Content.Get("application/json").Schema.Value
	}
	c := contract{t: t, enums: enumValues(t), seen: map[reflect.Type]bool{}}
	for _, p := range []struct {
		typ     reflect.Type
		schema  *openapi3.Schema
		request bool
	}{
		{reflect.TypeFor[Lookup](), component("Lookup"), false},
		{reflect.TypeFor[BatchError](), component("BatchError"), false},
		{reflect.TypeFor[ReportRequest](), component("ReportRequest"), true},
		{reflect.TypeFor[Accepted](), component("Accepted"), false},
		{reflect.TypeFor[ReportStatus](), component("ReportStatus"), false},
		{reflect.TypeFor[CloseRequest](), component("CloseRequest"), true},
		{reflect.TypeFor[CancelRequest](), component("CancelRequest"), true},
		{reflect.TypeFor[onwardRequest](), component("OnwardRequest"), true},
		{reflect.TypeFor[OnwardAnswer](), component("OnwardAnswer"), false},
		{reflect.TypeFor[Chain](), component("Chain"), false},
		{reflect.TypeFor[RecoveryRequest](), component("RecoveryRequest"), true},
		{reflect.TypeFor[recoveryAmount](), component("RecoveryAmount"), true},
		{reflect.TypeFor[RecoveryReturn](), component("RecoveryReturn"), true},
		{reflect.TypeFor[RecoveryReject](), component("RecoveryReject"), true},
		{reflect.TypeFor[Recovery](), component("Recovery"), false},
		{reflect.TypeFor[AlertRequest](), component("AlertRequest"), true},
		{reflect.TypeFor[Problem](), component("Problem"), false},
		{reflect.TypeFor[WorkPage](), component("WorkPage"), false},
		{reflect.TypeFor[Limits](), answer("/v1/limits", "GET", 200), false},
		{reflect.TypeFor[struct {
			IBANs []string `json:"ibans"`
		}](), body("/v1/ibans/lookup", "POST"), true},
		{reflect.TypeFor[struct {
			Orgs []OrgLookups `json:"orgs"`
		}](), answer("/v1/ibans/{iban}/lookups", "GET", 200), false},
		{reflect.TypeFor[markerRequest](), body("/v1/ibans/{iban}/marker", "PUT"), true},
		{reflect.TypeFor[Marker](), answer("/v1/ibans/{iban}/marker", "PUT", 200), false},
		{reflect.TypeFor[HolderStatus](), answer("/v1/ibans/{iban}/status", "PUT", 200), false},
		{reflect.TypeFor[Clear](), answer("/v1/ibans/{iban}/clear", "POST", 200), false},
		{reflect.TypeFor[AccessRecord](), answer("/v1/ibans/{iban}/record", "GET", 200), false},
		{reflect.TypeFor[PostedAlert](), answer("/v1/alerts", "POST", http.StatusCreated), false},
		{reflect.TypeFor[alertPage](), answer("/v1/alerts", "GET", 200), false},
		{reflect.TypeFor[eventPage](), answer("/v1/events", "GET", 200), false},
	} {
		c.check(p.typ.String(), p.typ, p.schema, p.request, true)
	}
	// The bodies SetHolderStatus and ClearIBAN send (maps of the same keys).
	for _, b := range []struct {
		path, method string
		keys         []string
	}{
		{"/v1/ibans/{iban}/status", "PUT", []string{"status", "details"}},
		{"/v1/ibans/{iban}/clear", "POST", []string{"reason", "details"}},
	} {
		s := body(b.path, b.method)
		if got := slices.Sorted(maps.Keys(s.Properties)); !slices.Equal(got, slices.Sorted(slices.Values(b.keys))) {
			t.Errorf("%s %s body: the contract has %v, the client sends %v", b.method, b.path, got, b.keys)
		}
	}
	payloads := []string{"ReportReceived", "ReportCancelled", "IBANThreshold", "MarkerChange", "ReportReviewed",
		"RecoveryEvent", "IBANCorrected", "BatchResult", "Config", "Error", "Client", "FeedOptions", "CursorItem"}
	for _, name := range jsonStructs(t) {
		if !c.seenName(name) && !slices.Contains(payloads, name) {
			t.Errorf("type %s has JSON fields but no schema checks it: add it to TestTypesFollowTheContract", name)
		}
	}
}

type contract struct {
	t     *testing.T
	enums map[string][]string // Go string type → its constants' values
	seen  map[reflect.Type]bool
}

func (c *contract) seenName(name string) bool {
	for typ := range c.seen {
		if typ.Name() == name && typ.PkgPath() == reflect.TypeFor[Lookup]().PkgPath() {
			return true
		}
	}
	return false
}

var (
	timeType = reflect.TypeFor[time.Time]()
	rawType  = reflect.TypeFor[json.RawMessage]()
)

// check compares one Go type with one schema; at says where it is, for
// messages.
func (c *contract) check(at string, typ reflect.Type, s *openapi3.Schema, request, required bool) {
	t := c.t
	if len(s.AllOf) == 1 {
		s = s.AllOf[0].Value
	}
	if s.Nullable && !nullable(typ) {
		t.Errorf("%s: nullable in the contract, but %s cannot hold null", at, typ)
	}
	for typ.Kind() == reflect.Pointer {
		typ = typ.Elem()
	}
	if typ.Name() != "" {
		c.seen[typ] = true
	}
	switch {
	case len(s.OneOf) > 0: // the batch results: BatchResult decodes them by hand
	case s.Type.Is("string"):
		switch {
		case s.Format == "date-time" && typ == timeType:
		case typ.Kind() != reflect.String:
			t.Errorf("%s: a string in the contract, %s in Go", at, typ)
		case len(s.Enum) > 0:
			c.enum(at, typ, s.Enum)
		}
	case s.Type.Is("integer"):
		if k := typ.Kind(); k < reflect.Int || k > reflect.Int64 {
			t.Errorf("%s: an integer in the contract, %s in Go", at, typ)
		}
	case s.Type.Is("boolean"):
		if typ.Kind() != reflect.Bool {
			t.Errorf("%s: a boolean in the contract, %s in Go", at, typ)
		}
	case s.Type.Is("array"):
		if typ.Kind() != reflect.Slice {
			t.Errorf("%s: an array in the contract, %s in Go", at, typ)
			return
		}
		c.check(at+"[]", typ.Elem(), s.Items.Value, request, true)
	case s.Type.Is("object") && len(s.Properties) == 0:
		switch {
		case typ == rawType:
		case typ.Kind() != reflect.Map || typ.Key().Kind() != reflect.String:
			t.Errorf("%s: a map in the contract, %s in Go", at, typ)
		case s.AdditionalProperties.Schema != nil:
			c.check(at+"{}", typ.Elem(), s.AdditionalProperties.Schema.Value, request, true)
		}
	case s.Type.Is("object"):
		if typ.Kind() != reflect.Struct {
			t.Errorf("%s: an object in the contract, %s in Go", at, typ)
			return
		}
		fields := jsonFields(typ)
		for name, prop := range s.Properties {
			f, ok := fields[name]
			if !ok {
				t.Errorf("%s: the contract's %q has no Go field", at, name)
				continue
			}
			req := slices.Contains(s.Required, name)
			if request {
				switch {
				case req && f.omits:
					t.Errorf("%s.%s: required, but the Go field is left out when zero", at, name)
				case !req && !f.omits:
					t.Errorf("%s.%s: optional, but the Go field is sent when zero (omitempty or omitzero)", at, name)
				}
			}
			c.check(at+"."+name, f.typ, prop.Value, request, req)
		}
		for name := range fields {
			if _, ok := s.Properties[name]; !ok {
				t.Errorf("%s: Go field %q is not in the contract", at, name)
			}
		}
	default:
		t.Errorf("%s: schema of type %v not understood by this test", at, s.Type)
	}
}

// enum: a named Go type holds exactly the enum's values as constants
// (plus the values in extraValues; or at least them, for the types in
// narrows); a plain string is allowed for an enum of one value.
func (c *contract) enum(at string, typ reflect.Type, enum []any) {
	want := make([]string, 0, len(enum))
	for _, v := range enum {
		want = append(want, v.(string))
	}
	slices.Sort(want)
	if typ.Name() == "string" {
		if len(want) > 1 {
			c.t.Errorf("%s: an enum of %v is a plain string in Go: give it a type and constants", at, want)
		}
		return
	}
	var got []string
	for _, v := range c.enums[typ.Name()] {
		if !slices.Contains(extraValues[typ.Name()], v) {
			got = append(got, v)
		}
	}
	slices.Sort(got)
	if narrows[typ.Name()] {
		got = slices.DeleteFunc(got, func(v string) bool { return !slices.Contains(want, v) })
	}
	if !slices.Equal(got, want) {
		c.t.Errorf("%s: %s has constants %v, the contract's enum is %v", at, typ.Name(), got, want)
	}
}

// extraValues are Go constants beyond a schema's enum: the reason an
// iban.corrected event carries for a withdrawn clear.
var extraValues = map[string][]string{"ClearReason": {"clear_withdrawn"}}

// narrows are Go types a schema may narrow (a marker's by_type is only a
// bank or the police).
var narrows = map[string]bool{"OrgType": true}

func nullable(typ reflect.Type) bool {
	switch typ.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Slice, reflect.Interface:
		return true
	}
	return false
}

type jsonField struct {
	typ   reflect.Type
	omits bool // omitempty or omitzero
}

// jsonFields are a struct's JSON fields by name.
func jsonFields(typ reflect.Type) map[string]jsonField {
	out := map[string]jsonField{}
	for f := range typ.Fields() {
		tag := f.Tag.Get("json")
		if !f.IsExported() || tag == "-" || tag == "" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		out[name] = jsonField{typ: f.Type, omits: strings.Contains(opts, "omitempty") || strings.Contains(opts, "omitzero")}
	}
	return out
}

// enumValues are the package's string constants by type.
func enumValues(t *testing.T) map[string][]string {
	out := map[string][]string{}
	for _, f := range packageFiles(t) {
		for _, d := range f.Decls {
			g, ok := d.(*ast.GenDecl)
			if !ok || g.Tok != token.CONST {
				continue
			}
			for _, spec := range g.Specs {
				v := spec.(*ast.ValueSpec)
				id, ok := v.Type.(*ast.Ident)
				if !ok || len(v.Values) != 1 {
					continue
				}
				if lit, ok := v.Values[0].(*ast.BasicLit); ok && lit.Kind == token.STRING {
					s, _ := strconv.Unquote(lit.Value)
					out[id.Name] = append(out[id.Name], s)
				}
			}
		}
	}
	return out
}

// jsonStructs are the package's struct types with a JSON-tagged field.
func jsonStructs(t *testing.T) []string {
	var out []string
	for _, f := range packageFiles(t) {
		ast.Inspect(f, func(n ast.Node) bool {
			ts, ok := n.(*ast.TypeSpec)
			if !ok {
				return true
			}
			st, ok := ts.Type.(*ast.StructType)
			if !ok {
				return true
			}
			for _, fl := range st.Fields.List {
				if fl.Tag != nil && strings.Contains(fl.Tag.Value, "json:") {
					out = append(out, ts.Name.Name)
					break
				}
			}
			return true
		})
	}
	return out
}

func packageFiles(t *testing.T) []*ast.File {
	names, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	var out []*ast.File
	for _, name := range names {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), name, nil, parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, f)
	}
	return out
}

// TestEverythingExportedIsDocumented: every exported type, function,
// method, constant and variable of the package has a doc comment (a
// constant's group comment counts).
func TestEverythingExportedIsDocumented(t *testing.T) {
	for _, f := range packageFiles(t) {
		for _, d := range f.Decls {
			switch d := d.(type) {
			case *ast.FuncDecl:
				if d.Name.IsExported() && d.Doc == nil {
					t.Errorf("func %s has no doc comment", d.Name.Name)
				}
			case *ast.GenDecl:
				for _, spec := range d.Specs {
					switch s := spec.(type) {
					case *ast.TypeSpec:
						if s.Name.IsExported() && d.Doc == nil && s.Doc == nil {
							t.Errorf("type %s has no doc comment", s.Name.Name)
						}
					case *ast.ValueSpec:
						for _, n := range s.Names {
							if n.IsExported() && d.Doc == nil && s.Doc == nil && s.Comment == nil {
								t.Errorf("%s has no doc comment", n.Name)
							}
						}
					}
				}
			}
		}
	}
}
