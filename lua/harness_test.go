package lua

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	glua "github.com/yuin/gopher-lua"
)

// TestLuaFiles runs every testdata/*.lua file as a script against a fresh
// queue holding the fixtures. The files assert with a small `t` module:
//
//	t.eq(got, want [, what])   equal (tables compared deeply)
//	t.ok(value [, what])       truthy
//	t.raises(fn, text)         fn raises an error containing text
//	t.fail(what)
//
// A file's changes are committed, and it may check them in the same run.
func TestLuaFiles(t *testing.T) {
	files, err := filepath.Glob("testdata/*.lua")
	if err != nil || len(files) == 0 {
		t.Fatalf("no Lua test files: %v", err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			code, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			q := openQueue(t)
			loadFixtures(t, q)
			var out, errOut bytes.Buffer
			s := NewSession(q, Options{
				Name: filepath.Base(file), Code: string(code),
				Args:   []string{"one", "two"},
				Stdout: &out, Stderr: &errOut, Now: clock,
				ScriptDirs: []string{"testdata/modules"},
			})
			defer s.Close()
			s.L.SetGlobal("t", testModule(s.L, t))
			if _, err := s.run(context.Background(), string(code), false); err != nil {
				t.Fatalf("%v\nstdout:\n%s\nstderr:\n%s", err, out.String(), errOut.String())
			}
		})
	}
}

func testModule(L *glua.LState, t *testing.T) *glua.LTable {
	where := func(L *glua.LState) string { return strings.TrimSuffix(L.Where(1), ":") }
	what := func(L *glua.LState, n int) string {
		if s, ok := L.Get(n).(glua.LString); ok {
			return " (" + string(s) + ")"
		}
		return ""
	}
	mod := L.NewTable()
	L.SetFuncs(mod, map[string]glua.LGFunction{
		"eq": func(L *glua.LState) int {
			got, want := L.Get(1), L.Get(2)
			if !deepEqual(got, want) {
				t.Errorf("%s: got %s, want %s%s", where(L), inspect(got, 4), inspect(want, 4), what(L, 3))
			}
			return 0
		},
		"ok": func(L *glua.LState) int {
			if !glua.LVAsBool(L.Get(1)) {
				t.Errorf("%s: not true: %s%s", where(L), inspect(L.Get(1), 2), what(L, 2))
			}
			return 0
		},
		"raises": func(L *glua.LState) int {
			fn := L.CheckFunction(1)
			text := L.CheckString(2)
			w := where(L)
			L.Push(fn)
			err := L.PCall(0, 0, nil)
			switch {
			case err == nil:
				t.Errorf("%s: no error raised; want one containing %q", w, text)
			case !strings.Contains(luaMessage(err), text):
				t.Errorf("%s: error %q does not contain %q", w, luaMessage(err), text)
			}
			return 0
		},
		"fail": func(L *glua.LState) int {
			t.Errorf("%s: %s", where(L), L.OptString(1, "failed"))
			return 0
		},
	})
	return mod
}

func deepEqual(a, b glua.LValue) bool {
	ta, ok1 := a.(*glua.LTable)
	tb, ok2 := b.(*glua.LTable)
	if !ok1 || !ok2 {
		return a == b || a.Type() == b.Type() && a.String() == b.String() && a.Type() != glua.LTTable && a.Type() != glua.LTFunction
	}
	if ta == tb {
		return true
	}
	same := true
	count := 0
	ta.ForEach(func(k, v glua.LValue) {
		count++
		if !deepEqual(v, tb.RawGet(k)) {
			same = false
		}
	})
	tb.ForEach(func(glua.LValue, glua.LValue) { count-- })
	return same && count == 0
}
