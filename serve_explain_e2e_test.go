package main

import (
	"strings"
	"testing"
	"time"
)

// TestServeExplainAttempts: a message the relay defers is explained, from
// another mqsh process, with the attempt serve made: its time, the relay and
// the 4xx reply, and the next retry.
func TestServeExplainAttempts(t *testing.T) {
	k := startSink(t)
	db := newQueue(t)
	srv := startServe(t, db, "--smtp", "127.0.0.1:0", "--relay", k.addr)
	send(t, srv.smtp, "alice@example.org", []string{"temp-bob@example.com"}, "deferred")
	waitFor(t, 10*time.Second, "the deferral", func() bool { return strings.Contains(srv.output(), "status=deferred (451 4.5.3 Try again later)") })
	id := strings.TrimSpace(mqsh(t, db, "queue", "list", "-o", "ids"))
	if id == "" {
		t.Fatal("nothing queued")
	}
	out := mqsh(t, db, "queue", "explain", id)
	for _, want := range []string{
		"Message " + id + " from alice@example.org",
		"example.com: failed temporarily, to be retried; 1 attempt so far.",
		"Last reply: Code: 451, Enhanced code: 4.5.3, Message: Try again later",
		"Attempt 1 at ",
		" to 127.0.0.1[127.0.0.1]:" + strings.Split(k.addr, ":")[1] + ": 451 4.5.3 Try again later",
		"Next retry ",
		"Recipient temp-bob@example.com: tempfail",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("explain lacks %q:\n%s", want, out)
		}
	}
}
