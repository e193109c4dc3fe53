package repl

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mqsh/queue"
)

// explainQueue is the CLI's queue with one message from SMTP whose
// example.com domain was deferred once and whose example.net domain was
// delivered; its id is returned.
func explainQueue(t *testing.T, c *cli) queue.ID {
	t.Helper()
	q := c.env.Queue.(*queue.Queue)
	m, err := q.Enqueue(t.Context(), queue.Envelope{Sender: "alice@example.org",
		Recipients: []queue.EnvelopeRecipient{{Address: "bob@example.com"}, {Address: "carol@example.net"}},
		Client:     queue.Client{IP: "192.0.2.7", User: "alice"}}, []byte("Subject: hi\r\n\r\nhello\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	jobs, err := q.Claim(t.Context(), queue.ClaimRequest{Worker: "w1", Max: 10, Lease: time.Minute})
	if err != nil || len(jobs) != 2 {
		t.Fatalf("claim: %v, %d jobs", err, len(jobs))
	}
	for _, j := range jobs {
		a := queue.Attempt{Lease: j.Lease}
		if j.Domain == "example.com" {
			a.Host, a.Reply, a.DomainFail = "mx.example.com[192.0.2.1]:25", "421 4.7.0 Try again later", true
		} else {
			a.Host, a.Reply = "mx.example.net[192.0.2.2]:25", "250 2.0.0 OK"
			a.Recipients = []queue.RcptResult{{Address: "carol@example.net", Status: queue.Completed, Code: 250, Enhanced: "2.0.0", Message: "OK"}}
		}
		if _, err := q.Record(t.Context(), []queue.Attempt{a}); err != nil {
			t.Fatal(err)
		}
	}
	return m.ID
}

// newCLIAs is an empty queue like newCLI's whose changes are audited as
// made by user.
func newCLIAs(t *testing.T, user string) *cli {
	now := func() time.Time { return cliNow }
	q, err := queue.Open(filepath.Join(t.TempDir(), "queue.db"), queue.Options{Now: now, User: user})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	c := newCLI(t, -1)
	c.env.Queue = q
	return c
}

// explain words a demo message, a message with an attempts history, and a
// message no longer queued; -o json gives the engine's facts.
func TestExplain(t *testing.T) {
	c := newCLI(t, 0)
	c.mustRun(t, "queue explain 52B91F716")
	golden(t, "explain-demo.txt", c.stdout.String())

	c = newCLIAs(t, "tester")
	id := explainQueue(t, c)
	c.mustRun(t, "explain "+id.String())
	golden(t, "explain-deferred.txt", c.stdout.String())

	c.mustRun(t, "explain -o json "+id.String())
	var e queue.Explanation
	if err := json.Unmarshal(c.stdout.Bytes(), &e); err != nil {
		t.Fatalf("json: %v\n%s", err, c.stdout.String())
	}
	if e.ID != id || !e.Queued || len(e.Domains) != 2 || len(e.Domains[0].Attempts) != 1 || e.Domains[0].Attempts[0].Reply != "421 4.7.0 Try again later" {
		t.Errorf("json: %+v", e)
	}

	// Cancelled, it is gone, but its attempts still tell.
	c.mustRun(t, "cancel "+id.String())
	c.mustRun(t, "explain "+id.String())
	golden(t, "explain-gone.txt", c.stdout.String())
}

// A held message in a paused queue says both, and that its due waits.
func TestExplainHeldPaused(t *testing.T) {
	c := newCLIAs(t, "tester")
	q := c.env.Queue.(*queue.Queue)
	m, err := q.Enqueue(t.Context(), queue.Envelope{Sender: "alice@example.org", Held: true,
		Recipients: []queue.EnvelopeRecipient{{Address: "bob@example.com"}}}, []byte("Subject: hi\r\n\r\nhello\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	c.mustRun(t, "queue pause")
	c.mustRun(t, "explain "+m.ID.String())
	golden(t, "explain-held.txt", c.stdout.String())
}

// A hold of one domain (queue hold -d) is told with that domain; the
// message's other domain goes on, and explain says so.
func TestExplainPartlyHeld(t *testing.T) {
	c := newCLIAs(t, "tester")
	q := c.env.Queue.(*queue.Queue)
	m, err := q.Enqueue(t.Context(), queue.Envelope{Sender: "alice@example.org",
		Recipients: []queue.EnvelopeRecipient{{Address: "bob@gmail.example"}, {Address: "carol@other.example"}}}, []byte("Subject: hi\r\n\r\nhello\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	c.mustRun(t, "queue hold -d gmail.example --reason 'rate limited'")
	c.mustRun(t, "explain "+m.ID.String())
	out := c.stdout.String()
	for _, want := range []string{"Part of it is held: the held domains below wait", "gmail.example: ", "Held for gmail.example by tester", "rate limited"} {
		if !strings.Contains(out, want) {
			t.Errorf("explain lacks %q:\n%s", want, out)
		}
	}
	if strings.Count(out, "Held for") != 1 {
		t.Errorf("the hold should be told once, with its domain:\n%s", out)
	}
}

// An id neither queued nor ever tried is an error naming it (exit 1); the
// ids found are still explained.
func TestExplainNotFound(t *testing.T) {
	c := newCLI(t, 0)
	err := c.run(t, "explain 52B91F716 ABC")
	if ExitCode(err) != 1 || !strings.Contains(err.Error(), "not found: ABC") {
		t.Errorf("exit %d: %v", ExitCode(err), err)
	}
	if !strings.Contains(c.stderr.String(), "Message ABC is not queued and no delivery attempt of it is recorded.") ||
		!strings.HasPrefix(c.stdout.String(), "Message 52B91F716 from ") {
		t.Errorf("stdout %q\nstderr %q", c.stdout.String(), c.stderr.String())
	}
	if err := c.run(t, "explain xyz"); ExitCode(err) != 1 || !strings.Contains(err.Error(), `"xyz"`) {
		t.Errorf("bad id: exit %d: %v", ExitCode(err), err)
	}
}
