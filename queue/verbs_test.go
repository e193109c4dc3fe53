package queue

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestEnqueueAndGet(t *testing.T) {
	q, c := openTest(t)
	raw := []byte("From: a@b\r\nSubject: hi\r\n\r\nbody\r\n")
	env := Envelope{Sender: "Bill@Example.net", EnvID: "env-1", Priority: 5, Recipients: []EnvelopeRecipient{
		{Address: "a@x.org", ORCPT: "rfc822;a@x.org"}, {Address: "b@y.org"}, {Address: "C@X.ORG"}, {Address: "a@X.org"},
	}}
	m, err := q.Enqueue(t.Context(), env, raw)
	if err != nil {
		t.Fatal(err)
	}
	if m.ID != snowflake(testNow, 0) {
		t.Errorf("id = %s, want the snowflake of now %s", m.ID, snowflake(testNow, 0))
	}
	got := mustGet(t, q, m.ID)
	if got.ReturnPath != "Bill@Example.net" || got.Size != int64(len(raw)) || got.EnvID != "env-1" || got.Priority != 5 || !got.Created.Equal(testNow) {
		t.Errorf("message = %+v", got)
	}
	// Grouped by domain in first-seen order; the repeated address kept once.
	if len(got.Domains) != 2 || got.Domains[0].Name != "x.org" || got.Domains[1].Name != "y.org" {
		t.Fatalf("domains = %+v", got.Domains)
	}
	if rs := got.Domains[0].Recipients; len(rs) != 2 || rs[0].Address != "a@x.org" || rs[0].ORCPT != "rfc822;a@x.org" || rs[1].Address != "C@X.ORG" {
		t.Errorf("x.org recipients = %+v", rs)
	}
	d := got.Domains[0]
	if d.Status != Scheduled || !d.Due.Equal(testNow) || !d.NotifyAt.Equal(testNow.Add(24*time.Hour)) || !d.Expires.Equal(testNow.Add(5*24*time.Hour)) || d.RetryNum != 0 {
		t.Errorf("domain schedule = %+v", d)
	}
	if !got.Due().Equal(testNow) {
		t.Errorf("due = %v", got.Due())
	}
	b, err := q.Raw(t.Context(), m.ID)
	if err != nil || string(b) != string(raw) {
		t.Errorf("raw = %q, %v", b, err)
	}
	// Ids grow strictly, even within one millisecond.
	m2, err := q.Enqueue(t.Context(), Envelope{Recipients: []EnvelopeRecipient{{Address: "z@z.org"}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if m2.ID <= m.ID || m2.ReturnPath != "" {
		t.Errorf("second id %s after %s, sender %q", m2.ID, m.ID, m2.ReturnPath)
	}
	// An id is not reused after its message is removed.
	q.Cancel(t.Context(), CancelRequest{Filter: Filter{IDs: []ID{m2.ID}}})
	m3, _ := q.Enqueue(t.Context(), Envelope{Recipients: []EnvelopeRecipient{{Address: "z@z.org"}}}, nil)
	if m3.ID <= m2.ID {
		t.Errorf("id %s reused after %s", m3.ID, m2.ID)
	}
	// Later in time: the snowflake of the new time.
	c.Set(testNow.Add(time.Hour))
	m4, _ := q.Enqueue(t.Context(), Envelope{Recipients: []EnvelopeRecipient{{Address: "z@z.org"}}}, nil)
	if m4.ID != snowflake(testNow.Add(time.Hour), 0) {
		t.Errorf("id %s, want %s", m4.ID, snowflake(testNow.Add(time.Hour), 0))
	}
	checkDue(t, q)
}

func TestEnqueueErrors(t *testing.T) {
	q, _ := openTest(t)
	for _, env := range []Envelope{
		{Sender: "a@b.c"},
		{Sender: "not an address", Recipients: []EnvelopeRecipient{{Address: "d@e.f"}}},
		{Sender: "a@b.c", Recipients: []EnvelopeRecipient{{Address: "nodomain"}}},
		{Sender: "a@b.c", Recipients: []EnvelopeRecipient{{Address: "d@e.f"}, {Address: "@e.f"}}},
	} {
		if _, err := q.Enqueue(t.Context(), env, nil); err == nil {
			t.Errorf("enqueue %+v: no error", env)
		}
	}
	if n := mustCount(t, q, Filter{}); n != 0 || auditCount(t, q) != 0 {
		t.Errorf("bad input left %d messages, %d audit rows", n, auditCount(t, q))
	}
}

func TestGetNotFound(t *testing.T) {
	q, _ := openTest(t)
	for _, id := range []ID{0x123, 1 << 63} {
		if _, err := q.Get(t.Context(), id); !errors.Is(err, ErrNotFound) {
			t.Errorf("get %s: %v", id, err)
		}
		if _, err := q.Raw(t.Context(), id); !errors.Is(err, ErrNotFound) {
			t.Errorf("raw %s: %v", id, err)
		}
	}
	put(t, q, msg(0x10, "a@b.c", t0, "d@e.f"))
	if b, err := q.Raw(t.Context(), 0x10); err != nil || b != nil {
		t.Errorf("raw of an imported message = %q, %v; want nil", b, err)
	}
}

func TestRetry(t *testing.T) {
	q := filterFixture(t)
	at := testNow.Add(2 * time.Hour)

	// Without a filter: refused.
	if _, err := q.Retry(t.Context(), RetryRequest{}); !errors.Is(err, ErrEmptyFilter) {
		t.Fatalf("empty filter: %v", err)
	}
	// m4 has nothing pending: matched but not counted.
	res, err := q.Retry(t.Context(), RetryRequest{Filter: Filter{Sender: []string{"bill@example.net"}}, At: at})
	if err != nil {
		t.Fatal(err)
	}
	if res.Count != 1 || !slices.Equal(res.IDs, []ID{m1}) || !maps.Equal(res.Domains, map[string]int{"gmail.com": 1}) || res.DryRun {
		t.Errorf("result = %+v", res)
	}
	if d := mustGet(t, q, m1).Domains[0]; !d.Due.Equal(at) || !d.Expires.Equal(t0.Add(5*24*time.Hour)) {
		t.Errorf("m1 domain = %+v", d)
	}
	if d := mustGet(t, q, m4).Domains[0]; !d.Due.Equal(t0.Add(3 * time.Hour)) {
		t.Errorf("m4 (nothing pending) changed: %+v", d)
	}

	// Only the pending domains; only Domain when set.
	res, err = q.Retry(t.Context(), RetryRequest{Filter: Filter{IDs: []ID{m3, m5}, Domain: []string{"@Example.ORG"}}, At: at})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.IDs, []ID{m5}) || !maps.Equal(res.Domains, map[string]int{"example.org": 1}) {
		t.Errorf("domain retry = %+v", res)
	}
	m := mustGet(t, q, m5)
	if !m.Domains[1].Due.Equal(at) || !m.Domains[0].Due.Equal(t0.Add(6*time.Hour)) || m.Domains[1].Status != TempFail {
		t.Errorf("m5 domains = %+v", m.Domains)
	}
	res, _ = q.Retry(t.Context(), RetryRequest{Filter: Filter{IDs: []ID{m3}}, At: at})
	m = mustGet(t, q, m3)
	if !slices.Equal(res.IDs, []ID{m3}) || !m.Domains[0].Due.Equal(t0.Add(2*time.Hour)) || !m.Domains[1].Due.Equal(at) {
		t.Errorf("m3: %+v, %+v", res, m.Domains)
	}

	// At zero means now.
	res, _ = q.Retry(t.Context(), RetryRequest{Filter: Filter{Sender: []string{"<>"}}})
	if d := mustGet(t, q, m2).Domains[0]; res.Count != 1 || !d.Due.Equal(testNow) {
		t.Errorf("retry now: %+v %+v", res, d)
	}

	// Expiry is never shortened, nor moved when At is past it.
	late := t0.Add(10 * 24 * time.Hour)
	q.Retry(t.Context(), RetryRequest{Filter: Filter{All: true}, At: late})
	for _, m := range []*Message{mustGet(t, q, m1), mustGet(t, q, m2), mustGet(t, q, m5)} {
		for _, d := range m.Domains {
			if d.Status.Pending() && !d.Due.Equal(late) {
				t.Errorf("%s %s due %v", m.ID, d.Name, d.Due)
			}
			if !d.Expires.Equal(m.Created.Add(5 * 24 * time.Hour)) {
				t.Errorf("%s %s expiry changed to %v", m.ID, d.Name, d.Expires)
			}
		}
	}
	checkDue(t, q)
}

func TestCancelWhole(t *testing.T) {
	q, _ := openTest(t)
	if _, err := q.LoadDemo(t.Context(), 0, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Cancel(t.Context(), CancelRequest{}); !errors.Is(err, ErrEmptyFilter) {
		t.Fatalf("empty filter: %v", err)
	}
	res, err := q.Cancel(t.Context(), CancelRequest{Filter: Filter{IDs: []ID{0x42B91F716}}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Count != 1 || !maps.Equal(res.Domains, map[string]int{"example.org": 1}) {
		t.Errorf("result %+v", res)
	}
	if _, err := q.Get(t.Context(), 0x42B91F716); !errors.Is(err, ErrNotFound) {
		t.Errorf("cancelled message still there: %v", err)
	}
	var rows, trashed int
	q.reader.QueryRow("SELECT (SELECT count(*) FROM domains WHERE msg_id = ?) + (SELECT count(*) FROM recipients WHERE msg_id = ?)",
		int64(0x42B91F716), int64(0x42B91F716)).Scan(&rows)
	if rows != 0 {
		t.Errorf("%d rows of the removed message remain", rows)
	}
	q.reader.QueryRow("SELECT count(*) FROM trash_messages WHERE id = ? AND trash_verb = 'cancel'", int64(0x42B91F716)).Scan(&trashed)
	if trashed != 1 {
		t.Errorf("the cancelled message is not in the trash")
	}
	res, _ = q.Cancel(t.Context(), CancelRequest{Filter: Filter{All: true}})
	if res.Count != 5 || mustCount(t, q, Filter{}) != 0 {
		t.Errorf("cancel all: %+v", res)
	}
}

func TestCancelRecipients(t *testing.T) {
	q := filterFixture(t)
	// m5: alice@gmail.com (scheduled), frank@example.org (tempfail), zed[1]@x.test (scheduled).
	res, err := q.Cancel(t.Context(), CancelRequest{Filter: Filter{IDs: []ID{m5}, Recipient: []string{"FRANK@example.org"}}})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.IDs, []ID{m5}) || !maps.Equal(res.Domains, map[string]int{"example.org": 1}) {
		t.Errorf("result %+v", res)
	}
	m := mustGet(t, q, m5)
	d := m.Domains[1]
	r := d.Recipients[0]
	if r.Status != PermFail || r.Code != 0 || r.Enhanced != "" || r.Message != "Delivery canceled." || r.Details() != "Delivery canceled." {
		t.Errorf("recipient %+v", r)
	}
	if d.Status != PermFail || d.Details != "Delivery canceled." {
		t.Errorf("domain %+v", d)
	}
	if m.Domains[0].Status != Scheduled || m.Domains[2].Status != Scheduled {
		t.Errorf("other domains changed: %+v", m.Domains)
	}
	if !m.Due().Equal(t0.Add(6 * time.Hour)) {
		t.Errorf("due = %v", m.Due())
	}
	checkDue(t, q)

	// Again: nothing pending matches any more, nothing is counted.
	res, _ = q.Cancel(t.Context(), CancelRequest{Filter: Filter{IDs: []ID{m5}, Recipient: []string{"frank@example.org"}}})
	if res.Count != 0 {
		t.Errorf("second cancel counted %+v", res)
	}

	// m3: carol@gmail.com delivered, dave@outlook.com scheduled. Cancelling dave
	// leaves nothing pending: the message goes.
	res, _ = q.Cancel(t.Context(), CancelRequest{Filter: Filter{Sender: []string{"@corp.example"}, Recipient: []string{"@outlook.com"}}})
	if !slices.Equal(res.IDs, []ID{m3}) {
		t.Errorf("cancel outlook: %+v", res)
	}
	if _, err := q.Get(t.Context(), m3); !errors.Is(err, ErrNotFound) {
		t.Errorf("m3 should be removed: %v", err)
	}

	// A glob over several messages; the domain with a delivered recipient
	// becomes Completed.
	q2, _ := openTest(t)
	a := msg(0x10, "s@s.org", t0, "ok@d.org", "x1@d.org", "x2@d.org", "keep@e.org")
	a.Domains[0].Recipients[0].Status, a.Domains[0].Recipients[0].Code = Completed, 250
	put(t, q2, a, msg(0x20, "s@s.org", t0, "x3@d.org"))
	res, _ = q2.Cancel(t.Context(), CancelRequest{Filter: Filter{Recipient: []string{"x*"}}})
	if !slices.Equal(res.IDs, []ID{0x10, 0x20}) || res.Domains["d.org"] != 2 {
		t.Errorf("glob cancel %+v", res)
	}
	m = mustGet(t, q2, 0x10)
	if m.Domains[0].Status != Completed || m.Domains[1].Status != Scheduled {
		t.Errorf("domains after glob cancel: %+v", m.Domains)
	}
	if _, err := q2.Get(t.Context(), 0x20); !errors.Is(err, ErrNotFound) {
		t.Errorf("0x20 should be gone")
	}
	checkDue(t, q2)
}

func TestDryRunChangesNothing(t *testing.T) {
	q := filterFixture(t)
	before, audits := snapshot(t, q), auditCount(t, q)
	reqs := []struct {
		name string
		run  func(dry bool) (Result, error)
	}{
		{"retry", func(dry bool) (Result, error) {
			return q.Retry(t.Context(), RetryRequest{Filter: Filter{Domain: []string{"gmail.com"}}, At: testNow.Add(time.Hour), DryRun: dry})
		}},
		{"retry domain", func(dry bool) (Result, error) {
			return q.Retry(t.Context(), RetryRequest{Filter: Filter{Domain: []string{"example.org"}}, DryRun: dry})
		}},
		{"cancel", func(dry bool) (Result, error) {
			return q.Cancel(t.Context(), CancelRequest{Filter: Filter{Sender: []string{"bill*"}}, DryRun: dry})
		}},
		{"cancel recipients", func(dry bool) (Result, error) {
			return q.Cancel(t.Context(), CancelRequest{Filter: Filter{Recipient: []string{"@gmail.com"}}, DryRun: dry})
		}},
	}
	for _, r := range reqs {
		t.Run(r.name, func(t *testing.T) {
			dry, err := r.run(true)
			if err != nil {
				t.Fatal(err)
			}
			if !dry.DryRun || dry.Count == 0 {
				t.Errorf("dry run result %+v", dry)
			}
			if after := snapshot(t, q); after != before || auditCount(t, q) != audits {
				t.Fatalf("dry run changed the queue:\n%s\n----\n%s", before, after)
			}
			// Preview gives the same as a dry run.
			var prev Result
			err = q.Preview(t.Context(), func(tx *Tx) error {
				var err error
				switch r.name {
				case "retry":
					prev, err = tx.Retry(RetryRequest{Filter: Filter{Domain: []string{"gmail.com"}}, At: testNow.Add(time.Hour)})
				default:
					prev, err = dry, nil
					prev.DryRun = tx.DryRun()
				}
				return err
			})
			if err != nil || !prev.DryRun || prev.Count != dry.Count {
				t.Errorf("preview %+v, %v", prev, err)
			}
			if after := snapshot(t, q); after != before {
				t.Fatal("preview changed the queue")
			}
		})
	}
	// The real runs report exactly what the dry runs said.
	for _, r := range reqs {
		dry, _ := r.run(true)
		real, err := r.run(false)
		if err != nil {
			t.Fatal(err)
		}
		dry.DryRun = false
		if real.Count != dry.Count || !slices.Equal(real.IDs, dry.IDs) || !maps.Equal(real.Domains, dry.Domains) {
			t.Errorf("%s: dry run %+v, real %+v", r.name, dry, real)
		}
	}
}

func TestAudit(t *testing.T) {
	q, c := openTest(t)
	ctx := WithSource(t.Context(), "script purge.lua bad@example.com")
	q.LoadDemo(t.Context(), 0, 1)
	c.Set(testNow.Add(time.Minute))
	res, err := q.Retry(ctx, RetryRequest{Filter: Filter{Sender: []string{"bill1@example.net"}, Domain: []string{"domain1.test"}}, At: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	c.Set(testNow.Add(2 * time.Minute))
	q.Cancel(t.Context(), CancelRequest{Filter: Filter{IDs: []ID{0x52B91F716}, Recipient: []string{"delay@example.org"}}})
	q.Retry(t.Context(), RetryRequest{Filter: Filter{All: true}, DryRun: true}) // not audited

	all, err := q.Audit(t.Context(), AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 3 {
		t.Fatalf("audit = %+v", all)
	}
	cancel, retry, demo := all[0], all[1], all[2]
	if demo.Verb != "demo" || demo.Count != 6 || !slices.Equal(demo.IDs, DocumentedIDs) || demo.Source != "cli" || demo.User != "tester" || !demo.At.Equal(testNow) {
		t.Errorf("demo entry %+v", demo)
	}
	if retry.Verb != "retry" || retry.Source != "script purge.lua bad@example.com" || retry.Filter != "sender=bill1@example.net domain=domain1.test; at=2026-01-02T03:04:05Z" ||
		!slices.Equal(retry.IDs, res.IDs) || retry.Count != 1 {
		t.Errorf("retry entry %+v", retry)
	}
	if cancel.Verb != "cancel" || cancel.Filter != "ids=52B91F716 rcpt=delay@example.org" || cancel.Count != 1 || cancel.Seq <= retry.Seq {
		t.Errorf("cancel entry %+v", cancel)
	}
	got, _ := q.Audit(t.Context(), AuditQuery{Verb: "retry"})
	if len(got) != 1 || got[0].Seq != retry.Seq {
		t.Errorf("by verb: %+v", got)
	}
	got, _ = q.Audit(t.Context(), AuditQuery{Since: testNow.Add(90 * time.Second)})
	if len(got) != 1 || got[0].Verb != "cancel" {
		t.Errorf("since: %+v", got)
	}
	got, _ = q.Audit(t.Context(), AuditQuery{Limit: 2})
	if len(got) != 2 || got[0].Verb != "cancel" {
		t.Errorf("limit: %+v", got)
	}
}

func TestUpdateRollsBackWithAudit(t *testing.T) {
	q := filterFixture(t)
	before, audits := snapshot(t, q), auditCount(t, q)
	boom := errors.New("boom")
	err := q.Update(t.Context(), func(tx *Tx) error {
		if _, err := tx.Retry(RetryRequest{Filter: Filter{All: true}}); err != nil {
			return err
		}
		if _, err := tx.Cancel(CancelRequest{Filter: Filter{Sender: []string{"<>"}}}); err != nil {
			return err
		}
		if _, err := tx.Enqueue(Envelope{Sender: "a@b.c", Recipients: []EnvelopeRecipient{{Address: "d@e.f"}}}, []byte("x")); err != nil {
			return err
		}
		// Inside the transaction the changes are visible.
		if n, _ := tx.Count(Filter{Sender: []string{"<>"}}); n != 0 {
			t.Errorf("cancel not visible inside the transaction")
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("update: %v", err)
	}
	if snapshot(t, q) != before || auditCount(t, q) != audits {
		t.Error("a rolled-back update left changes or audit rows")
	}
	// A committed update keeps all its changes and their audit rows.
	err = q.Update(t.Context(), func(tx *Tx) error {
		tx.Retry(RetryRequest{Filter: Filter{All: true}})
		_, err := tx.Cancel(CancelRequest{Filter: Filter{Sender: []string{"<>"}}})
		return err
	})
	if err != nil || auditCount(t, q) != audits+2 || mustCount(t, q, Filter{Sender: []string{"<>"}}) != 0 {
		t.Errorf("committed update: %v, %d audit rows", err, auditCount(t, q))
	}
	// A dry run inside an Update is undone alone.
	q.Update(t.Context(), func(tx *Tx) error {
		res, err := tx.Cancel(CancelRequest{Filter: Filter{All: true}, DryRun: true})
		if err != nil || !res.DryRun || res.Count != 4 {
			t.Errorf("dry run in update: %+v %v", res, err)
		}
		if n, _ := tx.Count(Filter{}); n != 4 {
			t.Errorf("dry run inside update removed messages: %d left", n)
		}
		return nil
	})
}

func TestContextCancelRollsBack(t *testing.T) {
	q, _ := openTest(t)
	if _, err := q.LoadDemo(t.Context(), 3000, 7); err != nil {
		t.Fatal(err)
	}
	before, audits := snapshot(t, q), auditCount(t, q)
	ctx, cancel := context.WithCancel(t.Context())
	n := 0
	err := q.Update(ctx, func(tx *Tx) error {
		return tx.Each(Filter{}, func(m *Message) error {
			if _, err := tx.Cancel(CancelRequest{Filter: Filter{IDs: []ID{m.ID}}}); err != nil {
				return err
			}
			n++
			if n == 1500 {
				cancel() // Ctrl-C in the middle of a long script
			}
			return nil
		})
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("update after cancel: %v", err)
	}
	if snapshot(t, q) != before || auditCount(t, q) != audits {
		t.Error("a cancelled update left changes")
	}
	// A verb with an ended context changes nothing either.
	ctx, cancel = context.WithCancel(t.Context())
	cancel()
	if _, err := q.Cancel(ctx, CancelRequest{Filter: Filter{All: true}}); err == nil {
		t.Error("cancel under an ended context succeeded")
	}
	if _, err := q.ImportJSON(ctx, strings.NewReader("")); err == nil {
		t.Error("import under an ended context succeeded")
	}
	if snapshot(t, q) != before {
		t.Error("verbs under an ended context changed the queue")
	}
}

func TestEachStreamsWhileChanging(t *testing.T) {
	q, _ := openTest(t)
	q.LoadDemo(t.Context(), 2500, 3)
	total := mustCount(t, q, Filter{})
	seen := 0
	var last ID
	err := q.Update(t.Context(), func(tx *Tx) error {
		return tx.Each(Filter{}, func(m *Message) error {
			if m.ID <= last {
				t.Fatalf("each went backwards: %s after %s", m.ID, last)
			}
			last = m.ID
			seen++
			if seen%2 == 0 {
				_, err := tx.Cancel(CancelRequest{Filter: Filter{IDs: []ID{m.ID}}})
				return err
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	if seen != total || mustCount(t, q, Filter{}) != total-total/2 {
		t.Errorf("seen %d of %d, %d left", seen, total, mustCount(t, q, Filter{}))
	}
	stop := errors.New("stop")
	n := 0
	err = q.View(t.Context(), func(tx *Tx) error {
		return tx.Each(Filter{}, func(m *Message) error {
			if n++; n == 10 {
				return stop
			}
			return nil
		})
	})
	if !errors.Is(err, stop) || n != 10 {
		t.Errorf("each did not stop: %v after %d", err, n)
	}
	// A Tx is dead after its function returns.
	var saved *Tx
	q.View(t.Context(), func(tx *Tx) error { saved = tx; return nil })
	if _, err := saved.Count(Filter{}); err == nil {
		t.Error("a Tx worked after its transaction ended")
	}
}

func TestSummary(t *testing.T) {
	q := filterFixture(t)
	rows, err := q.Summary(t.Context(), Filter{}, "domain")
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 6 || rows[0].Key != "gmail.com" || rows[0].Count != 3 || rows[0].Size != (1000+int64(m1))+(1000+int64(m3))+(1000+int64(m5)) ||
		!rows[0].Oldest.Equal(t0) || !rows[0].Newest.Equal(t0.Add(4*time.Hour)) {
		t.Errorf("by domain: %+v", rows)
	}
	rows, _ = q.Summary(t.Context(), Filter{}, "sender")
	keys := map[string]int{}
	for _, r := range rows {
		keys[r.Key] = r.Count
	}
	if !maps.Equal(keys, map[string]int{"bill@example.net": 2, "<>": 1, "bob@corp.example": 1, "billing@shop.test": 1}) || rows[0].Key != "bill@example.net" {
		t.Errorf("by sender: %+v", rows)
	}
	rows, _ = q.Summary(t.Context(), Filter{Domain: []string{"gmail.com"}}, "status")
	var got []string
	for _, r := range rows {
		got = append(got, r.Key+":"+string(rune('0'+r.Count)))
	}
	if strings.Join(got, " ") != "scheduled:3 delivered:1 tempfail:1" {
		t.Errorf("by status: %v", got)
	}
	rows, _ = q.Summary(t.Context(), Filter{}, "age")
	if len(rows) != len(AgeBuckets)+1 || rows[0].Key != "5m" || rows[len(rows)-1].Key != "1280m+" {
		t.Fatalf("by age: %+v", rows)
	}
	// Ages 10h, 9h, 8h, 7h, 6h: 320m < 360m..600m <= 640m.
	for _, r := range rows {
		want := 0
		if r.Key == "640m" {
			want = 5
		}
		if r.Count != want {
			t.Errorf("age bucket %s: %d, want %d", r.Key, r.Count, want)
		}
	}
	rows, _ = q.Summary(t.Context(), Filter{Sender: []string{"nobody@x.y"}}, "domain")
	if len(rows) != 0 {
		t.Errorf("empty selection: %+v", rows)
	}
	rows, _ = q.Summary(t.Context(), Filter{IDs: []ID{1 << 63}}, "age")
	if len(rows) != len(AgeBuckets)+1 {
		t.Errorf("empty selection by age: %+v", rows)
	}
	if _, err := q.Summary(t.Context(), Filter{}, "color"); err == nil || !strings.Contains(err.Error(), "domain, sender, status or age") {
		t.Errorf("bad by: %v", err)
	}
}

func TestSuggest(t *testing.T) {
	q := filterFixture(t)
	q.LoadDemo(t.Context(), 0, 1)
	cases := []struct {
		kind, prefix string
		limit        int
		want         []string
	}{
		{SuggestID, "2", 10, []string{"22B91F716", "2B2", "2B91F716"}},
		{SuggestID, "2b", 10, []string{"2B2", "2B91F716"}},
		{SuggestID, "12B91F716", 10, []string{"12B91F716"}},
		{SuggestID, "", 3, []string{"1A1", "2B2", "3C3"}},
		{SuggestID, "zz", 10, nil},
		{SuggestID, "0", 10, nil},
		{SuggestSender, "bill", 3, []string{"bill1@example.net", "bill2@example.net", "bill3@example.net"}},
		{SuggestSender, "BILL@", 10, []string{"bill@example.net"}},
		{SuggestSender, "<", 10, []string{"<>"}},
		{SuggestSender, "", 2, []string{"<>", "bill1@example.net"}},
		{SuggestRecipient, "a", 10, []string{"alice@gmail.com"}},
		{SuggestRecipient, "@gm", 10, []string{"@gmail.com"}},
		{SuggestRecipient, "rcpt", 3, []string{"rcpt1@domain1.test", "rcpt1@domain2.test", "rcpt3@domain1.test"}},
		{SuggestDomain, "d", 10, []string{"domain1.test", "domain2.test", "domain3.test", "domain4.test"}},
		{SuggestDomain, "@EX", 10, []string{"example.net", "example.org"}},
		{SuggestDomain, "zzz", 10, nil},
	}
	for _, c := range cases {
		got, err := q.Suggest(t.Context(), c.kind, c.prefix, c.limit)
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("Suggest(%s, %q, %d) = %q, %v; want %q", c.kind, c.prefix, c.limit, got, err, c.want)
		}
	}
	if _, err := q.Suggest(t.Context(), "colour", "", 5); err == nil {
		t.Error("unknown kind accepted")
	}
}

func TestDocumentedDemo(t *testing.T) {
	q, _ := openTest(t)
	res, err := q.LoadDemo(t.Context(), 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.IDs, DocumentedIDs) {
		t.Fatalf("ids %v", res.IDs)
	}
	list, _ := q.List(t.Context(), Filter{}, Page{})
	type row struct {
		id      string
		due     string
		sender  string
		rcpts   string
		size    int64
		created string
	}
	var got []row
	for _, m := range list {
		var rs []string
		for _, r := range m.Recipients() {
			rs = append(rs, r.Address+" ("+r.Status.Short()+")")
		}
		s := m.ReturnPath
		if s == "" {
			s = "<>"
		}
		got = append(got, row{m.ID.String(), m.Due().Format("Mon, 2 Jan 2006 15:04:05 -0700"), s, strings.Join(rs, ", "), m.Size, m.Created.Format(time.RFC3339)})
	}
	c := "2023-03-01T11:44:22Z"
	want := []row{
		{"2B91F716", "Wed, 1 Mar 2023 11:46:01 +0000", "bill1@example.net", "rcpt1@domain1.test (scheduled), rcpt1@domain2.test (scheduled)", 1141, c},
		{"12B91F716", "Wed, 1 Mar 2023 11:47:41 +0000", "bill2@example.net", "rcpt3@domain1.test (scheduled), rcpt4@domain1.test (scheduled)", 1142, c},
		{"22B91F716", "Wed, 1 Mar 2023 11:49:21 +0000", "bill3@example.net", "rcpt5@domain1.test (scheduled), rcpt6@domain2.test (scheduled), rcpt7@domain2.test (scheduled), rcpt8@domain3.test (scheduled), rcpt9@domain4.test (scheduled)", 1142, c},
		{"32B91F716", "Wed, 1 Mar 2023 11:51:01 +0000", "bill4@example.net", "delay@example.org (scheduled)", 1142, c},
		{"42B91F716", "Wed, 1 Mar 2023 11:52:41 +0000", "bill5@example.net", "john@example.org (scheduled)", 1142, c},
		{"52B91F716", "Wed, 1 Mar 2023 12:01:01 +0000", "<>", "delay@example.org (tempfail), success@example.org (delivered)", 1127, c},
	}
	if !slices.Equal(got, want) {
		t.Errorf("documented list:\n got %+v\nwant %+v", got, want)
	}
	// The documented `queue status 52B91F716`.
	m := mustGet(t, q, 0x52B91F716)
	f := func(t time.Time) string { return t.Format("Mon, 2 Jan 2006 15:04:05 -0700") }
	if m.EnvID != "f" || f(m.Created) != "Wed, 1 Mar 2023 11:44:22 +0000" || len(m.Domains) != 1 {
		t.Fatalf("52B91F716 = %+v", m)
	}
	d := m.Domains[0]
	if d.Name != "example.org" || d.Status.DomainLong() != "Scheduled" || d.Details != "" || d.RetryNum != 1 ||
		f(d.Due) != "Wed, 1 Mar 2023 12:01:01 +0000" || f(d.NotifyAt) != "Wed, 1 Mar 2023 12:17:41 +0000" || f(d.Expires) != "Wed, 1 Mar 2023 12:34:21 +0000" {
		t.Errorf("domain %+v", d)
	}
	if r := d.Recipients; len(r) != 2 || r[0].Address != "delay@example.org" || r[0].Status.Long() != "Temporary Failure" ||
		r[0].Details() != "Code: 451, Enhanced code: 4.5.3, Message: Try again later." ||
		r[1].Address != "success@example.org" || r[1].Status.Long() != "Delivered" || r[1].Details() != "Code: 250, Enhanced code: 2.1.5, Message: OK" {
		t.Errorf("recipients %+v", r)
	}
	// The documented ids encode their creation second (≤v0.6 ids).
	for _, id := range DocumentedIDs {
		secs := int64(uint64(id) & 0xFFFFFFFF)
		if !time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(secs) * time.Second).Equal(mustGet(t, q, id).Created) {
			t.Errorf("%s: created does not match the id", id)
		}
		raw, _ := q.Raw(t.Context(), id)
		if int64(len(raw)) != mustGet(t, q, id).Size {
			t.Errorf("%s: raw is %d bytes, size %d", id, len(raw), mustGet(t, q, id).Size)
		}
	}
	// Loading again resets the six to their documented state.
	q.Cancel(t.Context(), CancelRequest{Filter: Filter{Recipient: []string{"delay@example.org"}}})
	if _, err := q.LoadDemo(t.Context(), 0, 1); err != nil {
		t.Fatal(err)
	}
	if mustCount(t, q, Filter{}) != 6 || mustGet(t, q, 0x52B91F716).Domains[0].Recipients[0].Status != TempFail {
		t.Error("demo not reset")
	}
}

func TestGeneratedDemo(t *testing.T) {
	q, _ := openTest(t)
	res, err := q.LoadDemo(t.Context(), 2000, 11)
	if err != nil {
		t.Fatal(err)
	}
	if res.Count != 2006 || mustCount(t, q, Filter{}) != 2006 {
		t.Fatalf("count %d", res.Count)
	}
	// Deterministic for a seed and clock.
	q2, _ := openTest(t)
	q2.LoadDemo(t.Context(), 2000, 11)
	if snapshot(t, q) != snapshot(t, q2) {
		t.Error("same seed, different messages")
	}
	q3, _ := openTest(t)
	q3.LoadDemo(t.Context(), 2000, 12)
	if snapshot(t, q) == snapshot(t, q3) {
		t.Error("different seeds, same messages")
	}
	// Realistic spread.
	bounces := mustCount(t, q, Filter{Sender: []string{"<>"}})
	gmail := mustCount(t, q, Filter{Domain: []string{"gmail.com"}})
	multi := 0
	var minSize, maxSize int64 = 1 << 62, 0
	senders, domains := map[string]bool{}, map[string]bool{}
	statuses := map[Status]bool{}
	var oldest, newest time.Time
	q.View(t.Context(), func(tx *Tx) error {
		return tx.Each(Filter{CreatedAfter: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)}, func(m *Message) error {
			if len(m.Domains) > 1 {
				multi++
			}
			minSize, maxSize = min(minSize, m.Size), max(maxSize, m.Size)
			senders[m.ReturnPath] = true
			if oldest.IsZero() || m.Created.Before(oldest) {
				oldest = m.Created
			}
			if m.Created.After(newest) {
				newest = m.Created
			}
			if !m.Pending() {
				t.Errorf("%s has nothing pending", m.ID)
			}
			for _, d := range m.Domains {
				domains[d.Name] = true
				if !d.Expires.Equal(m.Created.Add(5*24*time.Hour)) || d.Due.Before(m.Created) {
					t.Errorf("%s %s: schedule %+v", m.ID, d.Name, d)
				}
				for _, r := range d.Recipients {
					statuses[r.Status] = true
					if r.Status != Scheduled && (r.Code < 200 || r.Enhanced == "") {
						t.Errorf("%s %s: reply %+v", m.ID, r.Address, r)
					}
				}
			}
			return nil
		})
	})
	if bounces < 50 || bounces > 160 || gmail < 400 || gmail > 650 || multi < 100 || len(senders) < 300 || len(domains) < 100 ||
		len(statuses) != 4 || minSize < 1024 || maxSize > 10<<20 || maxSize < 1<<20 || newest.Sub(oldest) < 3*24*time.Hour {
		t.Errorf("bounces %d gmail %d multi %d senders %d domains %d statuses %v size %d..%d span %v",
			bounces, gmail, multi, len(senders), len(domains), statuses, minSize, maxSize, newest.Sub(oldest))
	}
	checkDue(t, q)
}
