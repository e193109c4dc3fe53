package lua

// The sandbox is built by allow-list: a fresh state without the standard
// libraries, then only the parts a policy needs. Scripts get the base
// functions minus dofile, loadfile, collectgarbage, getfenv/setfenv, module and
// newproxy; load and loadstring for Lua source text only; string (no dump),
// table, math; an os with only time, date and clock; and mqsh's own queue,
// time, addr and log modules, print, abort, require and arg. There is no io, no
// os.execute or os.exit, no debug, no package, no coroutine: reading any of
// them raises an error naming it (leftOut).
//
// The other parts of the sandbox have files of their own: compile.go (load,
// the prompt's chunks), rewrite.go (gopher-lua workarounds), nesting.go,
// require.go, memwatch.go (the memory limit), strlib.go and strpattern.go
// (the string functions it replaces), pattern.go (Lua's patterns).
//
// Every way a script can build a long string in one step is bounded by the
// string limit (Session.strLimit): the `..` operator (compiled into a call
// of a checked concatenation, see rewriteChunk), string.rep, string.format,
// string.gsub, table.concat and os.date. So no single instruction can allocate
// far past the memory limit, and the memory watch (watchMemory) sees the heap
// grow step by step.

import (
	glua "github.com/yuin/gopher-lua"
)

// Bounds of the Lua state.
const (
	callStackSize   = 200       // nested Lua calls; deeper recursion raises "stack overflow"
	registrySize    = 1024 * 4  // value stack slots to start with
	registryMaxSize = 1024 * 64 // value stack slots at most; beyond raises "registry overflow"
	maxLoadSize     = 1 << 20   // bytes of source text load accepts: compiling costs many times the text's size
)

// baseAllowed are the base functions kept from gopher-lua's base library.
var baseAllowed = map[string]bool{
	"assert": true, "error": true, "getmetatable": true, "ipairs": true, "next": true,
	"pairs": true, "pcall": true, "rawequal": true, "rawget": true, "rawset": true,
	"select": true, "setmetatable": true, "tonumber": true, "tostring": true,
	"type": true, "unpack": true, "xpcall": true, "_G": true, "_VERSION": true,
}

// absentLibs are the standard libraries a script does not get at all.
var absentLibs = []string{"io", "debug", "package", "coroutine", "channel"}

// leftOut makes reading any of names from t (a library, or the globals)
// raise an error naming it ("os.execute is not available in mqsh scripts"),
// rather than give a nil that fails later with "attempt to call a
// non-function object". prefix is "os." for the os library, "" for globals.
// Other missing names still read as nil.
func leftOut(L *glua.LState, t *glua.LTable, prefix string, names []string) {
	set := make(map[string]bool, len(names))
	for _, n := range names {
		set[n] = true
	}
	mt := L.NewTable()
	mt.RawSetString("__index", L.NewFunction(func(L *glua.LState) int {
		if k, ok := L.Get(2).(glua.LString); ok && set[string(k)] {
			L.RaiseError("%s%s is not available in mqsh scripts", prefix, string(k))
		}
		L.Push(glua.LNil)
		return 1
	}))
	L.SetMetatable(t, mt)
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
	// Reading what is left out raises an error naming it.
	leftOut(L, g, "", append(drop, absentLibs...))

	// os: only time, date and clock.
	full := g.RawGetString("os").(*glua.LTable)
	safeOS := L.CreateTable(0, 3)
	var osDrop []string
	full.ForEach(func(k, _ glua.LValue) { osDrop = append(osDrop, k.String()) })
	for _, name := range []string{"time", "date", "clock"} {
		safeOS.RawSetString(name, full.RawGetString(name))
	}
	leftOut(L, safeOS, "os.", osDrop)
	g.RawSetString("os", safeOS)

	// string: the same table is the strings' metatable __index, so
	// ("x"):rep(n) goes through the capped rep too.
	str := g.RawGetString("string").(*glua.LTable)
	str.RawSetString("dump", glua.LNil)
	leftOut(L, str, "string.", []string{"dump"})
	str.RawSetString("rep", L.NewFunction(s.strRep))
	str.RawSetString("format", L.NewFunction(s.strFormat))
	str.RawSetString("find", L.NewFunction(strFind))
	str.RawSetString("match", L.NewFunction(strMatch))
	str.RawSetString("gsub", L.NewFunction(s.strGsub))
	str.RawSetString("gmatch", L.NewFunction(strGmatch))
	g.RawGetString("table").(*glua.LTable).RawSetString("concat", L.NewFunction(s.tableConcat))
	safeOS.RawSetString("date", L.NewFunction(s.osDate(full.RawGetString("date").(*glua.LFunction))))
	s.hidden = map[string]*glua.LFunction{
		concatName: L.NewFunction(s.luaConcat),
		retName:    L.NewFunction(luaRet),
	}

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
