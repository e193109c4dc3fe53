package queue

import (
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"
)

// bulkQueue queues 10 messages from bulk@spam.example to gmail.com and 5
// from alice@ok.example to example.org, with removals of more than 5
// messages filed for later.
func bulkQueue(t *testing.T) (*Queue, *clock, []ID) {
	t.Helper()
	q, c := openTest(t)
	q.removeLater = 5
	var bulk []ID
	for i := range 15 {
		env := envTo("alice@ok.example", "bob@example.org")
		if i%3 != 0 {
			env = envTo("bulk@spam.example", "victim@gmail.com")
		}
		m := enqueueTest(t, q, env)
		if i%3 != 0 {
			bulk = append(bulk, m.ID)
		}
	}
	return q, c, bulk
}

func filedCount(t *testing.T, q *Queue) int {
	t.Helper()
	var n int
	if err := q.reader.QueryRow("SELECT count(*) FROM removals").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// A cancel of more messages than removeLater commits with the messages
// filed, not moved: their rows are still in the tables, and every reader
// treats them as gone until the sweep has moved them to the trash.
func TestBulkCancelIsFiledAndEveryReaderSkipsIt(t *testing.T) {
	q, _, bulk := bulkQueue(t)
	ctx := t.Context()
	res, err := q.Cancel(ctx, CancelRequest{Filter: Filter{Sender: []string{"bulk@spam.example"}}})
	if err != nil || res.Count != 10 || res.Domains["gmail.com"] != 10 || !slices.Equal(res.IDs, bulk) {
		t.Fatalf("cancel: %+v %v", res, err)
	}
	if n := filedCount(t, q); n != 10 {
		t.Fatalf("%d messages filed for removal, want 10", n)
	}
	var rows int
	q.reader.QueryRow("SELECT count(*) FROM messages").Scan(&rows)
	if rows != 15 {
		t.Fatalf("%d message rows: the cancel moved them itself", rows)
	}

	if n := mustCount(t, q, Filter{}); n != 5 {
		t.Errorf("count: %d, want 5", n)
	}
	if n := mustCount(t, q, Filter{Recipient: []string{"@gmail.com"}}); n != 0 {
		t.Errorf("count of gmail.com: %d", n)
	}
	if n := mustCount(t, q, Filter{Domain: []string{"gmail.com"}}); n != 0 {
		t.Errorf("count by domain: %d", n)
	}
	if msgs, err := q.List(ctx, Filter{}, Page{}); err != nil || len(msgs) != 5 {
		t.Errorf("list: %d messages, %v", len(msgs), err)
	}
	if msgs, err := q.List(ctx, Filter{Recipient: []string{"victim@gmail.com"}}, Page{}); err != nil || len(msgs) != 0 {
		t.Errorf("list by recipient: %d messages, %v", len(msgs), err)
	}
	n := 0
	if err := q.Batches(ctx, Filter{}, func(msgs []Message) error { n += len(msgs); return nil }); err != nil || n != 5 {
		t.Errorf("batches: %d, %v", n, err)
	}
	if _, err := q.Get(ctx, bulk[0]); !errors.Is(err, ErrNotFound) {
		t.Errorf("get: %v", err)
	}
	if _, err := q.Raw(ctx, bulk[0]); !errors.Is(err, ErrNotFound) {
		t.Errorf("raw: %v", err)
	}
	for _, by := range []string{"domain", "sender", "status", "age"} {
		sum, err := q.Summary(ctx, Filter{}, by)
		total := 0
		for _, r := range sum {
			total += r.Count
		}
		if err != nil || total != 5 {
			t.Errorf("summary by %s: %+v %v", by, sum, err)
		}
	}
	for _, by := range []string{ShapeDomain, ShapeSenderDomain} {
		s, err := q.Shape(ctx, Filter{}, by)
		if err != nil || s.Total.Count != 5 || len(s.Rows) != 1 {
			t.Errorf("shape by %s: %+v %v", by, s, err)
		}
	}
	for _, c := range []struct{ kind, prefix string }{{SuggestSender, "bulk"}, {SuggestRecipient, "victim"}, {SuggestRecipient, "@gm"}, {SuggestDomain, "gm"}, {SuggestID, bulk[0].String()}} {
		if got, err := q.Suggest(ctx, c.kind, c.prefix, 10); err != nil || len(got) != 0 {
			t.Errorf("suggest %s %q: %v %v", c.kind, c.prefix, got, err)
		}
	}
	snap, err := q.Snapshot(ctx, 5, time.Minute)
	if err != nil || snap.Messages != 5 || len(snap.Top) != 1 || snap.Top[0].Name != "example.org" || snap.Domains["scheduled"] != 5 {
		t.Errorf("snapshot: %+v %v", snap, err)
	}
	if real, err := q.HoldsRealMail(ctx); err != nil || !real {
		t.Errorf("holds real mail: %v %v", real, err)
	}
	e, err := q.Explain(ctx, bulk[0])
	if err != nil || e.Queued || e.Removed == nil || e.Removed.Verb != "cancel" {
		t.Errorf("explain: %+v %v", e, err)
	}
	// Delivery claims only the messages still queued, and a second cancel
	// of everything takes only those.
	jobs := claim(t, q, "w", 100)
	if len(jobs) != 5 || slices.ContainsFunc(jobs, func(j Job) bool { return slices.Contains(bulk, j.Message) }) {
		t.Errorf("claimed %v", claimedDomains(jobs))
	}
	res, err = q.Cancel(ctx, CancelRequest{Filter: Filter{All: true}})
	if err != nil || res.Count != 5 || res.Domains["example.org"] != 5 {
		t.Errorf("cancel --all: %+v %v", res, err)
	}
}

// What the sweep moves to the trash is what an immediate cancel would have
// put there: filed under the cancel's audit seq, time and verb; and an undo
// puts the queue back as it was.
func TestSweepFilesUnderTheChange(t *testing.T) {
	q, c, bulk := bulkQueue(t)
	ctx := t.Context()
	before := fullState(t, q)
	at := c.Now()
	if _, err := q.Cancel(ctx, CancelRequest{Filter: Filter{Sender: []string{"bulk@spam.example"}}}); err != nil {
		t.Fatal(err)
	}
	seq := lastSeq(t, q)
	c.Set(at.Add(time.Hour))
	moved, err := q.SweepRemovals(ctx)
	if err != nil || moved != 10 || filedCount(t, q) != 0 {
		t.Fatalf("sweep: %d %v, %d left", moved, err, filedCount(t, q))
	}
	if again, err := q.SweepRemovals(ctx); err != nil || again != 0 {
		t.Errorf("second sweep: %d %v", again, err)
	}
	var rows int
	q.reader.QueryRow("SELECT count(*) FROM messages").Scan(&rows)
	if rows != 5 {
		t.Errorf("%d message rows after the sweep, want 5", rows)
	}
	tm, err := q.TrashList(ctx, Filter{}, Page{})
	if err != nil || len(tm) != 10 {
		t.Fatalf("trash: %d %v", len(tm), err)
	}
	for i, m := range tm {
		if m.ID != bulk[i] || m.Verb != "cancel" || m.Seq != seq || !m.TrashedAt.Equal(at) || len(m.Domains) != 1 || m.Domains[0].Recipients[0].Address != "victim@gmail.com" {
			t.Errorf("trashed %d: %+v", i, m)
		}
	}
	if u, err := q.Undo(ctx, UndoRequest{}); err != nil || u.Count != 10 {
		t.Fatalf("undo: %+v %v", u, err)
	}
	if after := fullState(t, q); after != before {
		t.Errorf("after undo the queue differs:\nbefore\n%s\nafter\n%s", before, after)
	}
}

// The trash commands and undo sweep first: what a bulk cancel filed is in
// the trash for them at once, without serve.
func TestTrashCommandsSweepFirst(t *testing.T) {
	ctx := t.Context()
	q, _, bulk := bulkQueue(t)
	q.Cancel(ctx, CancelRequest{Filter: Filter{Sender: []string{"bulk@spam.example"}}})
	if res, err := q.TrashRestore(ctx, TrashRequest{Filter: Filter{IDs: bulk[:3]}}); err != nil || res.Count != 3 {
		t.Fatalf("restore: %+v %v", res, err)
	}
	if n := mustCount(t, q, Filter{}); n != 8 || filedCount(t, q) != 0 {
		t.Errorf("after restore: %d queued, %d filed", n, filedCount(t, q))
	}

	q, _, _ = bulkQueue(t)
	q.Cancel(ctx, CancelRequest{Filter: Filter{Sender: []string{"bulk@spam.example"}}})
	if res, err := q.TrashPurge(ctx, TrashRequest{Filter: Filter{All: true}}); err != nil || res.Count != 10 {
		t.Fatalf("purge: %+v %v", res, err)
	}
	var rows int
	q.reader.QueryRow("SELECT (SELECT count(*) FROM messages) + (SELECT count(*) FROM trash_messages) + (SELECT count(*) FROM removals)").Scan(&rows)
	if rows != 5 {
		t.Errorf("%d rows left after the purge, want the 5 queued", rows)
	}
}

// With the trash off, the sweep deletes the filed messages for good,
// their texts too.
func TestSweepWithoutTrash(t *testing.T) {
	ctx := t.Context()
	q, _, _ := bulkQueue(t)
	if err := q.SetTrashRetention(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if res, err := q.Cancel(ctx, CancelRequest{Filter: Filter{Sender: []string{"bulk@spam.example"}}}); err != nil || res.Count != 10 {
		t.Fatalf("cancel: %+v %v", res, err)
	}
	if moved, err := q.SweepRemovals(ctx); err != nil || moved != 10 {
		t.Fatalf("sweep: %d %v", moved, err)
	}
	var msgs, bodies, trashed int
	q.reader.QueryRow("SELECT (SELECT count(*) FROM messages), (SELECT count(*) FROM bodies), (SELECT count(*) FROM trash_messages)").Scan(&msgs, &bodies, &trashed)
	if msgs != 5 || bodies != 5 || trashed != 0 {
		t.Errorf("%d messages, %d bodies, %d trashed; want 5, 5, 0", msgs, bodies, trashed)
	}
}

// A queue nobody sweeps (no serve) does not keep filed messages past the
// trash retention: the next change deletes them with the expired trash.
func TestFiledRemovalsExpire(t *testing.T) {
	ctx := t.Context()
	q, c, _ := bulkQueue(t)
	q.Cancel(ctx, CancelRequest{Filter: Filter{Sender: []string{"bulk@spam.example"}}})
	c.Set(c.Now().Add(DefaultTrashRetention + time.Hour))
	enqueueTest(t, q, envTo("carol@ok.example", "dan@example.org"))
	if _, err := q.Retry(ctx, RetryRequest{Filter: Filter{All: true}}); err != nil {
		t.Fatal(err)
	}
	var msgs, bodies, trashed int
	q.reader.QueryRow("SELECT (SELECT count(*) FROM messages), (SELECT count(*) FROM bodies), (SELECT count(*) FROM trash_messages)").Scan(&msgs, &bodies, &trashed)
	if filedCount(t, q) != 0 || msgs != 6 || bodies != 6 || trashed != 0 {
		t.Errorf("%d filed, %d messages, %d bodies, %d trashed; want 0, 6, 6, 0", filedCount(t, q), msgs, bodies, trashed)
	}
}

// SweepRemovals moves many filed messages in transactions of sweepChunk,
// each message once.
func TestSweepInChunks(t *testing.T) {
	ctx := t.Context()
	q, _ := openTest(t)
	if _, err := q.LoadDemo(ctx, sweepChunk+500, 3); err != nil {
		t.Fatal(err)
	}
	n := mustCount(t, q, Filter{})
	res, err := q.Cancel(ctx, CancelRequest{Filter: Filter{All: true}})
	if err != nil || res.Count != n || filedCount(t, q) != n {
		t.Fatalf("cancel --all: %d of %d, %d filed, %v", res.Count, n, filedCount(t, q), err)
	}
	before := lastSeq(t, q)
	moved, err := q.SweepRemovals(ctx)
	if err != nil || moved != n || filedCount(t, q) != 0 {
		t.Fatalf("sweep: %d of %d, %v", moved, n, err)
	}
	if after := lastSeq(t, q); after != before {
		t.Errorf("the sweep wrote audit rows: seq %d -> %d", before, after)
	}
	var trashed int
	q.reader.QueryRow("SELECT count(*) FROM trash_messages WHERE trash_seq = ?", before).Scan(&trashed)
	if trashed != n {
		t.Errorf("%d trashed under the cancel's seq, want %d", trashed, n)
	}
}

func lastSeq(t *testing.T, q *Queue) int64 {
	t.Helper()
	var seq int64
	if err := q.reader.QueryRow("SELECT coalesce(max(seq), 0) FROM audit").Scan(&seq); err != nil {
		t.Fatal(err)
	}
	return seq
}

// An undo of a bulk cancel not yet swept takes its messages back where they
// are, without moving them through the trash, and drops their delivery
// leases; another change's filed messages go to the trash first.
func TestUndoOfAFiledCancel(t *testing.T) {
	ctx := t.Context()
	q, _, bulk := bulkQueue(t)
	before := fullState(t, q)
	claim(t, q, "w", 100) // every domain leased
	q.Cancel(ctx, CancelRequest{Filter: Filter{Sender: []string{"bulk@spam.example"}}})
	cancelSeq := lastSeq(t, q)
	var other []ID
	for range 6 {
		other = append(other, enqueueTest(t, q, envTo("x@other.example", "y@example.net")).ID)
	}
	if res, err := q.Cancel(ctx, CancelRequest{Filter: Filter{Sender: []string{"x@other.example"}}}); err != nil || res.Count != 6 {
		t.Fatalf("second cancel: %+v %v", res, err)
	}
	if n := filedCount(t, q); n != 16 {
		t.Fatalf("%d filed", n)
	}
	u, err := q.Undo(ctx, UndoRequest{Seq: cancelSeq})
	if err != nil || u.Count != 10 || !slices.Equal(u.IDs, bulk) || len(u.Skipped) != 0 {
		t.Fatalf("undo: %+v %v", u, err)
	}
	var trashed int
	q.reader.QueryRow("SELECT count(*) FROM trash_messages").Scan(&trashed)
	if n := filedCount(t, q); n != 0 || trashed != 6 {
		t.Errorf("after the undo: %d filed, %d trashed; want 0 and the other cancel's 6", n, trashed)
	}
	var leased int
	q.reader.QueryRow("SELECT count(*) FROM domains WHERE locked_by IS NOT NULL AND msg_id IN (SELECT value FROM json_each(?))", idsJSON(bulk)).Scan(&leased)
	if leased != 0 {
		t.Errorf("%d domains of the messages taken back still leased", leased)
	}
	if n := mustCount(t, q, Filter{Sender: []string{"bulk@spam.example"}}); n != 10 {
		t.Errorf("%d of bulk@spam.example queued after the undo", n)
	}
	q.TrashPurge(ctx, TrashRequest{Filter: Filter{All: true}})
	// The leases were the test's own: drop the rest to compare.
	q.writer.Exec("UPDATE domains SET locked_until = NULL, locked_by = NULL")
	if after := fullState(t, q); after != before {
		t.Errorf("after undo the queue differs:\nbefore\n%s\nafter\n%s", before, after)
	}
}

// The grid of the whole queue, counted by ranges less the grid of the
// messages filed for removal, is the grid of the messages still queued
// counted one by one, bucket for bucket.
func TestShapeLessFiledMessages(t *testing.T) {
	ctx := t.Context()
	q, _ := openTest(t)
	if _, err := q.LoadDemo(ctx, 600, 9); err != nil {
		t.Fatal(err)
	}
	q.removeLater = 0
	if res, err := q.Cancel(ctx, CancelRequest{Filter: Filter{Sender: []string{"@*.com"}}}); err != nil || res.Count < 50 {
		t.Fatalf("cancel: %d %v", res.Count, err)
	}
	for _, by := range []string{ShapeDomain, ShapeSenderDomain} {
		err := q.View(ctx, func(tx *Tx) error {
			now := tx.q.clock().Unix()
			whole, ok, err := tx.shapeByRanges(by, now)
			if err != nil || !ok {
				t.Fatalf("%s: by ranges: %v %v", by, ok, err)
			}
			got, err := tx.Shape(Filter{}, by)
			if err != nil {
				return err
			}
			sel, err := tx.compile(Filter{}, false)
			if err != nil {
				return err
			}
			ids, args := sel.idsSQL()
			want, err := tx.shapeQuery(by, now, ids, args)
			if err != nil {
				return err
			}
			if !reflect.DeepEqual(got, want) || got.Total.Count >= whole.Total.Count {
				t.Errorf("%s: %+v\nwant %+v (whole queue %d)", by, got.Total, want.Total, whole.Total.Count)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// A sweep that stops part-way (a chunk's transaction rolled back: a kill,
// Ctrl-C, a full disk) moves nothing of that chunk: its messages stay filed
// and hidden, and the next sweep moves them.
func TestSweepChunkRolledBack(t *testing.T) {
	ctx := t.Context()
	q, _, _ := bulkQueue(t)
	q.Cancel(ctx, CancelRequest{Filter: Filter{Sender: []string{"bulk@spam.example"}}})
	before := fullState(t, q)
	stop := errors.New("stopped")
	err := q.Update(ctx, func(tx *Tx) error {
		if n, err := tx.sweepRemovals("1", nil, 4); err != nil || n != 4 {
			t.Fatalf("chunk: %d %v", n, err)
		}
		return stop
	})
	if !errors.Is(err, stop) {
		t.Fatalf("update: %v", err)
	}
	var trashed int
	q.reader.QueryRow("SELECT count(*) FROM trash_messages").Scan(&trashed)
	if n := filedCount(t, q); n != 10 || trashed != 0 || mustCount(t, q, Filter{}) != 5 {
		t.Fatalf("after the rolled-back chunk: %d filed, %d trashed, %d queued", n, trashed, mustCount(t, q, Filter{}))
	}
	if after := fullState(t, q); after != before {
		t.Errorf("the rolled-back chunk changed the queue:\n%s\n%s", before, after)
	}
	if moved, err := q.SweepRemovals(ctx); err != nil || moved != 10 {
		t.Errorf("next sweep: %d %v", moved, err)
	}
}
