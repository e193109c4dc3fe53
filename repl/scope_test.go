package repl

import (
	"strings"
	"testing"
	"time"
)

// A recipient filter given to retry moves the domains of those recipients
// only, as it does for cancel; the dry run says which recipients and what
// stays.
func TestRetryRecipientScope(t *testing.T) {
	c := newCLI(t, 0)
	// 2B91F716: rcpt1@domain1.test and rcpt1@domain2.test.
	before := c.get(t, "2B91F716")
	c.mustRun(t, "retry -r rcpt1@domain1.test --dry-run")
	if got := c.stderr.String(); !strings.Contains(got, "Dry run: would reschedule 1 domain(s) with recipients rcpt1@domain1.test in 1 message(s); the other domains of 1 of them keep their times; nothing was changed.") {
		t.Errorf("dry run says:\n%s", got)
	}
	c.mustRun(t, "retry -r rcpt1@domain1.test -t 2030-01-01T00:00:00Z")
	after := c.get(t, "2B91F716")
	want := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	for i, d := range after.Domains {
		moved := d.Name == "domain1.test"
		if moved && !d.Due.Equal(want) || !moved && !d.Due.Equal(before.Domains[i].Due) {
			t.Errorf("after retry -r rcpt1@domain1.test: %s due %v (was %v)", d.Name, d.Due, before.Domains[i].Due)
		}
	}
}

// cancel -r names the recipients to cancel; the dry run counts them.
func TestCancelDryRunScope(t *testing.T) {
	c := newCLI(t, 0)
	c.mustRun(t, "cancel -r @domain2.test --dry-run -o ids")
	if got := c.stderr.String(); !strings.Contains(got, "Dry run: would cancel 3 recipient(s) at domain2.test in 2 message(s); the other recipients of 2 of them stay; nothing was changed.") {
		t.Errorf("dry run says:\n%s", got)
	}
	c.mustRun(t, "cancel -r john@example.org --dry-run -o ids")
	if got := c.stderr.String(); !strings.Contains(got, "Dry run: would cancel 1 recipient(s) john@example.org in 1 message(s); nothing else is pending in them, so they go; nothing was changed.") {
		t.Errorf("dry run says:\n%s", got)
	}
}
