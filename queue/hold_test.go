package queue

import (
	"bytes"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// holdOfDomain returns the hold of the named domain of message id as Get
// reads it (nil: not held).
func holdOfDomain(t *testing.T, q *Queue, id ID, name string) *Hold {
	t.Helper()
	for _, d := range mustGet(t, q, id).Domains {
		if d.Name == name {
			return d.Hold
		}
	}
	t.Fatalf("message %s has no domain %s", id, name)
	return nil
}

func claimedDomains(jobs []Job) []string {
	var out []string
	for _, j := range jobs {
		out = append(out, j.Message.String()+":"+j.Domain)
	}
	return out
}

// A domain filter holds only that domain of a message; the other domain is
// still claimed for delivery, the held one is not, and list, Get and the
// held filter show the hold with who, why and until when.
func TestHoldPerDomain(t *testing.T) {
	q, _ := openTest(t)
	m := enqueueTest(t, q, envTo("s@a.example", "x@gmail.example", "y@other.example"))
	n := enqueueTest(t, q, envTo("s@a.example", "z@other.example"))

	res, err := q.Hold(t.Context(), HoldRequest{Filter: Filter{Domain: []string{"gmail.example"}}, Reason: "spam run", Until: testNow.Add(2 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if res.Count != 1 || res.IDs[0] != m.ID || res.Domains["gmail.example"] != 1 || len(res.Domains) != 1 || res.Rule != 0 {
		t.Fatalf("hold result %+v", res)
	}
	h := holdOfDomain(t, q, m.ID, "gmail.example")
	if h == nil || h.By != "tester" || h.Reason != "spam run" || !h.Since.Equal(testNow) || !h.Until.Equal(testNow.Add(2*time.Hour)) {
		t.Fatalf("hold %+v", h)
	}
	if holdOfDomain(t, q, m.ID, "other.example") != nil {
		t.Error("the other domain of the message is held too")
	}
	if got := mustGet(t, q, m.ID); !got.Held {
		t.Error("message not marked held")
	}
	yes, no := true, false
	if got := listAll(t, q, Filter{Held: &yes}, 10); len(got) != 1 || got[0] != m.ID {
		t.Errorf("held=true lists %v", got)
	}
	if got := listAll(t, q, Filter{Held: &no}, 10); len(got) != 1 || got[0] != n.ID {
		t.Errorf("held=false lists %v", got)
	}
	// The Go matcher agrees with the SQL.
	for _, msg := range []*Message{mustGet(t, q, m.ID), mustGet(t, q, n.ID)} {
		if (Filter{Held: &yes}).Match(msg) != (msg.ID == m.ID) {
			t.Errorf("Match(held=true) of %s disagrees", msg.ID)
		}
	}

	jobs := claim(t, q, "w", 10)
	got := strings.Join(claimedDomains(jobs), " ")
	want := m.ID.String() + ":other.example " + n.ID.String() + ":other.example"
	if got != want {
		t.Errorf("claimed %s, want %s (not the held gmail.example)", got, want)
	}
	if claim(t, q, "w2", 10) != nil {
		t.Error("the held domain was claimed")
	}
}

// A recipient filter holds the domain of that recipient only; with neither
// a recipient nor a domain filter every pending domain is held.
func TestHoldRecipientAndWhole(t *testing.T) {
	q, _ := openTest(t)
	m := enqueueTest(t, q, envTo("s@a.example", "one@gmail.example", "two@gmail.example", "y@other.example"))
	res, err := q.Hold(t.Context(), HoldRequest{Filter: Filter{Recipient: []string{"ONE@gmail.example"}}})
	if err != nil || res.Count != 1 || len(res.Domains) != 1 || res.Domains["gmail.example"] != 1 {
		t.Fatalf("hold -r: %+v %v", res, err)
	}
	if holdOfDomain(t, q, m.ID, "gmail.example") == nil || holdOfDomain(t, q, m.ID, "other.example") != nil {
		t.Error("hold -r did not hold exactly the recipient's domain")
	}
	if _, err := q.Hold(t.Context(), HoldRequest{Filter: Filter{Sender: []string{"s@a.example"}}}); err != nil {
		t.Fatal(err)
	}
	if holdOfDomain(t, q, m.ID, "other.example") == nil {
		t.Error("a sender filter did not hold every domain")
	}
	if claim(t, q, "w", 10) != nil {
		t.Error("a held message was claimed")
	}
	if _, ok, _ := q.NextDue(t.Context()); ok {
		t.Error("NextDue names a time with every domain held until released")
	}
}

// A hold with an end releases by itself: from then on list and Get show no
// hold, the held filter no longer selects it, NextDue names the end
// beforehand, and Claim takes the domain again.
func TestHoldExpires(t *testing.T) {
	q, c := openTest(t)
	m := enqueueTest(t, q, envTo("s@a.example", "x@gmail.example"))
	end := testNow.Add(time.Hour)
	if _, err := q.Hold(t.Context(), HoldRequest{Filter: Filter{IDs: []ID{m.ID}}, Until: end}); err != nil {
		t.Fatal(err)
	}
	if due, ok, err := q.NextDue(t.Context()); err != nil || !ok || !due.Equal(end) {
		t.Errorf("NextDue = %v %v %v, want the hold's end %v", due, ok, err, end)
	}
	if claim(t, q, "w", 1) != nil {
		t.Fatal("claimed while held")
	}
	c.Set(end)
	if h := holdOfDomain(t, q, m.ID, "gmail.example"); h != nil {
		t.Errorf("hold %+v still shown at its end", h)
	}
	yes := true
	if n := mustCount(t, q, Filter{Held: &yes}); n != 0 {
		t.Errorf("held=true counts %d at the hold's end", n)
	}
	if jobs := claim(t, q, "w", 1); len(jobs) != 1 || jobs[0].Message != m.ID {
		t.Errorf("claimed %+v at the hold's end, want the message", jobs)
	}
	var since any
	q.reader.QueryRow("SELECT hold_since FROM domains WHERE msg_id = ?", int64(m.ID)).Scan(&since)
	if since != nil {
		t.Errorf("Claim left the ended hold in place (hold_since %v)", since)
	}
}

// Release ends holds (only those of the matching domains with -d), is
// audited with the seq that HoldUndo reads back, and the released domain is
// claimed again.
func TestReleaseAndUndoRecord(t *testing.T) {
	q, _ := openTest(t)
	m := enqueueTest(t, q, envTo("s@a.example", "x@gmail.example", "y@other.example"))
	hres, err := q.Hold(t.Context(), HoldRequest{Filter: Filter{IDs: []ID{m.ID}}, Reason: "look first"})
	if err != nil || hres.Count != 1 || len(hres.Domains) != 2 {
		t.Fatalf("hold: %+v %v", hres, err)
	}
	res, err := q.ReleaseHold(t.Context(), ReleaseRequest{Filter: Filter{Domain: []string{"other.example"}}})
	if err != nil || res.Count != 1 || res.Domains["other.example"] != 1 || len(res.Domains) != 1 {
		t.Fatalf("release -d: %+v %v", res, err)
	}
	if holdOfDomain(t, q, m.ID, "other.example") != nil || holdOfDomain(t, q, m.ID, "gmail.example") == nil {
		t.Error("release -d released the wrong domains")
	}
	if jobs := claim(t, q, "w", 10); len(jobs) != 1 || jobs[0].Domain != "other.example" {
		t.Errorf("claimed %v after release -d, want other.example", claimedDomains(jobs))
	}
	// Nothing held left to release there: not counted, not audited.
	before := auditCount(t, q)
	if res, err := q.ReleaseHold(t.Context(), ReleaseRequest{Filter: Filter{Domain: []string{"other.example"}}}); err != nil || res.Count != 0 {
		t.Errorf("second release: %+v %v", res, err)
	}
	if auditCount(t, q) != before {
		t.Error("a release that changed nothing was audited")
	}

	entries, err := q.Audit(t.Context(), AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if entries[0].Verb != "release" || entries[0].Filter != "domain=other.example;" || entries[1].Verb != "hold" ||
		entries[1].Filter != "ids="+m.ID.String()+"; reason=\"look first\"" || entries[1].Count != 1 {
		t.Fatalf("audit %+v", entries[:2])
	}
	err = q.View(t.Context(), func(tx *Tx) error {
		prev, err := tx.HoldUndo(entries[0].Seq)
		if err != nil {
			return err
		}
		if len(prev) != 1 || prev[0].Message != m.ID || prev[0].DomainIdx != 1 || prev[0].Hold == nil || prev[0].Hold.Reason != "look first" || prev[0].Hold.By != "tester" {
			t.Errorf("release undo record %+v", prev)
		}
		prev, err = tx.HoldUndo(entries[1].Seq)
		if err != nil {
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
// audit log; an empty filter, a past end and a bad filter are refused with
// nothing changed.
func TestHoldDryRunAndRefusals(t *testing.T) {
	q, _ := openTest(t)
	m := enqueueTest(t, q, envTo("s@a.example", "x@gmail.example"))
	before, audits := snapshot(t, q), auditCount(t, q)
	res, err := q.Hold(t.Context(), HoldRequest{Filter: Filter{Domain: []string{"gmail.example"}}, Rule: true, DryRun: true})
	if err != nil || !res.DryRun || res.Count != 1 || res.IDs[0] != m.ID || res.Rule != 0 {
		t.Fatalf("dry run: %+v %v", res, err)
	}
	for name, r := range map[string]HoldRequest{
		"empty filter": {},
		"past end":     {Filter: Filter{All: true}, Until: testNow.Add(-time.Minute)},
		"bad domain":   {Filter: Filter{Domain: []string{"@"}}},
		"rule by id":   {Filter: Filter{IDs: []ID{m.ID}}, Rule: true},
		"rule on all":  {Filter: Filter{All: true}, Rule: true},
	} {
		if _, err := q.Hold(t.Context(), r); err == nil {
			t.Errorf("%s: accepted", name)
		} else if !strings.HasPrefix(err.Error(), "hold: ") {
			t.Errorf("%s: error %q does not name the verb", name, err)
		}
	}
	if _, err := q.Hold(t.Context(), HoldRequest{}); !errors.Is(err, ErrEmptyFilter) {
		t.Errorf("empty filter: %v", err)
	}
	if _, err := q.ReleaseHold(t.Context(), ReleaseRequest{}); !errors.Is(err, ErrEmptyFilter) {
		t.Errorf("release with an empty filter: %v", err)
	}
	if snapshot(t, q) != before || auditCount(t, q) != audits {
		t.Error("a dry run or a refused hold changed the queue")
	}
	if rules, _ := q.HoldRules(t.Context()); len(rules) != 0 {
		t.Errorf("rules after a dry run: %+v", rules)
	}
}

// A queue of schema step 2 whose arrival policy held a message is brought
// to step 3 with each pending domain of that message held by "policy"
// since it arrived; the other message is not held.
func TestMigrationHeldToHolds(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.db")
	oldQueue(t, path, 2, `INSERT INTO messages(id, rp_lc, rp_domain, created, size, due, held) VALUES(1, 'a@b.example', 'b.example', 1700000000, 10, 1700000000, 1), (2, 'a@b.example', 'b.example', 1700000000, 10, 1700000000, 0);
		INSERT INTO domains(msg_id, idx, name, status, due, expires) VALUES(1, 0, 'd.example', 0, 1700000000, 1800000000), (1, 1, 'e.example', 1, 1700000000, 1800000000), (2, 0, 'd.example', 0, 1700000000, 1800000000);
		INSERT INTO recipients(msg_id, idx, domain_idx, address_lc, status) VALUES(1, 0, 0, 'c@d.example', 0), (1, 1, 1, 'c@e.example', 1), (2, 0, 0, 'c@d.example', 0)`)
	c := &clock{t: time.Unix(1700000100, 0).UTC()}
	q, err := Open(path, Options{Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	m := mustGet(t, q, 1)
	h := m.Domains[0].Hold
	if !m.Held || h == nil || h.By != "policy" || h.Since.Unix() != 1700000000 || !h.Until.IsZero() || m.Domains[1].Hold != nil {
		t.Errorf("held message after the migration: held %v, domains %+v", m.Held, m.Domains)
	}
	if mustGet(t, q, 2).Held {
		t.Error("the message that was not held is held")
	}
	if jobs := claim(t, q, "w", 10); len(jobs) != 1 || jobs[0].Message != 2 {
		t.Errorf("claimed %v, want message 2 only", claimedDomains(jobs))
	}
}

// A held domain's JSON (as mqsh's HTTP API sends it) reads back with its
// hold, so that a client finishing a held=true listing keeps the message.
func TestHoldJSONRoundTrip(t *testing.T) {
	q, _ := openTest(t)
	m := enqueueTest(t, q, envTo("s@a.example", "x@gmail.example", "y@other.example"))
	if _, err := q.Hold(t.Context(), HoldRequest{Filter: Filter{Domain: []string{"gmail.example"}}, Reason: "why", Until: testNow.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	b, err := mustGet(t, q, m.ID).MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	var in MessageJSON
	if err := json.Unmarshal(b, &in); err != nil {
		t.Fatal(err)
	}
	back, err := in.Message(func() time.Time { return testNow })
	if err != nil {
		t.Fatal(err)
	}
	want := Hold{By: "tester", Reason: "why", Since: testNow, Until: testNow.Add(time.Hour)}
	if h := back.Domains[0].Hold; h == nil || *h != want || back.Domains[1].Hold != nil || !back.Held {
		t.Fatalf("decoded holds %+v %+v, want %+v on the first", back.Domains[0].Hold, back.Domains[1].Hold, want)
	}
	yes, no := true, false
	if !(Filter{Held: &yes}).Match(back) || (Filter{Held: &no}).Match(back) {
		t.Error("the held filter does not match the decoded message")
	}
}

// queue undo of a hold or a release puts back each domain's hold as it was
// before; a message whose holds a later change touched is left whole, and
// said so.
func TestUndoHold(t *testing.T) {
	q, c := openTest(t)
	m := enqueueTest(t, q, envTo("s@a.example", "x@gmail.example", "y@other.example"))
	n := enqueueTest(t, q, envTo("s@a.example", "z@gmail.example"))
	if _, err := q.Hold(t.Context(), HoldRequest{Filter: Filter{IDs: []ID{m.ID}}, Reason: "first"}); err != nil {
		t.Fatal(err)
	}
	c.Set(testNow.Add(time.Minute))
	if _, err := q.Hold(t.Context(), HoldRequest{Filter: Filter{Domain: []string{"gmail.example"}}, Reason: "second"}); err != nil {
		t.Fatal(err)
	}
	audit, _ := q.Audit(t.Context(), AuditQuery{Verb: "hold"})
	second, first := audit[0].Seq, audit[1].Seq

	// Undo of the second hold: m's gmail.example gets "first" back, n's
	// gmail.example is not held any more.
	res, err := q.Undo(t.Context(), UndoRequest{Seq: second})
	if err != nil || res.Count != 2 || len(res.Skipped) != 0 {
		t.Fatalf("undo of the second hold: %+v %v", res, err)
	}
	if h := holdOfDomain(t, q, m.ID, "gmail.example"); h == nil || h.Reason != "first" {
		t.Errorf("m's gmail.example after undo: %+v, want the first hold", h)
	}
	if holdOfDomain(t, q, n.ID, "gmail.example") != nil {
		t.Error("n's gmail.example still held after undo")
	}

	// A release undone puts the holds back.
	if _, err := q.ReleaseHold(t.Context(), ReleaseRequest{Filter: Filter{IDs: []ID{m.ID}}}); err != nil {
		t.Fatal(err)
	}
	if res, err = q.Undo(t.Context(), UndoRequest{}); err != nil || res.Count != 1 || res.Verbs[0] != "release" {
		t.Fatalf("undo of the release: %+v %v", res, err)
	}
	if h := holdOfDomain(t, q, m.ID, "other.example"); h == nil || h.Reason != "first" {
		t.Errorf("m's other.example after undo of the release: %+v, want the first hold", h)
	}

	// A later hold of m overlaps the first: undo of the first leaves m as
	// it is, and says why.
	if _, err := q.Hold(t.Context(), HoldRequest{Filter: Filter{Domain: []string{"other.example"}}, Reason: "third"}); err != nil {
		t.Fatal(err)
	}
	if res, err = q.Undo(t.Context(), UndoRequest{Seq: first}); err != nil {
		t.Fatal(err)
	}
	if res.Count != 0 || len(res.Skipped) != 1 || res.Skipped[0].ID != m.ID || !strings.Contains(res.Skipped[0].Reason, "changed since") {
		t.Errorf("undo of the first hold after a later one: %+v", res)
	}
	if h := holdOfDomain(t, q, m.ID, "other.example"); h == nil || h.Reason != "third" {
		t.Errorf("m's other.example: %+v, want the later hold kept", h)
	}
}

// A JSON listing of held mail, imported into another queue, brings the
// holds back as they were: a listing is a backup of the holds too.
func TestImportJSONKeepsHolds(t *testing.T) {
	a, _ := openTest(t)
	b, _ := openTest(t)
	ctx := t.Context()
	if _, err := a.LoadDemo(ctx, 50, 1); err != nil {
		t.Fatal(err)
	}
	res, err := a.Hold(ctx, HoldRequest{Filter: Filter{Domain: []string{"gmail.com"}}, Reason: "rate limited", Until: testNow.Add(2 * time.Hour)})
	if err != nil || res.Count == 0 {
		t.Fatalf("hold: %+v %v", res, err)
	}
	var buf bytes.Buffer
	msgs, err := a.List(ctx, Filter{}, Page{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range msgs {
		j, _ := msgs[i].MarshalJSON()
		buf.Write(append(j, '\n'))
	}
	if _, err := b.ImportJSON(ctx, bytes.NewReader(buf.Bytes())); err != nil {
		t.Fatal(err)
	}
	held := true
	n, err := b.Count(ctx, Filter{Held: &held})
	if err != nil || n != res.Count {
		t.Fatalf("imported queue holds %d messages (%v), want %d", n, err, res.Count)
	}
	got := mustGet(t, b, res.IDs[0])
	for _, d := range got.Domains {
		if d.Name == "gmail.com" && (d.Hold == nil || d.Hold.Reason != "rate limited" || !d.Hold.Until.Equal(testNow.Add(2*time.Hour))) {
			t.Errorf("imported hold %+v", d.Hold)
		}
	}
}
