package enginetest

import (
	"context"
	"encoding/base64"
	"errors"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"mqsh/queue"
)

func (s *suite) enqueueAndGet(t *testing.T) {
	ctx := context.Background()
	q, c := s.queue(t)
	raw := []byte("From: a@b\r\nBcc: hidden@x.org\r\nSubject: hi\r\n\r\nbody\r\n")
	env := queue.Envelope{Sender: "Bill@Example.net", EnvID: "env-1", Priority: 5, Recipients: []queue.EnvelopeRecipient{
		{Address: "a@x.org", ORCPT: "rfc822;a@x.org"}, {Address: "b@y.org"}, {Address: "C@X.ORG"}, {Address: "a@X.org"},
	}}
	m, err := q.Enqueue(ctx, env, raw)
	if err != nil {
		t.Fatal(err)
	}
	if want := queue.NewID(Now, 0); m.ID != want {
		t.Errorf("id = %s, want the snowflake of now %s", m.ID, want)
	}
	got := mustGet(t, q, m.ID)
	stored := "From: a@b\r\nSubject: hi\r\n\r\nbody\r\n" // Bcc dropped
	if got.ReturnPath != "Bill@Example.net" || got.Size != int64(len(stored)) || got.EnvID != "env-1" || got.Priority != 5 || !got.Created.Equal(Now) {
		t.Errorf("message = %+v", got)
	}
	if len(got.Domains) != 2 || got.Domains[0].Name != "x.org" || got.Domains[1].Name != "y.org" {
		t.Fatalf("domains = %+v", got.Domains)
	}
	if rs := got.Domains[0].Recipients; len(rs) != 2 || rs[0].Address != "a@x.org" || rs[0].ORCPT != "rfc822;a@x.org" || rs[1].Address != "C@X.ORG" {
		t.Errorf("x.org recipients = %+v", rs)
	}
	d := got.Domains[0]
	if d.Status != queue.Scheduled || !d.Due.Equal(Now) || !d.NotifyAt.Equal(Now.Add(24*time.Hour)) || !d.Expires.Equal(Now.Add(5*24*time.Hour)) || d.RetryNum != 0 {
		t.Errorf("domain schedule = %+v", d)
	}
	if !reflect.DeepEqual(got, m) {
		t.Errorf("get = %+v\nenqueue returned %+v", got, m)
	}
	if b, err := q.Raw(ctx, m.ID); err != nil || string(b) != stored {
		t.Errorf("raw = %q, %v", b, err)
	}
	// Ids grow strictly, even within one millisecond, and are not reused.
	m2, err := q.Enqueue(ctx, queue.Envelope{Recipients: []queue.EnvelopeRecipient{{Address: "z@z.org"}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if m2.ID <= m.ID || m2.ReturnPath != "" {
		t.Errorf("second id %s after %s, sender %q", m2.ID, m.ID, m2.ReturnPath)
	}
	if b, err := q.Raw(ctx, m2.ID); err != nil || b == nil || len(b) != 0 {
		t.Errorf("raw of an empty text = %q, %v; want empty, not nil", b, err)
	}
	if _, err := q.Cancel(ctx, queue.CancelRequest{Filter: queue.Filter{IDs: []queue.ID{m2.ID}}}); err != nil {
		t.Fatal(err)
	}
	m3, err := q.Enqueue(ctx, queue.Envelope{Recipients: []queue.EnvelopeRecipient{{Address: "z@z.org"}}}, nil)
	if err != nil || m3.ID <= m2.ID {
		t.Errorf("id %s reused after %s (%v)", m3.ID, m2.ID, err)
	}
	c.Set(Now.Add(time.Hour))
	m4, _ := q.Enqueue(ctx, queue.Envelope{Recipients: []queue.EnvelopeRecipient{{Address: "z@z.org"}}}, nil)
	if want := queue.NewID(Now.Add(time.Hour), 0); m4.ID != want {
		t.Errorf("id %s, want %s", m4.ID, want)
	}
	es := auditRows(t, q)
	if len(es) != 5 || es[4].Verb != "enqueue" || es[4].Filter != "sender=Bill@Example.net recipients=3 size="+strconv.Itoa(len(stored)) || es[4].User != "tester" || es[4].Source != "cli" {
		t.Errorf("audit = %+v", es)
	}
}

// enqueueArrival: what SMTP ingest records besides the envelope is kept
// and read back by Get; a FUTURERELEASE hold moves the schedule.
func (s *suite) enqueueArrival(t *testing.T) {
	ctx := context.Background()
	q, _ := s.queue(t)
	hold := Now.Add(2 * time.Hour)
	env := queue.Envelope{Sender: "a@b.org", Ret: "HDRS", Client: queue.Client{IP: "192.0.2.7", User: "ann", Helo: "mx.b.org"}, HoldUntil: hold, Held: true,
		Recipients: []queue.EnvelopeRecipient{{Address: "X@c.org", Notify: queue.NotifySuccess | queue.NotifyFailure}, {Address: "y@c.org"}}}
	m, err := q.Enqueue(ctx, env, []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	got := mustGet(t, q, m.ID)
	if !reflect.DeepEqual(got, m) {
		t.Errorf("get = %+v\nenqueue returned %+v", got, m)
	}
	if got.Ret != "HDRS" || got.Client != env.Client || !got.Held || got.Domains[0].Recipients[0].Notify != queue.NotifySuccess|queue.NotifyFailure || got.Domains[0].Recipients[1].Notify != 0 {
		t.Errorf("arrival = %+v", got)
	}
	if d := got.Domains[0]; !d.Due.Equal(hold) || !d.Expires.Equal(hold.Add(5*24*time.Hour)) || !d.NotifyAt.Equal(hold.Add(24*time.Hour)) {
		t.Errorf("held schedule = %+v", d)
	}
	if n := mustCount(t, q, queue.Filter{DueAfter: Now.Add(time.Hour)}); n != 1 {
		t.Errorf("the message's due did not move: %d after now+1h", n)
	}
	// A bad RET is refused, with nothing stored.
	if _, err := q.Enqueue(ctx, queue.Envelope{Sender: "a@b.org", Ret: "ALL", Recipients: env.Recipients}, nil); err == nil || !strings.Contains(err.Error(), `invalid RET "ALL"`) {
		t.Errorf("bad RET: %v", err)
	}
	if n := mustCount(t, q, queue.Filter{}); n != 1 {
		t.Errorf("%d messages after a refused enqueue, want 1", n)
	}
}

func (s *suite) enqueueErrors(t *testing.T) {
	ctx := context.Background()
	q, _ := s.queue(t)
	for _, c := range []struct {
		env  queue.Envelope
		want string
	}{
		{queue.Envelope{Sender: "a@b.c"}, "no recipients"},
		{queue.Envelope{Sender: "not an address", Recipients: []queue.EnvelopeRecipient{{Address: "d@e.f"}}}, "invalid sender"},
		{queue.Envelope{Sender: "a@b.c", Recipients: []queue.EnvelopeRecipient{{Address: "nodomain"}}}, "invalid recipient"},
		{queue.Envelope{Sender: "a@b.c", Recipients: []queue.EnvelopeRecipient{{Address: "d@e.f"}, {Address: "@e.f"}}}, "invalid recipient"},
	} {
		_, err := q.Enqueue(ctx, c.env, nil)
		if err == nil || !strings.HasPrefix(err.Error(), "enqueue: ") || !strings.Contains(err.Error(), c.want) {
			t.Errorf("enqueue %+v: %v, want an error saying %q", c.env, err, c.want)
		}
	}
	if n := mustCount(t, q, queue.Filter{}); n != 0 || len(auditRows(t, q)) != 0 {
		t.Errorf("bad input left %d messages, %d audit rows", n, len(auditRows(t, q)))
	}
}

func (s *suite) getNotFound(t *testing.T) {
	ctx := context.Background()
	q, _ := s.queue(t)
	for _, id := range []queue.ID{0x123, 1 << 63} {
		if _, err := q.Get(ctx, id); !errors.Is(err, queue.ErrNotFound) || !strings.Contains(err.Error(), id.String()) {
			t.Errorf("get %s: %v", id, err)
		}
		if _, err := q.Raw(ctx, id); !errors.Is(err, queue.ErrNotFound) {
			t.Errorf("raw %s: %v", id, err)
		}
	}
	put(t, q, msg(0x10, "a@b.c", T0, "d@e.f"))
	if b, err := q.Raw(ctx, 0x10); err != nil || b != nil {
		t.Errorf("raw of an imported message = %q, %v; want nil", b, err)
	}
}

// checkDue: every message's stored due is the earliest due of its pending
// domains, as the due filters see it.
func checkDue(t *testing.T, q queue.Backend) {
	t.Helper()
	for _, m := range snapshot(t, q) {
		due := m.Due()
		n := 0
		if !due.IsZero() {
			n = mustCount(t, q, queue.Filter{IDs: []queue.ID{m.ID}, DueAfter: due.Add(-time.Second), DueBefore: due.Add(time.Second)})
		} else {
			n = 1 - mustCount(t, q, queue.Filter{IDs: []queue.ID{m.ID}, DueAfter: time.Unix(0, 0)})
		}
		if n != 1 {
			t.Errorf("%s: the due filter does not see its due %v", m.ID, due)
		}
	}
}

func (s *suite) retry(t *testing.T) {
	ctx := context.Background()
	q, _ := s.queue(t)
	LoadFilterFixture(t, q)
	at := Now.Add(2 * time.Hour)
	if _, err := q.Retry(ctx, queue.RetryRequest{}); !errors.Is(err, queue.ErrEmptyFilter) {
		t.Fatalf("empty filter: %v", err)
	}
	// M4 has nothing pending: matched but not counted.
	res, err := q.Retry(ctx, queue.RetryRequest{Filter: queue.Filter{Sender: []string{"bill@example.net"}}, At: at})
	if err != nil {
		t.Fatal(err)
	}
	if res.Count != 1 || !slices.Equal(res.IDs, []queue.ID{M1}) || !maps.Equal(res.Domains, map[string]int{"gmail.com": 1}) || res.DryRun {
		t.Errorf("result = %+v", res)
	}
	if d := mustGet(t, q, M1).Domains[0]; !d.Due.Equal(at) || !d.Expires.Equal(T0.Add(5*24*time.Hour)) {
		t.Errorf("M1 domain = %+v", d)
	}
	if d := mustGet(t, q, M4).Domains[0]; !d.Due.Equal(T0.Add(3 * time.Hour)) {
		t.Errorf("M4 (nothing pending) changed: %+v", d)
	}
	res, err = q.Retry(ctx, queue.RetryRequest{Filter: queue.Filter{IDs: []queue.ID{M3, M5}, Domain: []string{"@Example.ORG"}}, At: at})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.IDs, []queue.ID{M5}) || !maps.Equal(res.Domains, map[string]int{"example.org": 1}) {
		t.Errorf("domain retry = %+v", res)
	}
	m := mustGet(t, q, M5)
	if !m.Domains[1].Due.Equal(at) || !m.Domains[0].Due.Equal(T0.Add(6*time.Hour)) || m.Domains[1].Status != queue.TempFail {
		t.Errorf("M5 domains = %+v", m.Domains)
	}
	res, _ = q.Retry(ctx, queue.RetryRequest{Filter: queue.Filter{IDs: []queue.ID{M3}}, At: at})
	m = mustGet(t, q, M3)
	if !slices.Equal(res.IDs, []queue.ID{M3}) || !m.Domains[0].Due.Equal(T0.Add(2*time.Hour)) || !m.Domains[1].Due.Equal(at) {
		t.Errorf("M3: %+v, %+v", res, m.Domains)
	}
	// At zero means now; a fraction of a second is dropped.
	res, _ = q.Retry(ctx, queue.RetryRequest{Filter: queue.Filter{Sender: []string{"<>"}}})
	if d := mustGet(t, q, M2).Domains[0]; res.Count != 1 || !d.Due.Equal(Now) {
		t.Errorf("retry now: %+v %+v", res, d)
	}
	res, _ = q.Retry(ctx, queue.RetryRequest{Filter: queue.Filter{Sender: []string{"<>"}}, At: Now.Add(1500 * time.Millisecond)})
	if d := mustGet(t, q, M2).Domains[0]; !d.Due.Equal(Now.Add(time.Second)) {
		t.Errorf("retry at a fraction: %+v %+v", res, d)
	}
	// A retry with no match is not an error and changes nothing.
	res, err = q.Retry(ctx, queue.RetryRequest{Filter: queue.Filter{Sender: []string{"nobody@x.org"}}})
	if err != nil || res.Count != 0 || len(res.IDs) != 0 {
		t.Errorf("retry of nothing: %+v, %v", res, err)
	}
	// Bad input: a named sentence, nothing changed.
	before := snapshot(t, q)
	for _, r := range []queue.RetryRequest{
		{Filter: queue.Filter{Domain: []string{"@"}}},
		{Filter: queue.Filter{All: true}, At: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)},
	} {
		if _, err := q.Retry(ctx, r); err == nil || !strings.HasPrefix(err.Error(), "retry: ") {
			t.Errorf("retry %+v: %v", r, err)
		}
	}
	if !reflect.DeepEqual(snapshot(t, q), before) {
		t.Error("a refused retry changed the queue")
	}
	late := T0.Add(10 * 24 * time.Hour)
	q.Retry(ctx, queue.RetryRequest{Filter: queue.Filter{All: true}, At: late})
	for _, m := range snapshot(t, q) {
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

func (s *suite) cancelWhole(t *testing.T) {
	ctx := context.Background()
	q, _ := s.queue(t)
	if _, err := q.LoadDemo(ctx, 0, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Cancel(ctx, queue.CancelRequest{}); !errors.Is(err, queue.ErrEmptyFilter) {
		t.Fatalf("empty filter: %v", err)
	}
	res, err := q.Cancel(ctx, queue.CancelRequest{Filter: queue.Filter{IDs: []queue.ID{0x42B91F716}}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Count != 1 || !maps.Equal(res.Domains, map[string]int{"example.org": 1}) {
		t.Errorf("result %+v", res)
	}
	if _, err := q.Get(ctx, 0x42B91F716); !errors.Is(err, queue.ErrNotFound) {
		t.Errorf("cancelled message still there: %v", err)
	}
	if n := mustCount(t, q, queue.Filter{Recipient: []string{"john@example.org"}}); n != 0 {
		t.Errorf("its recipient is still found: %d", n)
	}
	res, _ = q.Cancel(ctx, queue.CancelRequest{Filter: queue.Filter{All: true}})
	if res.Count != 5 || mustCount(t, q, queue.Filter{}) != 0 {
		t.Errorf("cancel all: %+v", res)
	}
	if rows, _ := q.Summary(ctx, queue.Filter{}, "domain"); len(rows) != 0 {
		t.Errorf("domains left after cancelling everything: %+v", rows)
	}
	if got, _ := q.Suggest(ctx, queue.SuggestRecipient, "", 10); len(got) != 0 {
		t.Errorf("recipients left after cancelling everything: %v", got)
	}
}

func (s *suite) cancelRecipients(t *testing.T) {
	ctx := context.Background()
	q, _ := s.queue(t)
	LoadFilterFixture(t, q)
	res, err := q.Cancel(ctx, queue.CancelRequest{Filter: queue.Filter{IDs: []queue.ID{M5}, Recipient: []string{"FRANK@example.org"}}})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.IDs, []queue.ID{M5}) || !maps.Equal(res.Domains, map[string]int{"example.org": 1}) {
		t.Errorf("result %+v", res)
	}
	m := mustGet(t, q, M5)
	d := m.Domains[1]
	r := d.Recipients[0]
	if r.Status != queue.PermFail || r.Code != 0 || r.Enhanced != "" || r.Message != "Delivery canceled." {
		t.Errorf("recipient %+v", r)
	}
	if d.Status != queue.PermFail || d.Details != "Delivery canceled." {
		t.Errorf("domain %+v", d)
	}
	if m.Domains[0].Status != queue.Scheduled || m.Domains[2].Status != queue.Scheduled {
		t.Errorf("other domains changed: %+v", m.Domains)
	}
	if !m.Due().Equal(T0.Add(6 * time.Hour)) {
		t.Errorf("due = %v", m.Due())
	}
	checkDue(t, q)
	res, _ = q.Cancel(ctx, queue.CancelRequest{Filter: queue.Filter{IDs: []queue.ID{M5}, Recipient: []string{"frank@example.org"}}})
	if res.Count != 0 {
		t.Errorf("second cancel counted %+v", res)
	}
	res, _ = q.Cancel(ctx, queue.CancelRequest{Filter: queue.Filter{Sender: []string{"@corp.example"}, Recipient: []string{"@outlook.com"}}})
	if !slices.Equal(res.IDs, []queue.ID{M3}) {
		t.Errorf("cancel outlook: %+v", res)
	}
	if _, err := q.Get(ctx, M3); !errors.Is(err, queue.ErrNotFound) {
		t.Errorf("M3 should be removed: %v", err)
	}
	if _, err := q.Cancel(ctx, queue.CancelRequest{Filter: queue.Filter{Recipient: []string{"<>"}}}); err == nil || !strings.HasPrefix(err.Error(), "cancel: recipient filter: ") {
		t.Errorf("cancel of <>: %v", err)
	}

	// A glob over several messages; the domain with a delivered recipient
	// becomes Completed; a literal % is no wildcard.
	q2, _ := s.queue(t)
	a := msg(0x10, "s@s.org", T0, "ok@d.org", "x1@d.org", "x2@d.org", "keep@e.org", "x%@e.org")
	a.Domains[0].Recipients[0].Status, a.Domains[0].Recipients[0].Code = queue.Completed, 250
	put(t, q2, a, msg(0x20, "s@s.org", T0, "x3@d.org"))
	res, _ = q2.Cancel(ctx, queue.CancelRequest{Filter: queue.Filter{Recipient: []string{"x?@*"}}})
	if !slices.Equal(res.IDs, []queue.ID{0x10, 0x20}) || !maps.Equal(res.Domains, map[string]int{"d.org": 2, "e.org": 1}) {
		t.Errorf("glob cancel %+v", res)
	}
	m = mustGet(t, q2, 0x10)
	if m.Domains[0].Status != queue.Completed || m.Domains[1].Status != queue.Scheduled || m.Domains[1].Recipients[0].Status != queue.Scheduled {
		t.Errorf("domains after glob cancel: %+v", m.Domains)
	}
	if _, err := q2.Get(ctx, 0x20); !errors.Is(err, queue.ErrNotFound) {
		t.Errorf("0x20 should be gone")
	}
	res, _ = q2.Cancel(ctx, queue.CancelRequest{Filter: queue.Filter{Recipient: []string{"k%p@e.org"}}})
	if res.Count != 0 {
		t.Errorf("%% matched as a wildcard: %+v", res)
	}
	checkDue(t, q2)
}

func (s *suite) dryRun(t *testing.T) {
	ctx := context.Background()
	q, _ := s.queue(t)
	LoadFilterFixture(t, q)
	before, audits := snapshot(t, q), len(auditRows(t, q))
	reqs := []struct {
		name string
		run  func(dry bool) (queue.Result, error)
	}{
		{"retry", func(dry bool) (queue.Result, error) {
			return q.Retry(ctx, queue.RetryRequest{Filter: queue.Filter{Domain: []string{"gmail.com"}}, At: Now.Add(time.Hour), DryRun: dry})
		}},
		{"retry domain", func(dry bool) (queue.Result, error) {
			return q.Retry(ctx, queue.RetryRequest{Filter: queue.Filter{Domain: []string{"example.org"}}, DryRun: dry})
		}},
		{"cancel", func(dry bool) (queue.Result, error) {
			return q.Cancel(ctx, queue.CancelRequest{Filter: queue.Filter{Sender: []string{"bill*"}}, DryRun: dry})
		}},
		{"cancel recipients", func(dry bool) (queue.Result, error) {
			return q.Cancel(ctx, queue.CancelRequest{Filter: queue.Filter{Recipient: []string{"@gmail.com"}}, DryRun: dry})
		}},
	}
	for _, r := range reqs {
		dry, err := r.run(true)
		if err != nil {
			t.Fatal(err)
		}
		if !dry.DryRun || dry.Count == 0 {
			t.Errorf("%s: dry run result %+v", r.name, dry)
		}
		if !reflect.DeepEqual(snapshot(t, q), before) || len(auditRows(t, q)) != audits {
			t.Fatalf("%s: the dry run changed the queue", r.name)
		}
	}
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

func (s *suite) audit(t *testing.T) {
	q, c := s.queue(t)
	ctx := queue.WithSource(context.Background(), "script purge.lua bad@example.com")
	bg := context.Background()
	if _, err := q.LoadDemo(bg, 0, 1); err != nil {
		t.Fatal(err)
	}
	c.Set(Now.Add(time.Minute))
	res, err := q.Retry(ctx, queue.RetryRequest{Filter: queue.Filter{Sender: []string{"bill1@example.net"}, Domain: []string{"domain1.test"}}, At: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	c.Set(Now.Add(2 * time.Minute))
	q.Cancel(bg, queue.CancelRequest{Filter: queue.Filter{IDs: []queue.ID{0x52B91F716}, Recipient: []string{"delay@example.org"}}})
	q.Retry(bg, queue.RetryRequest{Filter: queue.Filter{All: true}, DryRun: true}) // not audited
	all := auditRows(t, q)
	if len(all) != 3 {
		t.Fatalf("audit = %+v", all)
	}
	cancel, retry, demo := all[0], all[1], all[2]
	if demo.Verb != "demo" || demo.Filter != "n=0 seed=1" || demo.Count != 6 || !slices.Equal(demo.IDs, queue.DocumentedIDs) || demo.Source != "cli" || demo.User != "tester" || !demo.At.Equal(Now) {
		t.Errorf("demo entry %+v", demo)
	}
	if retry.Verb != "retry" || retry.Source != "script purge.lua bad@example.com" || retry.Filter != "sender=bill1@example.net domain=domain1.test; at=2026-01-02T03:04:05Z" ||
		!slices.Equal(retry.IDs, res.IDs) || retry.Count != 1 || !retry.At.Equal(Now.Add(time.Minute)) {
		t.Errorf("retry entry %+v", retry)
	}
	if cancel.Verb != "cancel" || cancel.Filter != "ids=52B91F716 rcpt=delay@example.org" || cancel.Count != 1 || cancel.Seq <= retry.Seq {
		t.Errorf("cancel entry %+v", cancel)
	}
	got, _ := q.Audit(bg, queue.AuditQuery{Verb: "retry"})
	if len(got) != 1 || got[0].Seq != retry.Seq {
		t.Errorf("by verb: %+v", got)
	}
	got, _ = q.Audit(bg, queue.AuditQuery{Since: Now.Add(90 * time.Second)})
	if len(got) != 1 || got[0].Verb != "cancel" {
		t.Errorf("since: %+v", got)
	}
	got, _ = q.Audit(bg, queue.AuditQuery{Limit: 2})
	if len(got) != 2 || got[0].Verb != "cancel" {
		t.Errorf("limit: %+v", got)
	}
	if _, err := q.Audit(bg, queue.AuditQuery{Since: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}); err == nil {
		t.Error("an audit since year 10000 was accepted")
	}
}

func (s *suite) summary(t *testing.T) {
	ctx := context.Background()
	q, _ := s.queue(t)
	LoadFilterFixture(t, q)
	rows, err := q.Summary(ctx, queue.Filter{}, "domain")
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 6 || rows[0].Key != "gmail.com" || rows[0].Count != 3 || rows[0].Size != (1000+int64(M1))+(1000+int64(M3))+(1000+int64(M5)) ||
		!rows[0].Oldest.Equal(T0) || !rows[0].Newest.Equal(T0.Add(4*time.Hour)) {
		t.Errorf("by domain: %+v", rows)
	}
	var keys []string
	for _, r := range rows[1:] {
		keys = append(keys, r.Key)
	}
	if strings.Join(keys, " ") != "example.net example.org outlook.com sub.example.org x.test" {
		t.Errorf("ties not in name order: %v", keys)
	}
	rows, _ = q.Summary(ctx, queue.Filter{}, "sender")
	got := map[string]int{}
	for _, r := range rows {
		got[r.Key] = r.Count
	}
	if !maps.Equal(got, map[string]int{"bill@example.net": 2, "<>": 1, "bob@corp.example": 1, "billing@shop.test": 1}) || rows[0].Key != "bill@example.net" || rows[1].Key != "<>" {
		t.Errorf("by sender: %+v", rows)
	}
	rows, _ = q.Summary(ctx, queue.Filter{Domain: []string{"gmail.com"}}, "status")
	var st []string
	for _, r := range rows {
		st = append(st, r.Key+":"+strconv.Itoa(r.Count))
	}
	if strings.Join(st, " ") != "scheduled:3 delivered:1 tempfail:1" {
		t.Errorf("by status: %v", st)
	}
	rows, _ = q.Summary(ctx, queue.Filter{}, "age")
	if len(rows) != len(queue.AgeBuckets)+1 || rows[0].Key != "5m" || rows[len(rows)-1].Key != "1280m+" {
		t.Fatalf("by age: %+v", rows)
	}
	for _, r := range rows {
		want := 0
		if r.Key == "640m" {
			want = 5
		}
		if r.Count != want {
			t.Errorf("age bucket %s: %d, want %d", r.Key, r.Count, want)
		}
	}
	if rows, _ := q.Summary(ctx, queue.Filter{Sender: []string{"nobody@x.y"}}, "domain"); len(rows) != 0 {
		t.Errorf("empty selection: %+v", rows)
	}
	if rows, _ := q.Summary(ctx, queue.Filter{IDs: []queue.ID{1 << 63}}, "age"); len(rows) != len(queue.AgeBuckets)+1 {
		t.Errorf("empty selection by age: %+v", rows)
	}
	if _, err := q.Summary(ctx, queue.Filter{}, "color"); err == nil || !strings.Contains(err.Error(), "domain, sender, status or age") {
		t.Errorf("bad by: %v", err)
	}
}

func (s *suite) suggest(t *testing.T) {
	ctx := context.Background()
	q, _ := s.queue(t)
	LoadFilterFixture(t, q)
	q.LoadDemo(ctx, 0, 1)
	for _, c := range []struct {
		kind, prefix string
		limit        int
		want         []string
	}{
		{queue.SuggestID, "2", 10, []string{"22B91F716", "2B2", "2B91F716"}},
		{queue.SuggestID, "2b", 10, []string{"2B2", "2B91F716"}},
		{queue.SuggestID, "12B91F716", 10, []string{"12B91F716"}},
		{queue.SuggestID, "", 3, []string{"1A1", "2B2", "3C3"}},
		{queue.SuggestID, "zz", 10, nil},
		{queue.SuggestID, "0", 10, nil},
		{queue.SuggestSender, "bill", 3, []string{"bill1@example.net", "bill2@example.net", "bill3@example.net"}},
		{queue.SuggestSender, "BILL@", 10, []string{"bill@example.net"}},
		{queue.SuggestSender, "<", 10, []string{"<>"}},
		{queue.SuggestSender, "", 2, []string{"<>", "bill1@example.net"}},
		{queue.SuggestRecipient, "a", 10, []string{"alice@gmail.com"}},
		{queue.SuggestRecipient, "@gm", 10, []string{"@gmail.com"}},
		{queue.SuggestRecipient, "rcpt", 3, []string{"rcpt1@domain1.test", "rcpt1@domain2.test", "rcpt3@domain1.test"}},
		{queue.SuggestDomain, "d", 10, []string{"domain1.test", "domain2.test", "domain3.test", "domain4.test"}},
		{queue.SuggestDomain, "@EX", 10, []string{"example.net", "example.org"}},
		{queue.SuggestDomain, "zzz", 10, nil},
	} {
		got, err := q.Suggest(ctx, c.kind, c.prefix, c.limit)
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("Suggest(%s, %q, %d) = %q, %v; want %q", c.kind, c.prefix, c.limit, got, err, c.want)
		}
	}
	if _, err := q.Suggest(ctx, "colour", "", 5); err == nil {
		t.Error("unknown kind accepted")
	}
}

// importJSON: what MarshalJSON writes, ImportJSON reads back the same, in
// both of Stalwart's shapes.
func (s *suite) importJSON(t *testing.T) {
	ctx := context.Background()
	q, _ := s.queue(t)
	LoadFilterFixture(t, q)
	want := snapshot(t, q)
	var buf strings.Builder
	for i := range want {
		b, _ := want[i].MarshalJSON()
		buf.Write(b)
		buf.WriteString("\n\n")
	}
	q2, _ := s.queue(t)
	res, err := q2.ImportJSON(ctx, strings.NewReader(buf.String()))
	if err != nil {
		t.Fatal(err)
	}
	if res.Count != 5 || !slices.Equal(res.IDs, ids(want)) || res.Domains["gmail.com"] != 3 || res.DryRun {
		t.Errorf("result %+v", res)
	}
	if got := snapshot(t, q2); !reflect.DeepEqual(got, want) {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, want)
	}
	if es := auditRows(t, q2); len(es) != 1 || es[0].Verb != "import" || es[0].Filter != "format=json lines=10" || es[0].Count != 5 {
		t.Errorf("audit %+v", es)
	}
	// The v0.13 shape (recipients[] with their own schedules), and an API
	// response holding items.
	line := `{"data":{"items":[{"id":77,"return_path":"a@b.org","created":"2024-05-01T10:00:00Z","size":10,` +
		`"recipients":[{"address":"X@c.org","status":"scheduled","next_retry":"2024-05-01T13:00:00Z","expires":"2024-05-06T10:00:00Z","retry_num":0}]}]}}`
	res, err = q2.ImportJSON(ctx, strings.NewReader(line))
	if err != nil || res.Count != 1 {
		t.Fatalf("v0.13 shape: %+v, %v", res, err)
	}
	m := mustGet(t, q2, 77)
	if len(m.Domains) != 1 || m.Domains[0].Name != "c.org" || !m.Domains[0].Due.Equal(time.Date(2024, 5, 1, 13, 0, 0, 0, time.UTC)) || m.Domains[0].Recipients[0].Address != "X@c.org" {
		t.Errorf("v0.13 message %+v", m)
	}
	// A line of queue export carries the message's text: imported with it.
	text := "Subject: hello\r\n\r\nbody\r\n"
	line = `{"id":78,"return_path":"a@b.org","created":"2024-05-01T10:00:00Z","size":` + strconv.Itoa(len(text)) + `,` +
		`"recipients":[{"address":"y@c.org","status":"scheduled","next_retry":"2024-05-01T13:00:00Z","expires":"2024-05-06T10:00:00Z","retry_num":0}],` +
		`"message":"` + base64.StdEncoding.EncodeToString([]byte(text)) + `"}`
	if res, err = q2.ImportJSON(ctx, strings.NewReader(line)); err != nil || res.Count != 1 {
		t.Fatalf("a line with its text: %+v, %v", res, err)
	}
	if raw, err := q2.Raw(ctx, 78); err != nil || string(raw) != text {
		t.Errorf("text of an imported export line = %q, %v; want %q", raw, err, text)
	}
}

func (s *suite) importJSONErrors(t *testing.T) {
	ctx := context.Background()
	q, _ := s.queue(t)
	put(t, q, msg(0x10, "a@b.org", T0, "c@d.org"))
	before, audits := snapshot(t, q), len(auditRows(t, q))
	good := `{"id":32,"return_path":"a@b.org","domains":[{"name":"d.org","recipients":[{"address":"c@d.org"}]}]}`
	dup := `{"id":16,"return_path":"a@b.org","domains":[{"name":"d.org","recipients":[{"address":"c@d.org"}]}]}`
	for _, c := range []struct{ in, want string }{
		{good + "\nnot json\n", "import: line 2: not a JSON message object"},
		{good + "\n" + good + "\n", "import: line 2: message 20 appears twice (first on line 1)"},
		{good + "\n" + dup + "\n", "import: line 2: message 10 is already in the queue"},
		{`{"id":0,"domains":[]}`, "import: line 1: "},
		{good + "\n" + `{"id":33,"return_path":"a@b.org","domains":[]}`, "import: line 2: the message has no recipients"},
	} {
		_, err := q.ImportJSON(ctx, strings.NewReader(c.in))
		if err == nil || !strings.HasPrefix(err.Error(), c.want) || !strings.HasSuffix(err.Error(), "(nothing was imported)") {
			t.Errorf("import %q: %v, want an error starting %q and saying nothing was imported", c.in, err, c.want)
		}
	}
	if !reflect.DeepEqual(snapshot(t, q), before) || len(auditRows(t, q)) != audits {
		t.Error("a refused import changed the queue")
	}
}

func (s *suite) importEML(t *testing.T) {
	ctx := context.Background()
	q, _ := s.queue(t)
	raw := []byte("Return-Path: <Ann@Example.org>\r\nTo: Bob <bob@example.net>, carol@example.net\r\nCc: dave@other.example\r\nSubject: x\r\n\r\nhello\r\n")
	m, err := q.ImportEML(ctx, raw, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := mustGet(t, q, m.ID)
	if got.ReturnPath != "Ann@Example.org" || len(got.Recipients()) != 3 || got.Domains[0].Name != "example.net" || got.Size != int64(len(raw)) {
		t.Errorf("imported %+v", got)
	}
	if b, _ := q.Raw(ctx, m.ID); string(b) != string(raw) {
		t.Errorf("raw %q", b)
	}
	env := &queue.Envelope{Sender: "x@y.org", Recipients: []queue.EnvelopeRecipient{{Address: "z@w.org"}}}
	m2, err := q.ImportEML(ctx, raw, env)
	if err != nil || m2.ReturnPath != "x@y.org" || len(m2.Recipients()) != 1 {
		t.Errorf("with an envelope: %+v, %v", m2, err)
	}
	if _, err := q.ImportEML(ctx, []byte("Subject: no one\r\n\r\nx"), nil); err == nil || !strings.HasPrefix(err.Error(), "import: no sender") {
		t.Errorf("no sender: %v", err)
	}
	es := auditRows(t, q)
	if len(es) != 2 || es[1].Filter != "format=eml sender=Ann@Example.org recipients=3 size="+strconv.Itoa(len(raw)) {
		t.Errorf("audit %+v", es)
	}
}

func (s *suite) demo(t *testing.T) {
	ctx := context.Background()
	q, _ := s.queue(t)
	res, err := q.LoadDemo(ctx, 50, 9)
	if err != nil {
		t.Fatal(err)
	}
	if res.Count != 56 || !slices.IsSorted(res.IDs) || len(res.Domains) == 0 {
		t.Fatalf("demo result %+v", res)
	}
	for _, id := range queue.DocumentedIDs {
		if !slices.Contains(res.IDs, id) {
			t.Errorf("documented %s missing", id)
		}
	}
	m := mustGet(t, q, 0x52B91F716)
	if m.ReturnPath != "" || m.EnvID != "f" || m.Size != 1127 || m.Domains[0].Recipients[0].Code != 451 {
		t.Errorf("52B91F716 = %+v", m)
	}
	if b, _ := q.Raw(ctx, 0x2B91F716); len(b) != 1141 {
		t.Errorf("raw of 2B91F716: %d bytes, want 1141", len(b))
	}
	// Again: the documented ones are there already; the generated ones are
	// the same messages under new ids.
	res2, err := q.LoadDemo(ctx, 50, 9)
	if err != nil || res2.Count != 50 || res2.IDs[0] <= res.IDs[len(res.IDs)-1] {
		t.Errorf("second demo %+v, %v", res2.IDs[:3], err)
	}
	if _, err := q.LoadDemo(ctx, -1, 1); err == nil {
		t.Error("a negative demo was accepted")
	}
	// The same seed and clock give the same queue on every engine: compare
	// with a second queue.
	q2, _ := s.queue(t)
	q2.LoadDemo(ctx, 50, 9)
	a, b := snapshot(t, q2), snapshot(t, q)[:56]
	if !reflect.DeepEqual(a, b) {
		t.Error("the demo is not deterministic")
	}
}

func (s *suite) pause(t *testing.T) {
	ctx := context.Background()
	q, _ := s.queue(t)
	if p, err := q.Paused(ctx); err != nil || p {
		t.Fatalf("new queue paused %v, %v", p, err)
	}
	for i, c := range []struct {
		set, changed bool
	}{{true, true}, {true, false}, {false, true}, {false, false}} {
		changed, err := q.SetPaused(ctx, c.set)
		if err != nil || changed != c.changed {
			t.Errorf("step %d: SetPaused(%v) = %v, %v", i, c.set, changed, err)
		}
		if p, _ := q.Paused(ctx); p != c.set {
			t.Errorf("step %d: paused %v", i, p)
		}
	}
	es := auditRows(t, q)
	if len(es) != 2 || es[0].Verb != "resume" || es[1].Verb != "pause" || es[0].Filter != "" || es[0].Count != 0 {
		t.Errorf("audit %+v", es)
	}
}

func (s *suite) runModes(t *testing.T) {
	ctx := context.Background()
	q, _ := s.queue(t)
	LoadFilterFixture(t, q)
	before, audits := snapshot(t, q), len(auditRows(t, q))
	boom := errors.New("boom")
	err := q.Run(ctx, queue.RunWrite, func(tx queue.Txn) error {
		if _, err := tx.Retry(queue.RetryRequest{Filter: queue.Filter{All: true}}); err != nil {
			return err
		}
		if _, err := tx.Cancel(queue.CancelRequest{Filter: queue.Filter{Sender: []string{"<>"}}}); err != nil {
			return err
		}
		if _, err := tx.Enqueue(queue.Envelope{Sender: "a@b.c", Recipients: []queue.EnvelopeRecipient{{Address: "d@e.f"}}}, []byte("x")); err != nil {
			return err
		}
		if n, _ := tx.Count(queue.Filter{Sender: []string{"<>"}}); n != 0 {
			t.Errorf("cancel not visible inside the transaction")
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("run: %v", err)
	}
	if !reflect.DeepEqual(snapshot(t, q), before) || len(auditRows(t, q)) != audits {
		t.Error("a unit that failed left changes or audit rows")
	}
	// A failed verb inside a unit that carries on leaves nothing of itself.
	err = q.Run(ctx, queue.RunWrite, func(tx queue.Txn) error {
		if _, err := tx.Enqueue(queue.Envelope{Sender: "bad", Recipients: []queue.EnvelopeRecipient{{Address: "d@e.f"}}}, nil); err == nil {
			t.Error("bad enqueue accepted")
		}
		if imp, ok := tx.(queue.TxImporter); ok {
			if _, err := imp.ImportJSON(strings.NewReader(`{"id":1,"domains":[{"name":"a.b","recipients":[{"address":"x@a.b"}]}]}` + "\nbad\n")); err == nil {
				t.Error("bad import accepted")
			}
		} else {
			t.Error("the engine's Txn imports nothing (queue.TxImporter)")
		}
		_, err := tx.Cancel(queue.CancelRequest{Filter: queue.Filter{Sender: []string{"<>"}}})
		return err
	})
	if err != nil || len(auditRows(t, q)) != audits+1 || mustCount(t, q, queue.Filter{}) != 4 || mustCount(t, q, queue.Filter{IDs: []queue.ID{1}}) != 0 {
		t.Errorf("carrying on after failed verbs: %v, %d audit rows, %d messages", err, len(auditRows(t, q)), mustCount(t, q, queue.Filter{}))
	}
	// A dry run keeps nothing; the verbs inside say DryRun.
	err = q.Run(ctx, queue.RunDryRun, func(tx queue.Txn) error {
		if !tx.DryRun() {
			t.Error("DryRun() false in a dry run")
		}
		res, err := tx.Cancel(queue.CancelRequest{Filter: queue.Filter{All: true}})
		if err != nil || !res.DryRun || res.Count != 4 {
			t.Errorf("cancel in a dry run: %+v, %v", res, err)
		}
		if n, _ := tx.Count(queue.Filter{}); n != 0 {
			t.Errorf("the dry run's change is not visible inside it: %d left", n)
		}
		return nil
	})
	if err != nil || mustCount(t, q, queue.Filter{}) != 4 {
		t.Errorf("dry run: %v, %d messages", err, mustCount(t, q, queue.Filter{}))
	}
	// A read unit refuses changes and sees one snapshot.
	err = q.Run(ctx, queue.RunRead, func(tx queue.Txn) error {
		if _, err := tx.Retry(queue.RetryRequest{Filter: queue.Filter{All: true}}); err == nil {
			t.Error("retry accepted in a read unit")
		}
		n1, _ := tx.Count(queue.Filter{})
		if _, err := q.Enqueue(ctx, queue.Envelope{Sender: "a@b.c", Recipients: []queue.EnvelopeRecipient{{Address: "d@e.f"}}}, nil); err != nil {
			t.Fatal(err)
		}
		if n2, _ := tx.Count(queue.Filter{}); n2 != n1 {
			t.Errorf("a read unit saw another's change: %d then %d", n1, n2)
		}
		_, err := tx.Get(M1)
		return err
	})
	if err != nil {
		t.Errorf("read unit: %v", err)
	}
	// A dry-run verb inside a write unit is undone alone.
	err = q.Run(ctx, queue.RunWrite, func(tx queue.Txn) error {
		res, err := tx.Cancel(queue.CancelRequest{Filter: queue.Filter{All: true}, DryRun: true})
		if err != nil || !res.DryRun || res.Count != 5 {
			t.Errorf("dry run in a unit: %+v %v", res, err)
		}
		if n, _ := tx.Count(queue.Filter{}); n != 5 {
			t.Errorf("a dry run inside a unit removed messages: %d left", n)
		}
		return nil
	})
	if err != nil {
		t.Error(err)
	}
	// A unit whose context ends keeps nothing.
	cctx, cancel := context.WithCancel(ctx)
	err = q.Run(cctx, queue.RunWrite, func(tx queue.Txn) error {
		if _, err := tx.Cancel(queue.CancelRequest{Filter: queue.Filter{All: true}}); err != nil {
			return err
		}
		cancel()
		return nil
	})
	if err == nil || mustCount(t, q, queue.Filter{}) != 5 {
		t.Errorf("a cancelled unit: %v, %d messages", err, mustCount(t, q, queue.Filter{}))
	}
}

func (s *suite) batches(t *testing.T) {
	ctx := context.Background()
	q, _ := s.queue(t)
	if _, err := q.LoadDemo(ctx, 2100, 5); err != nil {
		t.Fatal(err)
	}
	var got []queue.ID
	sizes := 0
	err := queue.EachBatch(ctx, q, queue.Filter{}, func(msgs []queue.Message) error {
		sizes++
		got = append(got, ids(msgs)...)
		return nil
	})
	if err != nil || !slices.Equal(got, ids(snapshot(t, q))) || sizes < 3 {
		t.Errorf("batches: %d ids in %d batches, %v", len(got), sizes, err)
	}
	stop := errors.New("stop")
	if err := queue.EachBatch(ctx, q, queue.Filter{}, func([]queue.Message) error { return stop }); !errors.Is(err, stop) {
		t.Errorf("an error from fn: %v", err)
	}
}
