package pgqueue_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"mqsh/internal/pgtest"
	"mqsh/pgqueue"
	"mqsh/queue"
)

// checkDue fails t unless every queued message with a pending domain has
// its row in message_due holding the earliest due of its pending domains,
// and no other row is there; and unless the due filters (which read
// message_due) select exactly the messages whose due, as read from their
// domains, lies in the range.
func checkDue(t *testing.T, q *pgqueue.Queue, url, step string) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var bad, rows int
	if err := conn.QueryRow(ctx, `SELECT count(*) FILTER (WHERE x.want IS DISTINCT FROM md.due), count(md.msg_id)
		FROM (SELECT m.id, (SELECT min(d.due) FROM domains d WHERE d.msg_id = m.id AND d.status IN (0, 2)) AS want FROM messages m) x
		FULL JOIN message_due md ON md.msg_id = x.id`).Scan(&bad, &rows); err != nil {
		t.Fatal(err)
	}
	if bad != 0 || rows == 0 {
		t.Errorf("%s: %d messages whose message_due row is wrong, missing or left over (%d rows)", step, bad, rows)
	}
	all, err := q.List(ctx, queue.Filter{All: true}, queue.Page{})
	if err != nil {
		t.Fatal(err)
	}
	var lo, hi time.Time
	for _, m := range all {
		if d := m.Due(); !d.IsZero() && (lo.IsZero() || d.Before(lo)) {
			lo = d
		}
		if d := m.Due(); d.After(hi) {
			hi = d
		}
	}
	mid := lo.Add(hi.Sub(lo) / 2).Truncate(time.Second)
	for _, f := range []queue.Filter{{DueBefore: mid}, {DueAfter: mid}, {DueAfter: lo, DueBefore: hi}, {DueBefore: hi.Add(time.Second), Domain: []string{"gmail.com"}}} {
		want := 0
		for _, m := range all {
			if f.Match(&m) {
				want++
			}
		}
		if n, err := q.Count(ctx, f); err != nil || n != want {
			t.Errorf("%s: %s counts %d (%v), want %d", step, f.String(), n, err, want)
		}
		got, err := q.List(ctx, f, queue.Page{Limit: 7})
		if err != nil || len(got) != min(want, 7) {
			t.Errorf("%s: %s lists %d (%v), want %d", step, f.String(), len(got), err, min(want, 7))
		}
		for _, m := range got {
			if !f.Match(&m) {
				t.Errorf("%s: %s lists message %s due %v", step, f.String(), m.ID, m.Due())
			}
		}
		// Page by page, from each page's last id: every match once, in
		// id order.
		var after queue.ID
		seen := 0
		for {
			page, err := q.List(ctx, f, queue.Page{After: after, Limit: 7})
			if err != nil {
				t.Fatal(err)
			}
			if len(page) == 0 {
				break
			}
			for _, m := range page {
				if m.ID <= after || !f.Match(&m) {
					t.Fatalf("%s: %s pages message %s after %s", step, f.String(), m.ID, after)
				}
				after = m.ID
				seen++
			}
		}
		if seen != want {
			t.Errorf("%s: %s pages %d messages, want %d", step, f.String(), seen, want)
		}
	}
}

// Every verb that changes a domain's due or state, or moves a message in or
// out of the queue, keeps the message's due (message_due) right: an
// import, retries (all, spread, one domain), a delivery attempt, a
// recipient cancel, a cancel into the trash, its undo, a restore from the
// trash, and a cancel with the trash turned off.
func TestMessageDueKept(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 1, 15, 12, 0, 0, 0, time.UTC)
	url := pgtest.URL(t)
	q, err := pgqueue.Open(ctx, url, pgqueue.Options{Now: func() time.Time { return now }, User: "tester"})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	if _, err := q.LoadDemo(ctx, 400, 3); err != nil {
		t.Fatal(err)
	}
	checkDue(t, q, url, "demo")
	all, err := q.List(ctx, queue.Filter{All: true}, queue.Page{})
	if err != nil {
		t.Fatal(err)
	}
	some := func(every int) []queue.ID {
		var ids []queue.ID
		for i, m := range all {
			if i%every == 0 {
				ids = append(ids, m.ID)
			}
		}
		return ids
	}
	step := func(name string, fn func() (queue.Result, error)) queue.Result {
		t.Helper()
		res, err := fn()
		if err != nil || res.Count == 0 {
			t.Fatalf("%s: %+v %v", name, res, err)
		}
		checkDue(t, q, url, name)
		return res
	}
	step("retry of all", func() (queue.Result, error) {
		return q.Retry(ctx, queue.RetryRequest{Filter: queue.Filter{IDs: some(3)}, At: now.Add(2 * time.Hour)})
	})
	step("retry spread", func() (queue.Result, error) {
		return q.Retry(ctx, queue.RetryRequest{Filter: queue.Filter{IDs: some(4)}, At: now.Add(time.Hour), Spread: 3 * time.Hour})
	})
	step("retry of one domain", func() (queue.Result, error) {
		return q.Retry(ctx, queue.RetryRequest{Filter: queue.Filter{Domain: []string{"gmail.com"}}, At: now.Add(-time.Hour)})
	})
	jobs, err := q.Claim(ctx, queue.ClaimRequest{Worker: "w", Max: 20, Lease: time.Minute})
	if err != nil || len(jobs) == 0 {
		t.Fatalf("claim: %d %v", len(jobs), err)
	}
	var attempts []queue.Attempt
	for i, j := range jobs {
		a := queue.Attempt{Lease: j.Lease, Reply: "421 try later", DomainFail: true}
		if i%2 == 0 {
			a = queue.Attempt{Lease: j.Lease, Reply: "250 ok"}
			for _, r := range j.Recipients {
				a.Recipients = append(a.Recipients, queue.RcptResult{Address: r.Address, Status: queue.Completed, Code: 250, Message: "ok"})
			}
		}
		attempts = append(attempts, a)
	}
	if _, err := q.Record(ctx, attempts); err != nil {
		t.Fatal(err)
	}
	checkDue(t, q, url, "delivery")
	step("recipient cancel", func() (queue.Result, error) {
		return q.Cancel(ctx, queue.CancelRequest{Filter: queue.Filter{IDs: some(5), Recipient: []string{"@outlook.com"}}})
	})
	cancel := step("cancel", func() (queue.Result, error) {
		return q.Cancel(ctx, queue.CancelRequest{Filter: queue.Filter{IDs: some(7)}})
	})
	audit, err := q.Audit(ctx, queue.AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	step("undo of the cancel", func() (queue.Result, error) {
		u, err := q.Undo(ctx, queue.UndoRequest{Seq: audit[0].Seq})
		return u.Result, err
	})
	step("cancel again", func() (queue.Result, error) {
		return q.Cancel(ctx, queue.CancelRequest{Filter: queue.Filter{IDs: cancel.IDs}})
	})
	step("restore from the trash", func() (queue.Result, error) {
		return q.TrashRestore(ctx, queue.TrashRequest{Filter: queue.Filter{IDs: cancel.IDs[:len(cancel.IDs)/2]}})
	})
	if err := q.SetTrashRetention(ctx, 0); err != nil {
		t.Fatal(err)
	}
	step("cancel for good", func() (queue.Result, error) {
		return q.Cancel(ctx, queue.CancelRequest{Filter: queue.Filter{IDs: some(11)}})
	})
}

// A queue of schema step 4 (the due on the messages row) is carried over
// to step 5 (message_due): each message with something pending gets its
// due, one with nothing pending none, and the due filters, a retry and a
// restore of a message trashed before the step give the same answers as
// before it.
func TestMigrateMessageDue(t *testing.T) {
	ctx := context.Background()
	url := pgtest.URL(t)
	var sql string
	for _, f := range []string{"0001_queue.sql", "0002_hold.sql", "0003_trash.sql", "0004_created_hour.sql"} {
		b, err := os.ReadFile("migrations/" + f)
		if err != nil {
			t.Fatal(err)
		}
		sql += string(b) + ";\n"
	}
	exec(t, url, sql+`
		CREATE TABLE mqsh_schema(version integer PRIMARY KEY, applied bigint NOT NULL);
		INSERT INTO mqsh_schema VALUES(1, 0), (2, 0), (3, 0), (4, 0);
		INSERT INTO messages(id, rp_lc, rp_domain, created, size, due) VALUES
			(1, 'a@b.example', 'b.example', 1700000000, 10, 1700000300),
			(2, 'a@b.example', 'b.example', 1700000000, 10, NULL),
			(3, 'a@b.example', 'b.example', 1700000000, 10, 1700009000);
		INSERT INTO domains(msg_id, idx, name, status, due, expires, msg_created, msg_size) VALUES
			(1, 0, 'd.example', 0, 1700000500, 1800000000, 1700000000, 10),
			(1, 1, 'e.example', 2, 1700000300, 1800000000, 1700000000, 10),
			(2, 0, 'd.example', 1, 1700000000, 1800000000, 1700000000, 10),
			(3, 0, 'd.example', 0, 1700009000, 1800000000, 1700000000, 10);
		INSERT INTO recipients(msg_id, idx, domain_idx, address_lc, status) VALUES
			(1, 0, 0, 'c@d.example', 0), (1, 1, 1, 'c@e.example', 2), (2, 0, 0, 'c@d.example', 1), (3, 0, 0, 'x@d.example', 0);
		INSERT INTO audit(at, username, source, verb, filter, count, ids, unit) VALUES(1700000050000, 'tester', 'cli', 'cancel', '--id 4', 1, '{4}', 1);
		INSERT INTO trash_messages(id, rp_lc, rp_domain, created, size, due, trashed_at, trash_seq, trash_verb) VALUES
			(4, 'a@b.example', 'b.example', 1700000000, 10, 1700000700, 1700000050000, 1, 'cancel');
		INSERT INTO trash_domains(trash_seq, msg_id, idx, name, status, due, expires, msg_created, msg_size) VALUES
			(1, 4, 0, 'f.example', 0, 1700000700, 1800000000, 1700000000, 10);
		INSERT INTO trash_recipients(trash_seq, msg_id, idx, domain_idx, address_lc, status) VALUES (1, 4, 0, 0, 'y@f.example', 0)`)
	now := time.Unix(1700000100, 0).UTC()
	q, err := pgqueue.Open(ctx, url, pgqueue.Options{Now: func() time.Time { return now }, User: "tester"})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	ids := func(f queue.Filter) []queue.ID {
		t.Helper()
		ms, err := q.List(ctx, f, queue.Page{})
		if err != nil {
			t.Fatal(err)
		}
		var out []queue.ID
		for _, m := range ms {
			out = append(out, m.ID)
		}
		return out
	}
	at := func(s int64) time.Time { return time.Unix(s, 0).UTC() }
	for _, c := range []struct {
		f    queue.Filter
		want string
	}{
		{queue.Filter{DueBefore: at(1700000301)}, "[1]"},
		{queue.Filter{DueBefore: at(1700000300)}, "[]"},
		{queue.Filter{DueAfter: at(1700000300)}, "[3]"},
		{queue.Filter{DueAfter: at(1700000299), DueBefore: at(1700009001)}, "[1 3]"},
		{queue.Filter{All: true}, "[1 2 3]"},
	} {
		if got := ids(c.f); fmtIDs(got) != c.want {
			t.Errorf("%s after the step: %v, want %s", c.f.String(), got, c.want)
		}
	}
	checkDue(t, q, url, "migrated")
	if res, err := q.Retry(ctx, queue.RetryRequest{Filter: queue.Filter{IDs: []queue.ID{3}}, At: at(1700000200)}); err != nil || res.Count != 1 {
		t.Fatalf("retry after the step: %+v %v", res, err)
	}
	if got := ids(queue.Filter{DueBefore: at(1700000301)}); fmtIDs(got) != "[1 3]" {
		t.Errorf("due before 1700000301 after the retry: %v, want [1 3]", got)
	}
	if res, err := q.TrashRestore(ctx, queue.TrashRequest{Filter: queue.Filter{IDs: []queue.ID{4}}}); err != nil || res.Count != 1 {
		t.Fatalf("restore of a message trashed before the step: %+v %v", res, err)
	}
	if got := ids(queue.Filter{DueAfter: at(1700000699), DueBefore: at(1700000701)}); fmtIDs(got) != "[4]" {
		t.Errorf("the restored message by its due: %v, want [4]", got)
	}
	checkDue(t, q, url, "restored")
}

func fmtIDs(ids []queue.ID) string {
	s := "["
	for i, id := range ids {
		if i > 0 {
			s += " "
		}
		s += id.String()
	}
	return s + "]"
}
