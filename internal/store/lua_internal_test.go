package store

import (
	"context"
	"io/fs"
	"reflect"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/mulegate/mulegate/internal/redistest"
)

// TestArgsPreludeAndArgvAgree: an argument struct's Lua prelude names
// its fields at the positions its argv() sends them, a last slice field
// takes the rest, and a batch's stride is the fixed fields' count.
func TestArgsPreludeAndArgvAgree(t *testing.T) {
	type sampleArgs struct {
		ID     string `lua:"id"`
		Now    int64  `lua:"now"`
		Fields []any  `lua:"fields"`
	}
	got := luaArgs(sampleArgs{})
	want := "local function sample_args(V, o)\n  return {id = V[o + 1], now = V[o + 2], fields = {unpack(V, o + 3)}}\nend\nlocal SAMPLE_N = 2\n"
	if got != want {
		t.Errorf("prelude:\n%s\nwant:\n%s", got, want)
	}
	if d := cmp.Diff([]any{"x", int64(7), "a", "b"}, argvOf(sampleArgs{ID: "x", Now: 7, Fields: []any{"a", "b"}})); d != "" {
		t.Errorf("argv (-want +got):\n%s", d)
	}
	if n := nArgs(acceptArgs{}); n != 21 || !strings.Contains(luaArgs(acceptArgs{}), "local ACCEPT_N = 21") {
		t.Errorf("acceptArgs: %d fixed arguments, prelude %q", n, luaArgs(acceptArgs{}))
	}
	if luaArgName(reflectType(claimReportArgs{})) != "claim_report" {
		t.Errorf("claimReportArgs is named %q in Lua", luaArgName(reflectType(claimReportArgs{})))
	}
}

// TestEveryLuaFileLoads: each script compiles in a real Redis (with its
// preludes and libraries), and every file in lua/ is a script's or a
// library some script uses.
func TestEveryLuaFileLoads(t *testing.T) {
	srv := redistest.Start(t)
	st, err := New(srv.Client(t), Options{Secret: []byte("0123456789abcdef0123456789abcdef")})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.LoadScripts(context.Background()); err != nil {
		t.Fatal(err)
	}
	sources := ""
	for _, sc := range allScripts {
		sources += scriptSource(sc)
	}
	err = fs.WalkDir(luaFiles, "lua", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, _ := luaFiles.ReadFile(path)
		if !strings.Contains(sources, string(body)) {
			t.Errorf("%s is in no script", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func reflectType(v any) reflect.Type { return reflect.TypeOf(v) }
