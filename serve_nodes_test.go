package main

// Tests of serve's node name, and of several serve processes ("nodes")
// sharing one queue.

import (
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3"
)

// lockedBy reads the lease holders of the domains of a queue file.
func lockedBy(t *testing.T, db string) []string {
	t.Helper()
	conn, err := sql.Open("sqlite3", "file:"+db+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	rows, err := conn.Query("SELECT locked_by FROM domains WHERE locked_by IS NOT NULL")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

// TestServeNodeName: --node names the server in its log lines, in the audit
// rows of the changes it makes (pausing, mail it queues) and, with its
// process id, in the leases it holds; without it the node is the host name.
func TestServeNodeName(t *testing.T) {
	k := startSink(t)
	k.slow = 2 * time.Second // the lease is read while the delivery waits
	db := newQueue(t)
	logf := filepath.Join(t.TempDir(), "mail.log")
	srv := startServe(t, db, "--node", "mx-7", "--paused", "--smtp", "127.0.0.1:0", "--relay", k.addr, "--log", logf)
	if !strings.Contains(srv.output(), "(paused: queue resume starts it) as node mx-7.") {
		t.Errorf("start-up does not name the node:\n%s", srv.output())
	}
	send(t, srv.smtp, "alice@example.org", []string{"bob@example.com"}, "named")
	mqsh(t, db, "queue", "resume")
	select {
	case <-k.dataSeen:
	case <-time.After(10 * time.Second):
		t.Fatalf("no delivery began:\n%s", srv.output())
	}
	want := fmt.Sprintf("mx-7:%d", srv.cmd.Process.Pid)
	if got := lockedBy(t, db); len(got) != 1 || got[0] != want {
		t.Errorf("lease held by %q, want %q", got, want)
	}
	waitFor(t, 10*time.Second, "the delivery", func() bool { return len(k.messages()) == 1 })
	waitFor(t, 5*time.Second, "an empty queue", func() bool { return strings.TrimSpace(mqsh(t, db, "queue", "list", "-o", "ids")) == "" })

	audit := mqsh(t, db, "queue", "audit", "-o", "json")
	for _, w := range []string{`"source":"serve on mx-7","verb":"pause"`, `"source":"cli","verb":"resume"`, `"source":"smtp on mx-7","verb":"enqueue"`} {
		if !strings.Contains(audit, w) {
			t.Errorf("audit lacks %s:\n%s", w, audit)
		}
	}
	b, _ := os.ReadFile(logf)
	for _, re := range []string{`(?m)^\S+Z mx-7 smtpd: [0-9A-F]+: client=`, `(?m)^\S+Z mx-7 delivery: [0-9A-F]+: to=<bob@example\.com> .* status=sent`} {
		if !regexp.MustCompile(re).Match(b) {
			t.Errorf("log lacks %s:\n%s", re, b)
		}
	}
	if regexp.MustCompile(`(?m)^\S+Z (smtpd|delivery):`).Match(b) {
		t.Errorf("a log line without the node:\n%s", b)
	}

	host, _ := os.Hostname()
	other := startServe(t, newQueue(t), "--smtp", "none", "--paused")
	if !strings.Contains(other.output(), " as node "+host+".") {
		t.Errorf("the default node is not the host name %q:\n%s", host, other.output())
	}
}
