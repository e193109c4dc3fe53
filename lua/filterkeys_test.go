package lua

import (
	"reflect"
	"strings"
	"testing"
	"time"

	glua "github.com/yuin/gopher-lua"

	"mqsh/queue"
)

// TestFilterKeysFromLua: every key of the filter table (and every alias) is a
// key of a Lua filter table, and each Lua form of its value gives the same
// Filter as the key reading the equivalent text, as the command line's flag
// does; so the audit text of a script's change is the command line's.
func TestFilterKeysFromLua(t *testing.T) {
	s := NewSession(openQueue(t), Options{Now: clock})
	defer s.Close()
	L := s.L
	list := func(words ...string) *glua.LTable {
		tb := L.NewTable()
		for _, w := range words {
			tb.Append(glua.LString(w))
		}
		return tb
	}
	// A list is either of its values, as the flag given twice, and the
	// audit text says both.
	tb := L.NewTable()
	tb.RawSetString("sender", list("a@x.example", "B@y.example"))
	tb.RawSetString("rcpt", list("@gmail.com"))
	got, _ := s.toFilter(L, tb, "test")
	if want := `sender=a@x.example sender=B@y.example rcpt=@gmail.com`; got.String() != want {
		t.Errorf("{sender = {a, b}, rcpt = {c}}: audit text %q, want %q", got.String(), want)
	}
	for _, bad := range []struct {
		v    glua.LValue
		want string
	}{{list(), "test: sender is an empty list"}, {list("a@x", ""), "test: sender[2] is empty"}} {
		tb := L.NewTable()
		tb.RawSetString("sender", bad.v)
		if err := L.CallByParam(glua.P{Fn: L.NewFunction(func(L *glua.LState) int { s.toFilter(L, tb, "test"); return 0 }), Protect: true}); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("sender = %v: %v, want %q", bad.v, err, bad.want)
		}
	}
	for _, k := range queue.FilterKeys {
		var forms []struct {
			lua  glua.LValue
			text string
		}
		add := func(v glua.LValue, text string) {
			forms = append(forms, struct {
				lua  glua.LValue
				text string
			}{v, text})
		}
		switch k.Field.(type) {
		case queue.Field[[]string]:
			add(glua.LString("*bill@example.net"), "*bill@example.net")
			add(list("*bill@example.net"), "*bill@example.net")
		case queue.Field[time.Time]:
			add(glua.LString("-2h"), "-2h")
			add(glua.LNumber(testNow.Add(-2*time.Hour).Unix()), testNow.Add(-2*time.Hour).Format(time.RFC3339))
		case queue.Field[int64]:
			add(glua.LString("1.5k"), "1.5k")
			add(glua.LNumber(1536), "1536")
		case queue.Field[[]queue.Status]:
			add(glua.LString("tempfail,permfail"), "tempfail,permfail")
			add(list("tempfail", "permfail"), "tempfail,permfail")
		case queue.Field[[]queue.ID]:
			add(glua.LString("52B91F716"), "52B91F716")
			add(list("52B91F716", "2B91F716"), "52B91F716,2B91F716")
		case queue.Field[bool]:
			add(glua.LTrue, "true")
		case queue.Field[*bool]:
			add(glua.LTrue, "true")
			add(glua.LFalse, "false")
		default:
			t.Fatalf("key %s binds a %T, which this test does not know", k.Name, k.Field)
		}
		for _, name := range append([]string{k.Name}, k.Aliases...) {
			for _, form := range forms {
				var want queue.Filter
				if err := k.Parse(&want, form.text, testNow); err != nil {
					t.Fatal(err)
				}
				tb := L.NewTable()
				tb.RawSetString(name, form.lua)
				got, ok := s.toFilter(L, tb, "test")
				if !ok || !reflect.DeepEqual(got, want) {
					t.Errorf("{%s = %s} gives %+v (ok %v), want %+v", name, form.lua, got, ok, want)
				}
				if got.String() != want.String() {
					t.Errorf("{%s = %s}: audit text %q, want %q", name, form.lua, got.String(), want.String())
				}
			}
		}
	}
}
