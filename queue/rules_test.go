package queue

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// hold --rule holds what is queued and stores a rule; a message arriving
// later to the rule's domain is held on that domain only (by "rule N", with
// the rule's reason and end), through Enqueue, EnqueueBatch and .eml import
// alike, and each counts a hit; other mail is not held; at the rule's end new
// mail is no longer held; removing a rule is audited and leaves its holds.
func TestHoldRuleCatchesArrivals(t *testing.T) {
	q, c := openTest(t)
	old := enqueueTest(t, q, envTo("s@a.example", "x@gmail.example"))
	end := testNow.Add(2 * time.Hour)
	res, err := q.Hold(t.Context(), HoldRequest{Filter: Filter{Domain: []string{"gmail.example"}}, Reason: "rate limited", Until: end, Rule: true})
	if err != nil || res.Count != 1 || res.IDs[0] != old.ID || res.Rule == 0 {
		t.Fatalf("hold --rule: %+v %v", res, err)
	}

	m := enqueueTest(t, q, envTo("t@a.example", "y@GMAIL.example", "z@other.example"))
	h := m.Domains[0].Hold
	if h == nil || h.Rule != res.Rule || h.By != "rule 1" || h.Reason != "rate limited" || !h.Until.Equal(end) || m.Domains[1].Hold != nil || !m.Held {
		t.Fatalf("enqueued message as returned: %+v", m.Domains)
	}
	if got := holdOfDomain(t, q, m.ID, "gmail.example"); got == nil || got.Rule != res.Rule {
		t.Errorf("stored hold %+v", got)
	}
	if holdOfDomain(t, q, m.ID, "other.example") != nil {
		t.Error("the rule held a domain outside its filter")
	}
	other := enqueueTest(t, q, envTo("t@a.example", "z@other.example"))
	if other.Held || mustGet(t, q, other.ID).Held {
		t.Error("the rule held mail it does not select")
	}
	err = q.Update(t.Context(), func(tx *Tx) error {
		out, errs, err := tx.EnqueueBatch([]NewMessage{{Env: envTo("u@a.example", "w@gmail.example"), Raw: []byte("Subject: b\r\n\r\nb\r\n")}})
		if err != nil || errs[0] != nil || out[0].Domains[0].Hold == nil {
			t.Errorf("batch: %v %v %+v", err, errs, out)
		}
		im, err := tx.ImportEML([]byte("From: v@a.example\r\nTo: e@gmail.example\r\nSubject: e\r\n\r\ne\r\n"), nil)
		if err != nil || !im.Held {
			t.Errorf("eml import: %v held %v", err, im != nil && im.Held)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	rules, err := q.HoldRules(t.Context())
	if err != nil || len(rules) != 1 {
		t.Fatalf("rules %+v %v", rules, err)
	}
	r := rules[0]
	if r.ID != res.Rule || r.Filter.String() != "domain=gmail.example" || r.Reason != "rate limited" || r.By != "tester" || !r.Until.Equal(end) || r.Hits != 3 || r.Ended(testNow) {
		t.Errorf("rule %+v, want 3 hits", r)
	}
	// Released by hand, the domain stays released; a later message is held again.
	if _, err := q.ReleaseHold(t.Context(), ReleaseRequest{Filter: Filter{IDs: []ID{m.ID}}}); err != nil {
		t.Fatal(err)
	}
	if holdOfDomain(t, q, m.ID, "gmail.example") != nil {
		t.Error("release left the rule's hold")
	}

	c.Set(end)
	late := enqueueTest(t, q, envTo("t@a.example", "y@gmail.example"))
	if late.Held {
		t.Error("an ended rule held new mail")
	}
	if rules, _ := q.HoldRules(t.Context()); len(rules) != 1 || !rules[0].Ended(end) || rules[0].Hits != 3 {
		t.Errorf("ended rule %+v", rules)
	}

	if err := q.RemoveHoldRule(t.Context(), 99); !errors.Is(err, ErrNoRule) || !strings.Contains(err.Error(), "queue rules") {
		t.Errorf("remove of a missing rule: %v", err)
	}
	if err := q.RemoveHoldRule(t.Context(), res.Rule); err != nil {
		t.Fatal(err)
	}
	if rules, _ := q.HoldRules(t.Context()); len(rules) != 0 {
		t.Errorf("rules after rm: %+v", rules)
	}
	entries, _ := q.Audit(t.Context(), AuditQuery{Verb: "rule-rm"})
	if len(entries) != 1 || entries[0].Filter != "rule=1 domain=gmail.example" {
		t.Errorf("rule-rm audit %+v", entries)
	}
}

// A rule by recipient holds that recipient's domain of a new message, and
// a rule made by a hold that matched nothing is still made (and audited).
func TestHoldRuleByRecipient(t *testing.T) {
	q, _ := openTest(t)
	res, err := q.Hold(t.Context(), HoldRequest{Filter: Filter{Recipient: []string{"*@spam.example"}, Sender: []string{"bad@a.example"}}, Rule: true})
	if err != nil || res.Count != 0 || res.Rule == 0 {
		t.Fatalf("hold --rule on nothing: %+v %v", res, err)
	}
	if entries, _ := q.Audit(t.Context(), AuditQuery{Verb: "hold"}); len(entries) != 1 || entries[0].Filter != `sender=bad@a.example rcpt=*@spam.example; rule` {
		t.Errorf("audit %+v", entries)
	}
	m := enqueueTest(t, q, envTo("bad@a.example", "x@spam.example", "y@fine.example"))
	if m.Domains[0].Hold == nil || m.Domains[1].Hold != nil {
		t.Errorf("domains %+v", m.Domains)
	}
	if n := enqueueTest(t, q, envTo("good@a.example", "x@spam.example")); n.Held {
		t.Error("held mail from another sender")
	}
}

// An arrival policy's hold (Envelope.Held) holds every domain by "policy";
// a rule does not count a hit for a domain the policy held.
func TestPolicyHoldIsPerDomain(t *testing.T) {
	q, _ := openTest(t)
	if _, err := q.Hold(t.Context(), HoldRequest{Filter: Filter{Domain: []string{"b.example"}}, Rule: true}); err != nil {
		t.Fatal(err)
	}
	env := envTo("s@a.example", "x@b.example", "y@c.example")
	env.Held, env.HoldReason = true, "spam score 9"
	m := enqueueTest(t, q, env)
	for _, d := range mustGet(t, q, m.ID).Domains {
		if d.Hold == nil || d.Hold.By != "policy" || d.Hold.Reason != "spam score 9" {
			t.Errorf("domain %s hold %+v, want by policy, with its reason", d.Name, d.Hold)
		}
	}
	env.HoldReason = "two\nlines"
	if _, err := q.Enqueue(t.Context(), env, []byte("x")); err == nil || !strings.Contains(err.Error(), "hold reason") {
		t.Errorf("a reason with a line break: %v", err)
	}
	if rules, _ := q.HoldRules(t.Context()); rules[0].Hits != 0 {
		t.Errorf("rule hits %d for mail the policy held", rules[0].Hits)
	}
}
