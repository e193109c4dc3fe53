package repl

import (
	"context"
	"slices"
	"strings"
	"testing"

	"mqsh/internal/filtersamples"
	"mqsh/queue"
)

// filterSamples are the shared samples of every filter key.
var filterSamples = filtersamples.Values

// clientMessages adds mail as serve records it: with its SMTP client.
func clientMessages(t *testing.T, q queue.Backend) {
	if err := filtersamples.Add(context.Background(), q); err != nil {
		t.Fatal(err)
	}
}

// TestEveryFilterFlagSelects: the flag of every filter key reaches the
// engine: list and a cancel dry run select with it exactly what the
// engine's verbs select with the key's values, and something.
func TestEveryFilterFlagSelects(t *testing.T) {
	c := newCLI(t, 300)
	q := c.env.Queue
	clientMessages(t, q)
	for _, k := range queue.FilterKeys {
		if k.Flag == "" || k.ChangeOnly {
			continue
		}
		vals, ok := filterSamples[k.Name]
		if !ok {
			t.Errorf("no sample for filter key %s: add one that selects some of the demo queue", k.Name)
			continue
		}
		var f queue.Filter
		line := "queue list -o ids -p 100000"
		for _, v := range vals {
			if err := k.Parse(&f, v, cliNow); err != nil {
				t.Fatal(err)
			}
			line += " --" + k.Flag + " '" + v + "'"
		}
		msgs, err := q.List(context.Background(), f, queue.Page{})
		if err != nil {
			t.Fatal(err)
		}
		var want []string
		for _, m := range msgs {
			want = append(want, m.ID.String())
		}
		if len(want) == 0 {
			t.Errorf("%s: the sample selects nothing", k.Name)
			continue
		}
		c.mustRun(t, line)
		if got := strings.Fields(c.stdout.String()); !slices.Equal(got, want) {
			t.Errorf("%s:\n got %v\nwant %v", line, got, want)
		}
		// Through a verb that changes messages too (cancel's -r and -d name
		// the recipients to cancel: one pattern, see below).
		if k == queue.KeyRcpt || k == queue.KeyDomain {
			continue
		}
		c.mustRun(t, strings.Replace(line, "queue list -o ids -p 100000", "queue cancel --dry-run -o ids", 1))
		if got := strings.Fields(c.stdout.String()); !slices.Equal(got, want) {
			t.Errorf("cancel --dry-run with --%s: %d ids, want %d", k.Flag, len(got), len(want))
		}
	}
}

// TestScopeFlagsTakeSeveralValues: cancel's -r given twice names the
// recipients of either pattern, and the change is made to those recipients
// only: the messages' other domains stay pending.
func TestScopeFlagsTakeSeveralValues(t *testing.T) {
	c := newCLI(t, 300)
	ctx := context.Background()
	q := c.env.Queue
	// count is the number of pending recipients at domain.
	count := func(domain string) int {
		msgs, err := q.List(ctx, queue.Filter{Domain: []string{domain}}, queue.Page{})
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, m := range msgs {
			for _, d := range m.Domains {
				for _, r := range d.Recipients {
					if d.Name == domain && r.Status.Pending() {
						n++
					}
				}
			}
		}
		return n
	}
	others := count("gmail.com")
	if count("domain1.test") == 0 || count("domain2.test") == 0 || others == 0 {
		t.Fatal("the demo queue lacks the domains of this test")
	}
	c.mustRun(t, "queue cancel -r @domain1.test -r @domain2.test --yes")
	if n1, n2 := count("domain1.test"), count("domain2.test"); n1 != 0 || n2 != 0 {
		t.Errorf("after cancel -r @domain1.test -r @domain2.test: %d and %d recipients still pending there", n1, n2)
	}
	if got := count("gmail.com"); got != others {
		t.Errorf("gmail.com: %d recipients pending after, %d before: the scope reached other domains", got, others)
	}
}
