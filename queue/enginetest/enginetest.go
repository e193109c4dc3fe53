// Package enginetest is the one test suite every queue engine passes: the
// SQLite engine (package queue) and the PostgreSQL engine (package
// pgqueue) run it, so the two cannot drift. A case that passes on one
// engine and fails on the other is a bug in that engine.
//
// It covers the filter (every key, globs, exact, @domain, status, ranges,
// ids, All, through List, Count, Each, Summary and the bulk verbs, held to
// Filter.Match), every verb of queue.Backend and queue.Txn, their errors,
// the audit, pause, Run's modes, and the delivery store's claims, leases
// and records.
package enginetest

import (
	"bytes"
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"mqsh/queue"
)

// Opener opens a new, empty queue of the engine under test whose clock is
// now, whose audit user is "tester" and whose notice writer is Notices. It
// closes the queue when the test ends.
type Opener func(t *testing.T, now func() time.Time) queue.Backend

// Now is the fixed time the suite's clocks start at.
var Now = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

// Clock is a settable clock for a queue under test.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// Now reads the clock.
func (c *Clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

// Set sets the clock.
func (c *Clock) Set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

// Run runs the whole suite against the engine open opens.
func Run(t *testing.T, open Opener) {
	s := &suite{open: open}
	for _, c := range []struct {
		name string
		fn   func(t *testing.T)
	}{
		{"FilterCases", s.filterCases},
		{"FilterAgreesWithMatch", s.filterAgreesWithMatch},
		{"FilterErrors", s.filterErrors},
		{"Paging", s.paging},
		{"EnqueueAndGet", s.enqueueAndGet},
		{"EnqueueArrival", s.enqueueArrival},
		{"EnqueueErrors", s.enqueueErrors},
		{"GetNotFound", s.getNotFound},
		{"Retry", s.retry},
		{"CancelWhole", s.cancelWhole},
		{"CancelRecipients", s.cancelRecipients},
		{"CancelScope", s.cancelScope},
		{"RetryScope", s.retryScope},
		{"RetrySpread", s.retrySpread},
		{"DryRunChangesNothing", s.dryRun},
		{"Audit", s.audit},
		{"Summary", s.summary},
		{"Suggest", s.suggest},
		{"ImportJSON", s.importJSON},
		{"ImportJSONErrors", s.importJSONErrors},
		{"ImportEML", s.importEML},
		{"Demo", s.demo},
		{"Pause", s.pause},
		{"RunModes", s.runModes},
		{"Batches", s.batches},
		{"ClaimLease", s.claimLease},
		{"ClaimPerDomain", s.claimPerDomain},
		{"RecordDelivered", s.recordDelivered},
		{"RecordTempfail", s.recordTempfail},
		{"RecordPermfailNotices", s.recordPermfail},
		{"RecordExpiry", s.recordExpiry},
		{"RecordAfterCancel", s.recordAfterCancel},
		{"RenewAndRelease", s.renewRelease},
		{"Changed", s.changed},
		// Holds, hold rules, explain and the shape grid (optional verbs).
		{"HoldPerDomain", s.holdPerDomain},
		{"HoldRecipientAndWhole", s.holdRecipientAndWhole},
		{"HoldExpires", s.holdExpires},
		{"ReleaseAndUndoRecord", s.releaseAndUndoRecord},
		{"HoldDryRunAndRefusals", s.holdDryRunAndRefusals},
		{"ImportJSONKeepsHolds", s.importJSONKeepsHolds},
		{"HoldRuleCatchesArrivals", s.holdRuleCatchesArrivals},
		{"HoldRuleByRecipient", s.holdRuleByRecipient},
		{"PolicyHoldIsPerDomain", s.policyHoldIsPerDomain},
		{"UndoHold", s.undoHold},
		{"Explain", s.explain},
		{"ExplainHeldPausedCancelled", s.explainHeldPausedCancelled},
		{"Shape", s.shape},
		{"TextFilters", s.textFilters},

		// The trash, undo, bounce and export (pgtrash).
		{"TrashCancelRestore", s.trashCancelRestore},
		{"TrashCancelAll", s.trashCancelAll},
		{"TrashRecipientCancel", s.trashRecipientCancel},
		{"TrashRetention", s.trashRetention},
		{"TrashImportAgain", s.trashImportAgain},
		{"UndoCancel", s.undoCancel},
		{"UndoRetry", s.undoRetry},
		{"UndoScriptRun", s.undoScriptRun},
		{"UndoRecipientCancel", s.undoRecipientCancel},
		{"UndoOverlap", s.undoOverlap},
		{"UndoWithoutTrash", s.undoWithoutTrash},
		{"Bounce", s.bounce},
		{"ExportImport", s.exportImport},
		{"RealMail", s.realMail},
		// Housekeeping (pghouse).
		{"UndoRecordsExpire", s.undoRecordsExpire},
		{"UndoWithRetentionZero", s.undoWithRetentionZero},
		{"HistoryPurged", s.historyPurged},
		{"HistoryPurgedByWrites", s.historyPurgedByWrites},
		{"AuditTrim", s.auditTrim},
		{"AuditRetention", s.auditRetention},
		{"AuditTrimKeepsTrash", s.auditTrimKeepsTrash},
	} {
		t.Run(c.name, c.fn)
	}
}

type suite struct {
	open Opener
}

// queue opens a new queue with a clock at Now.
func (s *suite) queue(t *testing.T) (queue.Backend, *Clock) {
	t.Helper()
	c := &Clock{t: Now}
	return s.open(t, c.Now), c
}

// put imports messages through the JSON path (MarshalJSON then ImportJSON).
func put(t *testing.T, q queue.Backend, msgs ...queue.Message) {
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

// msg builds a message: one domain per recipient domain, all scheduled, due
// at created, a notice after a day, expiry after five.
func msg(id queue.ID, sender string, created time.Time, rcpts ...string) queue.Message {
	m := queue.Message{ID: id, ReturnPath: sender, Created: created, Size: 1000 + int64(id)}
	for _, a := range rcpts {
		name := a[bytes.LastIndexByte([]byte(a), '@')+1:]
		k := slices.IndexFunc(m.Domains, func(d queue.Domain) bool { return d.Name == name })
		if k < 0 {
			m.Domains = append(m.Domains, queue.Domain{Name: name, Due: created, NotifyAt: created.Add(24 * time.Hour), Expires: created.Add(5 * 24 * time.Hour)})
			k = len(m.Domains) - 1
		}
		m.Domains[k].Recipients = append(m.Domains[k].Recipients, queue.Recipient{Address: a})
	}
	return m
}

func ids(msgs []queue.Message) []queue.ID {
	out := []queue.ID{}
	for _, m := range msgs {
		out = append(out, m.ID)
	}
	return out
}

// listAll lists every message f selects, page by page.
func listAll(t *testing.T, q queue.Backend, f queue.Filter, page int) []queue.ID {
	t.Helper()
	out := []queue.ID{}
	var after queue.ID
	for {
		msgs, err := q.List(context.Background(), f, queue.Page{After: after, Limit: page})
		if err != nil {
			t.Fatalf("list %q: %v", f.String(), err)
		}
		out = append(out, ids(msgs)...)
		if len(msgs) < page {
			return out
		}
		after = msgs[len(msgs)-1].ID
	}
}

func mustCount(t *testing.T, q queue.Backend, f queue.Filter) int {
	t.Helper()
	n, err := q.Count(context.Background(), f)
	if err != nil {
		t.Fatalf("count %q: %v", f.String(), err)
	}
	return n
}

func mustGet(t *testing.T, q queue.Backend, id queue.ID) *queue.Message {
	t.Helper()
	m, err := q.Get(context.Background(), id)
	if err != nil {
		t.Fatalf("get %s: %v", id, err)
	}
	return m
}

func auditRows(t *testing.T, q queue.Backend) []queue.AuditEntry {
	t.Helper()
	es, err := q.Audit(context.Background(), queue.AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	return es
}

// snapshot is every message of the queue, for comparing before and after.
func snapshot(t *testing.T, q queue.Backend) []queue.Message {
	t.Helper()
	msgs, err := q.List(context.Background(), queue.Filter{}, queue.Page{})
	if err != nil {
		t.Fatal(err)
	}
	return msgs
}
