package repl

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"mqsh/queue"
)

// queue hold -d holds that domain only: the count and the rule on stderr,
// the hold in status (who, why, until when), "(held)" for its recipients in
// list while the other domain's stay "(scheduled)", the held object in
// JSON; queue rules lists the rule; release -d releases it.
func TestHoldReleaseCommands(t *testing.T) {
	c := holdCLI(t)
	c.mustRun(t, "queue hold -d domain2.test --for 2h --reason 'rate limited' --rule")
	if got, want := c.stderr.String(), "\nHeld 2 message(s).\nAdded hold rule 1 for mail arriving later: domain=domain2.test, until Wed, 1 Mar 2023 14:00:00 +0000.\n"; got != want {
		t.Errorf("stderr %q, want %q", got, want)
	}
	c.mustRun(t, "queue status 2B91F716")
	golden(t, "status-held.txt", c.stdout.String())
	c.mustRun(t, "queue list 2B91F716")
	if out := c.stdout.String(); !strings.Contains(out, "rcpt1@domain2.test (held)") || !strings.Contains(out, "rcpt1@domain1.test (scheduled)") {
		t.Errorf("list:\n%s", out)
	}
	c.mustRun(t, "queue list --held true -o ids")
	if got := c.stdout.String(); got != "2B91F716\n22B91F716\n" {
		t.Errorf("list --held true: %q", got)
	}
	c.mustRun(t, "queue list -o json 2B91F716")
	var m struct {
		Held    bool `json:"held"`
		Domains []struct {
			Name string          `json:"name"`
			Held json.RawMessage `json:"held"`
		} `json:"domains"`
	}
	if err := json.Unmarshal(c.stdout.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	if !m.Held || m.Domains[0].Held != nil || string(m.Domains[1].Held) != `{"by":"alice","reason":"rate limited","since":"2023-03-01T12:00:00Z","until":"2023-03-01T14:00:00Z"}` {
		t.Errorf("json held %v, domains %s %s", m.Held, m.Domains[0].Held, m.Domains[1].Held)
	}

	c.mustRun(t, "queue rules")
	golden(t, "rules.txt", c.stdout.String())
	c.mustRun(t, "queue rules -o json")
	var r queue.HoldRuleJSON
	if err := json.Unmarshal(c.stdout.Bytes(), &r); err != nil || r.ID != 1 || r.Filter != "domain=domain2.test" || r.Hits != 0 || r.Ended {
		t.Errorf("rules json %+v %v", r, err)
	}

	c.mustRun(t, "queue release --dry-run -d domain2.test")
	if !strings.Contains(c.stderr.String(), "Dry run: would release 2 message(s); nothing was changed.\nPer domain:\n  domain2.test  2\n") {
		t.Errorf("dry run stderr %q", c.stderr.String())
	}
	c.mustRun(t, "queue release -d domain2.test")
	if got := c.stderr.String(); got != "\nReleased 2 message(s).\n" {
		t.Errorf("release stderr %q", got)
	}
	if c.get(t, "2B91F716").Held {
		t.Error("still held after release")
	}
	// Nothing held: an error, as retry and cancel say when nothing changed.
	if err := c.run(t, "queue release -d domain2.test"); err == nil || ExitCode(err) == 0 {
		t.Errorf("release of nothing held: %v", err)
	}
	c.mustRun(t, "queue rules rm 1")
	if got := c.stderr.String(); got != "Removed hold rule 1.\n" {
		t.Errorf("rules rm: %q", got)
	}
}

// holdCLI is newCLI(t, 0) on a queue whose audit user is alice, who is
// then named as the holder.
func holdCLI(t *testing.T) *cli {
	t.Helper()
	c := newCLI(t, -1)
	q, err := queue.Open(filepath.Join(t.TempDir(), "queue.db"), queue.Options{Now: c.env.Now, User: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	if _, err := q.LoadDemo(t.Context(), 0, 1); err != nil {
		t.Fatal(err)
	}
	c.env.Queue = q
	return c
}

// Bad input to hold, release and rules is refused with a sentence saying
// what was wrong, and nothing is changed.
func TestHoldCommandErrors(t *testing.T) {
	c := newCLI(t, 0)
	for line, want := range map[string]string{
		"queue hold --all --for 2h --until +3h": "give either '--for <DURATION>' or '--until <TIME>', not both",
		"queue hold --all --for -2h":            "invalid value '-2h' for '--for <DURATION>': want a duration to come",
		"queue hold --all --for soon":           "invalid value 'soon' for '--for <DURATION>'",
		"queue hold --all --until -1h":          "hold: the hold would end at 2023-03-01T11:00:00Z, which is not after now",
		"queue hold":                            "No messages were found.",
		"queue hold --all --rule":               "a hold rule needs a sender, recipient or domain",
		"queue hold 2B91F716 --rule":            "a hold rule catches arriving mail by sender, recipient and domain only, not by ids",
		"queue release":                         "No messages were found.",
		"queue list --held maybe":               "invalid value 'maybe' for '--held",
		"queue rules rm x":                      "invalid value 'x' for '<N>'",
		"queue rules rm 9":                      "there is no rule 9",
	} {
		err := c.run(t, line)
		if err == nil || ExitCode(err) == 0 {
			t.Errorf("%s: accepted", line)
			continue
		}
		if msg := err.Error() + c.stderr.String(); !strings.Contains(msg, want) {
			t.Errorf("%s: %q, want it to say %q", line, msg, want)
		}
	}
	if n, _ := c.env.Queue.Count(t.Context(), queue.Filter{Held: new(true)}); n != 0 {
		t.Errorf("%d messages held after refused commands", n)
	}
}

// A backend without holds (the remote Stalwart client) says so.
func TestHoldNeedsHolder(t *testing.T) {
	c := newCLI(t, 0)
	c.env.Queue = noHolds{c.env.Queue}
	for _, line := range []string{"queue hold --all", "queue release --all", "queue rules", "queue rules rm 1"} {
		err := c.run(t, line)
		if err == nil || !strings.Contains(err.Error(), "hold is not available on the queue at ") {
			t.Errorf("%s: %v", line, err)
		}
	}
}

// noHolds is a Backend without the Holder verbs.
type noHolds struct{ queue.Backend }
