package lua

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// lockedBuffer is a Log that many goroutines may write.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// writePolicy writes code to a policy file and returns its path.
func writePolicy(t testing.TB, code string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "policy.lua")
	if err := os.WriteFile(path, []byte(code), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// loadTest loads code as a policy on the test clock, logging to the returned
// buffer.
func loadTest(t testing.TB, code string, opts PolicyOptions) (*Policy, *lockedBuffer) {
	t.Helper()
	log := &lockedBuffer{}
	opts.Log = log
	if opts.Now == nil {
		opts.Now = clock
	}
	p, err := LoadPolicy(writePolicy(t, code), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p, log
}

var sample = Arrival{
	ID: "52B91F716", Sender: "bill@example.net", Recipients: []string{"a@example.org", "b@example.com"},
	Size: 1234, ClientIP: "192.0.2.7", User: "bill", Helo: "client.example.net",
	Subject: "Quarterly report", MessageID: "<1@example.net>",
	Headers: map[string][]string{"Subject": {"Quarterly report"}, "Received": {"from a", "from b"}, "X-Spam": {"yes"}},
}

const hooks = `
local relays = { ["example.org"] = "relay.example.net:587", ["v6.example"] = "[::1]:2525", ["bare.example"] = "smart.example.net" }

function on_arrival(msg)
  if msg.sender == "hold@example.net" then return "hold" end
  if msg.sender == "why@example.net" then return "hold", "new sender, look first" end
  if msg.sender == "badwhy@example.net" then return "hold", "two\nlines" end
  if msg.sender == "spam@example.net" then return "reject", "554 5.7.1 No spam here" end
  if msg.sender == "<>" then return "reject" end
  if msg.headers["x-spam"] and msg.headers["x-spam"][1] == "yes" and msg.user == nil then return "reject", "550 5.7.1 Spam" end
  if msg.sender == "accept@example.net" then return "accept" end
end

function next_retry(domain, reply, attempt)
  if reply.code == 421 then return 3600 end
  if reply.enhanced == "4.7.1" then return "30m" end
  if domain == "at.example" then return time.now() + 600 end
  if domain == "text.example" then return "+2h" end
  if domain == "past.example" then return time.now() - 600 end
  if reply.code == nil and reply.text == "connection refused" then return attempt * 60 end
end

function route(domain)
  return relays[domain]
end
`

func TestPolicyAnswers(t *testing.T) {
	p, log := loadTest(t, hooks, PolicyOptions{})
	ctx := context.Background()
	for _, name := range []string{HookOnArrival, HookNextRetry, HookRoute} {
		if !p.Has(name) {
			t.Errorf("Has(%s) = false", name)
		}
	}
	if p.Has("on_arival") {
		t.Error("Has(on_arival) = true")
	}

	arrival := func(sender, user string) Arrival {
		a := sample
		a.Sender, a.User = sender, user
		return a
	}
	for _, c := range []struct {
		a              Arrival
		verdict, reply string
	}{
		{arrival("bill@example.net", "bill"), "accept", ""},
		{arrival("accept@example.net", "bill"), "accept", ""},
		{arrival("hold@example.net", "bill"), "hold", ""},
		{arrival("why@example.net", "bill"), "hold", "new sender, look first"},
		{arrival("badwhy@example.net", "bill"), "hold", ""}, // a reason that is not one line is dropped
		{arrival("spam@example.net", "bill"), "reject", "554 5.7.1 No spam here"},
		{arrival("", "bill"), "reject", DefaultRejectReply},
		{arrival("bill@example.net", ""), "reject", "550 5.7.1 Spam"},
	} {
		v, r := p.OnArrival(ctx, c.a)
		if v != c.verdict || r != c.reply {
			t.Errorf("OnArrival(sender %q, user %q) = %q, %q; want %q, %q", c.a.Sender, c.a.User, v, r, c.verdict, c.reply)
		}
	}

	for _, c := range []struct {
		domain  string
		r       Reply
		attempt int
		d       time.Duration
		ok      bool
	}{
		{"example.org", Reply{421, "4.7.0", "Too many connections"}, 1, time.Hour, true},
		{"example.org", Reply{451, "4.7.1", "Greylisted"}, 1, 30 * time.Minute, true},
		{"at.example", Reply{450, "", "busy"}, 1, 10 * time.Minute, true},
		{"text.example", Reply{450, "", "busy"}, 1, 2 * time.Hour, true},
		{"past.example", Reply{450, "", "busy"}, 1, 0, true},
		{"down.example", Reply{0, "", "connection refused"}, 3, 3 * time.Minute, true},
		{"example.org", Reply{452, "4.2.2", "Mailbox full"}, 1, 0, false},
	} {
		d, ok := p.NextRetry(ctx, c.domain, c.r, c.attempt)
		if d != c.d || ok != c.ok {
			t.Errorf("NextRetry(%s, %+v, %d) = %s, %v; want %s, %v", c.domain, c.r, c.attempt, d, ok, c.d, c.ok)
		}
	}

	for _, c := range []struct {
		domain, hostport string
		ok               bool
	}{
		{"example.org", "relay.example.net:587", true},
		{"v6.example", "[::1]:2525", true},
		{"bare.example", "smart.example.net:25", true},
		{"example.com", "", false},
	} {
		hp, ok := p.Route(ctx, c.domain)
		if hp != c.hostport || ok != c.ok {
			t.Errorf("Route(%s) = %q, %v; want %q, %v", c.domain, hp, ok, c.hostport, c.ok)
		}
	}
	if s := log.String(); s != "" {
		t.Errorf("normal answers logged:\n%s", s)
	}
}

// The msg table on_arrival receives, field by field.
func TestPolicyArrivalTable(t *testing.T) {
	p, log := loadTest(t, `
function on_arrival(msg)
  local h = msg.headers
  local got = table.concat({ msg.id, msg.sender, #msg.recipients, msg.recipients[1], msg.recipients[2],
    msg.size, msg.client_ip, msg.user, msg.helo, msg.subject, msg.message_id,
    #h.received, h.received[1], h.received[2], h.subject[1], tostring(h.Subject) }, "|")
  local want = "52B91F716|bill@example.net|2|a@example.org|b@example.com|1234|192.0.2.7|bill|client.example.net|Quarterly report|<1@example.net>|2|from a|from b|Quarterly report|nil"
  if got ~= want then return "reject", "550 got " .. got end
  return "hold"
end`, PolicyOptions{})
	if v, r := p.OnArrival(context.Background(), sample); v != "hold" {
		t.Fatalf("OnArrival = %q, %q; the table differs from the documented one (log: %s)", v, r, log)
	}
	// Absent values: no id yet, a bounce, no user.
	p2, _ := loadTest(t, `
function on_arrival(msg)
  if msg.id == nil and msg.sender == "<>" and msg.user == nil and msg.subject == "" and next(msg.headers) == nil then return "hold" end
end`, PolicyOptions{})
	if v, _ := p2.OnArrival(context.Background(), Arrival{Recipients: []string{"a@example.org"}}); v != "hold" {
		t.Fatalf("OnArrival of an empty arrival = %q; want hold", v)
	}
}

// Every failure is logged in one line and answers the default.
func TestPolicyFallbacks(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		name, code string
		opts       PolicyOptions
		log        string // in the one log line
	}{
		{"error", `function on_arrival(msg) error("boom") end
function next_retry(d, r) local x = nil; return x.y end
function route(d) error("boom") end`, PolicyOptions{}, "policy.lua:"},
		{"endless loop", `function on_arrival(msg) while true do end end
function next_retry(d, r) while true do end end
function route(d) local i = 0 repeat i = i + 1 until false end`, PolicyOptions{Timeout: 50 * time.Millisecond}, "stopped: time limit of 50ms reached"},
		{"catastrophic pattern", `local s = string.rep("a", 40)
function on_arrival(msg) return s:find(".-.-.-.-.-.-.-.-.-.-b") end
function next_retry(d, r) return s:match(".-.-.-.-.-.-.-.-.-.-b") end
function route(d) return (s:gsub(".-.-.-.-.-.-.-.-.-.-b", "x")) end`, PolicyOptions{Timeout: 50 * time.Millisecond}, "time limit of 50ms reached"},
		{"wrong type", `function on_arrival(msg) return 42 end
function next_retry(d, r) return {} end
function route(d) return true end`, PolicyOptions{}, "returned a"},
		{"wrong value", `function on_arrival(msg) return "bounce" end
function next_retry(d, r) return -5 end
function route(d) return "relay.example:http" end`, PolicyOptions{}, "returned"},
		{"queue", `function on_arrival(msg) return queue.count{all = true} end
function next_retry(d, r) queue.retry{domain = d} end
function route(d) return queue.get("1") end`, PolicyOptions{}, "is not available in policy hooks"},
		{"sandbox", `function on_arrival(msg) os.execute("true") end
function next_retry(d, r) io.open("/etc/passwd") end
function route(d) return dofile("/etc/passwd") end`, PolicyOptions{}, "not available in mqsh scripts"},
		{"recursion", `local function f(n) return f(n + 1) + 1 end
function on_arrival(msg) return f(1) end
function next_retry(d, r) return f(1) end
function route(d) return f(1) end`, PolicyOptions{}, "stack overflow"},
		{"abort", `function on_arrival(msg) abort("no") end
function next_retry(d, r) abort("no") end
function route(d) abort("no") end`, PolicyOptions{}, "policy.lua:"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p, log := loadTest(t, c.code, c.opts)
			check := func(what string) {
				t.Helper()
				lines := strings.Split(strings.TrimSuffix(log.String(), "\n"), "\n")
				if len(lines) != 1 || !strings.Contains(lines[0], c.log) || !strings.HasPrefix(lines[0], "policy ") || !strings.Contains(lines[0], what) {
					t.Errorf("%s logged %q; want one line with %q", what, log.String(), c.log)
				}
				log.mu.Lock()
				log.b.Reset()
				log.mu.Unlock()
			}
			if v, r := p.OnArrival(ctx, sample); v != "accept" || r != "" {
				t.Errorf("OnArrival = %q, %q; want accept", v, r)
			}
			check("on_arrival(52B91F716) failed")
			if d, ok := p.NextRetry(ctx, "example.org", Reply{421, "4.7.0", "slow down"}, 1); ok || d != 0 {
				t.Errorf("NextRetry = %s, %v; want the schedule", d, ok)
			}
			check("next_retry(example.org) failed")
			if hp, ok := p.Route(ctx, "example.org"); ok || hp != "" {
				t.Errorf("Route = %q, %v; want the default", hp, ok)
			}
			check("route(example.org) failed")
		})
	}
}

// A hook that assigns something else to a hook's name fails the next call.
func TestPolicyReassigned(t *testing.T) {
	p, log := loadTest(t, `function route(d) route = "x" end`, PolicyOptions{})
	p.Route(context.Background(), "example.org")
	if hp, ok := p.Route(context.Background(), "example.org"); ok || hp != "" {
		t.Errorf("Route = %q, %v", hp, ok)
	}
	if !strings.Contains(log.String(), "route(example.org) failed: route is no longer a function") {
		t.Errorf("logged %q", log.String())
	}
}

// A clear "reject" with a bad reply still rejects, with the default reply.
func TestPolicyBadReply(t *testing.T) {
	for _, reply := range []string{`"go away"`, `"250 ok"`, `"550 a\r\nRCPT TO:<x>"`, `42`, `"5500 x"`, `string.rep("5", 600)`} {
		p, log := loadTest(t, `function on_arrival(msg) return "reject", `+reply+` end`, PolicyOptions{})
		v, r := p.OnArrival(context.Background(), sample)
		if v != "reject" || r != DefaultRejectReply {
			t.Errorf("reply %s: OnArrival = %q, %q; want reject with the default reply", reply, v, r)
		}
		if !strings.Contains(log.String(), "rejecting with") {
			t.Errorf("reply %s: logged %q", reply, log.String())
		}
	}
}

// Hooks not defined answer the default without running anything.
func TestPolicyNothingDefined(t *testing.T) {
	p, log := loadTest(t, `function route(d) return "relay.example:25" end`, PolicyOptions{})
	if p.Has(HookOnArrival) || p.Has(HookNextRetry) || !p.Has(HookRoute) {
		t.Fatalf("Has: on_arrival %v, next_retry %v, route %v", p.Has(HookOnArrival), p.Has(HookNextRetry), p.Has(HookRoute))
	}
	if v, r := p.OnArrival(context.Background(), sample); v != "accept" || r != "" {
		t.Errorf("OnArrival = %q, %q", v, r)
	}
	if d, ok := p.NextRetry(context.Background(), "x", Reply{}, 1); ok || d != 0 {
		t.Errorf("NextRetry = %s, %v", d, ok)
	}
	if log.String() != "" {
		t.Errorf("logged %q", log.String())
	}
	// After Close every hook answers the default, silently.
	p.Close()
	if hp, ok := p.Route(context.Background(), "x"); ok || hp != "" {
		t.Errorf("Route after Close = %q, %v", hp, ok)
	}
	if log.String() != "" {
		t.Errorf("logged after Close: %q", log.String())
	}
}

// A nil Policy (serve without --policy) answers the defaults.
func TestPolicyNil(t *testing.T) {
	var p *Policy
	ctx := context.Background()
	if v, r := p.OnArrival(ctx, sample); v != "accept" || r != "" {
		t.Errorf("OnArrival = %q, %q", v, r)
	}
	if d, ok := p.NextRetry(ctx, "example.org", Reply{Code: 421}, 1); ok || d != 0 {
		t.Errorf("NextRetry = %s, %v", d, ok)
	}
	if hp, ok := p.Route(ctx, "example.org"); ok || hp != "" {
		t.Errorf("Route = %q, %v", hp, ok)
	}
	if p.Has(HookRoute) {
		t.Error("Has(route) = true")
	}
	p.Close()
}

func TestLoadPolicyErrors(t *testing.T) {
	for _, c := range []struct{ code, want string }{
		{"function route(d)\n  return d +\nend", "policy.lua:3: "},
		{"local x = 1\nerror('bad config')", "policy.lua:2: bad config"},
		{"route = 'relay.example:25'", "route is a string, not a function"},
		{"local function route(d) end\nfunction on_arival(m) end", "defines none of the hooks on_arrival, next_retry, route"},
		{"local x = 0\nwhile true do x = x + 1 end", "policy.lua:2: stopped: time limit of 50ms reached (in the top level, which should only define functions and constants)"},
		{"x = queue.list{}", "queue.list is not available in policy hooks"},
	} {
		path := writePolicy(t, c.code)
		_, err := LoadPolicy(path, PolicyOptions{Timeout: 50 * time.Millisecond})
		if err == nil || !strings.HasPrefix(err.Error(), "load policy: ") || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: err = %v; want %q", c.code, err, c.want)
		}
	}
	if _, err := LoadPolicy(filepath.Join(t.TempDir(), "none.lua"), PolicyOptions{}); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("missing file: err = %v", err)
	}
}

// A hook that grows the heap past the memory limit stops, is logged, and its
// state is replaced: the next call works.
func TestPolicyMemoryLimit(t *testing.T) {
	p, log := loadTest(t, `
function route(d)
  if d == "bomb.example" then
    local t = {}
    for i = 1, 1e9 do t[i] = { i } end
  end
  return "relay.example:25"
end`, PolicyOptions{Memory: 16 << 20, Timeout: time.Minute})
	if hp, ok := p.Route(context.Background(), "bomb.example"); ok || hp != "" {
		t.Errorf("Route = %q, %v; want the default", hp, ok)
	}
	if !strings.Contains(log.String(), "stopped: memory limit of 16 MiB reached") {
		t.Errorf("logged %q", log.String())
	}
	if hp, ok := p.Route(context.Background(), "example.org"); !ok || hp != "relay.example:25" {
		t.Errorf("Route after the limit = %q, %v", hp, ok)
	}
}

// After a timeout the state is replaced and the next call answers normally;
// the caller's cancelled context stops a hook too.
func TestPolicyRecovers(t *testing.T) {
	p, log := loadTest(t, `
calls = 0
function route(d)
  calls = calls + 1
  if d == "loop.example" then while true do end end
  return "relay.example:" .. (1000 + calls)
end`, PolicyOptions{Timeout: 50 * time.Millisecond})
	if _, ok := p.Route(context.Background(), "loop.example"); ok {
		t.Fatal("an endless loop answered")
	}
	if !strings.Contains(log.String(), "route(loop.example) failed: "+p.path+":5: stopped: time limit of 50ms reached; using the default route") {
		t.Errorf("logged %q", log.String())
	}
	// The state that looped is gone; a fresh one ran the top level again.
	if hp, ok := p.Route(context.Background(), "example.org"); !ok || hp != "relay.example:1001" {
		t.Errorf("Route after a timeout = %q, %v; want relay.example:1001 from a fresh state", hp, ok)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(10 * time.Millisecond); cancel() }()
	p2, log2 := loadTest(t, `function route(d) while true do end end`, PolicyOptions{Timeout: time.Minute})
	start := time.Now()
	if _, ok := p2.Route(ctx, "loop.example"); ok {
		t.Fatal("a cancelled hook answered")
	}
	if time.Since(start) > 30*time.Second {
		t.Errorf("a cancelled hook ran on for %s", time.Since(start))
	}
	if !strings.Contains(log2.String(), "interrupted") {
		t.Errorf("logged %q", log2.String())
	}
}

// print and log.* write to the policy's log; time.now follows the clock.
func TestPolicyLogAndClock(t *testing.T) {
	p, log := loadTest(t, `
function next_retry(d, r)
  print("retry", d, r.code)
  log.warn("slow")
  return time.now() + 90
end`, PolicyOptions{})
	d, ok := p.NextRetry(context.Background(), "example.org", Reply{Code: 421}, 2)
	if !ok || d != 90*time.Second {
		t.Errorf("NextRetry = %s, %v; want 1m30s", d, ok)
	}
	want := "policy " + p.path + ": retry example.org 421\npolicy " + p.path + ": warning: slow\n"
	if log.String() != want {
		t.Errorf("log = %q; want %q", log.String(), want)
	}
}

// Sixteen goroutines call every hook at once (run with -race); each answer
// is the one for its own question, though the pool has fewer states.
func TestPolicyConcurrent(t *testing.T) {
	p, log := loadTest(t, `
function on_arrival(msg)
  if msg.size % 2 == 0 then return "hold" end
end
function next_retry(d, r) return r.code end
function route(d) return d .. ":" .. (#d) end`, PolicyOptions{Timeout: 5 * time.Second})
	var wg sync.WaitGroup
	errs := make(chan string, 16)
	for g := range 16 {
		wg.Go(func() {
			for i := range 200 {
				n := g*1000 + i
				a := sample
				a.Size = int64(n)
				v, _ := p.OnArrival(context.Background(), a)
				if (n%2 == 0) != (v == "hold") {
					errs <- fmt.Sprintf("OnArrival(size %d) = %s", n, v)
					return
				}
				if d, ok := p.NextRetry(context.Background(), "x", Reply{Code: 400 + n%100}, 1); !ok || d != time.Duration(400+n%100)*time.Second {
					errs <- fmt.Sprintf("NextRetry(%d) = %s, %v", 400+n%100, d, ok)
					return
				}
				dom := fmt.Sprintf("d%d.example", n)
				if hp, ok := p.Route(context.Background(), dom); !ok || hp != fmt.Sprintf("%s:%d", dom, len(dom)) {
					errs <- fmt.Sprintf("Route(%s) = %q, %v", dom, hp, ok)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if log.String() != "" {
		t.Errorf("logged %q", log.String())
	}
	if n := len(p.slots); n > cap(p.slots) || n == 0 {
		t.Errorf("%d states", n)
	}
}

// A hook stuck until its time limit holds up only its own state: the others
// answer meanwhile.
func TestPolicySlowHookBlocksNoOne(t *testing.T) {
	p, _ := loadTest(t, `
function route(d)
  if d == "slow.example" then while true do end end
  return "relay.example:25"
end`, PolicyOptions{Timeout: 2 * time.Second})
	done := make(chan struct{})
	go func() { p.Route(context.Background(), "slow.example"); close(done) }()
	time.Sleep(20 * time.Millisecond) // let it take its state
	for range 100 {
		if hp, ok := p.Route(context.Background(), "example.org"); !ok || hp != "relay.example:25" {
			t.Fatalf("Route = %q, %v", hp, ok)
		}
	}
	select {
	case <-done:
		t.Error("the slow hook ended before the others ran: they waited for it")
	default:
	}
	<-done
}

// BenchmarkPolicy measures a hook call: one goroutine, and 16 at once with
// the pool and with a pool of one state (what a mutex would give).
func BenchmarkPolicy(b *testing.B) {
	code := `
function on_arrival(msg)
  if msg.sender == "hold@example.net" then return "hold" end
  if msg.headers["x-spam"] then return "reject", "550 5.7.1 Spam" end
end
function route(d) if d == "example.org" then return "relay.example:25" end end`
	path := writePolicy(b, code)
	for _, c := range []struct {
		name     string
		size     int
		parallel bool
	}{{"serial", poolSize(), false}, {"parallel16/pool", poolSize(), true}, {"parallel16/one-state", 1, true}} {
		p, err := loadPolicy(path, PolicyOptions{}, c.size)
		if err != nil {
			b.Fatal(err)
		}
		for _, hook := range []string{"on_arrival", "route"} {
			call := func() {
				if hook == "on_arrival" {
					p.OnArrival(context.Background(), sample)
				} else {
					p.Route(context.Background(), "example.org")
				}
			}
			b.Run(c.name+"/"+hook, func(b *testing.B) {
				if c.parallel {
					b.SetParallelism(8) // 16 goroutines on 2 cores
					b.RunParallel(func(pb *testing.PB) {
						for pb.Next() {
							call()
						}
					})
					return
				}
				for b.Loop() {
					call()
				}
			})
		}
		p.Close()
	}
}
