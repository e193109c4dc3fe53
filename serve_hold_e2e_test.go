package main

import (
	"strings"
	"testing"
	"time"
)

// TestServeHoldRule: a hold rule made with `queue hold --rule` catches mail
// arriving through serve's SMTP server; the held domain is not delivered
// while the message's other domain is; `queue release` from another process
// has it delivered.
func TestServeHoldRule(t *testing.T) {
	k := startSink(t)
	db := newQueue(t)
	mqsh(t, db, "queue", "demo") // a queue file to hold on (its messages go to the refusing relay's domains)
	mqsh(t, db, "queue", "cancel", "--all", "--yes")
	mqsh(t, db, "queue", "hold", "-d", "held.test", "--rule", "--reason", "provider rate limit")
	srv := startServe(t, db, "--smtp", "127.0.0.1:0", "--relay", k.addr)
	send(t, srv.smtp, "alice@example.org", []string{"bob@free.test", "carol@held.test"}, "split")
	waitFor(t, 10*time.Second, "the delivery to free.test", func() bool { return len(k.messages()) == 1 })
	if m := k.messages()[0]; len(m.to) != 1 || m.to[0] != "bob@free.test" {
		t.Fatalf("delivered to %q, want bob@free.test only", m.to)
	}
	time.Sleep(1500 * time.Millisecond) // the server claims at least every second
	if n := len(k.messages()); n != 1 {
		t.Fatalf("%d deliveries while held.test is held, want 1", n)
	}
	list := mqsh(t, db, "queue", "list", "--held", "true", "-o", "json")
	if !strings.Contains(list, `"held":{"by":"rule 1","reason":"provider rate limit"`) {
		t.Fatalf("held message not listed with the rule's hold:\n%s", list)
	}
	if out := mqsh(t, db, "queue", "rules", "-o", "json"); !strings.Contains(out, `"hits":1`) {
		t.Errorf("rules: %s", out)
	}
	mqsh(t, db, "queue", "release", "-d", "held.test")
	waitFor(t, 10*time.Second, "the delivery after release", func() bool { return len(k.messages()) == 2 })
	if m := k.messages()[1]; len(m.to) != 1 || m.to[0] != "carol@held.test" {
		t.Errorf("delivered to %q after release, want carol@held.test", m.to)
	}
}
