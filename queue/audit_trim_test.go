package queue

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// auditSeqs lists the seqs left in the audit log, oldest first.
func auditSeqs(t *testing.T, q *Queue) []int64 {
	t.Helper()
	a, err := q.Audit(t.Context(), AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	var out []int64
	for i := len(a) - 1; i >= 0; i-- {
		out = append(out, a[i].Seq)
	}
	return out
}

// addAuditRows writes n audit rows, each its own change (unit), at the
// queue's clock, as n single-message enqueues would.
func addAuditRows(t *testing.T, q *Queue, n int) {
	t.Helper()
	err := q.Update(t.Context(), func(tx *Tx) error {
		for i := range n {
			tx.unit = 0
			if err := tx.audit("enqueue", "", []ID{ID(1000 + i)}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestAuditTrimByAge(t *testing.T) {
	q, c := openTest(t)
	if err := q.SetTrashRetention(t.Context(), 0); err != nil { // nothing kept for undo
		t.Fatal(err)
	}
	addAuditRows(t, q, 3) // #2..#4, day 0
	c.Set(testNow.Add(10 * day))
	addAuditRows(t, q, 2) // #5, #6, day 10
	c.Set(testNow.Add(20 * day))

	res, err := q.AuditTrim(t.Context(), AuditTrimRequest{Before: testNow.Add(5 * day)})
	if err != nil {
		t.Fatal(err)
	}
	if res.Count != 4 || res.Last != 4 || !res.LastAt.Equal(testNow) || res.KeptFrom != 0 || res.DryRun {
		t.Fatalf("trim: %+v, want 4 rows (#1 trash-retention and three enqueues) up to #4", res)
	}
	if got := auditSeqs(t, q); len(got) != 3 || got[0] != 5 || got[2] != 7 {
		t.Fatalf("seqs left %v, want 5, 6 and the trim's 7", got)
	}
	a, err := q.Audit(t.Context(), AuditQuery{Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	if a[0].Verb != "audit-trim" || a[0].Filter != "rows=4 last=#4 at=2024-05-01T12:00:00Z before=2024-05-06T12:00:00Z" || a[0].User != "tester" {
		t.Errorf("the trim's own row: %+v", a[0])
	}

	// Nothing older: nothing deleted, nothing written.
	res, err = q.AuditTrim(t.Context(), AuditTrimRequest{Before: testNow.Add(5 * day)})
	if err != nil || res.Count != 0 {
		t.Fatalf("second trim: %+v %v", res, err)
	}
	if got := auditSeqs(t, q); len(got) != 3 {
		t.Errorf("a trim with nothing to delete wrote a row: %v", got)
	}

	// Everything: the newest row is the trim's own, and numbers go on.
	res, err = q.AuditTrim(t.Context(), AuditTrimRequest{Before: testNow.Add(30 * day)})
	if err != nil || res.Count != 3 {
		t.Fatalf("trim all: %+v %v", res, err)
	}
	if got := auditSeqs(t, q); len(got) != 1 || got[0] != 8 {
		t.Errorf("after trimming everything %v is left, want the trim's row #8", got)
	}
	addAuditRows(t, q, 1)
	if got := auditSeqs(t, q); got[len(got)-1] != 9 {
		t.Errorf("the next change is #%d, want #9", got[len(got)-1])
	}
}

func TestAuditTrimDryRunChangesNothing(t *testing.T) {
	q, c := openTest(t)
	addAuditRows(t, q, 5)
	c.Set(testNow.Add(30 * day))
	before := auditSeqs(t, q)
	res, err := q.AuditTrim(t.Context(), AuditTrimRequest{Before: testNow.Add(day), DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if !res.DryRun || res.Count != 5 || res.Last != 5 {
		t.Errorf("dry run: %+v, want 5 rows up to #5", res)
	}
	if after := auditSeqs(t, q); len(after) != len(before) {
		t.Errorf("a dry run changed the audit log: %v, was %v", after, before)
	}
}

func TestAuditTrimBadInput(t *testing.T) {
	q, _ := openTest(t)
	if _, err := q.AuditTrim(t.Context(), AuditTrimRequest{}); err == nil || !strings.Contains(err.Error(), "--older-than or --before") {
		t.Errorf("trim without a time: %v", err)
	}
	if err := q.SetAuditRetention(t.Context(), -time.Hour); err == nil || !strings.Contains(err.Error(), "audit retention -1h0m0s") {
		t.Errorf("negative retention: %v", err)
	}
	if err := q.SetAuditRetention(t.Context(), time.Millisecond); err == nil {
		t.Error("a retention under a second was taken")
	}
	if d, err := q.AuditRetention(t.Context()); err != nil || d != 0 {
		t.Errorf("retention after refusals: %v %v, want 0 (off)", d, err)
	}
}

// A change undo can still take back is kept, with every later row; undo
// works after the trim; a change already undone is not kept for undo.
func TestAuditTrimKeepsWhatUndoNeeds(t *testing.T) {
	q, c, all := trashQueue(t, 4) // enqueues at day 0
	c.Set(testNow.Add(day))
	if _, err := q.Cancel(t.Context(), CancelRequest{Filter: Filter{IDs: all[:1]}}); err != nil {
		t.Fatal(err)
	}
	undone := lastAuditSeq(t, q)
	if _, err := q.Undo(t.Context(), UndoRequest{Seq: undone}); err != nil {
		t.Fatal(err)
	}
	c.Set(testNow.Add(2 * day))
	if _, err := q.Cancel(t.Context(), CancelRequest{Filter: Filter{IDs: all[1:2]}}); err != nil {
		t.Fatal(err)
	}
	cancel := lastAuditSeq(t, q)
	c.Set(testNow.Add(3 * day))
	addAuditRows(t, q, 2) // later changes undo reads
	c.Set(testNow.Add(4 * day))

	res, err := q.AuditTrim(t.Context(), AuditTrimRequest{Before: testNow.Add(4 * day)})
	if err != nil {
		t.Fatal(err)
	}
	if res.KeptFrom != cancel || res.Last != cancel-1 {
		t.Fatalf("trim: %+v, want everything before the cancel #%d, kept from it", res, cancel)
	}
	if got := auditSeqs(t, q); got[0] != cancel || len(got) != 4 {
		t.Fatalf("seqs left %v, want the cancel #%d, two enqueues and the trim", got, cancel)
	}
	// Asked again, nothing goes, and the trim says what held it back.
	if res, err := q.AuditTrim(t.Context(), AuditTrimRequest{Before: testNow.Add(4 * day)}); err != nil || res.Count != 0 || res.KeptFrom != cancel {
		t.Errorf("second trim: %+v %v, want nothing trimmed, kept from #%d", res, err, cancel)
	}
	u, err := q.Undo(t.Context(), UndoRequest{Seq: cancel})
	if err != nil || u.Count != 1 || u.IDs[0] != all[1] {
		t.Fatalf("undo of the kept cancel: %+v %v", u, err)
	}
	// The undone cancel is gone from the log: undo says so.
	if _, err := q.Undo(t.Context(), UndoRequest{Seq: undone}); !errors.Is(err, ErrUndoRefused) || !strings.Contains(err.Error(), "no change #") {
		t.Errorf("undo of a trimmed change: %v", err)
	}

	// Once the trash retention has passed, undo keeps nothing back.
	c.Set(testNow.Add(12 * day))
	res, err = q.AuditTrim(t.Context(), AuditTrimRequest{Before: testNow.Add(12 * day)})
	if err != nil || res.KeptFrom != 0 {
		t.Fatalf("trim after the retention: %+v %v", res, err)
	}
	if got := auditSeqs(t, q); len(got) != 1 {
		t.Errorf("after the retention %v is left, want the trim's row alone", got)
	}
}

// A script run's rows (one unit) go together or stay together.
func TestAuditTrimKeepsUnitsWhole(t *testing.T) {
	q, c := openTest(t)
	if err := q.SetTrashRetention(t.Context(), 0); err != nil {
		t.Fatal(err)
	}
	err := q.Update(t.Context(), func(tx *Tx) error {
		for i := range 3 {
			c.Set(testNow.Add(time.Duration(i) * day))
			if err := tx.audit("enqueue", "", []ID{ID(7 + i)}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	c.Set(testNow.Add(10 * day))
	res, err := q.AuditTrim(t.Context(), AuditTrimRequest{Before: testNow.Add(36 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if res.Count != 1 || res.Last != 1 {
		t.Errorf("trim inside a unit: %+v, want the retention's row #1 alone", res)
	}
	if got := auditSeqs(t, q); len(got) != 4 || got[0] != 2 {
		t.Errorf("seqs left %v, want the unit #2..#4 whole and the trim", got)
	}
}

func TestAuditRetentionSetting(t *testing.T) {
	q, _ := openTest(t)
	if d, err := q.AuditRetention(t.Context()); err != nil || d != 0 {
		t.Fatalf("default retention: %v %v, want 0 (off)", d, err)
	}
	if err := q.SetAuditRetention(t.Context(), 90*day); err != nil {
		t.Fatal(err)
	}
	if d, err := q.AuditRetention(t.Context()); err != nil || d != 90*day {
		t.Errorf("retention: %v %v, want 90d", d, err)
	}
	a, _ := q.Audit(t.Context(), AuditQuery{Limit: 1})
	if a[0].Verb != "audit-retention" || a[0].Filter != "retention=90d" {
		t.Errorf("the setting's row: %+v", a[0])
	}
	if err := q.SetAuditRetention(t.Context(), 0); err != nil {
		t.Fatal(err)
	}
	a, _ = q.Audit(t.Context(), AuditQuery{Limit: 1})
	if d, _ := q.AuditRetention(t.Context()); d != 0 || a[0].Filter != "retention=off" {
		t.Errorf("off: %v, row %+v", d, a[0])
	}
}

// Off (the default) keeps every row whatever their age.
func TestHousekeepKeepsAuditWhenOff(t *testing.T) {
	q, c := openTest(t)
	addAuditRows(t, q, 50)
	c.Set(testNow.Add(400 * day))
	if _, err := q.Housekeep(t.Context()); err != nil {
		t.Fatal(err)
	}
	addAuditRows(t, q, 1) // the lazy purge too
	if n := rows(t, q, "audit", ""); n != 51 {
		t.Errorf("%d audit rows left, want all 51", n)
	}
}

// Housekeep trims by the retention in bounded transactions, keeping the
// newest row; the lazy purge of audited writes trims a small chunk at most
// once a minute.
func TestHousekeepTrimsAuditInChunks(t *testing.T) {
	q, c := openTest(t)
	if err := q.SetTrashRetention(t.Context(), 0); err != nil {
		t.Fatal(err)
	}
	addAuditRows(t, q, 4999) // #2..#5000
	if err := q.SetAuditRetention(t.Context(), 30*day); err != nil {
		t.Fatal(err)
	}
	newest := lastAuditSeq(t, q) // #5001
	c.Set(testNow.Add(31 * day))

	// One transaction of serve's housekeeping takes one chunk.
	var n int
	var more bool
	err := q.Update(t.Context(), func(tx *Tx) (err error) { _, more, err = tx.housekeep(1000); return })
	if err != nil {
		t.Fatal(err)
	}
	if n = rows(t, q, "audit", ""); n != 4001 || !more {
		t.Fatalf("one round: %d rows left (more %v), want 4001 and more", n, more)
	}
	// Housekeep goes on until nothing has expired, keeping the newest row.
	if _, err := q.Housekeep(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := auditSeqs(t, q); len(got) != 1 || got[0] != newest {
		t.Fatalf("after Housekeep %d rows are left, want the newest #%d alone", len(got), newest)
	}

	// The lazy purge: rows older than the retention go 256 at a time, at
	// most once a minute.
	addAuditRows(t, q, 1000)
	c.Set(testNow.Add(62 * day))
	for _, step := range []struct {
		after   time.Duration
		deleted int
	}{{0, 256}, {30 * time.Second, 0}, {2 * time.Minute, 256}} {
		c.Set(testNow.Add(62*day + step.after))
		was := rows(t, q, "audit", "")
		addAuditRows(t, q, 1)
		if n := rows(t, q, "audit", ""); n != was+1-step.deleted {
			t.Errorf("an audited write %s after the first: %d rows left, want %d", step.after, n, was+1-step.deleted)
		}
	}
}

// A cancel undone in part (a message delivery tried since stays in the
// trash) keeps its row while the trash keeps that message: the trash
// retention is counted from the audit rows, and the trim must not cut it
// short.
func TestAuditTrimKeepsWhatTheTrashHolds(t *testing.T) {
	q, c, all := trashQueue(t, 3)
	c.Set(testNow.Add(day))
	if _, err := q.Cancel(t.Context(), CancelRequest{Filter: Filter{IDs: all[:2]}}); err != nil {
		t.Fatal(err)
	}
	cancel := lastAuditSeq(t, q)
	c.Set(testNow.Add(day + time.Minute))
	addAttempts(t, q, 1, all[0]) // an attempt in flight, recorded after the cancel
	u, err := q.Undo(t.Context(), UndoRequest{Seq: cancel})
	if err != nil || u.Count != 1 || len(u.Skipped) != 1 || u.Skipped[0].ID != all[0] {
		t.Fatalf("undo in part: %+v %v", u, err)
	}
	c.Set(testNow.Add(3 * day))
	addAuditRows(t, q, 1)
	c.Set(testNow.Add(4 * day))
	res, err := q.AuditTrim(t.Context(), AuditTrimRequest{Before: testNow.Add(2 * day)})
	if err != nil || res.KeptFrom != cancel {
		t.Fatalf("trim: %+v %v, want kept from the cancel #%d", res, err, cancel)
	}
	addAuditRows(t, q, 1) // purges what has expired
	if ids := trashIDs(t, q, Filter{}); len(ids) != 1 || ids[0] != all[0] {
		t.Errorf("the trash holds %v four days after the cancel, want %s (retention 7d)", ids, all[0])
	}
}

// A trim inside a unit of work (a script run) never takes the unit's own
// rows, even asked for everything before a time to come.
func TestAuditTrimKeepsItsOwnUnit(t *testing.T) {
	q, _ := openTest(t)
	if err := q.SetTrashRetention(t.Context(), 0); err != nil {
		t.Fatal(err)
	}
	var res AuditTrimResult
	err := q.Update(t.Context(), func(tx *Tx) (err error) {
		if err := tx.audit("enqueue", "", []ID{7}); err != nil {
			return err
		}
		res, err = tx.AuditTrim(AuditTrimRequest{Before: testNow.Add(365 * day)})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Count != 1 || res.Last != 1 {
		t.Errorf("trim: %+v, want the retention's row #1 alone", res)
	}
	if got := auditSeqs(t, q); len(got) != 2 || got[0] != 2 {
		t.Errorf("left %v, want the unit's #2 and the trim's #3", got)
	}
}
