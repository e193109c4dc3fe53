package repl

import (
	"strings"
	"testing"
)

// A backend without bounce (the remote Stalwart client) says so, and
// nothing changes.
func TestBounceNotAvailable(t *testing.T) {
	c := newCLI(t, 0)
	b := newCountingBackend(c.env.Queue)
	b.location = "https://mail.example.org"
	c.env.Queue = b
	err := c.run(t, "bounce 2B91F716 --reason 'no thanks'")
	if err == nil || !strings.Contains(err.Error(), "bounce is not available on the Stalwart server at https://mail.example.org") {
		t.Errorf("bounce on a remote backend: %v", err)
	}
	if c.get(t, "2B91F716") == nil {
		t.Error("the message was removed")
	}
	// Without --reason: a usage error naming the flag.
	if err := c.run(t, "bounce 2B91F716"); err == nil || !strings.Contains(err.Error(), "--reason") {
		t.Errorf("bounce without a reason: %v", err)
	}
}
