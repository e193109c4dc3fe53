package enginetest

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"mqsh/queue"
)

// Holds, releases and hold rules (queue.Holder): per domain, with who, why,
// since and until; claims skip held domains; rules catch arrivals.

// holder opens a queue that must hold mail.
func (s *suite) holder(t *testing.T) (queue.Backend, queue.Holder, queue.DeliveryStore, *Clock) {
	t.Helper()
	q, ds, c := s.store(t)
	h, ok := q.(queue.Holder)
	if !ok {
		t.Fatalf("%T is not a queue.Holder", q)
	}
	return q, h, ds, c
}

// holdOfDomain returns the hold of the named domain of message id as Get
// reads it (nil: not held).
func holdOfDomain(t *testing.T, q queue.Backend, id queue.ID, name string) *queue.Hold {
	t.Helper()
	for _, d := range mustGet(t, q, id).Domains {
		if d.Name == name {
			return d.Hold
		}
	}
	t.Fatalf("message %s has no domain %s", id, name)
	return nil
}

func claimedDomains(jobs []queue.Job) string {
	var out []string
	for _, j := range jobs {
		out = append(out, j.Message.String()+":"+j.Domain)
	}
	return strings.Join(out, " ")
}

// A domain filter holds only that domain of a message; the other domain is
// still claimed, the held one is not; Get and the held filter show the hold
// with who, why and until when.
func (s *suite) holdPerDomain(t *testing.T) {
	q, h, ds, _ := s.holder(t)
	ctx := context.Background()
	m := enqueue(t, q, envTo("s@a.example", "x@gmail.example", "y@other.example"))
	n := enqueue(t, q, envTo("s@a.example", "z@other.example"))
	res, err := h.Hold(ctx, queue.HoldRequest{Filter: queue.Filter{Domain: []string{"gmail.example"}}, Reason: "spam run", Until: Now.Add(2 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if res.Count != 1 || res.IDs[0] != m.ID || res.Domains["gmail.example"] != 1 || len(res.Domains) != 1 || res.Rule != 0 {
		t.Fatalf("hold result %+v", res)
	}
	hd := holdOfDomain(t, q, m.ID, "gmail.example")
	if hd == nil || hd.By != "tester" || hd.Reason != "spam run" || !hd.Since.Equal(Now) || !hd.Until.Equal(Now.Add(2*time.Hour)) {
		t.Fatalf("hold %+v", hd)
	}
	if holdOfDomain(t, q, m.ID, "other.example") != nil {
		t.Error("the other domain of the message is held too")
	}
	if !mustGet(t, q, m.ID).Held {
		t.Error("message not marked held")
	}
	yes, no := true, false
	if got := listAll(t, q, queue.Filter{Held: &yes}, 10); len(got) != 1 || got[0] != m.ID {
		t.Errorf("held=true lists %v", got)
	}
	if got := listAll(t, q, queue.Filter{Held: &no}, 10); len(got) != 1 || got[0] != n.ID {
		t.Errorf("held=false lists %v", got)
	}
	for _, msg := range []*queue.Message{mustGet(t, q, m.ID), mustGet(t, q, n.ID)} {
		if (queue.Filter{Held: &yes}).Match(msg) != (msg.ID == m.ID) {
			t.Errorf("Match(held=true) of %s disagrees", msg.ID)
		}
	}
	got := claimedDomains(claim(t, ds, "w", 10))
	if want := m.ID.String() + ":other.example " + n.ID.String() + ":other.example"; got != want {
		t.Errorf("claimed %s, want %s (not the held gmail.example)", got, want)
	}
	if jobs := claim(t, ds, "w2", 10); jobs != nil {
		t.Errorf("the held domain was claimed: %s", claimedDomains(jobs))
	}
}

// A recipient filter holds that recipient's domain only; a sender filter
// holds every pending domain; NextDue then names nothing.
func (s *suite) holdRecipientAndWhole(t *testing.T) {
	q, h, ds, _ := s.holder(t)
	ctx := context.Background()
	m := enqueue(t, q, envTo("s@a.example", "one@gmail.example", "two@gmail.example", "y@other.example"))
	res, err := h.Hold(ctx, queue.HoldRequest{Filter: queue.Filter{Recipient: []string{"ONE@gmail.example"}}})
	if err != nil || res.Count != 1 || len(res.Domains) != 1 || res.Domains["gmail.example"] != 1 {
		t.Fatalf("hold -r: %+v %v", res, err)
	}
	if holdOfDomain(t, q, m.ID, "gmail.example") == nil || holdOfDomain(t, q, m.ID, "other.example") != nil {
		t.Error("hold -r did not hold exactly the recipient's domain")
	}
	if _, err := h.Hold(ctx, queue.HoldRequest{Filter: queue.Filter{Sender: []string{"s@a.example"}}}); err != nil {
		t.Fatal(err)
	}
	if holdOfDomain(t, q, m.ID, "other.example") == nil {
		t.Error("a sender filter did not hold every domain")
	}
	if jobs := claim(t, ds, "w", 10); jobs != nil {
		t.Errorf("a held message was claimed: %s", claimedDomains(jobs))
	}
	if _, ok, _ := ds.NextDue(ctx); ok {
		t.Error("NextDue names a time with every domain held until released")
	}
}

// A hold with an end releases by itself: NextDue names the end beforehand;
// from then on Get shows no hold, the held filter does not select it, and
// Claim takes the domain again.
func (s *suite) holdExpires(t *testing.T) {
	q, h, ds, c := s.holder(t)
	ctx := context.Background()
	m := enqueue(t, q, envTo("s@a.example", "x@gmail.example"))
	end := Now.Add(time.Hour)
	if _, err := h.Hold(ctx, queue.HoldRequest{Filter: queue.Filter{IDs: []queue.ID{m.ID}}, Until: end}); err != nil {
		t.Fatal(err)
	}
	if due, ok, err := ds.NextDue(ctx); err != nil || !ok || !due.Equal(end) {
		t.Errorf("NextDue = %v %v %v, want the hold's end %v", due, ok, err, end)
	}
	if jobs := claim(t, ds, "w", 1); jobs != nil {
		t.Fatal("claimed while held")
	}
	c.Set(end)
	if hd := holdOfDomain(t, q, m.ID, "gmail.example"); hd != nil {
		t.Errorf("hold %+v still shown at its end", hd)
	}
	yes := true
	if n := mustCount(t, q, queue.Filter{Held: &yes}); n != 0 {
		t.Errorf("held=true counts %d at the hold's end", n)
	}
	if jobs := claim(t, ds, "w", 1); len(jobs) != 1 || jobs[0].Message != m.ID {
		t.Errorf("claimed %+v at the hold's end, want the message", jobs)
	}
}

// holdUndoer is the engines' reading of the records an undo of a hold or a
// release takes back.
type holdUndoer interface {
	HoldUndo(seq int64) ([]queue.HoldPrevious, error)
}

// Release ends holds (only those of the matching domains with -d), is
// audited with the seq whose undo records HoldUndo reads back; the released
// domain is claimed again; a release of nothing is neither counted nor
// audited.
func (s *suite) releaseAndUndoRecord(t *testing.T) {
	q, h, ds, _ := s.holder(t)
	ctx := context.Background()
	m := enqueue(t, q, envTo("s@a.example", "x@gmail.example", "y@other.example"))
	hres, err := h.Hold(ctx, queue.HoldRequest{Filter: queue.Filter{IDs: []queue.ID{m.ID}}, Reason: "look first"})
	if err != nil || hres.Count != 1 || len(hres.Domains) != 2 {
		t.Fatalf("hold: %+v %v", hres, err)
	}
	res, err := h.ReleaseHold(ctx, queue.ReleaseRequest{Filter: queue.Filter{Domain: []string{"other.example"}}})
	if err != nil || res.Count != 1 || res.Domains["other.example"] != 1 || len(res.Domains) != 1 {
		t.Fatalf("release -d: %+v %v", res, err)
	}
	if holdOfDomain(t, q, m.ID, "other.example") != nil || holdOfDomain(t, q, m.ID, "gmail.example") == nil {
		t.Error("release -d released the wrong domains")
	}
	if jobs := claim(t, ds, "w", 10); len(jobs) != 1 || jobs[0].Domain != "other.example" {
		t.Errorf("claimed %s after release -d, want other.example", claimedDomains(jobs))
	}
	before := len(auditRows(t, q))
	if res, err := h.ReleaseHold(ctx, queue.ReleaseRequest{Filter: queue.Filter{Domain: []string{"other.example"}}}); err != nil || res.Count != 0 {
		t.Errorf("second release: %+v %v", res, err)
	}
	entries := auditRows(t, q)
	if len(entries) != before {
		t.Error("a release that changed nothing was audited")
	}
	if entries[0].Verb != "release" || entries[0].Filter != "domain=other.example;" || entries[1].Verb != "hold" ||
		entries[1].Filter != "ids="+m.ID.String()+"; reason=\"look first\"" || entries[1].Count != 1 {
		t.Fatalf("audit %+v", entries[:2])
	}
	err = q.Run(ctx, queue.RunRead, func(tx queue.Txn) error {
		hu, ok := tx.(holdUndoer)
		if !ok {
			t.Fatalf("%T cannot read the undo records of holds", tx)
		}
		prev, err := hu.HoldUndo(entries[0].Seq)
		if err != nil {
			return err
		}
		if len(prev) != 1 || prev[0].Message != m.ID || prev[0].DomainIdx != 1 || prev[0].Hold == nil || prev[0].Hold.Reason != "look first" || prev[0].Hold.By != "tester" {
			t.Errorf("release undo record %+v", prev)
		}
		if prev, err = hu.HoldUndo(entries[1].Seq); err != nil {
			return err
		}
		if len(prev) != 2 || prev[0].Hold != nil || prev[1].Hold != nil {
			t.Errorf("hold undo record %+v, want two domains not held before", prev)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// A dry run reports what would be held and changes nothing, not even the
// audit log or the rules; an empty filter, a past end, a bad filter and a
// rule by id or on all are refused, naming the verb, with nothing changed.
func (s *suite) holdDryRunAndRefusals(t *testing.T) {
	q, h, _, _ := s.holder(t)
	ctx := context.Background()
	m := enqueue(t, q, envTo("s@a.example", "x@gmail.example"))
	before, audits := snapshot(t, q), len(auditRows(t, q))
	res, err := h.Hold(ctx, queue.HoldRequest{Filter: queue.Filter{Domain: []string{"gmail.example"}}, Rule: true, DryRun: true})
	if err != nil || !res.DryRun || res.Count != 1 || res.IDs[0] != m.ID || res.Rule != 0 {
		t.Fatalf("dry run: %+v %v", res, err)
	}
	for name, r := range map[string]queue.HoldRequest{
		"empty filter": {},
		"past end":     {Filter: queue.Filter{All: true}, Until: Now.Add(-time.Minute)},
		"bad domain":   {Filter: queue.Filter{Domain: []string{"@"}}},
		"rule by id":   {Filter: queue.Filter{IDs: []queue.ID{m.ID}}, Rule: true},
		"rule on all":  {Filter: queue.Filter{All: true}, Rule: true},
		"bad reason":   {Filter: queue.Filter{All: true}, Reason: "two\nlines"},
	} {
		if _, err := h.Hold(ctx, r); err == nil {
			t.Errorf("%s: accepted", name)
		} else if !strings.HasPrefix(err.Error(), "hold: ") {
			t.Errorf("%s: error %q does not name the verb", name, err)
		}
	}
	if _, err := h.Hold(ctx, queue.HoldRequest{}); !errors.Is(err, queue.ErrEmptyFilter) {
		t.Errorf("empty filter: %v", err)
	}
	if _, err := h.Hold(ctx, queue.HoldRequest{Filter: queue.Filter{All: true}, Until: Now.Add(-time.Minute)}); !errors.Is(err, queue.ErrInvalidHold) {
		t.Errorf("past end: %v, want ErrInvalidHold", err)
	}
	if _, err := h.ReleaseHold(ctx, queue.ReleaseRequest{}); !errors.Is(err, queue.ErrEmptyFilter) {
		t.Errorf("release with an empty filter: %v", err)
	}
	if !sameMessages(snapshot(t, q), before) || len(auditRows(t, q)) != audits {
		t.Error("a dry run or a refused hold changed the queue")
	}
	if rules, _ := h.HoldRules(ctx); len(rules) != 0 {
		t.Errorf("rules after a dry run: %+v", rules)
	}
	// The rule a real run makes is number 1: the dry run left no gap.
	res, err = h.Hold(ctx, queue.HoldRequest{Filter: queue.Filter{Domain: []string{"gmail.example"}}, Rule: true})
	if err != nil || res.Rule != 1 {
		t.Errorf("first rule after a dry run: %+v %v, want rule 1", res, err)
	}
}

// sameMessages compares two snapshots by their JSON.
func sameMessages(a, b []queue.Message) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, _ := a[i].MarshalJSON()
		y, _ := b[i].MarshalJSON()
		if !bytes.Equal(x, y) {
			return false
		}
	}
	return true
}

// A JSON listing of held mail, imported into another queue of the engine,
// brings the holds back as they were.
func (s *suite) importJSONKeepsHolds(t *testing.T) {
	a, h, _, _ := s.holder(t)
	b, _ := s.queue(t)
	ctx := context.Background()
	m := enqueue(t, a, envTo("s@a.example", "x@gmail.example", "y@other.example"))
	res, err := h.Hold(ctx, queue.HoldRequest{Filter: queue.Filter{Domain: []string{"gmail.example"}}, Reason: "rate limited", Until: Now.Add(2 * time.Hour)})
	if err != nil || res.Count != 1 {
		t.Fatalf("hold: %+v %v", res, err)
	}
	put(t, b, *mustGet(t, a, m.ID))
	got := mustGet(t, b, m.ID)
	want := queue.Hold{By: "tester", Reason: "rate limited", Since: Now, Until: Now.Add(2 * time.Hour)}
	if hd := got.Domains[0].Hold; hd == nil || *hd != want || got.Domains[1].Hold != nil || !got.Held {
		t.Errorf("imported holds %+v %+v, want %+v on the first", got.Domains[0].Hold, got.Domains[1].Hold, want)
	}
}

// batchEnqueuer is the SMTP server's way in (both engines' Tx).
type batchEnqueuer interface {
	EnqueueBatch(msgs []queue.NewMessage) ([]*queue.Message, []error, error)
}

// hold --rule holds what is queued and stores a rule; a message arriving
// later to the rule's domain is held on that domain only (by "rule N", with
// the rule's reason and end), through Enqueue, EnqueueBatch and .eml import
// alike, each counting a hit; other mail is not held; at the rule's end new
// mail is no longer held; removing a rule is audited and leaves its holds.
func (s *suite) holdRuleCatchesArrivals(t *testing.T) {
	q, h, ds, c := s.holder(t)
	ctx := context.Background()
	old := enqueue(t, q, envTo("s@a.example", "x@gmail.example"))
	end := Now.Add(2 * time.Hour)
	res, err := h.Hold(ctx, queue.HoldRequest{Filter: queue.Filter{Domain: []string{"gmail.example"}}, Reason: "rate limited", Until: end, Rule: true})
	if err != nil || res.Count != 1 || res.IDs[0] != old.ID || res.Rule == 0 {
		t.Fatalf("hold --rule: %+v %v", res, err)
	}
	m := enqueue(t, q, envTo("t@a.example", "y@GMAIL.example", "z@other.example"))
	hd := m.Domains[0].Hold
	if hd == nil || hd.Rule != res.Rule || hd.By != "rule 1" || hd.Reason != "rate limited" || !hd.Until.Equal(end) || m.Domains[1].Hold != nil || !m.Held {
		t.Fatalf("enqueued message as returned: %+v", m.Domains)
	}
	if got := holdOfDomain(t, q, m.ID, "gmail.example"); got == nil || got.Rule != res.Rule || got.By != "rule 1" {
		t.Errorf("stored hold %+v", got)
	}
	if holdOfDomain(t, q, m.ID, "other.example") != nil {
		t.Error("the rule held a domain outside its filter")
	}
	if jobs := claim(t, ds, "w", 10); claimedDomains(jobs) != m.ID.String()+":other.example" {
		t.Errorf("claimed %s, want only the domain the rule did not hold", claimedDomains(jobs))
	}
	if other := enqueue(t, q, envTo("t@a.example", "z@other.example")); other.Held || mustGet(t, q, other.ID).Held {
		t.Error("the rule held mail it does not select")
	}
	err = q.Run(ctx, queue.RunWrite, func(tx queue.Txn) error {
		be, ok := tx.(batchEnqueuer)
		if !ok {
			t.Fatalf("%T has no EnqueueBatch", tx)
		}
		out, errs, err := be.EnqueueBatch([]queue.NewMessage{{Env: envTo("u@a.example", "w@gmail.example"), Raw: []byte("Subject: b\r\n\r\nb\r\n")}})
		if err != nil || errs[0] != nil || out[0].Domains[0].Hold == nil {
			t.Errorf("batch: %v %v %+v", err, errs, out)
		}
		im, err := tx.(queue.TxImporter).ImportEML([]byte("From: v@a.example\r\nTo: e@gmail.example\r\nSubject: e\r\n\r\ne\r\n"), nil)
		if err != nil || !im.Held {
			t.Errorf("eml import: %v held %v", err, im != nil && im.Held)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	rules, err := h.HoldRules(ctx)
	if err != nil || len(rules) != 1 {
		t.Fatalf("rules %+v %v", rules, err)
	}
	r := rules[0]
	if r.ID != res.Rule || r.Filter.String() != "domain=gmail.example" || r.Reason != "rate limited" || r.By != "tester" || !r.Until.Equal(end) || r.Hits != 3 || r.Ended(Now) {
		t.Errorf("rule %+v, want 3 hits", r)
	}
	if _, err := h.ReleaseHold(ctx, queue.ReleaseRequest{Filter: queue.Filter{IDs: []queue.ID{m.ID}}}); err != nil {
		t.Fatal(err)
	}
	if holdOfDomain(t, q, m.ID, "gmail.example") != nil {
		t.Error("release left the rule's hold")
	}
	c.Set(end)
	if late := enqueue(t, q, envTo("t@a.example", "y@gmail.example")); late.Held {
		t.Error("an ended rule held new mail")
	}
	if rules, _ := h.HoldRules(ctx); len(rules) != 1 || !rules[0].Ended(end) || rules[0].Hits != 3 {
		t.Errorf("ended rule %+v", rules)
	}
	if err := h.RemoveHoldRule(ctx, 99); !errors.Is(err, queue.ErrNoRule) || !strings.Contains(err.Error(), "queue rules") {
		t.Errorf("remove of a missing rule: %v", err)
	}
	if err := h.RemoveHoldRule(ctx, res.Rule); err != nil {
		t.Fatal(err)
	}
	if rules, _ := h.HoldRules(ctx); len(rules) != 0 {
		t.Errorf("rules after rm: %+v", rules)
	}
	entries, _ := q.Audit(ctx, queue.AuditQuery{Verb: "rule-rm"})
	if len(entries) != 1 || entries[0].Filter != "rule=1 domain=gmail.example" {
		t.Errorf("rule-rm audit %+v", entries)
	}
}

// A rule by recipient and sender holds that recipient's domain of a new
// message from that sender; a rule made by a hold that matched nothing is
// still made, and audited.
func (s *suite) holdRuleByRecipient(t *testing.T) {
	q, h, _, _ := s.holder(t)
	ctx := context.Background()
	res, err := h.Hold(ctx, queue.HoldRequest{Filter: queue.Filter{Recipient: []string{"*@spam.example"}, Sender: []string{"bad@a.example"}}, Rule: true})
	if err != nil || res.Count != 0 || res.Rule == 0 {
		t.Fatalf("hold --rule on nothing: %+v %v", res, err)
	}
	if entries, _ := q.Audit(ctx, queue.AuditQuery{Verb: "hold"}); len(entries) != 1 || entries[0].Filter != `sender=bad@a.example rcpt=*@spam.example; rule` {
		t.Errorf("audit %+v", entries)
	}
	m := enqueue(t, q, envTo("bad@a.example", "x@spam.example", "y@fine.example"))
	if m.Domains[0].Hold == nil || m.Domains[1].Hold != nil {
		t.Errorf("domains %+v", m.Domains)
	}
	if n := enqueue(t, q, envTo("good@a.example", "x@spam.example")); n.Held {
		t.Error("held mail from another sender")
	}
}

// An arrival policy's hold (Envelope.Held) holds every domain by "policy"
// with its reason; a rule counts no hit for a domain the policy held.
func (s *suite) policyHoldIsPerDomain(t *testing.T) {
	q, h, _, _ := s.holder(t)
	ctx := context.Background()
	if _, err := h.Hold(ctx, queue.HoldRequest{Filter: queue.Filter{Domain: []string{"b.example"}}, Rule: true}); err != nil {
		t.Fatal(err)
	}
	env := envTo("s@a.example", "x@b.example", "y@c.example")
	env.Held, env.HoldReason = true, "spam score 9"
	m := enqueue(t, q, env)
	for _, d := range mustGet(t, q, m.ID).Domains {
		if d.Hold == nil || d.Hold.By != "policy" || d.Hold.Reason != "spam score 9" {
			t.Errorf("domain %s hold %+v, want by policy, with its reason", d.Name, d.Hold)
		}
	}
	if rules, _ := h.HoldRules(ctx); len(rules) != 1 || rules[0].Hits != 0 {
		t.Errorf("rules %+v, want no hit for mail the policy held", rules)
	}
}

// queue undo of a hold or a release puts back each domain's hold as it was
// before; a message whose holds a later change touched is left whole, and
// said so. (An engine without undo skips this.)
func (s *suite) undoHold(t *testing.T) {
	q, h, _, c := s.holder(t)
	u, ok := q.(queue.Undoer)
	if !ok {
		t.Skipf("%T has no undo yet", q)
	}
	ctx := context.Background()
	m := enqueue(t, q, envTo("s@a.example", "x@gmail.example", "y@other.example"))
	n := enqueue(t, q, envTo("s@a.example", "z@gmail.example"))
	if _, err := h.Hold(ctx, queue.HoldRequest{Filter: queue.Filter{IDs: []queue.ID{m.ID}}, Reason: "first"}); err != nil {
		t.Fatal(err)
	}
	c.Set(Now.Add(time.Minute))
	if _, err := h.Hold(ctx, queue.HoldRequest{Filter: queue.Filter{Domain: []string{"gmail.example"}}, Reason: "second"}); err != nil {
		t.Fatal(err)
	}
	audit, _ := q.Audit(ctx, queue.AuditQuery{Verb: "hold"})
	second, first := audit[0].Seq, audit[1].Seq
	res, err := u.Undo(ctx, queue.UndoRequest{Seq: second})
	if err != nil || res.Count != 2 || len(res.Skipped) != 0 {
		t.Fatalf("undo of the second hold: %+v %v", res, err)
	}
	if hd := holdOfDomain(t, q, m.ID, "gmail.example"); hd == nil || hd.Reason != "first" {
		t.Errorf("m's gmail.example after undo: %+v, want the first hold", hd)
	}
	if holdOfDomain(t, q, n.ID, "gmail.example") != nil {
		t.Error("n's gmail.example still held after undo")
	}
	if _, err := h.ReleaseHold(ctx, queue.ReleaseRequest{Filter: queue.Filter{IDs: []queue.ID{m.ID}}}); err != nil {
		t.Fatal(err)
	}
	if res, err = u.Undo(ctx, queue.UndoRequest{}); err != nil || res.Count != 1 || res.Verbs[0] != "release" {
		t.Fatalf("undo of the release: %+v %v", res, err)
	}
	if hd := holdOfDomain(t, q, m.ID, "other.example"); hd == nil || hd.Reason != "first" {
		t.Errorf("m's other.example after undo of the release: %+v, want the first hold", hd)
	}
	if _, err := h.Hold(ctx, queue.HoldRequest{Filter: queue.Filter{Domain: []string{"other.example"}}, Reason: "third"}); err != nil {
		t.Fatal(err)
	}
	if res, err = u.Undo(ctx, queue.UndoRequest{Seq: first}); err != nil {
		t.Fatal(err)
	}
	if res.Count != 0 || len(res.Skipped) != 1 || res.Skipped[0].ID != m.ID || !strings.Contains(res.Skipped[0].Reason, "since") {
		t.Errorf("undo of the first hold after a later one: %+v", res)
	}
	if hd := holdOfDomain(t, q, m.ID, "other.example"); hd == nil || hd.Reason != "third" {
		t.Errorf("m's other.example: %+v, want the later hold kept", hd)
	}
}
