package lua

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"mqsh/queue"
)

// testNow is the clock of every test queue and script.
var testNow = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

func clock() time.Time { return testNow }

// openQueue opens a fresh queue in a temporary folder, on the test clock.
func openQueue(t testing.TB) *queue.Queue {
	t.Helper()
	q, err := queue.Open(filepath.Join(t.TempDir(), "queue.db"), queue.Options{Now: clock})
	if err != nil {
		t.Fatalf("open queue: %v", err)
	}
	t.Cleanup(func() { q.Close() })
	return q
}

// The fixture messages, in the JSON shape the engine imports (domains[]).
// Times are relative to testNow.
//
//	100  alice@example.net  gmail.com scheduled                         1000 B, 2h old
//	200  alice@example.net  gmail.com tempfail 421, yahoo.com scheduled 2000 B, 1d old
//	300  <>                 example.org tempfail 451, expires in 2d     500 B, 3d old
//	400  bill@spam.example  example.org: x permfail 550, y scheduled,   3000 B, 10m old
//	                        expires in 6h
//	500  carol@example.com  outlook.com delivered (nothing pending)     4000 B, 1h old
var fixtures = []map[string]any{
	msg(0x100, "alice@example.net", -2*time.Hour, 1000,
		dom("gmail.com", "scheduled", 0, 10*time.Minute, 5*24*time.Hour,
			rcpt("bob@gmail.com", "scheduled"))),
	msg(0x200, "alice@example.net", -24*time.Hour, 2000,
		dom("gmail.com", tf("Code: 421, Enhanced code: 4.7.0, Message: Try again later"), 3, time.Hour, 4*24*time.Hour,
			rcpt("ann@gmail.com", tf("Code: 421, Enhanced code: 4.7.0, Message: Try again later"))),
		dom("yahoo.com", "scheduled", 0, 20*time.Minute, 4*24*time.Hour,
			rcpt("joe@yahoo.com", "scheduled"))),
	msg(0x300, "", -72*time.Hour, 500,
		dom("example.org", tf("Code: 451, Enhanced code: 4.5.3, Message: Try again later."), 7, 5*time.Minute, 48*time.Hour,
			rcpt("alice@example.org", tf("Code: 451, Enhanced code: 4.5.3, Message: Try again later.")))),
	msg(0x400, "bill@spam.example", -10*time.Minute, 3000,
		dom("example.org", "scheduled", 1, 30*time.Minute, 6*time.Hour,
			rcpt("x@example.org", map[string]any{"perm_fail": "Code: 550, Enhanced code: 5.1.1, Message: No such user"}),
			rcpt("y@example.org", "scheduled"))),
	msg(0x500, "carol@example.com", -time.Hour, 4000,
		dom("outlook.com", map[string]any{"completed": ""}, 1, -30*time.Minute, 4*24*time.Hour,
			rcpt("dave@outlook.com", map[string]any{"completed": "Code: 250, Enhanced code: 2.0.0, Message: OK"}))),
}

func tf(details string) map[string]any { return map[string]any{"temp_fail": details} }

func at(d time.Duration) string { return testNow.Add(d).Format(time.RFC3339) }

func msg(id uint64, sender string, age time.Duration, size int, doms ...map[string]any) map[string]any {
	return map[string]any{"id": id, "return_path": sender, "created": at(age), "size": size, "domains": doms}
}

func dom(name string, status any, retries int, due, expires time.Duration, rcpts ...map[string]any) map[string]any {
	return map[string]any{"name": name, "status": status, "retry_num": retries,
		"next_retry": at(due), "next_notify": nil, "expires": at(expires), "recipients": rcpts}
}

func rcpt(addr string, status any) map[string]any {
	return map[string]any{"address": addr, "status": status}
}

// loadFixtures imports the fixture messages.
func loadFixtures(t testing.TB, q *queue.Queue) {
	t.Helper()
	var b bytes.Buffer
	for _, m := range fixtures {
		line, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(line)
		b.WriteByte('\n')
	}
	if _, err := q.ImportJSON(context.Background(), &b); err != nil {
		t.Fatalf("import fixtures: %v", err)
	}
}

// snapshot renders the whole queue as text, to prove that nothing changed.
func snapshot(t testing.TB, q *queue.Queue) string {
	t.Helper()
	msgs, err := q.List(context.Background(), queue.Filter{}, queue.Page{})
	if err != nil {
		t.Fatalf("list: %v", err)
	}
	var lines []string
	for i := range msgs {
		b, err := json.Marshal(msgs[i])
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, string(b))
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// runCode runs code as a script named name, returning what it printed.
func runCode(t testing.TB, q *queue.Queue, name, code string, mod func(*Options), args ...string) (Report, string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	opts := Options{Name: name, Code: code, Args: args, Stdout: &out, Stderr: &errOut, Now: clock}
	if mod != nil {
		mod(&opts)
	}
	rep, err := Run(context.Background(), q, opts)
	return rep, out.String(), errOut.String(), err
}
