package queue

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A queue made by a program that knew only schema step 1 is brought to step
// 2: its messages are kept, read back with the new fields empty, and the new
// columns and tables are there.
func TestMigrationFromStep1(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.db")
	all := migrations
	migrations = all[:1]
	q, err := Open(path, Options{})
	if err != nil {
		migrations = all
		t.Fatal(err)
	}
	// The rows a step-1 program wrote (today's Enqueue needs today's schema).
	m := &Message{ID: 0x1000}
	_, err = q.writer.Exec(`INSERT INTO messages(id, rp_lc, rp_domain, created, size, due) VALUES(4096, 'a@b.example', 'b.example', 1700000000, 18, 1700000000);
		INSERT INTO domains(msg_id, idx, name, status, due, notify, expires) VALUES(4096, 0, 'd.example', 0, 1700000000, 1700086400, 1700432000);
		INSERT INTO recipients(msg_id, idx, domain_idx, address_lc, status, orcpt) VALUES(4096, 0, 0, 'c@d.example', 0, 'rfc822;c@d.example');
		INSERT INTO bodies(msg_id, raw) VALUES(4096, 'Subject: x' || char(13, 10, 13, 10) || 'hi' || char(13, 10))`)
	q.Close()
	migrations = all
	if err != nil {
		t.Fatal(err)
	}

	q, err = Open(path, Options{})
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
		"SELECT ret, client_ip, client_user, client_helo, held FROM messages",
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
	for _, on := range []bool{true, false} {
		if err := q.SetDurable(ctx, on); err != nil {
			t.Fatal(err)
		}
		var mode int
		q.writer.QueryRow("PRAGMA synchronous").Scan(&mode)
		if want := map[bool]int{true: 2, false: 1}[on]; mode != want {
			t.Errorf("durable %v: synchronous %d, want %d", on, mode, want)
		}
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
