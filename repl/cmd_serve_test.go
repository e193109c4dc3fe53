package repl

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"mqsh/internal/testlog"
	"mqsh/queue"
)

// syncBuffer is a buffer the serving goroutine writes while the test reads.
type syncBuffer = testlog.Buffer

// TestServe: serve answers on a loopback port until its context ends, then
// stops gracefully and returns nil.
func TestServe(t *testing.T) {
	c := newCLI(t, 0)
	var stderr syncBuffer
	c.env.Stderr = &stderr
	t.Setenv("MQSH_ADMIN_SECRET", "secret")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, c.env, []string{"serve", "--http", "127.0.0.1:0", "--smtp", "127.0.0.1:0", "--relay", "127.0.0.1:1"})
	}()

	addr := regexp.MustCompile(`on (http://127\.0\.0\.1:\d+)\n`)
	var base string
	for deadline := time.Now().Add(10 * time.Second); base == "" && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if m := addr.FindStringSubmatch(stderr.String()); m != nil {
			base = m[1]
		}
		select {
		case err := <-done:
			t.Fatalf("serve ended: %v\n%s", err, stderr.String())
		default:
		}
	}
	if base == "" {
		t.Fatalf("no address announced:\n%s", stderr.String())
	}
	req, _ := http.NewRequest("GET", base+"/api/queue/messages?limit=1", nil)
	req.SetBasicAuth("admin", "secret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != `{"data":{"items":[730986262],"total":6,"status":true}}` {
		t.Errorf("%d %s", resp.StatusCode, b)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("serve returned %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("serve did not stop")
	}
	if !strings.Contains(stderr.String(), "Principals: admin (admin).") || !strings.HasSuffix(stderr.String(), "Stopped serving.\n") {
		t.Errorf("stderr:\n%s", stderr.String())
	}
}

func TestServeBadUse(t *testing.T) {
	c := newCLI(t, 0)
	t.Setenv("MQSH_ADMIN_SECRET", "")
	for _, c2 := range []struct{ line, want string }{
		{"serve --http 127.0.0.1:0", "nobody could log in to the HTTP API: give --config FILE"},
		{"serve --http 127.0.0.1:0 --tls-cert a.pem", "give --tls-cert and --tls-key together"},
		{"serve --http 127.0.0.1:0 --config /nonexistent/mqsh.toml", "configuration /nonexistent/mqsh.toml: open /nonexistent/mqsh.toml"},
		{"serve --http 256.0.0.1:99999 --config /nonexistent/mqsh.toml", "configuration /nonexistent/mqsh.toml"},
		{"serve --max-message-size 12x", "invalid --max-message-size: \"12x\" is not a size"},
		{"serve --connect-timeout soon", "invalid --connect-timeout: \"soon\" is not a duration"},
		{"serve --concurrency -1", "invalid --concurrency \"-1\": want a whole number"},
		{"serve --relay-network 10.0.0.300", "invalid relay network \"10.0.0.300\""},
		{"serve --relay mx.example.com", "invalid relay \"mx.example.com\": want HOST:PORT"},
	} {
		err := c.run(t, c2.line)
		var ue *UsageError
		if err == nil || !strings.Contains(err.Error(), c2.want) {
			t.Errorf("%s: %v", c2.line, err)
		}
		if strings.Contains(c2.want, "--") && !errors.As(err, &ue) {
			t.Errorf("%s: not a usage error: %v", c2.line, err)
		}
	}
	t.Setenv("MQSH_ADMIN_SECRET", "x")
	if err := c.run(t, "serve --smtp none --paused --http 256.0.0.1:1"); err == nil || !strings.Contains(err.Error(), "serve: listen on 256.0.0.1:1") {
		t.Errorf("bad address: %v", err)
	}
}

// The fake mail of queue demo is never delivered to the recipients' MX
// hosts: serve refuses unless paused or sent to a relay, and changes nothing.
func TestServeRefusesDemoMail(t *testing.T) {
	c := newCLI(t, 0)
	t.Setenv("MQSH_ADMIN_SECRET", "x")
	err := c.run(t, "serve --smtp 127.0.0.1:0")
	if err == nil || !strings.Contains(err.Error(), "holds only demo messages") || !strings.Contains(err.Error(), "--paused, or --relay HOST:PORT") {
		t.Fatalf("serve on demo mail: %v", err)
	}
	if p, _ := c.env.Queue.Paused(context.Background()); p {
		t.Error("the refused serve paused the queue")
	}
	// With a relay (a test sink) it goes past the guard: here to the bad
	// listen address.
	if err := c.run(t, "serve --smtp none --relay 127.0.0.1:1 --http 256.0.0.1:1"); err == nil || !strings.Contains(err.Error(), "serve: listen on 256.0.0.1:1") {
		t.Errorf("serve with a relay: %v", err)
	}
	// Real mail added: the queue is no longer only demo mail.
	if _, err := c.env.Queue.Enqueue(context.Background(), queue.Envelope{Sender: "a@example.org", Recipients: []queue.EnvelopeRecipient{{Address: "b@example.net"}}}, []byte("Subject: x\r\n\r\nx\r\n")); err != nil {
		t.Fatal(err)
	}
	if err := c.run(t, "serve --smtp none --http 256.0.0.1:1"); err == nil || !strings.Contains(err.Error(), "serve: listen on 256.0.0.1:1") {
		t.Errorf("serve on real mail: %v", err)
	}
}

// With an audit retention set, serve's housekeeping trims the audit rows
// older than it, and its log line counts them beside the attempts.
func TestServeHousekeepingCountsAuditRows(t *testing.T) {
	c := newCLI(t, -1)
	q := c.env.Queue.(*queue.Queue)
	db, err := sql.Open("sqlite3", q.Location())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// Three rows of two months ago, and the audited writes of this minute
	// leave the trim to serve.
	old := cliNow.Add(-60 * 24 * time.Hour).UnixMilli()
	for seq := 1; seq <= 3; seq++ {
		if _, err := db.Exec("INSERT INTO audit(seq, at, user, source, verb, filter, count, ids) VALUES(?, ?, 'root', 'cli', 'retry', '', 0, x'')", seq, old); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.Exec("INSERT INTO meta(key, value) VALUES('audit_trimmed_at', ?)", cliNow.UnixMilli()); err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{"queue pause", "queue audit retention 30d"} {
		if err := c.run(t, line); err != nil {
			t.Fatalf("%s: %v", line, err)
		}
	}
	rows := func() int {
		var n int
		if err := db.QueryRow("SELECT count(*) FROM audit WHERE at = ?", old).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := rows(); n != 3 {
		t.Fatalf("%d old audit rows before serve, want 3", n)
	}
	log := serveUntil(t, c, func(log string) bool { return strings.Contains(log, "housekeeping: ") })
	if n := rows(); n != 0 {
		t.Errorf("serve left %d audit rows older than the retention", n)
	}
	if !strings.Contains(log, "housekeeping: deleted 3 audit rows older than the audit retention\n") {
		t.Errorf("stderr:\n%s", log)
	}
}

// Serve purges, without any command writing, the attempts history of
// messages gone longer than the trash retention, and keeps the others'.
func TestServeHousekeeps(t *testing.T) {
	c := newCLI(t, 0)
	if err := c.run(t, "queue pause"); err != nil { // paused beforehand: serve writes nothing that would purge
		t.Fatal(err)
	}
	q := c.env.Queue.(*queue.Queue)
	db, err := sql.Open("sqlite3", q.Location())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	old, recent := cliNow.Add(-30*24*time.Hour).UnixMilli(), cliNow.Add(-time.Hour).UnixMilli()
	for _, row := range []struct {
		id int64
		at int64
	}{{900001, old}, {900001, old}, {900002, recent}} {
		if _, err := db.Exec("INSERT INTO attempts(msg_id, domain, at, reply) VALUES(?, 'gmail.com', ?, '250 2.0.0 OK')", row.id, row.at); err != nil {
			t.Fatal(err)
		}
	}
	count := func(id int64) int {
		var n int
		if err := db.QueryRow("SELECT count(*) FROM attempts WHERE msg_id = ?", id).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	log := serveUntil(t, c, func(string) bool { return count(900001) == 0 })
	if n := count(900001); n != 0 {
		t.Errorf("serve left %d expired attempts rows\n%s", n, log)
	}
	if n := count(900002); n != 1 {
		t.Errorf("serve purged the history of a message gone an hour ago: %d rows left", n)
	}
	if !strings.Contains(log, "housekeeping: deleted 2 attempts of messages gone longer than the trash retention") {
		t.Errorf("stderr:\n%s", log)
	}
}

// A cancel of more than a thousand messages files them for removal and
// returns; serve moves them to the trash within seconds and says so.
func TestServeSweepsBulkCancel(t *testing.T) {
	c := newCLI(t, 1200)
	for _, line := range []string{"queue pause", "queue cancel --all --yes"} {
		if err := c.run(t, line); err != nil {
			t.Fatalf("%s: %v", line, err)
		}
	}
	q := c.env.Queue.(*queue.Queue)
	db, err := sql.Open("sqlite3", q.Location())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	count := func(table string) int {
		var n int
		if err := db.QueryRow("SELECT count(*) FROM " + table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	filed := count("removals")
	if filed <= 1000 || count("trash_messages") != 0 {
		t.Fatalf("%d filed, %d trashed after the cancel: want more than 1,000 filed, none trashed", filed, count("trash_messages"))
	}
	log := serveUntil(t, c, func(log string) bool { return strings.Contains(log, "trash: ") })
	if n, m := count("removals"), count("messages"); n != 0 || m != 0 {
		t.Errorf("after serve: %d filed, %d message rows", n, m)
	}
	if n := count("trash_messages"); n != filed {
		t.Errorf("%d trashed, want %d", n, filed)
	}
	if want := fmt.Sprintf("trash: finished removing %d messages (a bulk cancel or bounce)\n", filed); !strings.Contains(log, want) {
		t.Errorf("stderr lacks %q:\n%s", want, log)
	}
}

// serveUntil runs serve on c's queue (SMTP on a free loopback port) until
// done says so, given what serve logged so far, or 10 seconds have passed,
// stops it, and returns its log.
func serveUntil(t *testing.T, c *cli, done func(log string) bool) string {
	t.Helper()
	var stderr syncBuffer
	c.env.Stderr = &stderr
	t.Setenv("MQSH_ADMIN_SECRET", "x")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ended := make(chan error, 1)
	go func() { ended <- Run(ctx, c.env, []string{"serve", "--smtp", "127.0.0.1:0"}) }()
	deadline := time.Now().Add(10 * time.Second)
	for !done(stderr.String()) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-ended; err != nil {
		t.Fatalf("serve: %v\n%s", err, stderr.String())
	}
	return stderr.String()
}
