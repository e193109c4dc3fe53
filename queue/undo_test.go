package queue

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func mustUndo(t *testing.T, q *Queue, r UndoRequest) UndoResult {
	t.Helper()
	res, err := q.Undo(t.Context(), r)
	if err != nil {
		t.Fatalf("undo %+v: %v", r, err)
	}
	return res
}

func TestUndoCancel(t *testing.T) {
	q, _, all := trashQueue(t, 100)
	before := fullState(t, q)
	res, err := q.Cancel(t.Context(), CancelRequest{Filter: Filter{IDs: all}})
	if err != nil || res.Count != 100 {
		t.Fatalf("cancel: %+v %v", res, err)
	}
	seq := lastAuditSeq(t, q)

	// A dry run puts nothing back.
	dry := mustUndo(t, q, UndoRequest{DryRun: true})
	if !dry.DryRun || dry.Count != 100 || dry.Seq != seq || mustCount(t, q, Filter{}) != 0 {
		t.Fatalf("dry run: %+v", dry)
	}
	u := mustUndo(t, q, UndoRequest{})
	if u.Count != 100 || u.Seq != seq || len(u.Skipped) != 0 || len(u.IDs) != 100 || u.IDs[0] != all[0] {
		t.Fatalf("undo: %+v", u)
	}
	if after := fullState(t, q); after != before {
		t.Errorf("after undo the queue differs:\nbefore\n%s\nafter\n%s", before, after)
	}
	if got := trashIDs(t, q, Filter{}); len(got) != 0 {
		t.Errorf("trash after undo: %v", got)
	}
	a, _ := q.Audit(t.Context(), AuditQuery{Limit: 1})
	if a[0].Verb != "undo" || !strings.HasPrefix(a[0].Filter, "undo of #") || a[0].Count != 100 {
		t.Errorf("audit row of the undo: %+v", a[0])
	}
	checkNoOrphans(t, q, "undo")
	checkDue(t, q)

	// Once only; an undo is not undone; nothing else is left to undo.
	if _, err := q.Undo(t.Context(), UndoRequest{Seq: seq}); err == nil || !strings.Contains(err.Error(), "already undone") {
		t.Errorf("second undo: %v", err)
	}
	if _, err := q.Undo(t.Context(), UndoRequest{Seq: a[0].Seq}); err == nil || !strings.Contains(err.Error(), "is itself an undo") {
		t.Errorf("undo of an undo: %v", err)
	}
	if _, err := q.Undo(t.Context(), UndoRequest{}); err == nil || !strings.Contains(err.Error(), "nothing to undo") {
		t.Errorf("undo with nothing left: %v", err)
	}
	if _, err := q.Undo(t.Context(), UndoRequest{Seq: 1}); err == nil || !strings.Contains(err.Error(), "(enqueue) cannot be undone") {
		t.Errorf("undo of an enqueue: %v", err)
	}
	if _, err := q.Undo(t.Context(), UndoRequest{Seq: 99999}); err == nil || !strings.Contains(err.Error(), "no change #99999") {
		t.Errorf("undo of an unknown seq: %v", err)
	}
}

func TestUndoRetry(t *testing.T) {
	q, c, all := trashQueue(t, 10)
	// Give the messages different dues first.
	if _, err := q.Retry(t.Context(), RetryRequest{Filter: Filter{IDs: all[:5]}, At: testNow.Add(3 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	before := fullState(t, q)
	// The second retry also moves expiry (--extend-expiry): undo puts it back too.
	c.Set(testNow.Add(time.Minute))
	if _, err := q.Retry(t.Context(), RetryRequest{Filter: Filter{Domain: []string{"example.org"}}, At: testNow.Add(9 * time.Hour), ExtendExpiry: 200 * time.Hour}); err != nil {
		t.Fatal(err)
	}
	if fullState(t, q) == before {
		t.Fatal("the retry changed nothing: the test tests nothing")
	}
	u := mustUndo(t, q, UndoRequest{})
	if u.Count != 10 || len(u.Verbs) != 1 || u.Verbs[0] != "retry" {
		t.Fatalf("undo: %+v", u)
	}
	if after := fullState(t, q); after != before {
		t.Errorf("after undo of the retry the dues differ:\nbefore\n%s\nafter\n%s", before, after)
	}
	checkDue(t, q)
	// The first retry is next.
	u = mustUndo(t, q, UndoRequest{})
	if u.Count != 5 {
		t.Errorf("undo of the first retry: %+v", u)
	}
}

// A script run's changes are one unit: undo takes them all back, naming any
// change of the run.
func TestUndoScriptRun(t *testing.T) {
	q, _, all := trashQueue(t, 9)
	before := fullState(t, q)
	var first, last int64
	err := q.Update(WithSource(t.Context(), "script purge.lua"), func(tx *Tx) error {
		if _, err := tx.Retry(RetryRequest{Filter: Filter{All: true}, At: testNow.Add(time.Hour)}); err != nil {
			return err
		}
		if _, err := tx.Cancel(CancelRequest{Filter: Filter{Sender: []string{"bulk@spam.example"}}}); err != nil {
			return err
		}
		if _, err := tx.Cancel(CancelRequest{Filter: Filter{IDs: all[1:2], Recipient: []string{"@gmail.com"}}}); err != nil {
			return err
		}
		_, err := tx.Enqueue(Envelope{Sender: "x@y.example", Recipients: []EnvelopeRecipient{{Address: "z@w.example"}}}, []byte("Subject: s\r\n\r\nx\r\n"))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	a, _ := q.Audit(t.Context(), AuditQuery{Limit: 4})
	first, last = a[3].Seq, a[1].Seq
	u := mustUndo(t, q, UndoRequest{Seq: last})
	if u.Seq != first || strings.Join(u.Verbs, " ") != "retry cancel cancel enqueue" || len(u.Notes) != 1 || !strings.Contains(u.Notes[0], "stay queued") {
		t.Fatalf("undo of the run: %+v", u)
	}
	// Everything but the enqueued message is as before.
	added := a[0].IDs[0]
	if _, err := q.Cancel(t.Context(), CancelRequest{Filter: Filter{IDs: []ID{added}}}); err != nil {
		t.Fatal(err)
	}
	if after := fullState(t, q); after != before {
		t.Errorf("after undo of the script run the queue differs:\nbefore\n%s\nafter\n%s", before, after)
	}
}

// A recipient cancel's undo puts the recipients back pending.
func TestUndoRecipientCancel(t *testing.T) {
	q, _, all := trashQueue(t, 4)
	before := fullState(t, q)
	if _, err := q.Cancel(t.Context(), CancelRequest{Filter: Filter{Recipient: []string{"@gmail.com"}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Cancel(t.Context(), CancelRequest{Filter: Filter{IDs: all[:1], Recipient: []string{"*"}}}); err != nil {
		t.Fatal(err)
	}
	if got := trashIDs(t, q, Filter{}); len(got) != 1 {
		t.Fatalf("trash %v", got)
	}
	mustUndo(t, q, UndoRequest{})
	u := mustUndo(t, q, UndoRequest{})
	if u.Count != 4 || len(u.Skipped) != 0 {
		t.Fatalf("undo: %+v", u)
	}
	if after := fullState(t, q); after != before {
		t.Errorf("after undo of the recipient cancels the queue differs:\nbefore\n%s\nafter\n%s", before, after)
	}
	checkNoOrphans(t, q, "undo of recipient cancels")
}

// What changed since is left as it is, per message, and said.
func TestUndoOverlap(t *testing.T) {
	q, c, all := trashQueue(t, 6)
	if _, err := q.Cancel(t.Context(), CancelRequest{Filter: Filter{IDs: all[:4]}}); err != nil {
		t.Fatal(err)
	}
	cancelSeq := lastAuditSeq(t, q)
	// all[0] restored by hand, all[1] purged.
	if _, err := q.TrashRestore(t.Context(), TrashRequest{Filter: Filter{IDs: all[:1]}}); err != nil {
		t.Fatal(err)
	}
	if _, err := q.TrashPurge(t.Context(), TrashRequest{Filter: Filter{IDs: all[1:2]}}); err != nil {
		t.Fatal(err)
	}
	// A retry, then a delivery attempt on one message and another retry of another.
	if _, err := q.Retry(t.Context(), RetryRequest{Filter: Filter{IDs: all[4:6]}, At: testNow.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	retrySeq := lastAuditSeq(t, q)
	c.Set(testNow.Add(time.Minute))
	if _, err := q.writer.Exec("INSERT INTO attempts(msg_id, domain, at, host, reply) VALUES(?, 'gmail.com', ?, NULL, '421 busy')", int64(all[4]), c.Now().UnixMilli()); err != nil {
		t.Fatal(err)
	}
	u := mustUndo(t, q, UndoRequest{Seq: retrySeq})
	if u.Count != 1 || u.IDs[0] != all[5] || len(u.Skipped) != 1 || u.Skipped[0].ID != all[4] || u.Skipped[0].Reason != "delivery was attempted since" {
		t.Errorf("undo of the retry: %+v", u)
	}
	u = mustUndo(t, q, UndoRequest{Seq: cancelSeq})
	if u.Count != 2 || len(u.Skipped) != 2 {
		t.Fatalf("undo of the cancel: %+v", u)
	}
	if s := u.Skipped[0]; s.ID != all[0] || !strings.Contains(s.Reason, "(restore)") {
		t.Errorf("restored message: %+v", s)
	}
	if s := u.Skipped[1]; s.ID != all[1] || !strings.Contains(s.Reason, "(purge)") {
		t.Errorf("purged message: %+v", s)
	}
	if mustCount(t, q, Filter{}) != 5 {
		t.Errorf("%d messages queued, want 5", mustCount(t, q, Filter{}))
	}
	checkNoOrphans(t, q, "overlapping undo")
}

// With retention 0 a cancel keeps nothing: undo says so.
func TestUndoWithoutTrash(t *testing.T) {
	q, _, all := trashQueue(t, 2)
	if err := q.SetTrashRetention(t.Context(), 0); err != nil {
		t.Fatal(err)
	}
	q.Cancel(t.Context(), CancelRequest{Filter: Filter{IDs: all[:1]}})
	u := mustUndo(t, q, UndoRequest{})
	if u.Count != 0 || len(u.Skipped) != 1 || u.Skipped[0].Reason != "purged from the trash" {
		t.Errorf("undo without trash: %+v", u)
	}
}

// A unit (a script run) with a cancel and a hold is undone as one: the
// cancelled message is back and the held one released.
func TestUndoUnitWithHold(t *testing.T) {
	q, _, all := trashQueue(t, 2)
	no := false
	before := fullState(t, q)
	err := q.Update(t.Context(), func(tx *Tx) error {
		if _, err := tx.Cancel(CancelRequest{Filter: Filter{IDs: all[:1]}}); err != nil {
			return err
		}
		_, err := tx.Hold(HoldRequest{Filter: Filter{IDs: all[1:2]}, Reason: "script"})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if mustCount(t, q, Filter{}) != 1 || mustCount(t, q, Filter{Held: &no}) != 0 {
		t.Fatal("the unit did not cancel one message and hold the other")
	}
	res, err := q.Undo(t.Context(), UndoRequest{})
	if err != nil || res.Count != 2 || !slices.Equal(res.Verbs, []string{"cancel", "hold"}) {
		t.Fatalf("undo of the unit: %+v %v", res, err)
	}
	if after := fullState(t, q); after != before {
		t.Errorf("after undo the queue differs:\nbefore\n%s\nafter\n%s", before, after)
	}
}
