package queue

import (
	"bytes"
	"encoding/json"
	"path/filepath"
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
