package enginetest

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"mqsh/queue"
)

// Undo: of a cancel, a retry, a recipient cancel, a script run; what
// changed since is left whole and said; refusals.

func undoer(t *testing.T, q queue.Backend) queue.Undoer {
	t.Helper()
	u, ok := q.(queue.Undoer)
	if !ok {
		t.Fatalf("%T is not a queue.Undoer", q)
	}
	return u
}

func mustUndo(t *testing.T, q queue.Backend, r queue.UndoRequest) queue.UndoResult {
	t.Helper()
	res, err := undoer(t, q).Undo(context.Background(), r)
	if err != nil {
		t.Fatalf("undo %+v: %v", r, err)
	}
	return res
}

func (s *suite) undoCancel(t *testing.T) {
	ctx := context.Background()
	q, tr, _, all := s.trashQueue(t, 100)
	before := fullState(t, q)
	first := auditRows(t, q)
	res, err := q.Cancel(ctx, queue.CancelRequest{Filter: queue.Filter{IDs: all}})
	if err != nil || res.Count != 100 {
		t.Fatalf("cancel: %+v %v", res, err)
	}
	seq := lastSeq(t, q)

	// A dry run puts nothing back.
	dry := mustUndo(t, q, queue.UndoRequest{DryRun: true})
	if !dry.DryRun || dry.Count != 100 || dry.Seq != seq || mustCount(t, q, queue.Filter{}) != 0 {
		t.Fatalf("dry run: %+v", dry)
	}
	u := mustUndo(t, q, queue.UndoRequest{})
	if u.Count != 100 || u.Seq != seq || len(u.Skipped) != 0 || len(u.IDs) != 100 || u.IDs[0] != all[0] || u.Domains["gmail.com"] != 100 {
		t.Fatalf("undo: %+v", u)
	}
	if after := fullState(t, q); after != before {
		t.Errorf("after undo the queue differs:\nbefore\n%s\nafter\n%s", before, after)
	}
	if got := trashIDs(t, tr, queue.Filter{}); len(got) != 0 {
		t.Errorf("trash after undo: %v", got)
	}
	a := auditRows(t, q)
	if a[0].Verb != "undo" || a[0].Filter != "undo of #"+strconv.FormatInt(seq, 10)+" (cancel)" || a[0].Count != 100 {
		t.Errorf("audit row of the undo: %+v", a[0])
	}
	checkDue(t, q)

	// Once only; an undo is not undone; nothing else is left to undo.
	for _, c := range []struct {
		seq  int64
		want string
	}{
		{seq, "already undone"},
		{a[0].Seq, "is itself an undo"},
		{0, "nothing to undo"},
		{first[len(first)-1].Seq, "(enqueue) cannot be undone"},
		{99999, "no change #99999"},
	} {
		_, err := undoer(t, q).Undo(ctx, queue.UndoRequest{Seq: c.seq})
		if err == nil || !strings.Contains(err.Error(), c.want) || !errors.Is(err, queue.ErrUndoRefused) {
			t.Errorf("undo #%d: %v; want %q", c.seq, err, c.want)
		}
	}
}

func (s *suite) undoRetry(t *testing.T) {
	q, _, c, all := s.trashQueue(t, 10)
	ctx := context.Background()
	// Give the messages different dues first.
	if _, err := q.Retry(ctx, queue.RetryRequest{Filter: queue.Filter{IDs: all[:5]}, At: Now.Add(3 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	before := fullState(t, q)
	// The second retry also moves expiry: undo puts it back too.
	c.Set(Now.Add(time.Minute))
	if _, err := q.Retry(ctx, queue.RetryRequest{Filter: queue.Filter{Domain: []string{"example.org"}}, At: Now.Add(9 * time.Hour), ExtendExpiry: 200 * time.Hour}); err != nil {
		t.Fatal(err)
	}
	if fullState(t, q) == before {
		t.Fatal("the retry changed nothing: the test tests nothing")
	}
	u := mustUndo(t, q, queue.UndoRequest{})
	if u.Count != 10 || len(u.Verbs) != 1 || u.Verbs[0] != "retry" {
		t.Fatalf("undo: %+v", u)
	}
	if after := fullState(t, q); after != before {
		t.Errorf("after undo of the retry the dues differ:\nbefore\n%s\nafter\n%s", before, after)
	}
	checkDue(t, q)
	// The first retry is next.
	if u = mustUndo(t, q, queue.UndoRequest{}); u.Count != 5 {
		t.Errorf("undo of the first retry: %+v", u)
	}
}

// A script run's changes are one unit: undo takes them all back, naming any
// change of the run; the message it added stays.
func (s *suite) undoScriptRun(t *testing.T) {
	ctx := context.Background()
	q, _, _, all := s.trashQueue(t, 9)
	before := fullState(t, q)
	err := q.Run(queue.WithSource(ctx, "script purge.lua"), queue.RunWrite, func(tx queue.Txn) error {
		if _, err := tx.Retry(queue.RetryRequest{Filter: queue.Filter{All: true}, At: Now.Add(time.Hour)}); err != nil {
			return err
		}
		if _, err := tx.Cancel(queue.CancelRequest{Filter: queue.Filter{Sender: []string{"bulk@spam.example"}}}); err != nil {
			return err
		}
		if _, err := tx.Cancel(queue.CancelRequest{Filter: queue.Filter{IDs: all[1:2], Recipient: []string{"@gmail.com"}}}); err != nil {
			return err
		}
		_, err := tx.Enqueue(queue.Envelope{Sender: "x@y.example", Recipients: []queue.EnvelopeRecipient{{Address: "z@w.example"}}}, []byte("Subject: s\r\n\r\nx\r\n"))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	a := auditRows(t, q)
	first, last := a[3].Seq, a[1].Seq
	u := mustUndo(t, q, queue.UndoRequest{Seq: last})
	if u.Seq != first || strings.Join(u.Verbs, " ") != "retry cancel cancel enqueue" || len(u.Notes) != 1 || !strings.Contains(u.Notes[0], "stay queued") {
		t.Fatalf("undo of the run: %+v", u)
	}
	added := a[0].IDs[0]
	if _, err := q.Cancel(ctx, queue.CancelRequest{Filter: queue.Filter{IDs: []queue.ID{added}}}); err != nil {
		t.Fatal(err)
	}
	if after := fullState(t, q); after != before {
		t.Errorf("after undo of the script run the queue differs:\nbefore\n%s\nafter\n%s", before, after)
	}
}

// A recipient cancel's undo puts the recipients back pending.
func (s *suite) undoRecipientCancel(t *testing.T) {
	ctx := context.Background()
	q, tr, _, all := s.trashQueue(t, 4)
	before := fullState(t, q)
	if _, err := q.Cancel(ctx, queue.CancelRequest{Filter: queue.Filter{Recipient: []string{"@gmail.com"}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Cancel(ctx, queue.CancelRequest{Filter: queue.Filter{IDs: all[:1], Recipient: []string{"*"}}}); err != nil {
		t.Fatal(err)
	}
	if got := trashIDs(t, tr, queue.Filter{}); len(got) != 1 {
		t.Fatalf("trash %v", got)
	}
	mustUndo(t, q, queue.UndoRequest{})
	u := mustUndo(t, q, queue.UndoRequest{})
	if u.Count != 4 || len(u.Skipped) != 0 {
		t.Fatalf("undo: %+v", u)
	}
	if after := fullState(t, q); after != before {
		t.Errorf("after undo of the recipient cancels the queue differs:\nbefore\n%s\nafter\n%s", before, after)
	}
}

// What changed since is left as it is, per message, and said.
func (s *suite) undoOverlap(t *testing.T) {
	ctx := context.Background()
	q, tr, c, all := s.trashQueue(t, 6)
	ds, ok := q.(queue.DeliveryStore)
	if !ok {
		t.Fatalf("%T is not a queue.DeliveryStore", q)
	}
	if _, err := q.Cancel(ctx, queue.CancelRequest{Filter: queue.Filter{IDs: all[:4]}}); err != nil {
		t.Fatal(err)
	}
	cancelSeq := lastSeq(t, q)
	// all[0] restored by hand, all[1] purged.
	if _, err := tr.TrashRestore(ctx, queue.TrashRequest{Filter: queue.Filter{IDs: all[:1]}}); err != nil {
		t.Fatal(err)
	}
	if _, err := tr.TrashPurge(ctx, queue.TrashRequest{Filter: queue.Filter{IDs: all[1:2]}}); err != nil {
		t.Fatal(err)
	}
	// A retry of two, then a delivery attempt on one of them.
	if _, err := q.Retry(ctx, queue.RetryRequest{Filter: queue.Filter{IDs: all[4:6]}, At: Now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	retrySeq := lastSeq(t, q)
	c.Set(Now.Add(time.Hour))
	var job *queue.Job
	for _, j := range claim(t, ds, "w", 100) {
		if j.Message == all[4] && job == nil {
			job = &j
		} else if err := ds.Release(ctx, []queue.Lease{j.Lease}); err != nil {
			t.Fatal(err)
		}
	}
	if job == nil {
		t.Fatalf("message %s was not claimed", all[4])
	}
	c.Set(Now.Add(time.Hour + time.Minute))
	record(t, ds, queue.Attempt{Lease: job.Lease, Host: "h[127.0.0.1]:25", Reply: "421 busy", DomainFail: true})
	u := mustUndo(t, q, queue.UndoRequest{Seq: retrySeq})
	if u.Count != 1 || u.IDs[0] != all[5] || len(u.Skipped) != 1 || u.Skipped[0].ID != all[4] || u.Skipped[0].Reason != "delivery was attempted since" {
		t.Errorf("undo of the retry: %+v", u)
	}
	u = mustUndo(t, q, queue.UndoRequest{Seq: cancelSeq})
	if u.Count != 2 || len(u.Skipped) != 2 {
		t.Fatalf("undo of the cancel: %+v", u)
	}
	if s := u.Skipped[0]; s.ID != all[0] || !strings.Contains(s.Reason, "(restore)") {
		t.Errorf("restored message: %+v", s)
	}
	if s := u.Skipped[1]; s.ID != all[1] || !strings.Contains(s.Reason, "(purge)") {
		t.Errorf("purged message: %+v", s)
	}
	if n := mustCount(t, q, queue.Filter{}); n != 5 {
		t.Errorf("%d messages queued, want 5", n)
	}
	if a := auditRows(t, q); !strings.HasSuffix(a[0].Filter, "; 2 message(s) left as they are") {
		t.Errorf("audit of an undo that left messages: %+v", a[0])
	}
}

// With retention 0 a cancel keeps nothing: undo says so.
func (s *suite) undoWithoutTrash(t *testing.T) {
	ctx := context.Background()
	q, tr, _, all := s.trashQueue(t, 2)
	if err := tr.SetTrashRetention(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Cancel(ctx, queue.CancelRequest{Filter: queue.Filter{IDs: all[:1]}}); err != nil {
		t.Fatal(err)
	}
	u := mustUndo(t, q, queue.UndoRequest{})
	if u.Count != 0 || len(u.Skipped) != 1 || u.Skipped[0].Reason != "purged from the trash" {
		t.Errorf("undo without trash: %+v", u)
	}
}
