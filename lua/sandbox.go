package lua

// The sandbox is built by allow-list: a fresh state without the standard
// libraries, then only the parts a policy needs. Scripts get the base
// functions minus dofile, loadfile, collectgarbage, getfenv/setfenv, module and
// newproxy; load and loadstring for Lua source text only; string (string.rep
// capped, no dump), table, math; an os with only time, date and clock; and
// mqsh's own queue, time, addr and log modules, print, abort, require and arg.
// There is no io, no os.execute or os.exit, no debug, no package, no coroutine.

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"regexp"
	"runtime"
	"runtime/metrics"
	"strings"
	"time"

	glua "github.com/yuin/gopher-lua"
	"github.com/yuin/gopher-lua/parse"

	"mqsh/scripts"
)

// Bounds of the Lua state.
const (
	callStackSize   = 200       // nested Lua calls; deeper recursion raises "stack overflow"
	registrySize    = 1024 * 4  // value stack slots to start with
	registryMaxSize = 1024 * 64 // value stack slots at most; beyond raises "registry overflow"
)

// baseAllowed are the base functions kept from gopher-lua's base library.
var baseAllowed = map[string]bool{
	"assert": true, "error": true, "getmetatable": true, "ipairs": true, "next": true,
	"pairs": true, "pcall": true, "rawequal": true, "rawget": true, "rawset": true,
	"select": true, "setmetatable": true, "tonumber": true, "tostring": true,
	"type": true, "unpack": true, "xpcall": true, "_G": true, "_VERSION": true,
}

// newSandbox builds the state a Session runs in.
func newSandbox(s *Session) *glua.LState {
	L := glua.NewState(glua.Options{
		SkipOpenLibs:    true,
		CallStackSize:   callStackSize,
		RegistrySize:    registrySize,
		RegistryMaxSize: registryMaxSize,
	})
	for _, lib := range []struct {
		name string
		open glua.LGFunction
	}{
		{glua.BaseLibName, glua.OpenBase},
		{glua.TabLibName, glua.OpenTable},
		{glua.StringLibName, glua.OpenString},
		{glua.MathLibName, glua.OpenMath},
		{glua.OsLibName, glua.OpenOs},
	} {
		L.Push(L.NewFunction(lib.open))
		L.Push(glua.LString(lib.name))
		L.Call(1, 0)
	}
	g := L.G.Global

	// Base: drop everything not on the allow-list.
	var drop []string
	g.ForEach(func(k, v glua.LValue) {
		name := k.String()
		if _, isTable := v.(*glua.LTable); isTable && name != "_G" {
			return // the libraries, handled below
		}
		if !baseAllowed[name] {
			drop = append(drop, name)
		}
	})
	for _, name := range drop {
		g.RawSetString(name, glua.LNil)
	}

	// os: only time, date and clock.
	full := g.RawGetString("os").(*glua.LTable)
	safeOS := L.CreateTable(0, 3)
	for _, name := range []string{"time", "date", "clock"} {
		safeOS.RawSetString(name, full.RawGetString(name))
	}
	g.RawSetString("os", safeOS)

	// string: the same table is the strings' metatable __index, so
	// ("x"):rep(n) goes through the capped rep too.
	str := g.RawGetString("string").(*glua.LTable)
	str.RawSetString("dump", glua.LNil)
	str.RawSetString("rep", L.NewFunction(strRep))

	// The registry's record of loaded modules still holds the full os table;
	// nothing in the sandbox can reach it, but leave no copy behind.
	if loaded, ok := L.GetField(L.Get(glua.RegistryIndex), "_LOADED").(*glua.LTable); ok {
		loaded.RawSetString("os", safeOS)
	}

	g.RawSetString("load", L.NewFunction(s.luaLoad))
	g.RawSetString("loadstring", L.NewFunction(s.luaLoad))
	g.RawSetString("require", L.NewFunction(s.luaRequire))
	s.openModules(L)
	return L
}

// strRep is string.rep with a cap on the result's size.
func strRep(L *glua.LState) int {
	str := L.CheckString(1)
	n := L.CheckInt(2)
	if n <= 0 || str == "" {
		L.Push(glua.LString(""))
		return 1
	}
	if int64(len(str))*int64(n) > MaxStringSize {
		L.RaiseError("string.rep: the result would be %d bytes; the limit is %d MiB", int64(len(str))*int64(n), MaxStringSize>>20)
	}
	L.Push(glua.LString(strings.Repeat(str, n)))
	return 1
}

// luaLoad is load and loadstring for Lua source text: load(text [, name]).
// Binary chunks and reader functions are refused. The chunk runs with the
// script's own globals, in the same sandbox.
func (s *Session) luaLoad(L *glua.LState) int {
	v := L.Get(1)
	text, ok := v.(glua.LString)
	if !ok {
		L.RaiseError("load: want a string of Lua source, not %s (reader functions are not supported)", v.Type())
	}
	name := L.OptString(2, "=(load)")
	name = strings.TrimLeft(name, "=@")
	if strings.HasPrefix(string(text), "\x1b") {
		L.Push(glua.LNil)
		L.Push(glua.LString("load: binary chunks are not allowed; load Lua source text"))
		return 2
	}
	fn, err := compileChunk(L, string(text), name)
	if err != nil {
		L.Push(glua.LNil)
		L.Push(glua.LString(err.Error()))
		return 2
	}
	L.Push(fn)
	return 1
}

// compile turns the code into a function. At the prompt an expression is
// tried first ("return " .. code), so its values can be printed.
func (s *Session) compile(code string, prompt bool) (fn *glua.LFunction, printResults bool, err error) {
	if prompt {
		if fn, err := compileChunk(s.L, "return "+code, s.name); err == nil {
			return fn, true, nil
		}
	}
	// At the prompt a chunk's own `return` values are printed too.
	fn, err = compileChunk(s.L, stripShebang(code), s.name)
	return fn, prompt, err
}

// stripShebang blanks a first line starting with "#" (as standalone Lua does),
// keeping line numbers.
func stripShebang(code string) string {
	if strings.HasPrefix(code, "#") {
		if i := strings.IndexByte(code, '\n'); i >= 0 {
			return "--" + code[i:]
		}
		return ""
	}
	return code
}

// compileChunk parses and compiles Lua source; errors read "name:12: ...".
func compileChunk(L *glua.LState, code, name string) (*glua.LFunction, error) {
	chunk, err := parse.Parse(strings.NewReader(code), name)
	if err != nil {
		return nil, syntaxError(name, err)
	}
	proto, err := glua.Compile(chunk, name)
	if err != nil {
		return nil, syntaxError(name, err)
	}
	return L.NewFunctionFromProto(proto), nil
}

func syntaxError(name string, err error) error {
	var pe *parse.Error
	var ce *glua.CompileError
	switch {
	case errors.As(err, &pe):
		if pe.Pos.Line == parse.EOF {
			return &scriptError{msg: fmt.Sprintf("%s: %s at the end of the script (a missing end, bracket or quote?)", name, pe.Message), kind: ErrSyntax}
		}
		near := ""
		if pe.Token != "" {
			near = fmt.Sprintf(" near '%s'", pe.Token)
		}
		return &scriptError{msg: fmt.Sprintf("%s:%d: %s%s", name, pe.Pos.Line, pe.Message, near), kind: ErrSyntax}
	case errors.As(err, &ce):
		return &scriptError{msg: fmt.Sprintf("%s:%d: %s", name, ce.Line, ce.Message), kind: ErrSyntax}
	}
	return &scriptError{msg: fmt.Sprintf("%s: %v", name, err), kind: ErrSyntax}
}

// Incomplete reports whether code fails to parse only because it ends early:
// an open block, bracket or long string. The Lua prompt then reads another line.
func Incomplete(code string) bool {
	if _, err := parse.Parse(strings.NewReader("return "+code), "prompt"); err == nil {
		return false // an expression, as the prompt takes it
	}
	_, err := parse.Parse(strings.NewReader(code), "prompt")
	var pe *parse.Error
	if !errors.As(err, &pe) || pe.Pos.Line != parse.EOF {
		return false
	}
	// A short string cannot continue on the next line.
	return pe.Message != "unterminated string"
}

// moduleName is what require accepts: names separated by dots, nothing that
// could climb out of a scripts folder.
var moduleName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z_][A-Za-z0-9_-]*)*$`)

// requirer finds modules for require in the scripts folders, then among the
// built-in scripts, and remembers what it loaded.
type requirer struct {
	dirs   []string
	loaded map[string]glua.LValue // module name -> its value; nil while loading
}

func newRequirer(dirs []string) *requirer {
	return &requirer{dirs: dirs, loaded: map[string]glua.LValue{}}
}

// find returns the source and chunk name of a module.
func (r *requirer) find(name string) (code, chunk string, err error) {
	rel := strings.ReplaceAll(name, ".", "/") + ".lua"
	for _, dir := range r.dirs {
		b, err := fs.ReadFile(os.DirFS(dir), rel)
		if err == nil {
			return string(b), rel, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return "", "", fmt.Errorf("require %q: %w", name, err)
		}
	}
	if b, err := fs.ReadFile(scripts.FS, rel); err == nil {
		return string(b), rel, nil
	}
	where := append(append([]string{}, r.dirs...), "the built-in scripts")
	return "", "", fmt.Errorf("require: module %q not found: looked for %s in %s", name, rel, strings.Join(where, ", "))
}

// luaRequire is require(name), limited to the scripts folders.
func (s *Session) luaRequire(L *glua.LState) int {
	name := L.CheckString(1)
	if !moduleName.MatchString(name) {
		L.RaiseError("require: invalid module name %q: use names such as lib.spread (letters, digits, _ and -, separated by dots); modules load only from the scripts folders", name)
	}
	r := s.require
	if v, ok := r.loaded[name]; ok {
		if v == nil {
			L.RaiseError("require: module %q requires itself (a loop)", name)
		}
		L.Push(v)
		return 1
	}
	code, chunk, err := r.find(name)
	if err != nil {
		L.RaiseError("%v", err)
	}
	fn, err := compileChunk(L, code, chunk)
	if err != nil {
		L.RaiseError("require: %v", err)
	}
	r.loaded[name] = nil
	L.Push(fn)
	L.Push(glua.LString(name))
	L.Call(1, 1)
	v := L.Get(-1)
	L.Pop(1)
	if v == glua.LNil {
		v = glua.LTrue
	}
	r.loaded[name] = v
	L.Push(v)
	return 1
}

// The heap figures the memory watch reads: the bytes of heap objects (live
// or not yet swept), and the live heap as of the last collection.
const (
	heapMetric = "/memory/classes/heap/objects:bytes"
	liveMetric = "/gc/heap/live:bytes"
)

// watchMemory stops the script (cancelling its context with ErrMemory) when
// the live heap grows more than limit bytes past the live heap at the start.
// The VM checks the context between instructions, so a runaway concatenation
// or table ends at the next instruction. The heap is sampled every 10 ms; only
// when it looks over the limit is a collection run to tell garbage from live
// data. The returned func stops the watch.
func watchMemory(ctx context.Context, limit int64, cancel context.CancelCauseFunc) func() {
	samples := []metrics.Sample{{Name: heapMetric}, {Name: liveMetric}}
	read := func() (heap, live int64) {
		metrics.Read(samples)
		if samples[0].Value.Kind() == metrics.KindUint64 {
			heap = int64(samples[0].Value.Uint64())
		}
		if samples[1].Value.Kind() == metrics.KindUint64 {
			live = int64(samples[1].Value.Uint64())
		}
		return heap, live
	}
	heap, base := read()
	if heap > 64<<20 {
		// A big heap may be garbage, or data freed since the last collection
		// (after an earlier script's bomb, say): collect to know where it stands.
		runtime.GC()
		heap, base = read()
	}
	base = min(base, heap)
	max := base + limit
	trigger := max
	done := make(chan struct{})
	go func() {
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-tick.C:
				if heap, _ := read(); heap <= trigger {
					continue
				}
				// Garbage may account for the growth: collect, then look again.
				runtime.GC()
				heap, _ := read()
				if heap > max {
					cancel(ErrMemory)
					return
				}
				// Under the limit: collect again only after half a limit more.
				trigger = heap + limit/2
				if trigger < max {
					trigger = max
				}
			}
		}
	}()
	return func() { close(done) }
}

// builtinName reports whether a script of that name ships with mqsh.
func builtinName(name string) (string, bool) {
	for _, n := range []string{name, name + ".lua"} {
		if !fs.ValidPath(n) || path.Ext(n) != ".lua" {
			continue
		}
		if _, err := fs.Stat(scripts.FS, n); err == nil {
			return n, true
		}
	}
	return "", false
}
