package lua

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
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
		{"io", `io.open("/etc/passwd")`, "escape.lua:2: attempt to index a non-table object(nil) with key 'open'", nil, nil},
		{"os.execute", `os.execute("touch /tmp/pwned")`, "escape.lua:2: attempt to call a non-function object", nil, nil},
		{"os.exit", `os.exit(3)`, "escape.lua:2: attempt to call a non-function object", nil, nil},
		{"os.getenv", `return os.getenv("HOME")`, "escape.lua:2: attempt to call a non-function object", nil, nil},
		{"dofile", `dofile("/etc/passwd")`, "escape.lua:2: attempt to call a non-function object", nil, nil},
		{"loadfile", `loadfile("/etc/passwd")`, "escape.lua:2: attempt to call a non-function object", nil, nil},
		{"require traversal", `require("../../etc/passwd")`, `escape.lua:2: require: invalid module name "../../etc/passwd"`, nil, nil},
		{"require absolute", `require("/etc/passwd")`, `require: invalid module name "/etc/passwd"`, nil, nil},
		{"require outside", `require("secret")`, `require: module "secret" not found`, nil, nil},
		{"package.loadlib", `package.loadlib("libc.so.6", "system")`, "attempt to index a non-table object(nil) with key 'loadlib'", nil, nil},
		{"bytecode through load", `assert(load("\27LuaQ\0\1\4\8\4\8\0"))()`, "load: binary chunks are not allowed", nil, nil},
		{"bytecode through loadstring", `assert(loadstring(string.char(27) .. "Lua"))()`, "load: binary chunks are not allowed", nil, nil},
		{"string.dump", `string.dump(print)`, "attempt to call a non-function object", nil, nil},
		{"debug", `debug.getregistry()`, "attempt to index a non-table object(nil) with key 'getregistry'", nil, nil},
		{"getfenv", `getfenv(0).io = 1`, "attempt to call a non-function object", nil, nil},
		{"string.rep bomb", `local s = ("x"):rep(1e9)`, "escape.lua:2: string.rep: the result would be 1000000000 bytes; the limit is 16 MiB", nil, nil},
		{"string.rep bomb through the metatable", `local s = getmetatable("").__index.rep("xx", 2^30)`, "the limit is 16 MiB", nil, nil},
		{"concatenation bomb", `local s = ("x"):rep(8 * 1024 * 1024) while true do s = s .. s end`,
			"stopped: memory limit of 64 MiB reached", ErrMemory, small},
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
			code := "assert(queue.cancel{all = true} == 5)\n" + tt.code + "\n"
			rep, _, _, err := runCode(t, q, "escape.lua", code, tt.opts)
			if err == nil {
				t.Fatalf("no error; want %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q\ndoes not contain %q", err, tt.want)
			}
			if !strings.HasSuffix(err.Error(), "nothing changed") {
				t.Errorf("error %q does not say that nothing changed", err)
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
