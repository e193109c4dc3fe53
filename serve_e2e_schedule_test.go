package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// notice is a delivery status notification received at the sink: its
// recipient and its per-recipient status group.
type notice struct {
	to     string
	status map[string]string
}

// notices returns the notices (mail from <>) the sink has received.
func (k *sink) notices(t *testing.T) []notice {
	t.Helper()
	var out []notice
	for _, m := range k.messages() {
		if m.from != "" {
			continue
		}
		msg, err := mailRead(m.data)
		if err != nil {
			t.Fatal(err)
		}
		parts := reportParts(t, msg)
		if len(parts) < 2 || parts[1].ctype != "message/delivery-status" {
			t.Fatalf("a notice without a delivery-status part:\n%s", m.data)
		}
		groups := statusGroups(t, parts[1].body)
		if len(groups) != 2 {
			t.Fatalf("%d status groups, want 2:\n%s", len(groups), parts[1].body)
		}
		out = append(out, notice{to: strings.Join(m.to, ","), status: groups[1]})
	}
	return out
}

// TestServeDelayAndExpiry: with a schedule of seconds (retry every second,
// a delay notice 2s after arrival, expiry at 5s) a message the relay keeps
// deferring gets its sender one delay notice ("Action: delayed"), then at
// its expiry one failure notice ("Action: failed") carrying the last reply,
// and leaves the queue.
func TestServeDelayAndExpiry(t *testing.T) {
	k := startSink(t) // temp… recipients get 451 4.5.3
	db := newQueue(t)
	cfg := filepath.Join(t.TempDir(), "mqsh.toml")
	// The retries and notify time from the file, the expiry from a flag.
	if err := os.WriteFile(cfg, []byte("[serve]\nretry = [\"1s\"]\nnotify = [\"2s\"]\nexpire = \"1h\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := startServe(t, db, "--config", cfg, "--expire", "5s", "--smtp", "127.0.0.1:0", "--relay", k.addr, "--hostname", "mx.test")
	start := time.Now()
	send(t, srv.smtp, "alice@example.org", []string{"temp-bob@example.com"}, "slow going")

	waitFor(t, 10*time.Second, "the delay notice", func() bool { return len(k.notices(t)) >= 1 })
	delay := time.Since(start)
	n := k.notices(t)[0]
	if n.to != "alice@example.org" || n.status["action"] != "delayed" || n.status["status"] != "4.5.3" ||
		!strings.Contains(n.status["diagnostic-code"], "451 4.5.3 Try again later") {
		t.Errorf("delay notice to %s: %v", n.to, n.status)
	}
	// (The notice itself may still be on its way out of the queue.)
	if ids := strings.Fields(mqsh(t, db, "queue", "list", "-s", "alice@example.org", "-o", "ids")); len(ids) != 1 {
		t.Errorf("after the delay notice the queue holds %q from alice, want the deferred message", ids)
	}

	waitFor(t, 10*time.Second, "the failure notice", func() bool { return len(k.notices(t)) >= 2 })
	expired := time.Since(start)
	f := k.notices(t)[1]
	if f.to != "alice@example.org" || f.status["action"] != "failed" || f.status["final-recipient"] != "rfc822; temp-bob@example.com" ||
		!strings.Contains(f.status["diagnostic-code"], "451 4.5.3 Try again later") {
		t.Errorf("failure notice to %s: %v", f.to, f.status)
	}
	waitFor(t, 5*time.Second, "an empty queue", func() bool { return strings.TrimSpace(mqsh(t, db, "queue", "list", "-o", "ids")) == "" })
	t.Logf("delay notice after %v, failure notice after %v", delay.Round(time.Millisecond), expired.Round(time.Millisecond))
	if expired < 4*time.Second {
		t.Errorf("expired after %v, before its 5s", expired)
	}
	// Each notice once; the relay was tried every second meanwhile.
	if got := len(k.notices(t)); got != 2 {
		t.Errorf("%d notices, want 2", got)
	}
	if c := strings.Count(srv.output(), "status=deferred"); c < 3 {
		t.Errorf("%d deferrals logged in 5s with a retry every second, want 3 or more:\n%s", c, srv.output())
	}
	if c := strings.Count(srv.output(), "temp-bob@example.com"); c == 0 {
		t.Errorf("no log line names the recipient:\n%s", srv.output())
	}
}
