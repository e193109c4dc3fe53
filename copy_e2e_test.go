package main

// End-to-end tests of `mqsh copy FROM TO`: the built program, real queue
// files, and a PostgreSQL database of the test cluster.

import (
	"bytes"
	"database/sql"
	"os/exec"
	"strings"
	"testing"
	"time"

	"mqsh/internal/pgtest"
)

// mqshRun runs mqsh with args and returns its stdout, stderr and error.
func mqshRun(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	cmd := exec.Command(builtMQSH(t), args...)
	cmd.Env = append(cmd.Environ(), "MQSH_NOHISTORY=1")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	return out.String(), errb.String(), err
}

// copySource makes a queue file of the demo messages, 3,000 generated ones,
// and one queued over SMTP with DSN parameters (RET=FULL, ENVID, NOTIFY,
// ORCPT), held back by a paused server.
func copySource(t *testing.T) string {
	t.Helper()
	src := newQueue(t)
	mqsh(t, src, "queue", "demo", "3000")
	srv := startServe(t, src, "--smtp", "127.0.0.1:0", "--relay", "127.0.0.1:1", "--paused")
	sendDSN(t, srv.smtp, "alice@example.org", "bob@example.com", "orig-bob@example.com", "env-77")
	if err := srv.stop(t); err != nil {
		t.Fatal(err)
	}
	return src
}

// sameQueue checks that two queues list the same messages, with the same
// schedules and statuses, and the same texts.
func sameQueue(t *testing.T, a, b string) {
	t.Helper()
	la, lb := mqsh(t, a, "queue", "list", "-o", "json"), mqsh(t, b, "queue", "list", "-o", "json")
	if la != lb {
		t.Fatalf("the copy lists differently:\n%.2000s\n---\n%.2000s", la, lb)
	}
	ids := strings.Fields(mqsh(t, a, "queue", "list", "-o", "ids"))
	if len(ids) < 3000 {
		t.Fatalf("%d messages in the source", len(ids))
	}
	for _, id := range []string{ids[0], ids[len(ids)/2], ids[len(ids)-1]} {
		if ra, rb := mqsh(t, a, "queue", "raw", id), mqsh(t, b, "queue", "raw", id); ra != rb || ra == "" {
			t.Errorf("message %s: text %q, copied %q", id, ra, rb)
		}
	}
}

// TestCopyFileToFile: copy makes a new queue file holding every message as
// it is (ids, schedules, statuses, texts, DSN parameters), says how far it
// got on stderr, and refuses a second copy into the same queue (the ids are
// there) and a queue copied onto itself, changing nothing.
func TestCopyFileToFile(t *testing.T) {
	src := copySource(t)
	dst := newQueue(t)
	_, stderr, err := mqshRun(t, "copy", src, "sqlite:"+dst)
	if err != nil {
		t.Fatalf("copy: %v\n%s", err, stderr)
	}
	if !strings.Contains(stderr, "copy: 1000 of 3007 messages (33%)") || !strings.HasSuffix(stderr, "Copied 3007 message(s) from "+src+" to "+dst+".\n") {
		t.Errorf("stderr:\n%s", stderr)
	}
	sameQueue(t, src, dst)
	// What the JSON does not show: the DSN parameters.
	db, err := sql.Open("sqlite3", "file:"+dst+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var ret, env, orcpt string
	var notify int
	if err := db.QueryRow("SELECT m.ret, m.env_id, r.orcpt, r.notify FROM messages m JOIN recipients r ON r.msg_id = m.id WHERE m.env_id = 'env-77'").Scan(&ret, &env, &orcpt, &notify); err != nil {
		t.Fatal(err)
	}
	if ret != "FULL" || !strings.HasSuffix(orcpt, "orig-bob@example.com") || notify == 0 {
		t.Errorf("DSN parameters copied as RET=%q ORCPT=%q NOTIFY=%d", ret, orcpt, notify)
	}
	if audit := mqsh(t, dst, "queue", "audit", "-o", "json"); !strings.Contains(audit, `"verb":"import","filter":"format=copy from=`+src+`","count":3007`) {
		t.Errorf("audit:\n%s", audit)
	}

	_, stderr, err = mqshRun(t, "copy", src, dst)
	if err == nil || !strings.Contains(stderr, "is already in the queue") || !strings.Contains(stderr, "nothing was imported") {
		t.Errorf("second copy: %v\n%s", err, stderr)
	}
	if n := len(strings.Fields(mqsh(t, dst, "queue", "list", "-o", "ids"))); n != 3007 {
		t.Errorf("after the refused copy the queue holds %d", n)
	}
	_, stderr, err = mqshRun(t, "copy", src, src)
	if err == nil || !strings.Contains(stderr, "is both FROM and TO") {
		t.Errorf("copy onto itself: %v\n%s", err, stderr)
	}
	_, stderr, err = mqshRun(t, "copy", newQueue(t), dst)
	if err == nil || !strings.Contains(stderr, "no queue at ") {
		t.Errorf("copy from nothing: %v\n%s", err, stderr)
	}
}

// TestCopyFileToPostgres: the same copy into PostgreSQL, and back into a
// new file, loses nothing.
func TestCopyFileToPostgres(t *testing.T) {
	src := copySource(t)
	pg := pgtest.URL(t)
	start := time.Now()
	if _, stderr, err := mqshRun(t, "copy", src, pg); err != nil || !strings.Contains(stderr, "Copied 3007 message(s)") {
		t.Fatalf("copy into PostgreSQL: %v\n%s", err, stderr)
	}
	t.Logf("copied 3,007 messages into PostgreSQL in %v", time.Since(start).Round(time.Millisecond))
	sameQueue(t, src, pg)
	back := newQueue(t)
	if _, stderr, err := mqshRun(t, "copy", pg, back); err != nil {
		t.Fatalf("copy back: %v\n%s", err, stderr)
	}
	sameQueue(t, src, back)
}
