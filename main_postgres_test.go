package main

import (
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"mqsh/internal/pgtest"
)

// postgresScripts are the end-to-end scripts of testdata/script that run
// unchanged on a PostgreSQL queue: every command, the shell's batch mode
// and Lua behave the same on either engine.
var postgresScripts = []string{"list.txtar", "retry.txtar", "cancel.txtar", "status.txtar", "messages.txtar", "batch.txtar", "lua.txtar", "hold.txtar", "trash.txtar", "undo.txtar", "bounce.txtar", "export.txtar"}

// TestScriptsOnPostgres runs testdata/postgres/postgres.txtar and
// postgresScripts with MQSH_URL naming a new PostgreSQL database of the
// test cluster (with a password in the URL, $SECRET, which no output may
// show; $MISSING names a database that does not exist).
func TestScriptsOnPostgres(t *testing.T) {
	var mu sync.Mutex
	var urls []string
	for range postgresScripts {
		urls = append(urls, withPassword(t, pgtest.URL(t)))
	}
	files := []string{filepath.Join("testdata", "postgres", "postgres.txtar")}
	urls = append(urls, withPassword(t, pgtest.URL(t)))
	for _, f := range postgresScripts {
		files = append(files, filepath.Join("testdata", "script", f))
	}
	params := scriptParams()
	params.Dir, params.Files, params.UpdateScripts = "", files, false
	setup := params.Setup
	params.Setup = func(e *testscript.Env) error {
		if err := setup(e); err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		e.Setenv("MQSH_URL", urls[0])
		e.Setenv("SECRET", pgPassword)
		u, _ := url.Parse(urls[0])
		u.Path = "/no_such_db"
		e.Setenv("MISSING", u.String())
		urls = urls[1:]
		return nil
	}
	testscript.Run(t, params)
}

// pgPassword is the password put in the URLs of the PostgreSQL scripts (the
// test cluster trusts loopback, so any will do): no output may show it.
const pgPassword = "s3cret-pw"

func withPassword(t *testing.T, raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(u.User.Username(), pgPassword)
	return u.String()
}

// TestServeOnPostgres: mqsh serve on a PostgreSQL queue accepts a message
// over SMTP and delivers it to the relay once; a retry or a pause from
// another process reaches it; the log and errors never show the password.
func TestServeOnPostgres(t *testing.T) {
	db := withPassword(t, pgtest.URL(t))
	k := startSink(t)
	t.Setenv("MQSH_ADMIN_SECRET", "api-secret")
	srv := startServe(t, db, "--smtp", "127.0.0.1:0", "--relay", k.addr, "--hostname", "mx.test", "--http", "127.0.0.1:0")
	send(t, srv.smtp, "alice@example.org", []string{"bob@example.com"}, "first")
	waitFor(t, 10*time.Second, "the delivery", func() bool { return len(k.messages()) == 1 })
	waitFor(t, 5*time.Second, "an empty queue", func() bool { return strings.TrimSpace(mqsh(t, db, "queue", "list", "-o", "ids")) == "" })

	// Deferred, then retried from another process.
	k.setTempfail(true)
	send(t, srv.smtp, "alice@example.org", []string{"temp-carol@example.com"}, "later")
	waitFor(t, 10*time.Second, "the deferral", func() bool { return strings.Contains(srv.output(), "status=deferred (451 4.5.3 Try again later)") })
	k.setTempfail(false)
	mqsh(t, db, "queue", "retry", "--all")
	waitFor(t, 5*time.Second, "the delivery after queue retry", func() bool { return len(k.messages()) == 2 })

	// Paused from another process: accepted, not delivered until resumed.
	if out := mqsh(t, db, "queue", "pause"); !strings.HasPrefix(out, "Delivery paused for postgres://postgres@127.0.0.1:") {
		t.Errorf("queue pause said %q", out)
	}
	time.Sleep(500 * time.Millisecond)
	send(t, srv.smtp, "alice@example.org", []string{"dave@example.com"}, "paused")
	time.Sleep(1500 * time.Millisecond)
	if n := len(k.messages()); n != 2 {
		t.Fatalf("%d delivered while paused, want 2", n)
	}
	// The HTTP API answers from the same queue: the remote client sees the
	// message waiting.
	m := regexp.MustCompile(`with Stalwart's management API on (http://127\.0\.0\.1:\d+)`).FindStringSubmatch(srv.output())
	if m == nil {
		t.Fatalf("no HTTP API announced:\n%s", srv.output())
	}
	if ids := mqsh(t, m[1], "-c", "api-secret", "queue", "list", "-o", "ids"); len(strings.Fields(ids)) != 1 {
		t.Errorf("the HTTP API lists %q, want the one paused message", ids)
	}
	mqsh(t, db, "queue", "resume")
	waitFor(t, 5*time.Second, "the delivery after queue resume", func() bool { return len(k.messages()) == 3 })
	if err := srv.stop(t); err != nil {
		t.Fatalf("serve exited with %v:\n%s", err, srv.output())
	}
	out := srv.output()
	if strings.Contains(out, pgPassword) || !strings.Contains(out, "postgres://postgres@127.0.0.1:") {
		t.Errorf("serve's output shows the password, or not the queue:\n%s", out)
	}
	if a := mqsh(t, db, "audit"); !strings.Contains(a, "enqueue") || !strings.Contains(a, "resume") {
		t.Errorf("audit:\n%s", a)
	}
}
