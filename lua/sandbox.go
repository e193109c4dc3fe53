package lua

// The sandbox is built by allow-list: a fresh state without the standard
// libraries, then only the parts a policy needs. Scripts get the base
// functions minus dofile, loadfile, collectgarbage, getfenv/setfenv, module and
// newproxy; load and loadstring for Lua source text only; string (no dump),
// table, math; an os with only time, date and clock; and mqsh's own queue,
// time, addr and log modules, print, abort, require and arg. There is no io, no
// os.execute or os.exit, no debug, no package, no coroutine.
//
// Every way a script can build a long string in one step is bounded by the
// string limit (Session.strLimit): the `..` operator (compiled into a call
// of a checked concatenation, see rewriteChunk), string.rep, string.format,
// string.gsub, table.concat and os.date. So no single instruction can allocate
// far past the memory limit, and the memory watch (watchMemory) sees the heap
// grow step by step.

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync"
	"syscall"
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
	if len(text) > maxLoadSize {
		L.Push(glua.LNil)
		L.Push(glua.LString(fmt.Sprintf("load: the text is %d bytes; the limit is %d MiB", len(text), maxLoadSize>>20)))
		return 2
	}
	if strings.HasPrefix(string(text), "\x1b") {
		L.Push(glua.LNil)
		L.Push(glua.LString("load: binary chunks are not allowed; load Lua source text"))
		return 2
	}
	fn, err := s.compileChunk(string(text), name)
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
		if fn, err := s.compileChunk("return "+code, s.name); err == nil {
			return fn, true, nil
		}
	}
	// At the prompt a chunk's own `return` values are printed too.
	fn, err = s.compileChunk(stripShebang(code), s.name)
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
// Every `..` in it runs through the session's checked concatenation, and
// every tail call counts towards the call-stack limit (see rewriteChunk).
func (s *Session) compileChunk(code, name string) (*glua.LFunction, error) {
	if err := checkNesting(code); err != nil {
		return nil, syntaxError(name, err)
	}
	chunk, err := parse.Parse(strings.NewReader(code), name)
	if err != nil {
		return nil, syntaxError(name, err)
	}
	proto, err := glua.Compile(wrapChunk(rewriteChunk(chunk)), name)
	if err != nil {
		return nil, syntaxError(name, err)
	}
	// The wrapper returns the chunk, closed over its hidden locals.
	L := s.L
	L.Push(L.NewFunctionFromProto(proto))
	L.Push(s.hidden[concatName])
	L.Push(s.hidden[retName])
	L.Push(L.G.Global)
	if err := L.PCall(3, 1, nil); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	fn, ok := L.Get(-1).(*glua.LFunction)
	L.Pop(1)
	if !ok {
		return nil, fmt.Errorf("%s: the chunk did not compile to a function", name)
	}
	return fn, nil
}

func syntaxError(name string, err error) error {
	var pe *parse.Error
	var ce *glua.CompileError
	var ne *nestError
	switch {
	case errors.As(err, &ne):
		return &scriptError{msg: fmt.Sprintf("%s:%d: %s", name, ne.line, ne.msg), kind: ErrSyntax}
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
	if checkNesting(code) != nil {
		return false // compiling it says what is wrong
	}
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

// find returns the source and chunk name of a module. A module is read
// through os.Root: a symbolic link (of the file or of a folder on its way)
// may lead elsewhere inside its scripts folder, never out of it.
func (r *requirer) find(name string) (code, chunk string, err error) {
	rel := strings.ReplaceAll(name, ".", "/") + ".lua"
	for _, dir := range r.dirs {
		b, err := readInside(dir, rel)
		if err == nil {
			return string(b), rel, nil
		}
		if errors.Is(err, errOutside) {
			return "", "", fmt.Errorf("require %q: %s leads outside the scripts folder %s (through a symbolic link); modules must lie inside it", name, rel, dir)
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return "", "", fmt.Errorf("require %q: %w", name, err)
		}
	}
	b, err := fs.ReadFile(scripts.FS, rel)
	if err == nil {
		return string(b), rel, nil
	}
	return "", "", fmt.Errorf("require: module %q not found: looked for %s in %s", name, rel, searched(r.dirs))
}

// errOutside is a path that leads out of its folder.
var errOutside = errors.New("outside the folder")

// readInside reads the file rel inside dir, following symbolic links only
// while they stay inside dir. A missing dir is as a missing file.
func readInside(dir, rel string) ([]byte, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			return nil, fs.ErrNotExist
		}
		return nil, err
	}
	defer root.Close()
	b, err := fs.ReadFile(root.FS(), rel)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		// os.Root refused it: say so if a link leads out.
		real, rerr := filepath.EvalSymlinks(filepath.Join(dir, rel))
		top, terr := filepath.EvalSymlinks(dir)
		if rerr == nil && terr == nil {
			if up, perr := filepath.Rel(top, real); perr != nil || !filepath.IsLocal(up) {
				return nil, errOutside
			}
		}
	}
	return b, err
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
	fn, err := s.compileChunk(code, chunk)
	if err != nil {
		L.RaiseError("require: %v", err)
	}
	// While it loads, a require of it from inside is a loop; if loading
	// fails, the module is forgotten, so that a later require tries again.
	r.loaded[name] = nil
	loaded := false
	defer func() {
		if !loaded {
			delete(r.loaded, name)
		}
	}()
	L.Push(fn)
	L.Push(glua.LString(name))
	L.Call(1, 1)
	v := L.Get(-1)
	L.Pop(1)
	if v == glua.LNil {
		v = glua.LTrue
	}
	r.loaded[name], loaded = v, true
	L.Push(v)
	return 1
}

// The heap figures the memory watch reads: the bytes of heap objects (live
// or not yet swept), and the live heap as of the last collection.
const (
	heapMetric = "/memory/classes/heap/objects:bytes"
	liveMetric = "/gc/heap/live:bytes"
)

// Sampling intervals of the memory watch: slow while the heap is quiet, fast
// while it grows by more than a sixteenth of the limit between two samples.
const (
	watchSlow = 10 * time.Millisecond
	watchFast = time.Millisecond
)

// memWatch stops a script (cancelling its context with ErrMemory) when the
// live heap grows more than limit bytes past the live heap at the start. The
// VM checks the context between instructions, so a runaway loop ends at the
// next instruction. The heap is sampled on another goroutine, and also by the
// Lua thread itself whenever the script has built another eighth of the limit
// in strings (see grow); only when the heap looks over the limit is a
// collection run to tell garbage from live data.
type memWatch struct {
	limit  int64
	cancel context.CancelCauseFunc
	done   chan struct{}

	mu      sync.Mutex
	samples []metrics.Sample
	max     int64 // the heap may not grow past this after a collection
	trigger int64 // collect when the heap passes this
	made    int64 // string bytes built since the Lua thread last looked
}

// watchMemory starts watching; stop it with stop.
func watchMemory(ctx context.Context, limit int64, cancel context.CancelCauseFunc) *memWatch {
	w := &memWatch{
		limit: limit, cancel: cancel, done: make(chan struct{}),
		samples: []metrics.Sample{{Name: heapMetric}, {Name: liveMetric}},
	}
	heap, base := w.read()
	if heap > 64<<20 {
		// A big heap may be garbage, or data freed since the last collection
		// (after an earlier script's bomb, say): collect to know where it stands.
		runtime.GC()
		heap, base = w.read()
	}
	base = min(base, heap)
	w.max = base + limit
	w.trigger = w.max
	go w.loop(ctx, heap)
	return w
}

func (w *memWatch) stop() { close(w.done) }

// read returns the bytes of heap objects and the live heap. Call with mu held
// (or before the watch starts).
func (w *memWatch) read() (heap, live int64) {
	metrics.Read(w.samples)
	if w.samples[0].Value.Kind() == metrics.KindUint64 {
		heap = int64(w.samples[0].Value.Uint64())
	}
	if w.samples[1].Value.Kind() == metrics.KindUint64 {
		live = int64(w.samples[1].Value.Uint64())
	}
	return heap, live
}

func (w *memWatch) loop(ctx context.Context, last int64) {
	every := watchSlow
	timer := time.NewTimer(every)
	defer timer.Stop()
	for {
		select {
		case <-w.done:
			return
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		heap, over := w.check(0)
		if over {
			return
		}
		if heap-last > w.limit/16 {
			every = watchFast
		} else {
			every = min(2*every, watchSlow)
		}
		last = heap
		timer.Reset(every)
	}
}

// check samples the heap, counting pending more bytes about to be allocated.
// Over the trigger it collects and looks again; still over the limit, it
// cancels the script and reports true.
func (w *memWatch) check(pending int64) (heap int64, over bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if heap, _ = w.read(); heap+pending <= w.trigger {
		return heap, false
	}
	// Garbage may account for the growth: collect, then look again.
	runtime.GC()
	heap, _ = w.read()
	if heap+pending > w.max {
		w.cancel(ErrMemory)
		return heap, true
	}
	// Under the limit: collect again after an eighth of a limit more, so
	// garbage never piles up far past the limit.
	w.trigger = max(heap+w.limit/8, w.max)
	return heap, false
}

// grow is called by the Lua thread before it builds a string of n bytes. Once
// an eighth of the limit has been built since it last looked, it checks the
// heap at once rather than waiting for the next sample, and reports true if
// the script must stop.
func (w *memWatch) grow(n int64) bool {
	w.mu.Lock()
	w.made += n
	due := w.made >= w.limit/8
	if due {
		w.made = 0
	}
	w.mu.Unlock()
	if !due {
		return false
	}
	_, over := w.check(n)
	return over
}

// build checks, before a string of n bytes is built, that it is within the
// string limit and that the heap has room for it; otherwise it raises.
func (s *Session) build(L *glua.LState, what string, n int64) {
	if limit := s.strLimit; n > limit {
		L.RaiseError("%s: the result would be %d bytes; the limit is %s per string", what, n, byteSize(limit))
	}
	if s.mem != nil && s.mem.grow(n) {
		L.RaiseError("%s: %v", what, ErrMemory)
	}
}

// byteSize writes n as "64 MiB" when it is a whole number of MiB, else in bytes.
func byteSize(n int64) string {
	if n >= 1<<20 && n%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d bytes", n)
}

// luaConcat is what `a .. b .. c` runs: Lua's concatenation (right to left,
// __concat metamethods for other values), within the string limit.
func (s *Session) luaConcat(L *glua.LState) int {
	n := L.GetTop()
	rhs := L.Get(n)
	for i := n - 1; i >= 1; {
		lhs := L.Get(i)
		if !glua.LVCanConvToString(lhs) || !glua.LVCanConvToString(rhs) {
			op := L.GetMetaField(lhs, "__concat")
			if op == glua.LNil {
				op = L.GetMetaField(rhs, "__concat")
			}
			if op.Type() != glua.LTFunction {
				L.RaiseError("cannot perform concat operation between %v and %v", lhs.Type(), rhs.Type())
			}
			L.Push(op)
			L.Push(lhs)
			L.Push(rhs)
			L.Call(2, 1)
			rhs = L.Get(-1)
			L.Pop(1)
			i--
			continue
		}
		// The longest run of strings and numbers ending at rhs, joined at
		// once. parts holds it right to left.
		var buf [8]string
		parts := append(buf[:0], glua.LVAsString(rhs))
		size := int64(len(parts[0]))
		j := i
		for ; j >= 1; j-- {
			v := L.Get(j)
			if !glua.LVCanConvToString(v) {
				break
			}
			part := glua.LVAsString(v)
			parts = append(parts, part)
			size += int64(len(part))
		}
		s.build(L, "string concatenation (..)", size)
		var b strings.Builder
		b.Grow(int(size))
		for k := len(parts) - 1; k >= 0; k-- {
			b.WriteString(parts[k])
		}
		rhs = glua.LString(b.String())
		i = j
	}
	L.Push(rhs)
	return 1
}

// strRep is string.rep within the string limit.
func (s *Session) strRep(L *glua.LState) int {
	str := L.CheckString(1)
	n := L.CheckInt(2)
	if n <= 0 || str == "" {
		L.Push(glua.LString(""))
		return 1
	}
	if int64(n) > s.strLimit/int64(len(str)) {
		L.RaiseError("string.rep: the result would be %.0f bytes; the limit is %s per string", float64(len(str))*float64(n), byteSize(s.strLimit))
	}
	s.build(L, "string.rep", int64(len(str))*int64(n))
	L.Push(glua.LString(strings.Repeat(str, n)))
	return 1
}

// tableConcat is table.concat (gopher-lua's, argument for argument) within
// the string limit.
func (s *Session) tableConcat(L *glua.LState) int {
	tbl := L.CheckTable(1)
	sep := L.OptString(2, "")
	n := tbl.Len()
	i := L.OptInt(3, 1)
	j := L.OptInt(4, n)
	if L.GetTop() == 3 && (i > n || i < 1) {
		L.Push(glua.LString(""))
		return 1
	}
	i = max(min(i, n), 1)
	j = min(j, n)
	if i > j {
		L.Push(glua.LString(""))
		return 1
	}
	size := int64(len(sep)) * int64(j-i)
	for k := i; k <= j; k++ {
		v := tbl.RawGetInt(k)
		if !glua.LVCanConvToString(v) {
			L.RaiseError("invalid value (%s) at index %d in table for concat", v.Type().String(), k)
		}
		size += int64(len(glua.LVAsString(v)))
	}
	s.build(L, "table.concat", size)
	var b strings.Builder
	b.Grow(int(size))
	for k := i; k <= j; k++ {
		if k > i {
			b.WriteString(sep)
		}
		b.WriteString(glua.LVAsString(tbl.RawGetInt(k)))
	}
	L.Push(glua.LString(b.String()))
	return 1
}

// formatNumberSize bounds the text of one number conversion: a width and a
// precision of at most 99 each, and the 309 digits of the largest double.
const formatNumberSize = 512

// strFormat is string.format. The format is checked the way C Lua checks it
// (at most 5 flags, widths and precisions of at most 2 digits, a known
// conversion, an argument for each), and the result is bounded before it is
// built. The formatting itself is gopher-lua's (Go's fmt).
func (s *Session) strFormat(L *glua.LState) int {
	format := L.CheckString(1)
	top := L.GetTop()
	var goFormat strings.Builder
	var args []any
	size := int64(0)
	arg := 1
	for i := 0; i < len(format); i++ {
		c := format[i]
		if c != '%' {
			goFormat.WriteByte(c)
			size++
			continue
		}
		if i+1 < len(format) && format[i+1] == '%' {
			goFormat.WriteString("%%")
			size++
			i++
			continue
		}
		start := i
		i++
		flags := i
		for i < len(format) && strings.IndexByte("-+ #0", format[i]) >= 0 {
			i++
		}
		if i-flags > 5 {
			L.RaiseError("string.format: bad format %q: too many flags", format[start:i])
		}
		digits := func(what string) {
			d := i
			for i < len(format) && format[i] >= '0' && format[i] <= '9' {
				i++
			}
			if i-d > 2 {
				L.RaiseError("string.format: bad format %q: the %s may have at most 2 digits", format[start:i], what)
			}
		}
		digits("width")
		if i < len(format) && format[i] == '.' {
			i++
			digits("precision")
		}
		if i >= len(format) {
			L.RaiseError("string.format: bad format %q: it ends without a conversion (such as %%d or %%s)", format[start:])
		}
		conv := format[i]
		if strings.IndexByte("cdiouxXeEfgGqs", conv) < 0 {
			L.RaiseError("string.format: bad format %q: unknown conversion '%c' (use one of c d i o u x X e E f g G q s)", format[start:i+1], conv)
		}
		arg++
		if arg > top {
			L.RaiseError("bad argument #%d to format (no value)", arg)
		}
		v := L.Get(arg)
		spec := format[start:i]
		if conv == 'u' {
			conv = 'd'
		}
		goFormat.WriteString(spec)
		goFormat.WriteByte(conv)
		args = append(args, v)
		switch conv {
		case 's':
			size += int64(len(valueText(v))) + 99
		case 'q':
			size += 4*int64(len(valueText(v))) + 2 + 99
		default:
			size += formatNumberSize
		}
	}
	s.build(L, "string.format", size)
	L.Push(glua.LString(fmt.Sprintf(goFormat.String(), args...)))
	return 1
}

// valueText is what %s prints for v.
func valueText(v glua.LValue) string {
	if glua.LVCanConvToString(v) {
		return glua.LVAsString(v)
	}
	return v.String()
}

// osDate wraps os.date: a conversion such as %c writes up to 24 bytes, so
// the format's length bounds the result.
func (s *Session) osDate(date *glua.LFunction) glua.LGFunction {
	return func(L *glua.LState) int {
		if format, ok := L.Get(1).(glua.LString); ok {
			s.build(L, "os.date", 12*int64(len(format)))
		}
		return date.GFunction(L)
	}
}
