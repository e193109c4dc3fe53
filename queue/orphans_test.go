package queue

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"
)

// The write connections do not enforce the schema's foreign keys (see
// writerParams): the verbs that remove messages delete their rows in every
// other table themselves. These tests hold them to it.

// msgTables are the tables other than messages that hold rows of a message
// (a msg_id column), read from the schema, so that a table added by a later
// schema step is checked too. The delivery attempts are left out: they are
// kept after their message is gone, so that its history can still be told.
func msgTables(t testing.TB, q *Queue) []string {
	t.Helper()
	rows, err := q.reader.Query(`SELECT s.name FROM sqlite_schema s, pragma_table_info(s.name) c
		WHERE s.type = 'table' AND s.name NOT IN ('messages', 'attempts') AND s.name NOT LIKE 'trash\_%' ESCAPE '\'
		AND s.name NOT LIKE 'undo\_%' ESCAPE '\' AND c.name = 'msg_id' ORDER BY s.name`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		out = append(out, name)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"bodies", "domains", "recipients"} {
		if !slices.Contains(out, want) {
			t.Fatalf("tables with a msg_id column %v: %s missing", out, want)
		}
	}
	return out
}

// checkNoOrphans fails the test for every row of any table whose message is
// gone, and returns how many rows those tables hold.
func checkNoOrphans(t testing.TB, q *Queue, after string) int {
	t.Helper()
	total := 0
	for _, table := range msgTables(t, q) {
		var n, orphans int
		// A body stays in place while its message is in the trash.
		owner := "messages m WHERE m.id = x.msg_id"
		if table == "bodies" {
			owner += " UNION ALL SELECT 1 FROM trash_messages m WHERE m.id = x.msg_id"
		}
		err := q.reader.QueryRow("SELECT count(*), count(*) FILTER (WHERE NOT EXISTS (SELECT 1 FROM "+owner+")) FROM "+table+" x").Scan(&n, &orphans)
		if err != nil {
			t.Fatal(err)
		}
		if orphans != 0 {
			t.Errorf("after %s: %d of the %d rows of %s belong to no message", after, orphans, n, table)
		}
		total += n
	}
	// The trash's rows belong to its messages.
	for _, table := range []string{"trash_domains", "trash_recipients"} {
		var n, orphans int
		err := q.reader.QueryRow("SELECT count(*), count(*) FILTER (WHERE NOT EXISTS (SELECT 1 FROM trash_messages m WHERE m.id = x.msg_id AND m.trash_seq = x.trash_seq)) FROM "+table+" x").Scan(&n, &orphans)
		if err != nil {
			t.Fatal(err)
		}
		if orphans != 0 {
			t.Errorf("after %s: %d of the %d rows of %s belong to no trashed message", after, orphans, n, table)
		}
	}
	var fk int
	if err := q.reader.QueryRow("SELECT count(*) FROM pragma_foreign_key_check WHERE NOT (\"table\" = 'bodies' AND rowid IN (SELECT id FROM trash_messages))").Scan(&fk); err != nil {
		t.Fatal(err)
	}
	if fk != 0 {
		t.Errorf("after %s: foreign_key_check finds %d rows", after, fk)
	}
	return total
}

// orphanQueue is a queue whose messages have rows in every table: enqueued
// ones keep their text (bodies), each has several domains and recipients.
func orphanQueue(t *testing.T) *Queue {
	t.Helper()
	q, _ := openTest(t)
	if _, err := q.LoadDemo(t.Context(), 200, 7); err != nil {
		t.Fatal(err)
	}
	for i, s := range []string{"bulk@sender.example", "bulk@sender.example", "other@sender.example", "bulk@sender.example"} {
		env := Envelope{Sender: s, Recipients: []EnvelopeRecipient{{Address: "a@one.example"}, {Address: "b@one.example"}, {Address: "c@two.example"}}}
		if _, err := q.Enqueue(t.Context(), env, []byte("Subject: "+strings.Repeat("x", i*3000)+"\r\n\r\nbody\r\n")); err != nil {
			t.Fatal(err)
		}
	}
	return q
}

func TestCancelLeavesNoOrphans(t *testing.T) {
	q := orphanQueue(t)
	var bodies int
	q.reader.QueryRow("SELECT count(*) FROM bodies").Scan(&bodies)
	if bodies < 4 {
		t.Fatalf("the fixture has %d bodies", bodies)
	}
	rows := checkNoOrphans(t, q, "loading")
	steps := []struct {
		name string
		run  func() (Result, error)
	}{
		{"a dry run", func() (Result, error) {
			return q.Cancel(t.Context(), CancelRequest{Filter: Filter{All: true}, DryRun: true})
		}},
		{"cancel by sender", func() (Result, error) {
			return q.Cancel(t.Context(), CancelRequest{Filter: Filter{Sender: []string{"bulk@sender.example"}}})
		}},
		{"retry", func() (Result, error) {
			return q.Retry(t.Context(), RetryRequest{Filter: Filter{All: true}, At: testNow.Add(time.Hour)})
		}},
		{"cancel of recipients", func() (Result, error) {
			return q.Cancel(t.Context(), CancelRequest{Filter: Filter{Recipient: []string{"@gmail.com"}}})
		}},
		{"cancel of the last recipients of a message", func() (Result, error) {
			return q.Cancel(t.Context(), CancelRequest{Filter: Filter{Sender: []string{"other@sender.example"}, Recipient: []string{"*"}}})
		}},
		{"cancel by domain", func() (Result, error) {
			return q.Cancel(t.Context(), CancelRequest{Filter: Filter{Domain: []string{"outlook.com"}}})
		}},
		{"cancel --all", func() (Result, error) {
			return q.Cancel(t.Context(), CancelRequest{Filter: Filter{All: true}})
		}},
	}
	for _, s := range steps {
		before := mustCount(t, q, Filter{})
		res, err := s.run()
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if res.Count == 0 {
			t.Fatalf("%s changed nothing: the step tests nothing", s.name)
		}
		left := checkNoOrphans(t, q, s.name)
		after := mustCount(t, q, Filter{})
		if after > 0 && left == 0 {
			t.Errorf("after %s: %d messages left without any rows elsewhere", s.name, after)
		}
		if s.name == "a dry run" && (after != before || left != rows) {
			t.Errorf("the dry run removed something: %d messages (was %d), %d rows (was %d)", after, before, left, rows)
		}
		checkDue(t, q)
	}
	if n := mustCount(t, q, Filter{}); n != 0 {
		t.Errorf("%d messages after cancel --all", n)
	}
}

// Cancelling the whole queue clears the tables at once; inside a longer
// transaction that fails afterwards, everything comes back, and inside one
// that goes on, the verbs after it see an empty queue and can fill it again.
func TestCancelAllInsideTransaction(t *testing.T) {
	q := orphanQueue(t)
	before, audits := snapshot(t, q), auditCount(t, q)
	n := mustCount(t, q, Filter{})
	errLater := context.Canceled
	err := q.Update(t.Context(), func(tx *Tx) error {
		res, err := tx.Cancel(CancelRequest{Filter: Filter{All: true}})
		if err != nil {
			return err
		}
		if res.Count != n || len(res.IDs) != n {
			t.Errorf("cancel --all counted %d of %d (%d ids)", res.Count, n, len(res.IDs))
		}
		return errLater
	})
	if err != errLater {
		t.Fatalf("update: %v", err)
	}
	if snapshot(t, q) != before || auditCount(t, q) != audits {
		t.Fatal("a rolled-back cancel --all changed the queue")
	}
	checkNoOrphans(t, q, "a rolled-back cancel --all")

	var all []ID
	q.View(t.Context(), func(tx *Tx) error {
		return tx.Each(Filter{}, func(m *Message) error { all = append(all, m.ID); return nil })
	})
	err = q.Update(t.Context(), func(tx *Tx) error {
		if _, err := tx.Cancel(CancelRequest{Filter: Filter{All: true}}); err != nil {
			return err
		}
		_, err := tx.Enqueue(Envelope{Sender: "new@x.example", Recipients: []EnvelopeRecipient{{Address: "r@y.example"}}}, []byte("Subject: new\r\n\r\n"))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := mustCount(t, q, Filter{}); got != 1 {
		t.Errorf("%d messages after cancel --all and one enqueue", got)
	}
	checkNoOrphans(t, q, "cancel --all and an enqueue")
	entries, err := q.Audit(t.Context(), AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	var cancel *AuditEntry
	for i := range entries {
		if entries[i].Verb == "cancel" {
			cancel = &entries[i]
			break
		}
	}
	if cancel == nil || cancel.Count != n || !slices.Equal(cancel.IDs, all) {
		t.Errorf("audit of cancel --all: %+v, want %d ids", cancel, n)
	}
}
