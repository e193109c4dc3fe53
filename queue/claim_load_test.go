package queue

import (
	"bytes"
	"testing"
)

// A claim of several messages, some with more than one domain, gives each
// job its own message's envelope and body and only its own domain's
// pending recipients, in their order; a recipient already delivered is
// not handed out again.
func TestClaimLoadsEachJobsOwnRecipients(t *testing.T) {
	q, _ := openTest(t)
	m1, err := q.Enqueue(t.Context(), Envelope{Sender: "s1@a.example", EnvID: "env1", Recipients: []EnvelopeRecipient{
		{Address: "x@b.example", ORCPT: "rfc822;x@b.example"}, {Address: "z@c.example"}, {Address: "y@b.example", Notify: NotifySuccess}}},
		[]byte("Subject: one\r\n\r\none\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	m2 := enqueueTest(t, q, envTo("s2@a.example", "w@b.example"))
	jobs := claim(t, q, "w", 10)
	if len(jobs) != 3 {
		t.Fatalf("%d jobs, want 3", len(jobs))
	}
	want := map[[2]any][]string{
		{m1.ID, "b.example"}: {"x@b.example", "y@b.example"},
		{m1.ID, "c.example"}: {"z@c.example"},
		{m2.ID, "b.example"}: {"w@b.example"},
	}
	for _, j := range jobs {
		w, ok := want[[2]any{j.Message, j.Domain}]
		if !ok {
			t.Fatalf("unexpected job %s %s", j.Message, j.Domain)
		}
		var got []string
		for _, r := range j.Recipients {
			got = append(got, r.Address)
		}
		if len(got) != len(w) || (len(w) > 0 && got[0] != w[0]) || (len(w) > 1 && got[1] != w[1]) {
			t.Errorf("message %s domain %s: recipients %v, want %v", j.Message, j.Domain, got, w)
		}
		switch j.Message {
		case m1.ID:
			if j.ReturnPath != "s1@a.example" || j.EnvID != "env1" || !bytes.Contains(j.Raw, []byte("Subject: one")) || j.Size == 0 || j.Created.IsZero() {
				t.Errorf("job of message 1: %+v", j)
			}
			if j.Domain == "b.example" && (j.Recipients[0].ORCPT != "rfc822;x@b.example" || j.Recipients[1].Notify != NotifySuccess) {
				t.Errorf("recipients of message 1 lost their DSN parameters: %+v", j.Recipients)
			}
		case m2.ID:
			if j.ReturnPath != "s2@a.example" || !bytes.Contains(j.Raw, []byte("Subject: hi")) {
				t.Errorf("job of message 2: %+v", j)
			}
		}
	}
	// x delivered, y failed for now: the next claim of b.example hands out y alone.
	for _, j := range jobs {
		if j.Message == m1.ID && j.Domain == "b.example" {
			record(t, q, Attempt{Lease: j.Lease, Host: "mx[127.0.0.1]:25", Reply: "451 later", Recipients: []RcptResult{
				{Address: "x@b.example", Status: Completed, Code: 250, Message: "ok"},
				{Address: "y@b.example", Status: TempFail, Code: 451, Message: "later"}}, RetryAfter: -1})
		}
	}
	if _, err := q.writer.ExecContext(t.Context(), "UPDATE domains SET due = 0"); err != nil {
		t.Fatal(err)
	}
	again := claim(t, q, "w", 10)
	if len(again) != 1 || len(again[0].Recipients) != 1 || again[0].Recipients[0].Address != "y@b.example" || again[0].Recipients[0].Code != 451 {
		t.Errorf("second claim %+v, want b.example of message 1 with y@b.example alone", again)
	}
}

// Both domains of one message recorded in one batch: each takes its own
// recipients' answers, and the message goes once neither is pending.
func TestRecordTwoDomainsOfOneMessageInOneBatch(t *testing.T) {
	q, _ := openTest(t)
	m := enqueueTest(t, q, envTo("s@a.example", "x@b.example", "z@c.example", "y@b.example"))
	m2 := enqueueTest(t, q, envTo("s@a.example", "v@b.example", "w@c.example"))
	jobs := claim(t, q, "w", 10)
	if len(jobs) != 4 {
		t.Fatalf("%d jobs, want 4", len(jobs))
	}
	var batch []Attempt
	for _, j := range jobs {
		a := Attempt{Lease: j.Lease, Host: "mx[127.0.0.1]:25", Reply: "250 ok"}
		for _, r := range j.Recipients {
			st, code := Completed, 250
			if j.Message == m2.ID && j.Domain == "c.example" {
				st, code = TempFail, 451
			}
			a.Recipients = append(a.Recipients, RcptResult{Address: r.Address, Status: st, Code: code, Message: "reply"})
		}
		batch = append(batch, a)
	}
	record(t, q, batch...)
	if _, err := q.Get(t.Context(), m.ID); err == nil {
		t.Errorf("message %s, delivered in both its domains, is still queued", m.ID)
	}
	got := mustGet(t, q, m2.ID)
	for _, d := range got.Domains {
		want := Completed
		if d.Name == "c.example" {
			want = TempFail
		}
		if d.Status != want || d.Recipients[0].Status != want {
			t.Errorf("message 2 domain %s: %v with recipient %+v, want %v", d.Name, d.Status, d.Recipients[0], want)
		}
	}
}
