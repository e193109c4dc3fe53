package queue

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/mattn/go-sqlite3"
)

// Ingest queues the good messages of a batch in a transaction of its own,
// reports the bad one at its index, and audits the batch once, under the
// source its context names.
func TestIngest(t *testing.T) {
	q, _ := openTest(t)
	before := auditCount(t, q)
	msgs := []NewMessage{
		{Env: Envelope{Sender: "a@b.example", Client: Client{IP: "192.0.2.7", Helo: "h"}, Recipients: []EnvelopeRecipient{{Address: "c@d.example", Notify: NotifyFailure}}}, Raw: []byte("Subject: 1\r\n\r\n")},
		{Env: Envelope{Sender: "a@b.example", Ret: "BODY", Recipients: []EnvelopeRecipient{{Address: "c@d.example"}}}},
		{Env: Envelope{Sender: "<>", Recipients: []EnvelopeRecipient{{Address: "e@f.example"}}}, Raw: []byte("Subject: 3\r\n\r\n")},
	}
	out, errs, flushed, err := q.Ingest(WithSource(t.Context(), "smtp"), msgs)
	if err != nil {
		t.Fatal(err)
	}
	if err := flushed(); err != nil {
		t.Fatal(err)
	}
	if out[0] == nil || out[2] == nil || out[1] != nil || errs[0] != nil || errs[2] != nil ||
		errs[1] == nil || !strings.Contains(errs[1].Error(), "RET") {
		t.Fatalf("out %v errs %v", out, errs)
	}
	if n := mustCount(t, q, Filter{}); n != 2 {
		t.Errorf("%d messages queued, want 2", n)
	}
	if m := mustGet(t, q, out[0].ID); m.Client.IP != "192.0.2.7" || m.Recipients()[0].Notify != NotifyFailure {
		t.Errorf("first message read back as %+v", m)
	}
	if raw, _ := q.Raw(t.Context(), out[2].ID); string(raw) != "Subject: 3\r\n\r\n" {
		t.Errorf("raw %q", raw)
	}
	if n := auditCount(t, q) - before; n != 1 {
		t.Errorf("%d audit entries for the batch, want 1", n)
	}
	es, err := q.Audit(t.Context(), AuditQuery{})
	if err != nil || len(es) == 0 || es[len(es)-1].Verb != "enqueue" || !strings.Contains(es[len(es)-1].Source, "smtp") {
		t.Errorf("audit %+v (%v), want the batch as an enqueue from smtp", es, err)
	}
	checkDue(t, q)
}

// When writing a batch fails, Ingest keeps nothing of it and says why.
func TestIngestFailureKeepsNothing(t *testing.T) {
	q, _ := openTest(t)
	if _, err := q.writer.Exec(`CREATE TRIGGER boom BEFORE INSERT ON recipients WHEN NEW.address_lc = 'boom@d.example'
		BEGIN SELECT RAISE(ABORT, 'the disk is on fire'); END`); err != nil {
		t.Fatal(err)
	}
	env := func(rcpt string) Envelope {
		return Envelope{Sender: "a@b.example", Recipients: []EnvelopeRecipient{{Address: rcpt}}}
	}
	before := auditCount(t, q)
	_, _, _, err := q.Ingest(t.Context(), []NewMessage{{Env: env("ok@d.example"), Raw: []byte("x\r\n")}, {Env: env("boom@d.example")}})
	if err == nil || !strings.Contains(err.Error(), "the disk is on fire") {
		t.Fatalf("err %v, want the trigger's", err)
	}
	if n := mustCount(t, q, Filter{All: true}); n != 0 {
		t.Errorf("%d messages kept of a failed batch", n)
	}
	if n := auditCount(t, q) - before; n != 0 {
		t.Errorf("%d audit entries for a failed batch", n)
	}
	// The connection is usable again.
	if out, _, _, err := q.Ingest(t.Context(), []NewMessage{{Env: env("ok@d.example")}}); err != nil || out[0] == nil {
		t.Fatalf("next batch: %v", err)
	}
}

// Ingest's connection keeps statement journals in memory (a batch's spill
// to a temporary file cost a file created, written and deleted per commit),
// while the other write connections keep SQLite's default; it checkpoints
// the WAL four times less often; it commits without a flush of its own
// (synchronous = NORMAL), its flush being Ingest's wait (TestIngestFlush),
// while the other write connections keep FULL.
func TestIngestConnection(t *testing.T) {
	q, _ := openTest(t)
	ctx := context.Background()
	if err := q.SetDurable(ctx, true); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := q.Ingest(ctx, []NewMessage{{Env: Envelope{Sender: "a@b.example", Recipients: []EnvelopeRecipient{{Address: "c@d.example"}}}}}); err != nil {
		t.Fatal(err)
	}
	var store, sync, other, otherSync, ckpt, otherCkpt int
	q.ingestDB().QueryRow("PRAGMA temp_store").Scan(&store)
	q.ingestDB().QueryRow("PRAGMA synchronous").Scan(&sync)
	q.ingestDB().QueryRow("PRAGMA wal_autocheckpoint").Scan(&ckpt)
	q.writer.QueryRow("PRAGMA temp_store").Scan(&other)
	q.writer.QueryRow("PRAGMA synchronous").Scan(&otherSync)
	q.writer.QueryRow("PRAGMA wal_autocheckpoint").Scan(&otherCkpt)
	if store != 2 || sync != 1 || other != 0 || otherSync != 2 {
		t.Errorf("ingest connection: temp_store %d, synchronous %d; writer: temp_store %d, synchronous %d; want 2, 1; 0, 2", store, sync, other, otherSync)
	}
	if ckpt != 4000 || otherCkpt != 1000 {
		t.Errorf("WAL checkpoint at %d pages on the ingest connection, %d on the writer; want 4000 and 1000", ckpt, otherCkpt)
	}
}

// A read-only queue refuses Ingest with the usual sentence.
func TestIngestReadOnly(t *testing.T) {
	q, _ := openTest(t)
	path := q.Path()
	q.Close()
	ro, err := Open(path, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if _, _, _, err := ro.Ingest(t.Context(), nil); err == nil || !strings.Contains(err.Error(), "read-only") {
		t.Errorf("err %v, want read-only", err)
	}
}

// Ingest leaves housekeeping to the server's own round (serve keeps house
// every minute): a batch does not purge the expired undo records that any
// other audited write would, and the next such write still does.
func TestIngestLeavesHousekeeping(t *testing.T) {
	q, c, all := trashQueue(t, 2)
	if _, err := q.Hold(t.Context(), HoldRequest{Filter: Filter{IDs: all[:1]}}); err != nil {
		t.Fatal(err)
	}
	holdSeq := lastAuditSeq(t, q)
	if rows(t, q, "hold_undo", "seq = ?", holdSeq) == 0 {
		t.Fatal("hold kept nothing for undo")
	}
	c.Set(testNow.Add(8 * day))
	msgs := []NewMessage{{Env: Envelope{Sender: "a@b.example", Recipients: []EnvelopeRecipient{{Address: "c@d.example"}}}, Raw: []byte("Subject: 1\r\n\r\n")}}
	if _, _, _, err := q.Ingest(WithSource(t.Context(), "smtp"), msgs); err != nil {
		t.Fatal(err)
	}
	if rows(t, q, "hold_undo", "seq = ?", holdSeq) == 0 {
		t.Error("an ingest batch purged the expired undo records")
	}
	if _, err := q.Hold(t.Context(), HoldRequest{Filter: Filter{IDs: all[1:2]}}); err != nil {
		t.Fatal(err)
	}
	if rows(t, q, "hold_undo", "seq = ?", holdSeq) != 0 {
		t.Error("the next audited write did not purge the expired undo records")
	}
}

// A group commit compiles no statement once the ingest connection has run
// one: each is kept prepared (BEGIN and COMMIT aside, which SQLite compiles
// in no time), since the committer is serve's bottleneck.
func TestIngestCompilesOnce(t *testing.T) {
	q, _ := openTest(t)
	ctx := context.Background()
	batch := func(n int) {
		t.Helper()
		msgs := make([]NewMessage, n)
		for i := range msgs {
			msgs[i] = NewMessage{Env: Envelope{Sender: "a@b.example", Recipients: []EnvelopeRecipient{{Address: fmt.Sprintf("c%d@d.example", i)}}}, Raw: []byte("Subject: x\r\n\r\nhi\r\n")}
		}
		if _, _, _, err := q.Ingest(ctx, msgs); err != nil {
			t.Fatal(err)
		}
	}
	var compiled []string
	c, err := q.ingestDB().Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Raw(func(dc any) error {
		dc.(*writeConn).RegisterAuthorizer(func(op int, a, b, _ string) int {
			if op != sqlite3.SQLITE_TRANSACTION {
				compiled = append(compiled, fmt.Sprint(op, " ", a, " ", b))
			}
			return sqlite3.SQLITE_OK
		})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	c.Close()
	batch(3) // setting an authorizer made SQLite compile its statements again
	compiled = nil
	batch(3)
	if len(compiled) > 0 {
		t.Errorf("group commits compiled statements again: %q", compiled)
	}
}
