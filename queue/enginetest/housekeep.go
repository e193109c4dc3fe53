package enginetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"mqsh/queue"
)

// Housekeeping (queue.Housekeeper): the trash retention bounds the records
// undo needs and the attempts history of messages gone; an undo of a change
// older than the retention says its records have expired.

const day = 24 * time.Hour

func housekeeper(t *testing.T, q queue.Backend) queue.Housekeeper {
	t.Helper()
	hk, ok := q.(queue.Housekeeper)
	if !ok {
		t.Fatalf("%T is not a queue.Housekeeper", q)
	}
	return hk
}

// The records undo needs (retry's due times, a hold's previous holds) are
// kept for the trash retention; an undo of an older change says they have
// expired, in one sentence on every engine, and a later change is still
// undone.
func (s *suite) undoRecordsExpire(t *testing.T) {
	ctx := context.Background()
	q, _, c, all := s.trashQueue(t, 4)
	h, ok := q.(queue.Holder)
	if !ok {
		t.Fatalf("%T is not a queue.Holder", q)
	}
	if _, err := q.Retry(ctx, queue.RetryRequest{Filter: queue.Filter{IDs: all[:1]}, At: Now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	retrySeq := lastSeq(t, q)
	if _, err := h.Hold(ctx, queue.HoldRequest{Filter: queue.Filter{IDs: all[1:2]}}); err != nil {
		t.Fatal(err)
	}
	holdSeq := lastSeq(t, q)

	// Six days later a write keeps them: both would still be undone.
	c.Set(Now.Add(6 * day))
	if _, err := h.Hold(ctx, queue.HoldRequest{Filter: queue.Filter{IDs: all[2:3]}}); err != nil {
		t.Fatal(err)
	}
	for _, seq := range []int64{retrySeq, holdSeq} {
		if res, err := undoer(t, q).Undo(ctx, queue.UndoRequest{Seq: seq, DryRun: true}); err != nil || res.Count != 1 {
			t.Errorf("undo of #%d within the retention: %+v %v", seq, res, err)
		}
	}

	// Eight days later they have expired.
	c.Set(Now.Add(8 * day))
	if _, err := h.Hold(ctx, queue.HoldRequest{Filter: queue.Filter{IDs: all[3:4]}}); err != nil {
		t.Fatal(err)
	}
	if _, err := housekeeper(t, q).Housekeep(ctx); err != nil {
		t.Fatal(err)
	}
	for _, seq := range []int64{retrySeq, holdSeq} {
		_, err := undoer(t, q).Undo(ctx, queue.UndoRequest{Seq: seq})
		if !errors.Is(err, queue.ErrUndoRefused) || !strings.Contains(err.Error(), "older than the trash retention (7d)") ||
			!strings.Contains(err.Error(), "have expired") || !strings.Contains(err.Error(), fmt.Sprintf("#%d ", seq)) {
			t.Errorf("undo of #%d after the retention: %v", seq, err)
		}
	}
	// The hold of six days ago is within the retention: the last change
	// (the hold of now) is undone, then that one.
	for range 2 {
		if res, err := undoer(t, q).Undo(ctx, queue.UndoRequest{}); err != nil || res.Count != 1 {
			t.Errorf("undo within the retention: %+v %v", res, err)
		}
	}
	if _, err := undoer(t, q).Undo(ctx, queue.UndoRequest{}); !errors.Is(err, queue.ErrUndoRefused) || !strings.Contains(err.Error(), "have expired") {
		t.Errorf("undo of the last change left, past the retention: %v", err)
	}
}

// historyQueue is a queue with three messages that had delivery attempts:
// live (queued, deferred twice), trashed (deferred twice, then cancelled
// at six days) and gone (deferred, then delivered an hour later and so
// gone from the queue).
func (s *suite) historyQueue(t *testing.T) (q queue.Backend, c *Clock, live, trashed, gone queue.ID) {
	t.Helper()
	q, ds, c := s.store(t)
	live = enqueue(t, q, envTo("s@a.example", "l@live.example")).ID
	trashed = enqueue(t, q, envTo("s@a.example", "t@trashed.example")).ID
	gone = enqueue(t, q, envTo("s@a.example", "g@gone.example")).ID
	for round := range 2 {
		c.Set(Now.Add(time.Duration(round) * time.Hour))
		var as []queue.Attempt
		for _, j := range claim(t, ds, "w", 10) {
			a := queue.Attempt{Lease: j.Lease, Host: "mx." + j.Domain + "[192.0.2.1]:25", Reply: "421 4.7.0 Try later", DomainFail: true}
			if round == 1 && j.Message == gone {
				a = queue.Attempt{Lease: j.Lease, Host: a.Host, Reply: "250 ok",
					Recipients: []queue.RcptResult{{Address: "g@gone.example", Status: queue.Completed, Code: 250}}}
			}
			as = append(as, a)
		}
		if len(as) != 3 {
			t.Fatalf("round %d claimed %d domains, want 3", round, len(as))
		}
		record(t, ds, as...)
	}
	if _, err := q.Get(context.Background(), gone); !errors.Is(err, queue.ErrNotFound) {
		t.Fatalf("the delivered message is still queued: %v", err)
	}
	c.Set(Now.Add(6 * day))
	if _, err := q.Cancel(context.Background(), queue.CancelRequest{Filter: queue.Filter{IDs: []queue.ID{trashed}}}); err != nil {
		t.Fatal(err)
	}
	return q, c, live, trashed, gone
}

// attemptsOf returns how many attempts explain tells of message id, -1
// when it knows nothing of it.
func attemptsOf(t *testing.T, q queue.Backend, id queue.ID) int {
	t.Helper()
	x, ok := q.(queue.Explainer)
	if !ok {
		t.Fatalf("%T is not a queue.Explainer", q)
	}
	e, err := x.Explain(context.Background(), id)
	if errors.Is(err, queue.ErrNotFound) {
		return -1
	}
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, d := range e.Domains {
		n += len(d.Attempts)
	}
	return n
}

// The attempts history of a message gone is deleted by Housekeep once the
// retention has passed since its last attempt, whole, never half; that of
// a queued or trashed message stays.
func (s *suite) historyPurged(t *testing.T) {
	ctx := context.Background()
	q, c, live, _, gone := s.historyQueue(t)
	hk := housekeeper(t, q)
	if n, err := hk.Housekeep(ctx); err != nil || n.Attempts != 0 || attemptsOf(t, q, gone) != 2 {
		t.Fatalf("housekeeping within the retention deleted %+v (%v)", n, err)
	}
	// Seven days and a half: gone's first attempt is older than the
	// retention, its last one not: its history stays whole.
	c.Set(Now.Add(7*day + 30*time.Minute))
	if n, err := hk.Housekeep(ctx); err != nil || n.Attempts != 0 || attemptsOf(t, q, gone) != 2 {
		t.Fatalf("housekeeping deleted half a history: %+v %v", n, err)
	}
	c.Set(Now.Add(8 * day))
	if n, err := hk.Housekeep(ctx); err != nil || n.Attempts != 2 || n.AuditRows != 0 {
		t.Fatalf("housekeeping after the retention deleted %+v (%v), want the 2 attempts of the gone message (and no audit row: no audit retention)", n, err)
	}
	if got := attemptsOf(t, q, gone); got != -1 {
		t.Errorf("explain of a message gone longer than the retention tells %d attempts", got)
	}
	if got := attemptsOf(t, q, live); got != 2 {
		t.Errorf("the queued message has %d attempts left, want 2", got)
	}
	if n, err := hk.Housekeep(ctx); err != nil || n.Attempts != 0 {
		t.Errorf("housekeeping again deleted %+v (%v)", n, err)
	}
}

// Without serve, an audited write purges the expired history too, and
// `queue trash purge` all of it.
func (s *suite) historyPurgedByWrites(t *testing.T) {
	ctx := context.Background()
	q, c, live, trashed, gone := s.historyQueue(t)
	c.Set(Now.Add(8 * day))
	if _, err := q.Retry(ctx, queue.RetryRequest{Filter: queue.Filter{IDs: []queue.ID{live}}}); err != nil {
		t.Fatal(err)
	}
	if got := attemptsOf(t, q, gone); got != -1 {
		t.Errorf("after an audited write past the retention explain tells %d attempts of the gone message", got)
	}
	if got := attemptsOf(t, q, live); got != 2 {
		t.Errorf("the queued message has %d attempts left, want 2", got)
	}
	if got := attemptsOf(t, q, trashed); got != 2 {
		t.Errorf("the trashed message has %d attempts left, want 2", got)
	}
	tr := q.(queue.Trasher)
	if _, err := tr.TrashPurge(ctx, queue.TrashRequest{Filter: queue.Filter{IDs: []queue.ID{trashed}}}); err != nil {
		t.Fatal(err)
	}
	if got := attemptsOf(t, q, trashed); got != 0 {
		t.Errorf("the purged message keeps %d attempts", got)
	}
}

// With retention 0 nothing is kept for undo: undo of an earlier change
// says so rather than taking back part of it.
func (s *suite) undoWithRetentionZero(t *testing.T) {
	ctx := context.Background()
	q, tr, c, all := s.trashQueue(t, 2)
	if err := tr.SetTrashRetention(ctx, 0); err != nil {
		t.Fatal(err)
	}
	h, ok := q.(queue.Holder)
	if !ok {
		t.Fatalf("%T is not a queue.Holder", q)
	}
	if _, err := h.Hold(ctx, queue.HoldRequest{Filter: queue.Filter{IDs: all[:1]}}); err != nil {
		t.Fatal(err)
	}
	c.Set(Now.Add(time.Second))
	_, err := undoer(t, q).Undo(ctx, queue.UndoRequest{})
	if !errors.Is(err, queue.ErrUndoRefused) || !strings.Contains(err.Error(), "the trash retention is 0 (off), so nothing was kept to take it back") {
		t.Errorf("undo with retention 0: %v", err)
	}
}
