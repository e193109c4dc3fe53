package scripts_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"mqsh/lua"
	"mqsh/queue"
	"mqsh/scripts"
)

// Every shipped script runs here against a real queue, on a fixed clock, and
// the test reads the queue afterwards to check the exact effect.

var now = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

func clock() time.Time { return now }

func at(d time.Duration) string { return now.Add(d).Format(time.RFC3339) }

// m builds a message in the JSON shape the engine imports.
func m(id uint64, sender string, age time.Duration, size int, doms ...map[string]any) map[string]any {
	return map[string]any{"id": id, "return_path": sender, "created": at(-age), "size": size, "domains": doms}
}

// d builds a domain: its status, when it is due and when it expires.
func d(name string, status any, due, expires time.Duration, rcpts ...map[string]any) map[string]any {
	return map[string]any{"name": name, "status": status, "retry_num": 1,
		"next_retry": at(due), "next_notify": nil, "expires": at(expires), "recipients": rcpts}
}

func r(addr string, status any) map[string]any {
	return map[string]any{"address": addr, "status": status}
}

func temp(code int) map[string]any {
	return map[string]any{"temp_fail": reply(code)}
}

func perm(code int) map[string]any {
	return map[string]any{"perm_fail": reply(code)}
}

func reply(code int) string {
	return map[int]string{
		421: "Code: 421, Enhanced code: 4.7.0, Message: Too many connections, slow down",
		451: "Code: 451, Enhanced code: 4.7.1, Message: Greylisted, try again later",
		452: "Code: 452, Enhanced code: 4.2.2, Message: Mailbox full",
		550: "Code: 550, Enhanced code: 5.1.1, Message: No such user",
	}[code]
}

var delivered = map[string]any{"completed": "Code: 250, Enhanced code: 2.0.0, Message: OK"}

// setup opens a queue holding msgs.
func setup(t *testing.T, msgs ...map[string]any) *queue.Queue {
	t.Helper()
	q, err := queue.Open(filepath.Join(t.TempDir(), "queue.db"), queue.Options{Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	var b bytes.Buffer
	for _, msg := range msgs {
		line, _ := json.Marshal(msg)
		b.Write(line)
		b.WriteByte('\n')
	}
	if _, err := q.ImportJSON(context.Background(), &b); err != nil {
		t.Fatalf("import: %v", err)
	}
	return q
}

type result struct {
	rep    lua.Report
	stdout string
	stderr string
	err    error
}

// run runs a shipped script, found by name as `mqsh run` finds it.
func run(t *testing.T, q *queue.Queue, dryRun bool, name string, args ...string) result {
	t.Helper()
	sc, err := lua.Find(name, []string{"."})
	if err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	rep, err := lua.Run(context.Background(), q, lua.Options{
		Name: sc.Name, Path: sc.Path, Code: sc.Code, Args: args, DryRun: dryRun,
		Stdout: &out, Stderr: &errOut, Now: clock, ScriptDirs: []string{"."},
	})
	return result{rep, out.String(), errOut.String(), err}
}

func get(t *testing.T, q *queue.Queue, id queue.ID) *queue.Message {
	t.Helper()
	msg, err := q.Get(context.Background(), id)
	if errors.Is(err, queue.ErrNotFound) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return msg
}

func ids(t *testing.T, q *queue.Queue) []queue.ID {
	t.Helper()
	msgs, err := q.List(context.Background(), queue.Filter{}, queue.Page{})
	if err != nil {
		t.Fatal(err)
	}
	var out []queue.ID
	for _, msg := range msgs {
		out = append(out, msg.ID)
	}
	return out
}

func dueOf(t *testing.T, q *queue.Queue, id queue.ID, domain string) time.Time {
	t.Helper()
	msg := get(t, q, id)
	if msg == nil {
		t.Fatalf("message %s is gone", id)
	}
	for _, dm := range msg.Domains {
		if dm.Name == domain {
			return dm.Due
		}
	}
	t.Fatalf("message %s has no domain %s", id, domain)
	return time.Time{}
}

func snapshot(t *testing.T, q *queue.Queue) string {
	t.Helper()
	msgs, err := q.List(context.Background(), queue.Filter{}, queue.Page{})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(msgs)
	return string(b)
}

func sameIDs(got []queue.ID, want ...queue.ID) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if got[i] != want[i] {
			return false
		}
	}
	return true
}

// Every shipped script has a header: purpose, arguments, example.
func TestHeaders(t *testing.T) {
	names, _ := fs.Glob(scripts.FS, "*.lua")
	if len(names) < 6 {
		t.Fatalf("%d scripts shipped, want at least 6", len(names))
	}
	for _, name := range names {
		code, _ := fs.ReadFile(scripts.FS, name)
		head := string(code)
		if !strings.HasPrefix(head, "-- "+name+": ") {
			t.Errorf("%s: the first line is not \"-- %s: purpose\"", name, name)
		}
		for _, part := range []string{"-- Arguments:", "-- Example:", "mqsh run " + strings.TrimSuffix(name, ".lua")} {
			if !strings.Contains(head, part) {
				t.Errorf("%s: the header lacks %q", name, part)
			}
		}
		if lua.Describe(head) == "" {
			t.Errorf("%s: no description for the scripts command", name)
		}
	}
}

// No shipped script or module has a loop whose body is a lone break, which
// gopher-lua 1.1.2 compiles wrongly after an earlier loop (see the README).
func TestNoLoneBreak(t *testing.T) {
	lone := regexp.MustCompile(`\b(do|then)\s+break\s+end\b`)
	names, _ := fs.Glob(scripts.FS, "*.lua")
	libs, _ := fs.Glob(scripts.FS, "lib/*.lua")
	for _, name := range append(names, libs...) {
		code, _ := fs.ReadFile(scripts.FS, name)
		if loc := lone.FindIndex(code); loc != nil {
			line := 1 + strings.Count(string(code[:loc[0]]), "\n")
			t.Errorf("%s:%d: a loop body that is only break: put a statement before it", name, line)
		}
	}
}

func TestRescheduleDomain(t *testing.T) {
	var msgs []map[string]any
	for i := uint64(1); i <= 9; i++ {
		msgs = append(msgs, m(0x100+i, "a@shop.example", time.Hour, 1000,
			d("slow.example", "scheduled", time.Duration(i)*time.Minute, 4*24*time.Hour, r("u@slow.example", "scheduled"))))
	}
	msgs = append(msgs,
		// two domains: only slow.example moves
		m(0x200, "a@shop.example", time.Hour, 1000,
			d("slow.example", temp(451), 5*time.Minute, 4*24*time.Hour, r("v@slow.example", temp(451))),
			d("other.example", "scheduled", 7*time.Minute, 4*24*time.Hour, r("w@other.example", "scheduled"))),
		// delivered already: not moved, not counted
		m(0x300, "a@shop.example", time.Hour, 1000,
			d("slow.example", delivered, -time.Minute, 4*24*time.Hour, r("x@slow.example", delivered))),
	)
	q := setup(t, msgs...)
	before := snapshot(t, q)

	// The dry run reports and changes nothing.
	res := run(t, q, true, "reschedule-domain", "slow.example", "+1h", "10m")
	if res.err != nil {
		t.Fatal(res.err)
	}
	if want := "dry run: script reschedule-domain.lua would retry 10 and cancel 0 message(s) (slow.example 10); nothing changed"; res.rep.Summary() != want {
		t.Errorf("dry-run summary %q", res.rep.Summary())
	}
	if want := "slow.example: 10 message(s) would be due from 2024-05-01T13:00:00Z to 2024-05-01T13:09:00Z\n"; res.stderr != want {
		t.Errorf("dry-run stderr %q", res.stderr)
	}
	if snapshot(t, q) != before {
		t.Fatal("the dry run changed the queue")
	}

	res = run(t, q, false, "reschedule-domain", "Slow.Example", "+1h", "10m")
	if res.err != nil {
		t.Fatal(res.err)
	}
	if res.rep.Retried != 10 {
		t.Errorf("retried %d, want 10", res.rep.Retried)
	}
	// Ten messages over ten minutes: one a minute from 13:00, in id order.
	order := []queue.ID{0x101, 0x102, 0x103, 0x104, 0x105, 0x106, 0x107, 0x108, 0x109, 0x200}
	start := now.Add(time.Hour)
	for i, id := range order {
		if got, want := dueOf(t, q, id, "slow.example"), start.Add(time.Duration(i)*time.Minute); !got.Equal(want) {
			t.Errorf("%s due %s, want %s", id, got.Format(time.RFC3339), want.Format(time.RFC3339))
		}
	}
	if got := dueOf(t, q, 0x200, "other.example"); !got.Equal(now.Add(7 * time.Minute)) {
		t.Errorf("other.example moved to %s", got)
	}
	if got := dueOf(t, q, 0x300, "slow.example"); !got.Equal(now.Add(-time.Minute)) {
		t.Errorf("the delivered domain moved to %s", got)
	}
	if want := "slow.example: 10 message(s) now due from 2024-05-01T13:00:00Z to 2024-05-01T13:09:00Z\n"; res.stderr != want {
		t.Errorf("stderr %q", res.stderr)
	}

	// Wrong arguments abort with the usage, changing nothing.
	for _, args := range [][]string{{}, {"slow.example"}, {"slow.example", "teatime"}, {"slow.example", "now", "forever"}} {
		res := run(t, q, false, "reschedule-domain", args...)
		if !errors.Is(res.err, lua.ErrAborted) {
			t.Errorf("%v: %v, want an abort", args, res.err)
		}
	}
}

func TestPurgeSender(t *testing.T) {
	q := setup(t,
		m(0x101, "bad@compromised.example", time.Hour, 100, d("a.example", "scheduled", time.Minute, 24*time.Hour, r("x@a.example", "scheduled"))),
		m(0x102, "Bad@Compromised.example", time.Hour, 100, d("b.example", temp(421), time.Minute, 24*time.Hour, r("x@b.example", temp(421)))),
		m(0x103, "bad@compromised.example", time.Hour, 100, d("a.example", perm(550), time.Minute, 24*time.Hour, r("y@a.example", perm(550)))),
		m(0x104, "good@compromised.example", time.Hour, 100, d("a.example", "scheduled", time.Minute, 24*time.Hour, r("z@a.example", "scheduled"))),
		m(0x105, "bad@elsewhere.example", time.Hour, 100, d("a.example", "scheduled", time.Minute, 24*time.Hour, r("z@a.example", "scheduled"))),
		m(0x106, "", time.Hour, 100, d("compromised.example", "scheduled", time.Minute, 24*time.Hour, r("bad@compromised.example", "scheduled"))),
	)
	before := snapshot(t, q)
	for _, who := range []string{"*", "@", "<>", "*@*"} {
		res := run(t, q, false, "purge-sender", who)
		if !errors.Is(res.err, lua.ErrAborted) {
			t.Errorf("%q: %v, want a refusal", who, res.err)
		}
	}
	if snapshot(t, q) != before {
		t.Fatal("a refused run changed the queue")
	}

	res := run(t, q, false, "purge-sender", "bad@compromised.example")
	if res.err != nil {
		t.Fatal(res.err)
	}
	if res.rep.Cancelled != 3 {
		t.Errorf("cancelled %d, want 3", res.rep.Cancelled)
	}
	if got := ids(t, q); !sameIDs(got, 0x104, 0x105, 0x106) {
		t.Errorf("left %v", got)
	}
	if res.stderr != "bad@compromised.example: removed 3 message(s)\n" {
		t.Errorf("stderr %q", res.stderr)
	}

	// A whole domain of senders; a recipient at that domain is not a sender.
	res = run(t, q, false, "purge-sender", "@compromised.example", "bad@elsewhere.example")
	if res.err != nil {
		t.Fatal(res.err)
	}
	if got := ids(t, q); !sameIDs(got, 0x106) {
		t.Errorf("left %v", got)
	}
}

func TestPurgeBounces(t *testing.T) {
	q := setup(t,
		m(0x101, "", 72*time.Hour, 100, d("a.example", temp(452), time.Minute, 48*time.Hour, r("x@a.example", temp(452)))),
		m(0x102, "", 48*time.Hour, 100, d("a.example", "scheduled", time.Minute, 72*time.Hour, r("y@a.example", "scheduled"))),
		m(0x103, "", 12*time.Hour, 100, d("a.example", "scheduled", time.Minute, 4*24*time.Hour, r("z@a.example", "scheduled"))),
		m(0x104, "", time.Hour, 100, d("a.example", "scheduled", time.Minute, 4*24*time.Hour, r("z@a.example", "scheduled"))),
		m(0x105, "old@a.example", 96*time.Hour, 100, d("b.example", "scheduled", time.Minute, 24*time.Hour, r("q@b.example", "scheduled"))),
	)
	res := run(t, q, false, "purge-bounces")
	if res.err != nil {
		t.Fatal(res.err)
	}
	if res.rep.Cancelled != 2 || !sameIDs(ids(t, q), 0x103, 0x104, 0x105) {
		t.Errorf("cancelled %d, left %v; want 2, left 103 104 105", res.rep.Cancelled, ids(t, q))
	}
	if res.stderr != "removed 2 bounce(s) created before 2024-04-30T12:00:00Z\n" {
		t.Errorf("stderr %q", res.stderr)
	}
	res = run(t, q, false, "purge-bounces", "6h")
	if res.err != nil || !sameIDs(ids(t, q), 0x104, 0x105) {
		t.Errorf("6h: %v, left %v", res.err, ids(t, q))
	}
	if res := run(t, q, false, "purge-bounces", "yesterday"); !errors.Is(res.err, lua.ErrAborted) {
		t.Errorf("a bad AGE: %v", res.err)
	}
}

func TestBackoffDeferred(t *testing.T) {
	q := setup(t,
		m(0x101, "s@shop.example", time.Hour, 100, d("deferred.example", temp(421), 5*time.Minute, 4*24*time.Hour, r("a@deferred.example", temp(421)))),
		m(0x102, "s@shop.example", time.Hour, 100, d("deferred.example", temp(451), 10*time.Minute, 4*24*time.Hour, r("b@deferred.example", temp(451)))),
		// already due after the backoff: left alone
		m(0x103, "s@shop.example", time.Hour, 100, d("late.example", temp(451), 3*time.Hour, 4*24*time.Hour, r("c@late.example", temp(451)))),
		// a 452 is not a deferral
		m(0x104, "s@shop.example", time.Hour, 100, d("full.example", temp(452), 5*time.Minute, 4*24*time.Hour, r("d@full.example", temp(452)))),
		// two domains: only the deferred one moves
		m(0x105, "s@shop.example", time.Hour, 100,
			d("deferred.example", temp(421), time.Minute, 4*24*time.Hour, r("e@deferred.example", temp(421))),
			d("fine.example", "scheduled", 2*time.Minute, 4*24*time.Hour, r("f@fine.example", "scheduled"))),
		// a domain still scheduled whose recipient's last reply was 451 (the documented 52B91F716)
		m(0x106, "", time.Hour, 100, d("grey.example", "scheduled", 15*time.Minute, 4*24*time.Hour,
			r("g@grey.example", temp(451)), r("h@grey.example", delivered))),
	)
	res := run(t, q, false, "backoff-deferred")
	if res.err != nil {
		t.Fatal(res.err)
	}
	if res.rep.Retried != 4 {
		t.Errorf("retried %d, want 4", res.rep.Retried)
	}
	start := now.Add(2 * time.Hour)
	checks := []struct {
		id     queue.ID
		domain string
		want   time.Time
	}{
		// deferred.example: three messages spread over 30 minutes
		{0x101, "deferred.example", start},
		{0x102, "deferred.example", start.Add(10 * time.Minute)},
		{0x105, "deferred.example", start.Add(20 * time.Minute)},
		{0x106, "grey.example", start},
		{0x103, "late.example", now.Add(3 * time.Hour)},
		{0x104, "full.example", now.Add(5 * time.Minute)},
		{0x105, "fine.example", now.Add(2 * time.Minute)},
	}
	for _, c := range checks {
		if got := dueOf(t, q, c.id, c.domain); !got.Equal(c.want) {
			t.Errorf("%s %s due %s, want %s", c.id, c.domain, got.Format(time.RFC3339), c.want.Format(time.RFC3339))
		}
	}
	want := "deferred.example: 3 message(s) backed off to 2024-05-01T14:00:00Z .. 2024-05-01T14:30:00Z\n" +
		"grey.example: 1 message(s) backed off to 2024-05-01T14:00:00Z .. 2024-05-01T14:30:00Z\n"
	if res.stderr != want {
		t.Errorf("stderr\n%s\nwant\n%s", res.stderr, want)
	}

	// Run again: everything deferred is already due after the new start.
	res = run(t, q, false, "backoff-deferred", "1h", "10m")
	if res.err != nil || res.rep.Retried != 0 {
		t.Errorf("second run: %v, retried %d", res.err, res.rep.Retried)
	}
}

func TestCancelDoomed(t *testing.T) {
	q := setup(t,
		// failed for x, y expires in 6h: doomed
		m(0x101, "s@shop.example", 4*24*time.Hour, 100, d("a.example", "scheduled", time.Minute, 6*time.Hour,
			r("x@a.example", perm(550)), r("y@a.example", temp(452)))),
		// failed for x, y has two days left: kept
		m(0x102, "s@shop.example", time.Hour, 100, d("a.example", "scheduled", time.Minute, 48*time.Hour,
			r("x@a.example", perm(550)), r("y@a.example", "scheduled"))),
		// expiring, but nothing failed: kept
		m(0x103, "s@shop.example", 4*24*time.Hour, 100, d("a.example", temp(452), time.Minute, time.Hour, r("y@a.example", temp(452)))),
		// failed for everyone, nothing pending: kept (nothing to stop)
		m(0x104, "s@shop.example", time.Hour, 100, d("a.example", perm(550), time.Minute, time.Hour, r("x@a.example", perm(550)))),
		// a failed domain and a pending one expiring in 3h: doomed
		m(0x105, "s@shop.example", 4*24*time.Hour, 100,
			d("b.example", perm(550), time.Minute, 3*time.Hour, r("x@b.example", perm(550))),
			d("c.example", temp(421), time.Minute, 3*time.Hour, r("z@c.example", temp(421)))),
		// one pending domain expires soon, another has days: kept
		m(0x106, "s@shop.example", time.Hour, 100,
			d("b.example", perm(550), time.Minute, 3*time.Hour, r("x@b.example", perm(550))),
			d("c.example", "scheduled", time.Minute, 3*time.Hour, r("z@c.example", "scheduled")),
			d("e.example", "scheduled", time.Minute, 72*time.Hour, r("w@e.example", "scheduled"))),
	)
	res := run(t, q, true, "cancel-doomed")
	if res.err != nil || res.rep.Cancelled != 2 || len(ids(t, q)) != 6 {
		t.Fatalf("dry run: %v, cancelled %d, %d left", res.err, res.rep.Cancelled, len(ids(t, q)))
	}
	res = run(t, q, false, "cancel-doomed")
	if res.err != nil {
		t.Fatal(res.err)
	}
	if got := ids(t, q); res.rep.Cancelled != 2 || !sameIDs(got, 0x102, 0x103, 0x104, 0x106) {
		t.Errorf("cancelled %d, left %v; want 2, left 102 103 104 106", res.rep.Cancelled, got)
	}
	// With a wider window, 102 (two days) goes too.
	res = run(t, q, false, "cancel-doomed", "3d")
	if got := ids(t, q); res.err != nil || !sameIDs(got, 0x103, 0x104) {
		t.Errorf("3d: %v, left %v", res.err, got)
	}
}

func TestDomainReport(t *testing.T) {
	q := setup(t,
		m(0x101, "s@shop.example", 3*24*time.Hour+4*time.Hour, 1000, d("a.example", temp(421), time.Minute, time.Hour, r("x@a.example", temp(421)))),
		m(0x102, "s@shop.example", 2*time.Hour+30*time.Minute, 2000, d("a.example", "scheduled", time.Minute, time.Hour, r("y@a.example", "scheduled"))),
		m(0x103, "t@shop.example", 5*time.Minute, 3000, d("a.example", "scheduled", time.Minute, time.Hour, r("z@a.example", "scheduled"))),
		m(0x104, "t@shop.example", time.Hour, 2048, d("b.example", temp(451), time.Minute, time.Hour, r("x@b.example", temp(451)))),
		m(0x105, "", 30*time.Second, 3<<20,
			d("a.example", "scheduled", time.Minute, time.Hour, r("w@a.example", "scheduled")),
			d("c.example", "scheduled", time.Minute, time.Hour, r("w@c.example", "scheduled"))),
	)
	before := snapshot(t, q)
	res := run(t, q, false, "domain-report")
	if res.err != nil {
		t.Fatal(res.err)
	}
	want := "" +
		"DOMAIN     COUNT  VOLUME  OLDEST  NEWEST\n" +
		"a.example      4    3.0M   3d04h     30s\n" +
		"b.example      1    2.0K   1h00m   1h00m\n" +
		"c.example      1    3.0M     30s     30s\n" +
		"TOTAL          5    3.0M   3d04h     30s\n"
	if res.stdout != want {
		t.Errorf("report\n%s\nwant\n%s", res.stdout, want)
	}
	if res.rep.Changed() || snapshot(t, q) != before {
		t.Error("the report changed the queue")
	}

	res = run(t, q, false, "domain-report", "status=tempfail", "sender=@shop.example")
	want = "" +
		"DOMAIN     COUNT  VOLUME  OLDEST  NEWEST\n" +
		"a.example      1   1000B   3d04h   3d04h\n" +
		"b.example      1    2.0K   1h00m   1h00m\n" +
		"TOTAL          2    3.0K   3d04h   1h00m\n"
	if res.err != nil || res.stdout != want {
		t.Errorf("filtered report (%v)\n%s\nwant\n%s", res.err, res.stdout, want)
	}
	if res := run(t, q, false, "domain-report", "colour=red"); res.err == nil || !strings.Contains(res.err.Error(), `unknown filter key "colour"`) {
		t.Errorf("bad key: %v", res.err)
	}
	if res := run(t, q, false, "domain-report", "tempfail"); !errors.Is(res.err, lua.ErrAborted) {
		t.Errorf("not key=value: %v", res.err)
	}
}
