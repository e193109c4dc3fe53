package queue

import (
	"bytes"
	"context"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"
)

// testNow is the fixed clock of most tests.
var testNow = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

// clock is a settable clock for a test queue.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

// openTest opens a new queue in a temporary directory with a fixed clock.
func openTest(t testing.TB) (*Queue, *clock) {
	t.Helper()
	c := &clock{t: testNow}
	q, err := Open(filepath.Join(t.TempDir(), "queue.db"), Options{Now: c.Now, User: "tester"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	return q, c
}

// put imports messages through the JSON path (MarshalJSON then ImportJSON).
func put(t testing.TB, q *Queue, msgs ...Message) {
	t.Helper()
	var buf bytes.Buffer
	for i := range msgs {
		b, err := msgs[i].MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		buf.Write(b)
		buf.WriteByte('\n')
	}
	if _, err := q.ImportJSON(context.Background(), &buf); err != nil {
		t.Fatal(err)
	}
}

// msg builds a message: one domain per recipient domain, all scheduled, due at
// created.
func msg(id ID, sender string, created time.Time, rcpts ...string) Message {
	m := Message{ID: id, ReturnPath: sender, Created: created, Size: 1000 + int64(id)}
	for _, a := range rcpts {
		name := domainOf(a)
		k := -1
		for i := range m.Domains {
			if m.Domains[i].Name == name {
				k = i
			}
		}
		if k < 0 {
			m.Domains = append(m.Domains, Domain{Name: name, Due: created, NotifyAt: created.Add(24 * time.Hour), Expires: created.Add(5 * 24 * time.Hour)})
			k = len(m.Domains) - 1
		}
		m.Domains[k].Recipients = append(m.Domains[k].Recipients, Recipient{Address: a})
	}
	return m
}

func ids(msgs []Message) []ID {
	out := []ID{}
	for _, m := range msgs {
		out = append(out, m.ID)
	}
	return out
}

// listAll lists every match in pages of size n, checking the keyset pages.
func listAll(t testing.TB, q *Queue, f Filter, n int) []ID {
	t.Helper()
	out := []ID{}
	var after ID
	for {
		page, err := q.List(context.Background(), f, Page{After: after, Limit: n})
		if err != nil {
			t.Fatalf("list %v: %v", f, err)
		}
		out = append(out, ids(page)...)
		if len(page) < n {
			break
		}
		after = page[len(page)-1].ID
	}
	if !slices.IsSorted(out) {
		t.Fatalf("list %v: not in id order: %v", f, out)
	}
	return out
}

func mustCount(t testing.TB, q *Queue, f Filter) int {
	t.Helper()
	n, err := q.Count(context.Background(), f)
	if err != nil {
		t.Fatalf("count %v: %v", f, err)
	}
	return n
}

func mustGet(t testing.TB, q *Queue, id ID) *Message {
	t.Helper()
	m, err := q.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// snapshot is every message of the queue as JSON, for before/after comparisons.
func snapshot(t testing.TB, q *Queue) string {
	t.Helper()
	var buf bytes.Buffer
	err := q.View(context.Background(), func(tx *Tx) error {
		return tx.Each(Filter{}, func(m *Message) error {
			b, err := m.MarshalJSON()
			buf.Write(b)
			buf.WriteByte('\n')
			return err
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	var due bytes.Buffer
	rows, err := q.reader.Query("SELECT id, due FROM messages WHERE " + liveCond("id") + " ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var d any
		rows.Scan(&id, &d)
		due.WriteString(ID(id).String())
		due.WriteString(" ")
		if d != nil {
			due.WriteString(time.Unix(d.(int64), 0).UTC().Format(time.RFC3339))
		}
		due.WriteString("\n")
	}
	return buf.String() + due.String()
}

func auditCount(t testing.TB, q *Queue) int {
	t.Helper()
	var n int
	if err := q.reader.QueryRow("SELECT count(*) FROM audit").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// checkDue asserts the denormalised messages.due of every message equals the
// earliest due of its pending domains.
func checkDue(t testing.TB, q *Queue) {
	t.Helper()
	rows, err := q.reader.Query(`SELECT m.id FROM messages m WHERE m.due IS NOT
		(SELECT min(d.due) FROM domains d WHERE d.msg_id = m.id AND d.status IN (0,2))`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		rows.Scan(&id)
		t.Errorf("message %s: messages.due is stale", ID(id))
	}
}

// oldQueue makes a queue file at path as a program that knew only the
// first steps schema steps made it, with rows written by stmts (in those
// steps' tables only), and closes it: the next Open brings it up to date.
func oldQueue(t *testing.T, path string, steps int, stmts ...string) {
	t.Helper()
	all := migrations
	migrations = all[:steps]
	defer func() { migrations = all }()
	q, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	for _, stmt := range stmts {
		if _, err := q.writer.Exec(stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
}
