package main

// Tests of serve's node name, and of several serve processes ("nodes")
// sharing one queue.

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3"

	"mqsh/internal/pgtest"
	"mqsh/queue"
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

// nodesQueue makes a queue of n messages due now, one recipient each over
// 20 domains, each text with its own Message-ID (<i@nodes.test>), in a
// queue file; with pg set it copies them into that PostgreSQL database
// (mqsh copy) and returns its URL.
func nodesQueue(t testing.TB, n int, pg string) string {
	t.Helper()
	db := filepath.Join(t.TempDir(), "nodes.db")
	q, err := queue.Open(db, queue.Options{User: "test"})
	if err != nil {
		t.Fatal(err)
	}
	err = q.Update(context.Background(), func(tx *queue.Tx) error {
		for i := range n {
			env := queue.Envelope{Sender: "s@a.test", Recipients: []queue.EnvelopeRecipient{{Address: fmt.Sprintf("u%d@d%d.test", i, i%20)}}}
			body := fmt.Sprintf("From: <s@a.test>\r\nTo: <u%d@d%d.test>\r\nMessage-ID: <%d@nodes.test>\r\nSubject: m%d\r\n\r\nHello.\r\n", i, i%20, i, i)
			if _, err := tx.Enqueue(env, []byte(body)); err != nil {
				return err
			}
		}
		return nil
	})
	q.Close()
	if err != nil {
		t.Fatal(err)
	}
	if pg == "" {
		return db
	}
	out, err := exec.Command(builtMQSH(t), "copy", db, pg).CombinedOutput()
	if err != nil {
		t.Fatalf("copy into PostgreSQL: %v\n%s", err, out)
	}
	return pg
}

var messageID = regexp.MustCompile(`(?im)^Message-ID: <(\d+)@nodes\.test>`)

// byMessageID counts the messages the sink received by Message-ID.
func (k *sink) byMessageID(t testing.TB) map[string]int {
	t.Helper()
	seen := map[string]int{}
	for _, m := range k.messages() {
		id := messageID.FindSubmatch(m.data)
		if id == nil {
			t.Fatalf("a message without a Message-ID of the test:\n%s", m.data)
		}
		seen[string(id[1])]++
	}
	return seen
}

// TestServeThreeNodesPostgres: three serve processes on one PostgreSQL
// queue deliver every message exactly once between them (counted by
// Message-ID at the sink), each doing a share of the work.
func TestServeThreeNodesPostgres(t *testing.T) {
	const n = 600
	k := startSink(t)
	k.setTempfail(false)
	k.slow = 5 * time.Millisecond // so that the nodes have work at the same time
	url := nodesQueue(t, n, pgtest.URL(t))
	start := time.Now()
	var nodes []*server
	for i := 1; i <= 3; i++ {
		nodes = append(nodes, startServe(t, url, "--smtp", "none", "--relay", k.addr, "--node", fmt.Sprintf("n%d", i), "--concurrency", "4"))
	}
	waitFor(t, 60*time.Second, "every delivery", func() bool { return int(k.n.Load()) >= n })
	waitFor(t, 10*time.Second, "an empty queue", func() bool { return strings.TrimSpace(mqsh(t, url, "queue", "list", "-o", "ids")) == "" })
	t.Logf("%d messages delivered by three nodes in %v", n, time.Since(start).Round(time.Millisecond))
	time.Sleep(500 * time.Millisecond) // a second delivery would show now
	seen := k.byMessageID(t)
	for i := range n {
		if c := seen[fmt.Sprint(i)]; c != 1 {
			t.Errorf("message %d delivered %d times", i, c)
		}
	}
	if len(k.messages()) != n {
		t.Errorf("%d deliveries, want %d", len(k.messages()), n)
	}
	total := 0
	for i, s := range nodes {
		c := strings.Count(s.output(), "status=sent")
		t.Logf("node n%d delivered %d", i+1, c)
		if c == 0 {
			t.Errorf("node n%d delivered nothing", i+1)
		}
		total += c
	}
	if total != n {
		t.Errorf("the nodes logged %d deliveries, want %d", total, n)
	}
}

// TestServeNodeKilledPostgres: a node killed (SIGKILL) in the middle of a
// delivery from a PostgreSQL queue loses nothing: another node, already
// running, delivers the message once the dead node's lease has run out.
func TestServeNodeKilledPostgres(t *testing.T) {
	k := startSink(t)
	k.setTempfail(false)
	k.slow = 30 * time.Second // the first node is killed while it waits
	url := nodesQueue(t, 1, pgtest.URL(t))
	a := startServe(t, url, "--smtp", "none", "--relay", k.addr, "--node", "a", "--lease", "3s")
	select {
	case <-k.dataSeen:
	case <-time.After(10 * time.Second):
		t.Fatalf("no delivery began:\n%s", a.output())
	}
	b := startServe(t, url, "--smtp", "none", "--relay", k.addr, "--node", "b", "--lease", "3s")
	a.cmd.Process.Kill()
	<-a.done
	a.done <- nil
	killed := time.Now()
	k.mu.Lock()
	k.slow = 0
	k.mu.Unlock()
	waitFor(t, 20*time.Second, "the delivery by node b", func() bool { return strings.Contains(b.output(), "status=sent") })
	t.Logf("node b delivered %v after node a was killed (the lease was 3s)", time.Since(killed).Round(time.Millisecond))
	if time.Since(killed) < time.Second {
		t.Errorf("node b delivered before node a's lease ran out")
	}
	waitFor(t, 5*time.Second, "an empty queue", func() bool { return strings.TrimSpace(mqsh(t, url, "queue", "list", "-o", "ids")) == "" })
}

// TestServeWakeUpPostgres: an idle node on a PostgreSQL queue (nothing
// due; it would look again only after 30 s) delivers within a second a
// message another process queues, and a deferred message within a second of
// a queue retry from another process: both are told by NOTIFY.
func TestServeWakeUpPostgres(t *testing.T) {
	k := startSink(t) // temp… recipients get 451 while tempfail is set
	url := pgtest.URL(t)
	mqsh(t, url, "queue", "demo") // creates the schema; six messages, none due soon
	mqsh(t, url, "queue", "cancel", "--all", "--yes")
	srv := startServe(t, url, "--smtp", "none", "--relay", k.addr, "--node", "idle")
	time.Sleep(time.Second) // the node has looked and found nothing due

	eml := filepath.Join(t.TempDir(), "m.eml")
	os.WriteFile(eml, []byte("From: <alice@example.org>\r\nTo: <temp-bob@example.com>\r\nMessage-ID: <1@nodes.test>\r\nSubject: wake\r\n\r\nHello.\r\n"), 0o600)
	// Each wake-up is timed from the end of the mqsh process that made the
	// change, by when it was committed: the start-up of a process, which a
	// loaded machine can stretch past a second, is no part of it.
	start := time.Now()
	mqsh(t, url, "queue", "import", eml)
	importing, start := time.Since(start), time.Now()
	waitFor(t, 5*time.Second, "the first attempt", func() bool { return strings.Contains(srv.output(), "status=deferred") })
	arrival := time.Since(start)

	k.setTempfail(false)
	start = time.Now()
	mqsh(t, url, "queue", "retry", "--all")
	retrying, start := time.Since(start), time.Now()
	waitFor(t, 5*time.Second, "the delivery after queue retry", func() bool { return len(k.messages()) == 1 })
	retry := time.Since(start)
	t.Logf("attempted %v after queue import (which took %v), delivered %v after queue retry (which took %v)",
		arrival.Round(time.Millisecond), importing.Round(time.Millisecond), retry.Round(time.Millisecond), retrying.Round(time.Millisecond))
	if arrival > time.Second || retry > time.Second {
		t.Errorf("woke %v and %v after the change, want within a second", arrival, retry)
	}
}
