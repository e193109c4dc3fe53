package queue

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// trashQueue is a queue of n enqueued messages with bodies and arrival
// details, every third from bulk@spam.example, each to two domains.
func trashQueue(t *testing.T, n int) (*Queue, *clock, []ID) {
	t.Helper()
	q, c := openTest(t)
	var out []ID
	for i := range n {
		sender := fmt.Sprintf("user%d@ok.example", i)
		if i%3 == 0 {
			sender = "bulk@spam.example"
		}
		env := Envelope{Sender: sender, Ret: "HDRS", Client: Client{IP: "192.0.2.9", User: "u", Helo: "h.example"}, Held: i%5 == 0,
			Recipients: []EnvelopeRecipient{{Address: fmt.Sprintf("a%d@gmail.com", i), Notify: NotifyFailure}, {Address: "b@example.org"}}}
		m, err := q.Enqueue(t.Context(), env, []byte(fmt.Sprintf("Subject: message %d\r\n\r\n%s\r\n", i, strings.Repeat("x", i))))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m.ID)
	}
	return q, c, out
}

// fullState is everything a message is: its JSON, its arrival details, its
// body, the due column, for every queued message.
func fullState(t *testing.T, q *Queue) string {
	t.Helper()
	var b strings.Builder
	b.WriteString(snapshot(t, q))
	msgs, err := q.List(t.Context(), Filter{}, Page{})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		got := mustGet(t, q, m.ID)
		raw, err := q.Raw(t.Context(), m.ID)
		if err != nil {
			t.Fatal(err)
		}
		doms := got.Domains
		got.Domains = nil
		fmt.Fprintf(&b, "%s %+v %q\n", m.ID, *got, raw)
		got.Domains = doms
		for _, d := range doms {
			h := d.Hold
			d.Hold = nil
			fmt.Fprintf(&b, "  %+v\n", d)
			if h != nil {
				fmt.Fprintf(&b, "  %s held %+v\n", d.Name, *h)
			}
		}
	}
	return b.String()
}

func lastAuditSeq(t *testing.T, q *Queue) int64 {
	t.Helper()
	a, err := q.Audit(t.Context(), AuditQuery{Limit: 1})
	if err != nil || len(a) != 1 {
		t.Fatalf("audit: %v %v", a, err)
	}
	return a[0].Seq
}

func trashIDs(t *testing.T, q *Queue, f Filter) []ID {
	t.Helper()
	tm, err := q.TrashList(t.Context(), f, Page{})
	if err != nil {
		t.Fatal(err)
	}
	out := []ID{}
	for _, m := range tm {
		out = append(out, m.ID)
	}
	return out
}

// What every engine does with the trash (cancel, restore, purge, the
// retention, ids queued again) the shared suite checks (TestEngine/Trash*,
// Undo*, Bounce). Here: the SQLite engine's own storage. No row is left
// without its message after a restore, a purge, an undo or a bounce of the
// whole queue; a trashed message keeps its text until its purge, lazy or
// not; a message held on arrival is listed held in the trash.
func TestTrashStorage(t *testing.T) {
	needsImmediateRemoval(t)
	c := &clock{t: testNow}
	notice := func(n Notice, raw []byte) ([]byte, error) {
		return []byte("From: MAILER-DAEMON@mx.test\r\nSubject: failure notice about " + n.Message.String() + "\r\n\r\nnot delivered\r\n"), nil
	}
	q, err := Open(t.TempDir()+"/queue.db", Options{Now: c.Now, User: "tester", Notices: notice})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	var all []ID
	for i := range 12 {
		env := Envelope{Sender: fmt.Sprintf("user%d@ok.example", i), Held: i%5 == 0,
			Recipients: []EnvelopeRecipient{{Address: fmt.Sprintf("a%d@gmail.com", i)}, {Address: "b@example.org"}}}
		if i%3 == 0 {
			env.Sender = "bulk@spam.example"
		}
		m, err := q.Enqueue(t.Context(), env, []byte(fmt.Sprintf("Subject: message %d\r\n\r\nhello\r\n", i)))
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, m.ID)
	}
	check := func(step string, wantBodies int) {
		t.Helper()
		checkNoOrphans(t, q, step)
		var n int
		if err := q.reader.QueryRow("SELECT count(*) FROM bodies").Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != wantBodies {
			t.Errorf("after %s: %d bodies, want %d", step, n, wantBodies)
		}
	}
	bulk := Filter{Sender: []string{"bulk@spam.example"}}
	if _, err := q.Cancel(t.Context(), CancelRequest{Filter: bulk}); err != nil {
		t.Fatal(err)
	}
	check("cancel", 12)
	tm, err := q.TrashList(t.Context(), Filter{}, Page{})
	if err != nil || len(tm) != 4 {
		t.Fatalf("trash: %v %v", tm, err)
	}
	for i, m := range tm {
		if m.Held != (i*3%5 == 0) {
			t.Errorf("trashed %s listed held %v", m.ID, m.Held)
		}
	}
	if _, err := q.TrashRestore(t.Context(), TrashRequest{Filter: bulk}); err != nil {
		t.Fatal(err)
	}
	check("restore", 12)
	if _, err := q.Cancel(t.Context(), CancelRequest{Filter: Filter{IDs: all[:1], Recipient: []string{"*"}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Cancel(t.Context(), CancelRequest{Filter: Filter{IDs: all[1:2], Recipient: []string{"@gmail.com"}}}); err != nil {
		t.Fatal(err)
	}
	check("recipient cancels", 12)
	mustUndo(t, q, UndoRequest{})
	mustUndo(t, q, UndoRequest{})
	check("undo of the recipient cancels", 12)
	if _, err := q.Cancel(t.Context(), CancelRequest{Filter: Filter{IDs: all[:6]}}); err != nil {
		t.Fatal(err)
	}
	if _, err := q.TrashPurge(t.Context(), TrashRequest{Filter: Filter{IDs: all[:2]}}); err != nil {
		t.Fatal(err)
	}
	check("purge", 10)
	// Eight days on, the next write purges the rest of the trash.
	c.Set(testNow.Add(8 * 24 * time.Hour))
	if _, err := q.Cancel(t.Context(), CancelRequest{Filter: Filter{IDs: all[6:7]}}); err != nil {
		t.Fatal(err)
	}
	if got := trashIDs(t, q, Filter{}); !slices.Equal(got, all[6:7]) {
		t.Errorf("after the retention the trash holds %v", got)
	}
	check("the lazy purge", 6)
	// Bouncing the whole queue trashes it and keeps the notices it queues.
	res, err := q.Bounce(t.Context(), BounceRequest{Filter: Filter{All: true}, Reason: "Not wanted here."})
	if err != nil || res.Count != 5 || len(res.Notices) != 5 {
		t.Fatalf("bounce --all: %+v %v", res, err)
	}
	check("bounce --all", 11)
	// Retention 0: the text goes with the message.
	if err := q.SetTrashRetention(t.Context(), 0); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Cancel(t.Context(), CancelRequest{Filter: Filter{IDs: res.Notices[:1]}}); err != nil {
		t.Fatal(err)
	}
	check("cancel with retention 0", 10)
	if _, err := q.TrashPurge(t.Context(), TrashRequest{Filter: Filter{All: true}}); err != nil {
		t.Fatal(err)
	}
	check("purge --all", 4)
}

// A column a later schema step adds to a live table follows into the trash.
func TestTrashFollowsNewColumns(t *testing.T) {
	q, _, all := trashQueue(t, 2)
	if _, err := q.writer.Exec("ALTER TABLE domains ADD COLUMN extra TEXT; UPDATE domains SET extra = 'kept'"); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Cancel(t.Context(), CancelRequest{Filter: Filter{IDs: all[:1]}}); err != nil {
		t.Fatal(err)
	}
	if _, err := q.TrashRestore(t.Context(), TrashRequest{Filter: Filter{All: true}}); err != nil {
		t.Fatal(err)
	}
	var n int
	q.reader.QueryRow("SELECT count(*) FROM domains WHERE msg_id = ? AND extra = 'kept'", int64(all[0])).Scan(&n)
	if n != 2 {
		t.Errorf("the new column came back on %d domains, want 2", n)
	}
}

// A cancel that fails half-way, alone in its transaction (it takes no
// savepoint there) or inside a longer one (it does), leaves the queue and
// the trash as they were.
func TestFailedCancelChangesNothing(t *testing.T) {
	needsImmediateRemoval(t)
	q, _, _ := trashQueue(t, 12)
	// The trash refuses recipients: the messages and domains are already
	// copied and nothing deleted yet when the cancel fails.
	if _, err := q.writer.Exec("CREATE TRIGGER refuse AFTER INSERT ON trash_recipients BEGIN SELECT RAISE(ABORT, 'disk says no'); END"); err != nil {
		t.Fatal(err)
	}
	before := fullState(t, q)
	seq := lastAuditSeq(t, q)
	check := func(how string, err error) {
		t.Helper()
		if err == nil || !strings.Contains(err.Error(), "disk says no") {
			t.Fatalf("%s: the cancel did not fail: %v", how, err)
		}
		if after := fullState(t, q); after != before {
			t.Errorf("%s: the failed cancel changed the queue:\nbefore\n%s\nafter\n%s", how, before, after)
		}
		if got := trashIDs(t, q, Filter{}); len(got) != 0 {
			t.Errorf("%s: the failed cancel left %v in the trash", how, got)
		}
		if s := lastAuditSeq(t, q); s != seq {
			t.Errorf("%s: the failed cancel was audited (#%d)", how, s)
		}
	}
	_, err := q.Cancel(t.Context(), CancelRequest{Filter: Filter{Sender: []string{"bulk@spam.example"}}})
	check("alone", err)
	_, err = q.Cancel(t.Context(), CancelRequest{Filter: Filter{All: true}})
	check("--all alone", err)
	// Inside a longer transaction that goes on and commits after the
	// failure, the savepoint takes the cancel back.
	var inner error
	err = q.Update(t.Context(), func(tx *Tx) error {
		_, inner = tx.Cancel(CancelRequest{Filter: Filter{Sender: []string{"bulk@spam.example"}}})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	check("inside a transaction that commits", inner)
}

// A change rolled back after it added columns to the trash tables (a dry
// run that cancels and restores) leaves the Queue knowing the tables as
// they are, not as the rolled-back change made them: the next cancel moves
// its message to the trash.
func TestTrashColumnsOfARolledBackChange(t *testing.T) {
	q, _ := openTest(t)
	ctx := t.Context()
	if _, err := q.LoadDemo(ctx, 0, 1); err != nil {
		t.Fatal(err)
	}
	one := Filter{IDs: []ID{0x42B91F716}}
	err := q.Preview(ctx, func(tx *Tx) error {
		if res, err := tx.Cancel(CancelRequest{Filter: one}); err != nil || res.Count != 1 {
			return fmt.Errorf("cancel: %+v %w", res, err)
		}
		res, err := tx.TrashRestore(TrashRequest{Filter: one})
		if err == nil && res.Count != 1 {
			err = fmt.Errorf("restored %d", res.Count)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if res, err := q.Cancel(ctx, CancelRequest{Filter: one}); err != nil || res.Count != 1 {
		t.Fatalf("cancel after the dry run: %+v %v", res, err)
	}
	if got, err := q.TrashList(ctx, Filter{}, Page{}); err != nil || len(got) != 1 || got[0].ID != 0x42B91F716 {
		t.Fatalf("trash: %v %v", got, err)
	}
}
