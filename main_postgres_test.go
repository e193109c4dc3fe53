package main

import (
	"net/url"
	"path/filepath"
	"sync"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"mqsh/internal/pgtest"
)

// postgresScripts are the end-to-end scripts of testdata/script that run
// unchanged on a PostgreSQL queue: every command, the shell's batch mode
// and Lua behave the same on either engine.
var postgresScripts = []string{"list.txtar", "retry.txtar", "cancel.txtar", "status.txtar", "messages.txtar", "batch.txtar", "lua.txtar"}

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
