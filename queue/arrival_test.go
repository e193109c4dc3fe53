package queue

import (
	"context"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// A queue made by a program that knew only schema step 1 is brought up to
// date: its messages are kept, read back with the new fields empty, and the
// new columns and tables are there. (The message is written as that program
// wrote it, in step 1's tables only.)
func TestMigrationFromStep1(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.db")
	// The rows as a program of step 1 wrote them (today's inserter writes
	// columns of later steps).
	m := &Message{ID: 0x1F}
	oldQueue(t, path, 1,
		"INSERT INTO messages(id, rp_lc, rp_domain, created, size, due) VALUES (31, 'a@b.example', 'b.example', 1700000000, 19, 1700000000)",
		"INSERT INTO domains(msg_id, idx, name, status, due, expires) VALUES (31, 0, 'd.example', 0, 1700000000, 1800000000)",
		"INSERT INTO recipients(msg_id, idx, domain_idx, address_lc, status, orcpt) VALUES (31, 0, 0, 'c@d.example', 0, 'rfc822;c@d.example')",
		"INSERT INTO bodies(msg_id, raw) VALUES (31, CAST('Subject: x\r\n\r\nhi\r\n' AS BLOB))",
	)
	q, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	var version int
	q.writer.QueryRow("PRAGMA user_version").Scan(&version)
	if version != len(migrations) {
		t.Errorf("user_version %d after opening a step-1 queue, want %d", version, len(migrations))
	}
	got := mustGet(t, q, m.ID)
	r := got.Domains[0].Recipients[0]
	if got.ReturnPath != "a@b.example" || r.ORCPT != "rfc822;c@d.example" || r.Notify != 0 || got.Ret != "" || !got.Client.IsZero() || got.Held {
		t.Errorf("old message read back as %+v", got)
	}
	for _, stmt := range []string{
		"SELECT ret, client_ip, client_user, client_helo FROM messages",
		"SELECT hold_since, hold_until, hold_by, hold_reason, hold_rule FROM domains",
		"SELECT notify FROM recipients",
		"SELECT locked_until, locked_by FROM domains",
		"SELECT seq, msg_id, domain, at, host, reply FROM attempts",
	} {
		if _, err := q.writer.Exec(stmt); err != nil {
			t.Errorf("%s: %v", stmt, err)
		}
	}
}

// Enqueue stores RET, the client, the hold and each recipient's NOTIFY, and
// Get reads them back.
func TestEnqueueStoresArrival(t *testing.T) {
	q, _ := openTest(t)
	env := Envelope{
		Sender: "a@b.example", EnvID: "env-1", Ret: "HDRS",
		Client: Client{IP: "192.0.2.7", User: "alice", Helo: "mx.b.example"},
		Held:   true,
		Recipients: []EnvelopeRecipient{
			{Address: "One@d.example", ORCPT: "rfc822;one@d.example", Notify: NotifySuccess | NotifyDelay},
			{Address: "two@e.example", Notify: NotifyNever},
			{Address: "three@e.example"},
		},
	}
	m, err := q.Enqueue(t.Context(), env, []byte("Subject: x\r\n\r\nhi\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, got := range []*Message{m, mustGet(t, q, m.ID)} {
		if got.Ret != "HDRS" || got.Client != env.Client || !got.Held || got.EnvID != "env-1" {
			t.Errorf("message fields %q %+v %v %q", got.Ret, got.Client, got.Held, got.EnvID)
		}
		notify := map[string]string{}
		for _, r := range got.Recipients() {
			notify[r.Address] = r.Notify.String()
		}
		want := map[string]string{"One@d.example": "SUCCESS,DELAY", "two@e.example": "NEVER", "three@e.example": ""}
		for a, n := range want {
			if notify[a] != n {
				t.Errorf("recipient %s: NOTIFY %q, want %q", a, notify[a], n)
			}
		}
	}
}

// A FUTURERELEASE hold makes the message due at the hold time and moves its
// notice and expiry by as much; the message's own due follows.
func TestEnqueueHoldUntil(t *testing.T) {
	q, _ := openTest(t)
	until := testNow.Add(3 * time.Hour)
	m, err := q.Enqueue(t.Context(), Envelope{Sender: "a@b.example", HoldUntil: until, Recipients: []EnvelopeRecipient{{Address: "c@d.example"}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := mustGet(t, q, m.ID)
	d := got.Domains[0]
	if !d.Due.Equal(until) || !d.NotifyAt.Equal(until.Add(DefaultSchedule.Notify[0])) || !d.Expires.Equal(until.Add(DefaultSchedule.Expire)) {
		t.Errorf("held domain: due %v notify %v expires %v", d.Due, d.NotifyAt, d.Expires)
	}
	if !got.Due().Equal(until) || !m.Due().Equal(until) {
		t.Errorf("message due %v (returned %v), want %v", got.Due(), m.Due(), until)
	}
	if n := mustCount(t, q, Filter{DueBefore: until}); n != 0 {
		t.Errorf("%d messages due before the hold time", n)
	}
	checkDue(t, q)
}

// Bad arrival fields are refused and nothing is stored.
func TestEnqueueArrivalRefused(t *testing.T) {
	q, _ := openTest(t)
	for _, env := range []Envelope{
		{Sender: "a@b.example", Ret: "BODY", Recipients: []EnvelopeRecipient{{Address: "c@d.example"}}},
		{Sender: "a@b.example", Recipients: []EnvelopeRecipient{{Address: "c@d.example", Notify: NotifyNever | NotifyFailure}}},
	} {
		if _, err := q.Enqueue(t.Context(), env, nil); err == nil || !strings.HasPrefix(err.Error(), "enqueue: ") {
			t.Errorf("%+v: error %v", env, err)
		}
	}
	if n := mustCount(t, q, Filter{}); n != 0 {
		t.Errorf("%d messages stored", n)
	}
}

func TestParseNotify(t *testing.T) {
	for in, want := range map[string]Notify{"never": NotifyNever, "SUCCESS,failure,Delay": NotifySuccess | NotifyFailure | NotifyDelay} {
		if n, err := ParseNotify(in); err != nil || n != want {
			t.Errorf("%q: %v %v", in, n, err)
		}
	}
	for _, in := range []string{"", "NEVER,SUCCESS", "SOMETIMES"} {
		if _, err := ParseNotify(in); err == nil {
			t.Errorf("%q accepted", in)
		}
	}
}

// SetDurable switches the writer to synchronous commits and back.
func TestSetDurable(t *testing.T) {
	q, _ := openTest(t)
	ctx := context.Background()
	for _, on := range []bool{true, false, true} {
		if err := q.SetDurable(ctx, on); err != nil {
			t.Fatal(err)
		}
		want := map[bool]int{true: 2, false: 1}[on]
		var mode int
		q.writer.QueryRow("PRAGMA synchronous").Scan(&mode)
		if mode != want {
			t.Errorf("durable %v: synchronous %d, want %d", on, mode, want)
		}
		// A write connection opened later (database/sql replaces one a
		// cancelled transaction leaves in doubt) has the same setting.
		q.writer.SetMaxIdleConns(0) // closes the idle connection
		q.writer.SetMaxIdleConns(1)
		q.writer.QueryRow("PRAGMA synchronous").Scan(&mode)
		if mode != want {
			t.Errorf("durable %v, on a new write connection: synchronous %d, want %d", on, mode, want)
		}
		// The changes of Run (an SMTP server's batches) take the deferred
		// write connections: they commit the same way.
		err := q.Run(ctx, RunWrite, func(tx Txn) error {
			return tx.(*Tx).tx.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&mode)
		})
		if err != nil || mode != want {
			t.Errorf("durable %v, in Run: synchronous %d (%v), want %d", on, mode, err, want)
		}
	}
	if st := q.writer.Stats(); st.MaxIdleClosed == 0 {
		t.Errorf("the write connection was never replaced: %+v", st)
	}
}

// EnqueueBatch queues the good messages of a batch with their arrival
// fields, reports the bad one at its index, and audits the batch once.
func TestEnqueueBatch(t *testing.T) {
	q, _ := openTest(t)
	before := auditCount(t, q)
	msgs := []NewMessage{
		{Env: Envelope{Sender: "a@b.example", Client: Client{IP: "192.0.2.7", Helo: "h"}, Recipients: []EnvelopeRecipient{{Address: "c@d.example", Notify: NotifyFailure}}}, Raw: []byte("Subject: 1\r\n\r\n")},
		{Env: Envelope{Sender: "a@b.example", Ret: "BODY", Recipients: []EnvelopeRecipient{{Address: "c@d.example"}}}},
		{Env: Envelope{Sender: "a@b.example", Recipients: []EnvelopeRecipient{{Address: "not an address"}}}},
		{Env: Envelope{Sender: "<>", HoldUntil: testNow.Add(time.Hour), Recipients: []EnvelopeRecipient{{Address: "e@f.example"}}}, Raw: []byte("Subject: 4\r\n\r\n")},
	}
	var out []*Message
	var errs []error
	err := q.Update(t.Context(), func(tx *Tx) (err error) {
		out, errs, err = tx.EnqueueBatch(msgs)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if out[0] == nil || out[3] == nil || out[1] != nil || out[2] != nil || errs[0] != nil || errs[3] != nil ||
		errs[1] == nil || !strings.Contains(errs[1].Error(), "RET") || errs[2] == nil {
		t.Fatalf("out %v errs %v", out, errs)
	}
	if n := mustCount(t, q, Filter{}); n != 2 {
		t.Errorf("%d messages queued, want 2", n)
	}
	m := mustGet(t, q, out[0].ID)
	if m.Client.IP != "192.0.2.7" || m.Recipients()[0].Notify != NotifyFailure {
		t.Errorf("first message read back as %+v", m)
	}
	if m := mustGet(t, q, out[3].ID); !m.Due().Equal(testNow.Add(time.Hour)) || m.ReturnPath != "" {
		t.Errorf("held bounce: due %v", m.Due())
	}
	if raw, _ := q.Raw(t.Context(), out[3].ID); string(raw) != "Subject: 4\r\n\r\n" {
		t.Errorf("raw %q", raw)
	}
	if n := auditCount(t, q) - before; n != 1 {
		t.Errorf("%d audit entries for the batch, want 1", n)
	}
	checkDue(t, q)
}

// The arrival fields appear in a message's JSON only when set.
func TestArrivalJSON(t *testing.T) {
	q, _ := openTest(t)
	plain, err := q.Enqueue(t.Context(), Envelope{Sender: "a@b.example", Recipients: []EnvelopeRecipient{{Address: "c@d.example"}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := mustGet(t, q, plain.ID).MarshalJSON()
	for _, key := range []string{`"ret"`, `"client"`, `"held"`, `"notify"`} {
		if strings.Contains(string(b), key) {
			t.Errorf("plain message's JSON has %s: %s", key, b)
		}
	}
	m, err := q.Enqueue(t.Context(), Envelope{Sender: "a@b.example", Ret: "FULL", Held: true, Client: Client{IP: "192.0.2.7", Helo: "h.example"},
		Recipients: []EnvelopeRecipient{{Address: "c@d.example", Notify: NotifyDelay | NotifyFailure}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ = mustGet(t, q, m.ID).MarshalJSON()
	for _, want := range []string{`"ret":"FULL","client":{"ip":"192.0.2.7","helo":"h.example"},"held":true`, `"notify":"FAILURE,DELAY"`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("JSON lacks %s: %s", want, b)
		}
	}
}

// A message's arrival fields are written with its rows, once: queueing a
// message with RET, a client, a hold, NOTIFY on each recipient and a
// FUTURERELEASE hold changes as many rows as queueing the same message
// without them (no UPDATE after the INSERT), by Enqueue and EnqueueBatch
// alike, and what is read back is right.
func TestArrivalWrittenOnce(t *testing.T) {
	q, _ := openTest(t)
	plain := Envelope{Sender: "a@b.example", Recipients: []EnvelopeRecipient{{Address: "One@d.example"}, {Address: "two@e.example"}, {Address: "three@e.example"}}}
	full := Envelope{Sender: "a@b.example", Ret: "FULL", Held: true, HoldUntil: testNow.Add(time.Hour),
		Client:     Client{IP: "192.0.2.7", User: "alice", Helo: "mx.b.example"},
		Recipients: []EnvelopeRecipient{{Address: "One@d.example", Notify: NotifyDelay}, {Address: "two@e.example", Notify: NotifyNever}, {Address: "three@e.example", Notify: NotifySuccess | NotifyFailure}}}
	raw := []byte("Subject: x\r\n\r\nhi\r\n")
	// changes queues env by enqueue and returns the message and the rows it
	// changed (SQLite's count on the one write connection).
	changes := func(env Envelope, batch bool) (*Message, int) {
		var m *Message
		var before, after int
		err := q.Update(t.Context(), func(tx *Tx) error {
			if err := tx.tx.QueryRowContext(tx.ctx, "SELECT total_changes()").Scan(&before); err != nil {
				return err
			}
			var err error
			if batch {
				var out []*Message
				var errs []error
				out, errs, err = tx.EnqueueBatch([]NewMessage{{Env: env, Raw: raw}})
				if err == nil && errs[0] != nil {
					err = errs[0]
				}
				if err == nil {
					m = out[0]
				}
			} else {
				m, err = tx.Enqueue(env, raw)
			}
			if err != nil {
				return err
			}
			return tx.tx.QueryRowContext(tx.ctx, "SELECT total_changes()").Scan(&after)
		})
		if err != nil {
			t.Fatal(err)
		}
		return m, after - before
	}
	for _, batch := range []bool{false, true} {
		_, n0 := changes(plain, batch)
		m, n1 := changes(full, batch)
		if n1 != n0 {
			t.Errorf("batch=%v: %d rows changed with arrival fields, %d without: the arrival fields are not written with the rows", batch, n1, n0)
		}
		for _, got := range []*Message{m, mustGet(t, q, m.ID)} {
			if got.Ret != "FULL" || got.Client != full.Client || !got.Held {
				t.Errorf("batch=%v: message fields %q %+v %v", batch, got.Ret, got.Client, got.Held)
			}
			notify := map[string]Notify{}
			for _, r := range got.Recipients() {
				notify[r.Address] = r.Notify
			}
			if want := map[string]Notify{"One@d.example": NotifyDelay, "two@e.example": NotifyNever, "three@e.example": NotifySuccess | NotifyFailure}; !reflect.DeepEqual(notify, want) {
				t.Errorf("batch=%v: NOTIFY %v, want %v", batch, notify, want)
			}
			if d := got.Domains[0]; !d.Due.Equal(testNow.Add(time.Hour)) || !got.Due().Equal(testNow.Add(time.Hour)) {
				t.Errorf("batch=%v: due %v (message %v), want the hold time", batch, d.Due, got.Due())
			}
		}
	}
	checkDue(t, q)
}
