package enginetest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"mqsh/queue"
)

// Trimming the audit log (queue.AuditTrimmer): by hand, older than a time,
// with its own audit row; by the audit retention, in the housekeeping and
// the lazy purge of audited writes. What undo still reads stays.

func auditTrimmer(t *testing.T, q queue.Backend) queue.AuditTrimmer {
	t.Helper()
	a, ok := q.(queue.AuditTrimmer)
	if !ok {
		t.Fatalf("%T is not a queue.AuditTrimmer", q)
	}
	return a
}

// seqs lists the audit log's seqs, oldest first.
func seqs(t *testing.T, q queue.Backend) []int64 {
	t.Helper()
	rows := auditRows(t, q)
	out := make([]int64, len(rows))
	for i, r := range rows {
		out[len(rows)-1-i] = r.Seq
	}
	return out
}

func enqueueN(t *testing.T, q queue.Backend, n int) {
	t.Helper()
	for i := range n {
		enqueue(t, q, envTo(fmt.Sprintf("s%d@example.com", i), "r@example.org"))
	}
}

func (s *suite) auditTrim(t *testing.T) {
	ctx := context.Background()
	q, _, c, all := s.trashQueue(t, 4) // four enqueues at Now
	at := auditTrimmer(t, q)
	c.Set(Now.Add(day))
	if _, err := q.Cancel(ctx, queue.CancelRequest{Filter: queue.Filter{IDs: all[:1]}}); err != nil {
		t.Fatal(err)
	}
	mustUndo(t, q, queue.UndoRequest{Seq: lastSeq(t, q)}) // undone: nothing kept for it
	c.Set(Now.Add(2 * day))
	if _, err := q.Cancel(ctx, queue.CancelRequest{Filter: queue.Filter{IDs: all[1:2]}}); err != nil {
		t.Fatal(err)
	}
	cancel := lastSeq(t, q)
	c.Set(Now.Add(3 * day))
	enqueueN(t, q, 2)
	c.Set(Now.Add(4 * day))
	before := seqs(t, q)
	older := 0
	for _, s := range before {
		if s < cancel {
			older++
		}
	}

	// A dry run says what would go and changes nothing.
	res, err := at.AuditTrim(ctx, queue.AuditTrimRequest{Before: Now.Add(4 * day), DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if !res.DryRun || res.Count != older || res.KeptFrom != cancel || res.Last >= cancel || !res.LastAt.Equal(Now.Add(day)) {
		t.Errorf("dry run: %+v, want %d rows before the cancel #%d, kept from it", res, older, cancel)
	}
	if got := seqs(t, q); len(got) != len(before) {
		t.Fatalf("a dry run trimmed: %v, was %v", got, before)
	}

	// The cancel undo may still take back stays, with every later row.
	res, err = at.AuditTrim(ctx, queue.AuditTrimRequest{Before: Now.Add(4 * day)})
	if err != nil || res.DryRun || res.Count != older || res.KeptFrom != cancel {
		t.Fatalf("trim: %+v %v", res, err)
	}
	got := seqs(t, q)
	if got[0] != cancel || len(got) != len(before)-older+1 {
		t.Errorf("left after the trim: %v, want from the cancel #%d on and the trim's row", got, cancel)
	}
	last := auditRows(t, q)[0]
	if last.Verb != "audit-trim" || last.Filter != queue.AuditTrimText(res.Count, res.Last, res.LastAt, Now.Add(4*day)) || last.User != "tester" {
		t.Errorf("the trim's row: %+v", last)
	}
	if u := mustUndo(t, q, queue.UndoRequest{Seq: cancel}); u.Count != 1 || u.IDs[0] != all[1] {
		t.Errorf("undo after the trim: %+v", u)
	}

	// Bad input changes nothing.
	if _, err := at.AuditTrim(ctx, queue.AuditTrimRequest{}); err == nil || !strings.Contains(err.Error(), "--older-than or --before") {
		t.Errorf("trim without a time: %v", err)
	}
	if err := at.SetAuditRetention(ctx, -time.Hour); err == nil {
		t.Error("a negative retention was taken")
	}

	// After the trash retention nothing holds the trim back; the newest row
	// is the trim's own.
	c.Set(Now.Add(12 * day))
	res, err = at.AuditTrim(ctx, queue.AuditTrimRequest{Before: Now.Add(12 * day)})
	if err != nil || res.KeptFrom != 0 || res.Count == 0 {
		t.Fatalf("trim after the retention: %+v %v", res, err)
	}
	if rows := auditRows(t, q); len(rows) != 1 || rows[0].Verb != "audit-trim" {
		t.Errorf("left: %+v, want the trim's row alone", rows)
	}
}

func (s *suite) auditRetention(t *testing.T) {
	ctx := context.Background()
	q, tr, c, _ := s.trashQueue(t, 0)
	at := auditTrimmer(t, q)
	if err := tr.SetTrashRetention(ctx, 0); err != nil {
		t.Fatal(err)
	}
	enqueueN(t, q, 30)

	// Off, the default, keeps every row whatever its age.
	if d, err := at.AuditRetention(ctx); err != nil || d != 0 {
		t.Fatalf("default audit retention: %v %v", d, err)
	}
	c.Set(Now.Add(400 * day))
	if res, err := housekeeper(t, q).Housekeep(ctx); err != nil || res.AuditRows != 0 {
		t.Fatalf("Housekeep with the audit retention off: %+v %v", res, err)
	}
	if n := len(auditRows(t, q)); n != 31 {
		t.Fatalf("off: %d rows left, want all 31", n)
	}

	// Set, an audited write past the retention trims, and Housekeep trims
	// what is older, keeping the newest row.
	if err := at.SetAuditRetention(ctx, 30*day); err != nil {
		t.Fatal(err)
	}
	if d, err := at.AuditRetention(ctx); err != nil || d != 30*day {
		t.Fatalf("audit retention: %v %v", d, err)
	}
	if rows := auditRows(t, q); len(rows) != 1 || rows[0].Verb != "audit-retention" || rows[0].Filter != "retention=30d" {
		t.Fatalf("after setting the retention: %+v, want its own row alone", rows)
	}
	enqueueN(t, q, 30)
	c.Set(Now.Add(431 * day))
	if res, err := housekeeper(t, q).Housekeep(ctx); err != nil || res.AuditRows != 30 || res.Attempts != 0 {
		t.Fatalf("Housekeep past the audit retention: %+v %v, want 30 audit rows deleted", res, err)
	}
	if rows := auditRows(t, q); len(rows) != 1 || rows[0].Verb != "enqueue" {
		t.Fatalf("after Housekeep: %+v, want the newest row alone", rows)
	}

	// An audited write trims too, at most once a minute.
	enqueueN(t, q, 1) // trims the older row
	enqueueN(t, q, 2)
	if n := len(auditRows(t, q)); n != 3 {
		t.Errorf("a write past the retention left %d rows, want 3", n)
	}
	c.Set(Now.Add(462 * day))
	enqueueN(t, q, 1) // trims the three
	if n := len(auditRows(t, q)); n != 1 {
		t.Errorf("after a write past the retention %d rows are left, want 1", n)
	}
	if err := at.SetAuditRetention(ctx, 0); err != nil {
		t.Fatal(err)
	}
	c.Set(Now.Add(900 * day))
	enqueueN(t, q, 1)
	if _, err := housekeeper(t, q).Housekeep(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(auditRows(t, q)); n != 3 {
		t.Errorf("off again: %d rows, want 3", n)
	}
	if d, err := at.AuditRetention(ctx); err != nil || d != 0 {
		t.Errorf("off again: %v %v", d, err)
	}
}

// A cancel undone in part (a delivery attempt recorded after it leaves its
// message in the trash) keeps its row while the trash holds that message:
// the trash retention is counted from the audit rows.
func (s *suite) auditTrimKeepsTrash(t *testing.T) {
	ctx := context.Background()
	q, ds, c := s.store(t)
	tr, ok := q.(queue.Trasher)
	if !ok {
		t.Fatalf("%T is not a queue.Trasher", q)
	}
	m1 := enqueue(t, q, envTo("s@a.example", "x@b.example"))
	m2 := enqueue(t, q, envTo("s@a.example", "x@c.example"))
	jobs := claim(t, ds, "w", 10)
	c.Set(Now.Add(day))
	if _, err := q.Cancel(ctx, queue.CancelRequest{Filter: queue.Filter{IDs: []queue.ID{m1.ID, m2.ID}}}); err != nil {
		t.Fatal(err)
	}
	cancel := lastSeq(t, q)
	c.Set(Now.Add(day + time.Minute))
	for _, j := range jobs {
		if j.Domain == "b.example" {
			record(t, ds, queue.Attempt{Lease: j.Lease, Recipients: []queue.RcptResult{{Address: "x@b.example", Status: queue.TempFail, Code: 451}}})
		}
	}
	if u := mustUndo(t, q, queue.UndoRequest{Seq: cancel}); u.Count != 1 || u.IDs[0] != m2.ID {
		t.Fatalf("undo in part: %+v", u)
	}
	c.Set(Now.Add(3 * day))
	enqueueN(t, q, 1)
	c.Set(Now.Add(4 * day))
	res, err := auditTrimmer(t, q).AuditTrim(ctx, queue.AuditTrimRequest{Before: Now.Add(2 * day)})
	if err != nil || res.KeptFrom != cancel {
		t.Fatalf("trim: %+v %v, want kept from the cancel #%d", res, err, cancel)
	}
	enqueueN(t, q, 1) // purges what has expired
	if ids := trashIDs(t, tr, queue.Filter{}); len(ids) != 1 || ids[0] != m1.ID {
		t.Errorf("the trash holds %v four days after the cancel, want %s (retention 7d)", ids, m1.ID)
	}
}
