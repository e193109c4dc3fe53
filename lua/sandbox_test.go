package lua

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strings"
	"sync"
	"testing"
	"time"

	glua "github.com/yuin/gopher-lua"

	"mqsh/queue"
)

// Each escape attempt runs after the script has cancelled every message, so
// the test proves both that the attempt fails with a clear error and that the
// rollback left the queue as it was.
func TestSandboxEscapes(t *testing.T) {
	small := func(o *Options) { o.MemoryLimit = 64 << 20; o.Timeout = 30 * time.Second }
	tests := []struct {
		name string
		code string
		want string // in the error
		kind error  // errors.Is, when set
		opts func(*Options)
	}{
		{"io", `io.open("/etc/passwd")`, "escape.lua:2: io is not available in mqsh scripts", nil, nil},
		{"os.execute", `os.execute("touch /tmp/pwned")`, "escape.lua:2: os.execute is not available in mqsh scripts", nil, nil},
		{"os.exit", `os.exit(3)`, "escape.lua:2: os.exit is not available in mqsh scripts", nil, nil},
		{"os.getenv", `return os.getenv("HOME")`, "escape.lua:2: os.getenv is not available in mqsh scripts", nil, nil},
		{"dofile", `dofile("/etc/passwd")`, "escape.lua:2: dofile is not available in mqsh scripts", nil, nil},
		{"loadfile", `loadfile("/etc/passwd")`, "escape.lua:2: loadfile is not available in mqsh scripts", nil, nil},
		{"require traversal", `require("../../etc/passwd")`, `escape.lua:2: require: invalid module name "../../etc/passwd"`, nil, nil},
		{"require absolute", `require("/etc/passwd")`, `require: invalid module name "/etc/passwd"`, nil, nil},
		{"require outside", `require("secret")`, `require: module "secret" not found`, nil, nil},
		{"package.loadlib", `package.loadlib("libc.so.6", "system")`, "escape.lua:2: package is not available in mqsh scripts", nil, nil},
		{"bytecode through load", `assert(load("\27LuaQ\0\1\4\8\4\8\0"))()`, "load: binary chunks are not allowed", nil, nil},
		{"bytecode through loadstring", `assert(loadstring(string.char(27) .. "Lua"))()`, "load: binary chunks are not allowed", nil, nil},
		{"string.dump", `string.dump(print)`, "escape.lua:2: string.dump is not available in mqsh scripts", nil, nil},
		{"debug", `debug.getregistry()`, "escape.lua:2: debug is not available in mqsh scripts", nil, nil},
		{"getfenv", `getfenv(0).io = 1`, "escape.lua:2: getfenv is not available in mqsh scripts", nil, nil},
		{"io.write", `io.write("x")`, "escape.lua:2: io is not available in mqsh scripts", nil, nil},
		{"string.dump through a string", `local s = ("x"):dump()`, "escape.lua:2: string.dump is not available in mqsh scripts", nil, nil},
		{"os.remove", `os.remove("/tmp/x")`, "escape.lua:2: os.remove is not available in mqsh scripts", nil, nil},
		{"collectgarbage", `collectgarbage()`, "escape.lua:2: collectgarbage is not available in mqsh scripts", nil, nil},
		{"coroutine", `coroutine.wrap(print)`, "escape.lua:2: coroutine is not available in mqsh scripts", nil, nil},
		{"string.rep bomb", `local s = ("x"):rep(1e9)`, "escape.lua:2: string.rep: the result would be 1000000000 bytes; the limit is 64 MiB per string", nil, nil},
		{"string.rep bomb through the metatable", `local s = getmetatable("").__index.rep("xx", 2^30)`, "the limit is 64 MiB per string", nil, nil},
		{"concatenation bomb", `local s = ("x"):rep(8 * 1024 * 1024) while true do s = s .. s end`,
			"escape.lua:2: string concatenation (..): the result would be 33554432 bytes; the limit is 16 MiB per string", nil, small},
		{"table growth bomb", `local t, i = {}, 0 while true do i = i + 1 t[i] = {i} end`,
			"stopped: memory limit of 64 MiB reached", ErrMemory, small},
		{"string table bomb", `local t = {} for i = 1, 1e9 do t[i] = ("y"):rep(1024) .. i end`,
			"stopped: memory limit of 64 MiB reached", ErrMemory, small},
		{"infinite loop", `while true do end`, "escape.lua:2: stopped: time limit of 200ms reached", ErrTimeout,
			func(o *Options) { o.Timeout = 200 * time.Millisecond }},
		{"infinite loop under pcall", `while true do pcall(function() while true do end end) end`,
			"stopped: time limit of 200ms reached", ErrTimeout, func(o *Options) { o.Timeout = 200 * time.Millisecond }},
		{"deep recursion", `local function f(n) return 1 + f(n + 1) end f(1)`, "escape.lua:2: stack overflow", nil, nil},
		{"recursion through pcall", `local function f() pcall(f) error("deep") end f()`, "deep", nil, nil},
		{"metamethod loop", `local t = setmetatable({}, {}) getmetatable(t).__index = t return t.x`, "escape.lua:2: too many recursions in gettable", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := openQueue(t)
			loadFixtures(t, q)
			before := snapshot(t, q)
			// The mark printed at the end of line 1 tells whether the
			// script got to line 2 at all: a short time limit may run out
			// during the cancel on a loaded machine, and then the error
			// rightly names line 1 (the line a script is stopped on is the
			// line of the instruction it was about to run).
			code := "assert(queue.cancel{all = true} == 5) print(\"line 1 done\")\n" + tt.code + "\n"
			rep, out, _, err := runCode(t, q, "escape.lua", code, tt.opts)
			want := tt.want
			if !strings.Contains(out, "line 1 done") {
				if tt.kind != ErrTimeout && tt.kind != ErrMemory {
					t.Fatalf("the script stopped on line 1 with no limit to stop it: %v", err)
				}
				want = strings.Replace(want, "escape.lua:2:", "escape.lua:1:", 1)
			}
			checkStopped(t, q, before, rep, err, want)
			if tt.kind != nil && !errors.Is(err, tt.kind) {
				t.Errorf("error %q is not %v", err, tt.kind)
			}
		})
	}
}

// The rollback cases: whatever ends the script, the queue is as it was.
func TestRollback(t *testing.T) {
	tests := []struct {
		name string
		code string
		want string
		kind error
		opts func(*Options)
		ctx  func() (context.Context, context.CancelFunc)
	}{
		{"error", "queue.retry({all = true}, {at = '+1h'})\nlocal x = nil\nreturn x.y\n",
			"rollback.lua:5: attempt to index a non-table object(nil) with key 'y'; nothing changed", nil, nil, nil},
		{"error()", "queue.retry({all = true})\nerror('policy says no')\n", "rollback.lua:4: policy says no; nothing changed", nil, nil, nil},
		{"abort", "queue.retry({all = true})\nabort('wrong domain')\n", "rollback.lua:4: aborted: wrong domain; nothing changed", ErrAborted, nil, nil},
		{"abort caught by pcall", "pcall(abort, 'caught')\nqueue.retry({all = true})\n", "aborted: caught; nothing changed", ErrAborted, nil, nil},
		{"timeout", "queue.retry({all = true})\nwhile true do end\n", "rollback.lua:4: stopped: time limit of 300ms reached (raise it with --timeout); nothing changed", ErrTimeout,
			func(o *Options) { o.Timeout = 300 * time.Millisecond }, nil},
		{"cancelled context (Ctrl-C)", "queue.retry({all = true})\nwhile true do end\n", "interrupted; nothing changed", ErrInterrupted, nil,
			func() (context.Context, context.CancelFunc) {
				return context.WithTimeout(context.Background(), 300*time.Millisecond)
			}},
		{"syntax error", "queue.retry({all = true})\nlocal = 1\n", "rollback.lua:4: syntax error near '='", ErrSyntax, nil, nil},
		{"unfinished", "queue.retry({all = true})\nif true then\n", "rollback.lua: syntax error at the end of the script", ErrSyntax, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := openQueue(t)
			loadFixtures(t, q)
			before := snapshot(t, q)
			opts := Options{Name: "rollback.lua", Code: "-- a policy\n\n" + tt.code, Now: clock}
			if tt.opts != nil {
				tt.opts(&opts)
			}
			ctx := context.Background()
			if tt.ctx != nil {
				var cancel context.CancelFunc
				ctx, cancel = tt.ctx()
				defer cancel()
			}
			rep, err := Run(ctx, q, opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v\nwant it to contain %q", err, tt.want)
			}
			if tt.kind != nil && !errors.Is(err, tt.kind) {
				t.Errorf("error %q is not %v", err, tt.kind)
			}
			if rep.Changed() {
				t.Errorf("report says something changed: %+v", rep)
			}
			if after := snapshot(t, q); after != before {
				t.Errorf("the queue changed:\nbefore:\n%s\nafter:\n%s", before, after)
			}
		})
	}
}

// Timeouts and memory limits do not leak into the next chunk of a session.
func TestSessionRecoversAfterLimit(t *testing.T) {
	q := openQueue(t)
	loadFixtures(t, q)
	s := NewSession(q, Options{Name: "lua", Timeout: 200 * time.Millisecond, Now: clock})
	defer s.Close()
	if _, err := s.Exec(context.Background(), "while true do end"); !errors.Is(err, ErrTimeout) {
		t.Fatalf("first chunk: %v, want a timeout", err)
	}
	rep, err := s.Exec(context.Background(), "queue.cancel('100')")
	if err != nil {
		t.Fatalf("second chunk: %v", err)
	}
	if rep.Cancelled != 1 {
		t.Errorf("cancelled %d, want 1", rep.Cancelled)
	}
	if n, _ := q.Count(context.Background(), queueFilterAll()); n != 4 {
		t.Errorf("%d messages left, want 4", n)
	}
}

// Memory bombs: each would allocate gigabytes in a few instructions. Each ends
// with an error naming the script and line, changes nothing, and the heap
// never grows past twice the script's memory limit.
func TestMemoryBombs(t *testing.T) {
	const limit = 64 << 20 // so the string limit is 16 MiB
	tests := []struct {
		name string
		code string
		want string // in the error
		kind error  // errors.Is, when set
	}{
		{"doubling concatenation",
			`local s = string.rep("x", 4 * 1024 * 1024)
for i = 1, 10 do s = s .. s end print(#s)`,
			"bomb.lua:3: string concatenation (..): the result would be 33554432 bytes; the limit is 16 MiB per string", nil},
		{"one long concatenation",
			`local s = string.rep("x", 8 * 1024 * 1024)
local u = s .. s .. s .. s .. s .. s .. s .. s .. s .. s .. s .. s .. s .. s .. s .. s`,
			"bomb.lua:3: string concatenation (..): the result would be 134217728 bytes", nil},
		{"concatenation in a loop",
			`local s, t = string.rep("x", 1024 * 1024), {}
while true do t[#t + 1] = s .. #t end`,
			"bomb.lua:3: stopped: memory limit of 64 MiB reached", ErrMemory},
		{"memory limit under pcall",
			`local s = string.rep("x", 8 * 1024 * 1024)
local t = {}
for i = 1, 1000 do pcall(function() t[i] = s .. s end) end`,
			"stopped: memory limit of 64 MiB reached", ErrMemory},
		{"table.concat",
			`local s = string.rep("x", 4 * 1024 * 1024) local t = {}
for i = 1, 64 do t[i] = s end print(#table.concat(t))`,
			"bomb.lua:3: table.concat: the result would be 268435456 bytes; the limit is 16 MiB per string", nil},
		{"table.concat separator",
			`local t = {} for i = 1, 1000 do t[i] = "" end
return table.concat(t, string.rep("x", 1024 * 1024))`,
			"bomb.lua:3: table.concat: the result would be 1047527424 bytes", nil},
		{"string.format width",
			`return string.format("%099999999d", 1)`,
			`bomb.lua:2: string.format: bad format "%099999999": the width may have at most 2 digits`, nil},
		{"string.format precision",
			`return string.format("%.100f", 1)`,
			`bomb.lua:2: string.format: bad format "%.100": the precision may have at most 2 digits`, nil},
		{"string.format many arguments",
			`local s = string.rep("x", 1024 * 1024) local t = {}
for i = 1, 200 do t[i] = s end return string.format(string.rep("%s", 200), unpack(t))`,
			"bomb.lua:3: string.format: the result would be", nil},
		{"string.gsub",
			`local s = string.rep("x", 1024 * 1024)
return s:gsub("x", s)`,
			"bomb.lua:3: string.gsub: the result would be over 16 MiB; the limit is 16 MiB per string", nil},
		{"string.gsub captures",
			`local s = string.rep("x", 64 * 1024)
return s:gsub("x+", string.rep("%0", 300))`,
			"bomb.lua:3: string.gsub: the result would be over 16 MiB", nil},
		{"string.rep",
			`return string.rep("x", 17 * 1024 * 1024)`,
			"bomb.lua:2: string.rep: the result would be 17825792 bytes; the limit is 16 MiB per string", nil},
		{"os.date",
			`return os.date(string.rep("%c", 2 * 1024 * 1024))`,
			"bomb.lua:2: os.date: the result would be 50331648 bytes", nil},
		{"load of a huge chunk",
			`return assert(load(string.rep("a = 1\n", 1024 * 1024)))`,
			"bomb.lua:2: load: the text is 6291456 bytes; the limit is 1 MiB", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := expectStopped(t, "bomb.lua", tt.code, tt.want, limit, time.Minute, 2*limit)
			if tt.kind != nil && !errors.Is(err, tt.kind) {
				t.Errorf("error %q is not %v", err, tt.kind)
			}
		})
	}
}

// checkStopped checks that a run ended with an error containing want that
// says nothing changed, that its report shows no change, and that the queue
// is as the snapshot before it.
func checkStopped(t *testing.T, q *queue.Queue, before string, rep Report, err error, want string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error; want %q", want)
	}
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error %q\ndoes not contain %q", err, want)
	}
	if !strings.HasSuffix(err.Error(), "nothing changed") {
		t.Errorf("error %q does not say that nothing changed", err)
	}
	if rep.Changed() {
		t.Errorf("report says something changed: %+v", rep)
	}
	if after := snapshot(t, q); after != before {
		t.Errorf("the queue changed:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// expectStopped runs code, after a line that cancels every message, as the
// script name under the given memory and time limits, and checks that it
// stops with an error containing want that says nothing changed, that the
// queue is as it was, and that the heap grew by at most maxGrowth. It returns
// the error.
func expectStopped(t *testing.T, name, code, want string, limit int64, timeout time.Duration, maxGrowth int64) error {
	t.Helper()
	q := openQueue(t)
	loadFixtures(t, q)
	before := snapshot(t, q)
	code = "assert(queue.cancel{all = true} == 5)\n" + code + "\n"
	var rep Report
	var err error
	peak := peakHeap(func() {
		rep, _, _, err = runCode(t, q, name, code, func(o *Options) { o.MemoryLimit = limit; o.Timeout = timeout })
	})
	checkStopped(t, q, before, rep, err, want)
	if peak > maxGrowth {
		t.Errorf("the heap grew by %d KiB; want at most %d KiB", peak>>10, maxGrowth>>10)
	}
	t.Logf("the heap grew by at most %d KiB", peak>>10)
	return err
}

// peakHeap runs f and returns how far the heap grew meanwhile: the larger of
// heapGrowth's two figures.
func peakHeap(f func()) int64 {
	alloc, held := heapGrowth(f)
	return max(alloc, held)
}

// heapGrowth runs f and returns how far the heap grew meanwhile: the most of
// the heap's allocated bytes (what the memory watch measures), and the most
// of the heap memory taken from the system and not given back (which also
// holds the runtime's free pages), over their values before. Both are sampled
// every millisecond and read at the end before any collection.
func heapGrowth(f func()) (alloc, held int64) {
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	baseAlloc, baseSys := int64(ms.HeapAlloc), int64(ms.HeapSys-ms.HeapReleased)
	var mu sync.Mutex
	note := func(ms *runtime.MemStats) {
		mu.Lock()
		defer mu.Unlock()
		alloc = max(alloc, int64(ms.HeapAlloc)-baseAlloc)
		held = max(held, int64(ms.HeapSys-ms.HeapReleased)-baseSys)
	}
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		var ms runtime.MemStats
		for {
			select {
			case <-done:
				return
			case <-time.After(time.Millisecond):
				runtime.ReadMemStats(&ms)
				note(&ms)
			}
		}
	}()
	f()
	close(done)
	<-stopped
	runtime.ReadMemStats(&ms)
	note(&ms)
	return alloc, held
}

// string.gmatch and string.gsub find matches a batch at a time: walking two
// million matches does not hold two million match records.
func TestManyMatchesInConstantMemory(t *testing.T) {
	const limit = 64 << 20
	q := openQueue(t)
	code := `local s = string.rep("x", 2 * 1024 * 1024)
local n = 0
for w in s:gmatch("") do n = n + 1 end
local _, m = s:gsub("x", "y")
print(n, m)`
	var out string
	var err error
	peak := peakHeap(func() {
		_, out, _, err = runCode(t, q, "matches.lua", code, func(o *Options) { o.MemoryLimit = limit; o.Timeout = time.Minute })
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := "2097153\t2097152\n"; out != want {
		t.Errorf("printed %q, want %q", out, want)
	}
	if peak > limit {
		t.Errorf("the heap grew by %d MiB; want at most %d MiB", peak>>20, limit>>20)
	}
}

// The checked concatenation, and the other rewritten functions, behave like
// Lua's own.
func TestStringFunctions(t *testing.T) {
	tests := []struct {
		code string
		want string // printed
	}{
		{`print("a" .. "b" .. 1 .. 2.5 .. "c")`, "ab12.5c"},
		{`local x = 3 print(x .. "" == "3", ("x"):rep(3) .. ("y"):rep(0))`, "true\txxx"},
		{`local mt = {__concat = function(a, b)
  local l = type(a) == "table" and a.v or a
  local r = type(b) == "table" and b.v or b
  return l .. "+" .. r end}
local A, B = setmetatable({v = "A"}, mt), setmetatable({v = "B"}, mt)
print(A .. "x", "x" .. B, "p" .. "q" .. A, A .. B)`, "A+x\tx+B\tpq+A\tA+B"},
		{`local function f() return "f" .. "g" end print(f(), (function(...) return ... .. "!" end)("h"))`, "fg\th!"},
		{`local t = {n = "k"} t[t.n .. 1] = "v" .. #t.n print(t.k1)`, "v1"},
		{`print(rawget(_G, "(concat)"), _G["(concat)"])`, "nil\tnil"},
		{`print(table.concat({1, "b", 3}, ", "), table.concat({}, "x"), table.concat({"a", "b", "c"}, "-", 2), table.concat({"a", "b", "c"}, "", 2, 3))`, "1, b, 3\t\tb-c\tbc"},
		{`print(string.format("%5.2f|%-4s|%d|%x|%3d%%|%s|%u|%i", 3.14159, "ab", 42, 255, 7, "z", 5, 6))`, " 3.14|ab  |42|ff|  7%|z|5|6"},
		{`local function g(...) return table.concat({...}, "/") end
print(g(("hello world"):gsub("o", "0")), g(("hello"):gsub("l", "L", 1)), g(("abc"):gsub("%w", "%0%0")), g(("abc"):gsub("", "-")), g(("abc"):gsub("b", "x", 0)))`, "hell0 w0rld/2\theLlo/1\taabbcc/3\t-a-b-c-/4\tabc/0"},
		{`local function g(...) return table.concat({...}, "/") end
print(g(("hello world"):gsub("(%w+)", "<%1>")), g(("a=1, b=2"):gsub("(%w+)=(%w+)", "%2=%1")), g(("$x $y"):gsub("%$(%w+)", {x = "X"})))`, "<hello> <world>/2\t1=a, 2=b/2\tX $y/2"},
		{`local function g(...) return table.concat({...}, "/") end
print(g(("abc"):gsub("%w", function(c) return c:upper() .. "." end)), g(("abc"):gsub("^a", "A")), g(("aaa"):gsub("^a", "A")), g(("x"):gsub("y", "z")), g(("100%"):gsub("%%", "%%%%")))`, "A.B.C./3\tAbc/1\tAaa/1\tx/0\t100%%/1"},
		{`local r = {} for k, v in ("a=1, b=2"):gmatch("(%w+)=(%w+)") do r[#r + 1] = k .. v end for w in ("one two"):gmatch("%a+") do r[#r + 1] = w end print(table.concat(r, " "))`, "a1 b2 one two"},
		{`print(os.date("!%Y-%m-%d", 0))`, "1970-01-01"},
	}
	for i, tt := range tests {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			q := openQueue(t)
			_, out, _, err := runCode(t, q, "strings.lua", tt.code, nil)
			if err != nil {
				t.Fatal(err)
			}
			if out != tt.want+"\n" {
				t.Errorf("printed %q, want %q", out, tt.want+"\n")
			}
		})
	}
}

// Each operand of `..` gives one value, as in Lua: a call or `...` giving
// several gives its first, one giving none gives nil. The rewritten code
// prints, or fails with, what plain gopher-lua does with the same code.
func TestConcatOperandsGiveOneValue(t *testing.T) {
	tests := []struct {
		code    string
		want    string // printed
		wantErr string // in the error, instead
	}{
		{`print("x" .. ("a b c"):gsub(" ", "_"))`, "xa_b_c", ""},
		{`print("n=" .. string.find("hello", "l"))`, "n=3", ""},
		{`local function g(...) return "v:" .. ... end print(g("a", "b", "c"))`, "v:a", ""},
		{`local o = {k = "K"} function o:two() return self.k, "second" end print("m:" .. o:two())`, "m:K", ""},
		{`local function g(...) return "<" .. ... .. ">" .. ... end print(g("a", "b"))`, "<a>a", ""},
		{`print(string.find("hello", "l") .. "|" .. string.find("hello", "o") .. "|" .. ("a-b"):gsub("-", "+"))`, "3|5|a+b", ""},
		{`local function two() return "p", "q" end print(two() .. two(), select("#", two() .. two()))`, "pp\t1", ""},
		{`local function two() return "p", "q" end local t = {two() .. "!"} print(#t, t[1])`, "1\tp!", ""},
		{`local function none() end return "a" .. none()`, "", "cannot perform concat operation between string and nil"},
		{`local function none() end return none() .. "a"`, "", "cannot perform concat operation between nil and string"},
		{`local function g(...) return "v:" .. ... end return g()`, "", "cannot perform concat operation between string and nil"},
	}
	for i, tt := range tests {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			q := openQueue(t)
			_, out, _, err := runCode(t, q, "strings.lua", tt.code, nil)
			plainOut, plainErr := plainLua(tt.code)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), "strings.lua:1: "+tt.wantErr) {
					t.Errorf("error %v (printed %q)\nwant it to contain %q", err, out, tt.wantErr)
				}
				if plainErr == nil || !strings.Contains(plainErr.Error(), tt.wantErr) {
					t.Errorf("plain gopher-lua: error %v, want %q", plainErr, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if out != tt.want+"\n" {
				t.Errorf("printed %q, want %q", out, tt.want+"\n")
			}
			if plainErr != nil || plainOut != out {
				t.Errorf("plain gopher-lua printed %q (error %v); the sandbox %q", plainOut, plainErr, out)
			}
		})
	}
}

// plainLua runs code in a plain gopher-lua state, without the sandbox or its
// rewriting, and returns what it printed.
func plainLua(code string) (string, error) {
	L := glua.NewState()
	defer L.Close()
	var b strings.Builder
	L.SetGlobal("print", L.NewFunction(func(L *glua.LState) int {
		for i := 1; i <= L.GetTop(); i++ {
			if i > 1 {
				b.WriteByte('\t')
			}
			b.WriteString(L.ToStringMeta(L.Get(i)).String())
		}
		b.WriteByte('\n')
		return 0
	}))
	err := L.DoString(code)
	return b.String(), err
}

// Errors from the rewritten functions name the script and the line.
func TestStringErrors(t *testing.T) {
	tests := []struct{ code, want string }{
		{"local x\nreturn 'a' .. x", "strings.lua:2: cannot perform concat operation between string and nil"},
		{"\n\nreturn {} .. 'a'", "strings.lua:3: cannot perform concat operation between table and string"},
		{"local function f(s)\n  return s .. s\nend\nf(string.rep('x', 40 * 1024 * 1024))", "strings.lua:2: string concatenation (..): the result would be 83886080 bytes; the limit is 64 MiB per string"},
		{"return string.format('%d %d', 1)", "strings.lua:1: bad argument #3 to format (no value)"},
		{"return string.format('%y', 1)", `strings.lua:1: string.format: bad format "%y": unknown conversion 'y'`},
		{"return string.format('%', 1)", `string.format: bad format "%": it ends without a conversion`},
		{"return string.format('%------5d', 1)", `string.format: bad format "%------": too many flags`},
		{"return table.concat({1, {}, 3})", "strings.lua:1: invalid value (table) at index 2 in table for concat"},
		{"return ('abc'):gsub('(a)', '%2')", "strings.lua:1: string.gsub: invalid capture index"},
		{"return ('abc'):gsub('(', '%1')", "strings.lua:1: string.gsub: unfinished capture"},
	}
	for i, tt := range tests {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			q := openQueue(t)
			_, _, _, err := runCode(t, q, "strings.lua", tt.code, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v\nwant it to contain %q", err, tt.want)
			}
		})
	}
}

// A tail call counts towards the call-stack limit: a runaway tail recursion
// ends at once with "stack overflow", naming the script and line, changes
// nothing, and the heap stays small. (Left to run, it would take no stack, and
// the error that finally stopped it would list every tail call made.)
func TestRunawayTailRecursion(t *testing.T) {
	tests := []struct{ name, code, want string }{
		{"self", `local function f(n) return f(n + 1) end f(1)`, "tail.lua:2: stack overflow"},
		{"mutual", `local even, odd
function even(n) if n == 0 then return true end return odd(n - 1) end
function odd(n) if n == 0 then return false end return even(n - 1) end
return even(1e9)`, "tail.lua:3: stack overflow"},
		{"method", `local o = {}
function o:walk(n) return self:walk(n + 1) end
o:walk(1)`, "tail.lua:3: stack overflow"},
		{"through load", `local f = load("local function f(n) return f(n + 1) end return f(1)", "=loaded") f()`, "loaded:1: stack overflow"},
	}
	const limit = 64 << 20
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			expectStopped(t, "tail.lua", tt.code, tt.want, limit, time.Second, limit/4)
		})
	}
}

// Turning `return f(x)` into an ordinary call changes no values: several,
// none, trailing nils, varargs, method calls, and calls of Go functions all
// return what plain gopher-lua returns.
func TestReturnCallValues(t *testing.T) {
	tests := []struct{ code, want string }{
		{`local function three() return 1, nil, 3 end local function f() return three() end print(select("#", f()), f())`, "3\t1\tnil\t3"},
		{`local function trail() return 1, nil, nil end local function f() return trail() end print(select("#", f()))`, "3"},
		{`local function none() end local function f() return none() end print(select("#", f()), (f()))`, "0\tnil"},
		{`local function f(...) return select(2, ...) end print(f("a", "b", "c"))`, "b\tc"},
		{`local function f(...) return select("#", ...) end print(f(nil, nil))`, "2"},
		{`local o = {n = 2} function o:pair(x) return self.n, x end function o:f(x) return self:pair(x) end print(o:f("y"))`, "2\ty"},
		{`local function f(s) return s:upper() end print(f("abc"))`, "ABC"},
		{`local function f(s) return string.find(s, "(b)(c)") end print(f("abcd"))`, "2\t3\tb\tc"},
		{`local function f() return (string.find("abc", "b")) end print(f())`, "2"},
		{`local function count(n, acc) if n == 0 then return acc end return count(n - 1, acc + n) end print(count(100, 0))`, "5050"},
		{`local function f() return pcall(error, "boom", 0) end print(f())`, "false\tboom"},
		{`local t = setmetatable({}, {__call = function(self, a, b) return b, a end}) local function f() return t("x", "y") end print(f())`, "y\tx"},
		{`return print("chunk", select("#", (function() return end)()))`, "chunk\t0"},
	}
	for i, tt := range tests {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			q := openQueue(t)
			_, out, _, err := runCode(t, q, "ret.lua", tt.code, nil)
			if err != nil {
				t.Fatal(err)
			}
			if out != tt.want+"\n" {
				t.Errorf("printed %q, want %q", out, tt.want+"\n")
			}
			if plainOut, plainErr := plainLua(tt.code); plainErr != nil || plainOut != out {
				t.Errorf("plain gopher-lua printed %q (error %v); the sandbox %q", plainOut, plainErr, out)
			}
		})
	}
}

// A script leaves the process's runtime settings alone: the collector's
// target (GOGC) and the soft memory limit (GOMEMLIMIT) are the same while it
// runs as before, so a server running scripts beside other work is not
// changed by them.
func TestNoProcessSettings(t *testing.T) {
	read := func() (gogc, limit uint64) {
		s := []metrics.Sample{{Name: "/gc/gogc:percent"}, {Name: "/gc/gomemlimit:bytes"}}
		metrics.Read(s)
		return s[0].Value.Uint64(), s[1].Value.Uint64()
	}
	old := debug.SetMemoryLimit(3 << 30)
	defer debug.SetMemoryLimit(old)
	gogc, limit := read()
	q := openQueue(t)
	s := NewSession(q, Options{Name: "limit.lua", MemoryLimit: 256 << 20, Now: clock})
	defer s.Close()
	var duringGC, duringLimit uint64
	s.L.SetGlobal("look", s.L.NewFunction(func(L *glua.LState) int {
		duringGC, duringLimit = read()
		return 0
	}))
	if _, err := s.Exec(context.Background(), "local t = {} for i = 1, 1000 do t[i] = {i} end look()"); err != nil {
		t.Fatal(err)
	}
	if duringGC != gogc || duringLimit != limit {
		t.Errorf("while the script ran GOGC was %d and the memory limit %d; want %d and %d as before", duringGC, duringLimit, gogc, limit)
	}
}

// A loop whose body only breaks no longer trips gopher-lua 1.1.2's compiler,
// which without the rewrite sends the first loop round for ever here.
func TestLoneBreak(t *testing.T) {
	for _, body := range []string{"break", "do end break", "if true then break end", "if false then else break end"} {
		t.Run(body, func(t *testing.T) {
			q := openQueue(t)
			code := `local function f() return 7 end
local n = 0
for m in pairs({1, 2, 3}) do
  n = n + 1
  if n == 2 then
    local c = f()
    assert(c == 7, "c " .. tostring(c))
  end
end
for m in pairs({1}) do ` + body + ` end
while true do ` + body + ` end
for i = 1, 3 do ` + body + ` end
repeat ` + body + ` until false
print("ok", n)`
			_, out, _, err := runCode(t, q, "break.lua", code, func(o *Options) { o.Timeout = 5 * time.Second })
			if err != nil || out != "ok\t3\n" {
				t.Errorf("printed %q, error %v; want ok 3", out, err)
			}
		})
	}
}

// The hidden functions the rewritten code calls are out of a script's reach.
func TestHiddenFunctionsUnreachable(t *testing.T) {
	q := openQueue(t)
	code := `local n = 0
for k in pairs(_G) do if tostring(k):find("(", 1, true) then n = n + 1 end end
print(n, rawget(_G, "(concat)"), rawget(_G, "(ret)"))
_G["(concat)"] = function() return "hijacked" end
local function f(x) return x end
print("a" .. "b", f(1))`
	_, out, _, err := runCode(t, q, "hidden.lua", code, nil)
	if err != nil || out != "0\tnil\tnil\nab\t1\n" {
		t.Errorf("printed %q, error %v", out, err)
	}
}

// A bomb that leaves garbage beside what it keeps (each kept string made from
// a temporary one) stops with the heap grown by little more than the limit
// (at most 1.5 times it; 1.45 on an idle machine, the watch being late on a busy
// one): the watch collects every eighth of a limit once
// near it, so garbage never piles up by half a limit.
func TestMemoryBombWithGarbage(t *testing.T) {
	const limit = 64 << 20
	for _, code := range []string{
		`local t = {} for i = 1, 1e9 do t[i] = string.rep("x", 256 * 1024 - 8) .. i end`,
		`local t = {} for i = 1, 1e9 do t[i] = string.format("%s%d", string.rep("x", 256 * 1024), i) end`,
	} {
		t.Run(code[:60], func(t *testing.T) {
			expectStopped(t, "bomb.lua", code, "stopped: memory limit of 64 MiB reached", limit, time.Minute, limit*3/2)
		})
	}
}

// The Lua thread's own checks keep a script that builds strings near its
// limit even when the sampling goroutine gets no CPU time, as on a busy
// machine where it may wait tens of milliseconds for its turn. string.format
// builds its result in buffers of its own and then copies it, so the heap
// grows by about twice what the script is counted to build: the checks must
// come often enough that this cannot carry the heap far past the point where
// the watch collects (at most an eighth of the limit past it).
func TestMemoryBombWithoutSampling(t *testing.T) {
	sampling = false
	defer func() { sampling = true }()
	const limit = 64 << 20
	for _, code := range []string{
		`local t = {} for i = 1, 1e9 do t[i] = string.rep("x", 256 * 1024 - 8) .. i end`,
		`local t = {} for i = 1, 1e9 do t[i] = string.format("%s%d", string.rep("x", 256 * 1024), i) end`,
	} {
		t.Run(code[:60], func(t *testing.T) {
			q := openQueue(t)
			loadFixtures(t, q)
			before := snapshot(t, q)
			code := "assert(queue.cancel{all = true} == 5)\n" + code + "\n"
			var rep Report
			var err error
			alloc, held := heapGrowth(func() {
				rep, _, _, err = runCode(t, q, "bomb.lua", code, func(o *Options) { o.MemoryLimit = limit; o.Timeout = time.Minute })
			})
			checkStopped(t, q, before, rep, err, "stopped: memory limit of 64 MiB reached")
			if want := int64(limit * 5 / 4); alloc > want {
				t.Errorf("the heap's allocated bytes grew by %d KiB; want at most %d KiB", alloc>>10, want>>10)
			}
			if want := int64(limit * 3 / 2); held > want {
				t.Errorf("the heap taken from the system grew by %d KiB; want at most %d KiB", held>>10, want>>10)
			}
			t.Logf("the heap grew by at most %d KiB allocated, %d KiB taken from the system", alloc>>10, held>>10)
		})
	}
}
