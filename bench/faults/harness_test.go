package faults

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io"
	"maps"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3"
)

// The campaign's knobs, all from the environment so that `go test ./...`
// runs the short version unchanged.
//
//	MQSH_FAULTS           number of kills (default 36)
//	MQSH_FAULTS_TIME      time budget of the kill loop (default 10s, or 30m when MQSH_FAULTS is set)
//	MQSH_FAULTS_MESSAGES  generated messages in the queue under test (default 2500, or 4000 with MQSH_FAULTS)
//	MQSH_FAULTS_SEED      seed of the kill moments (default: the clock; logged)
//	MQSH_FAULTS_OPS       a regular expression: only the operations whose names match
//	MQSH_FAULTS_ROUNDS    rounds per writer process in the concurrent-writers test (default 6, or 25 with MQSH_FAULTS)
func envInt(t testing.TB, name string, def int) int {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		t.Fatalf("%s=%q: want a whole number", name, s)
	}
	return n
}

func longRun() bool { return os.Getenv("MQSH_FAULTS") != "" }

// opTimeout bounds every mqsh process the harness starts, so that a hung
// process fails the test instead of hanging it.
const opTimeout = 3 * time.Minute

var (
	binOnce sync.Once
	binPath string
	binErr  error
	binDir  string
)

// TestMain removes the folder of the built binary.
func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// mqshBinary builds mqsh once per test run into a temporary folder.
func mqshBinary(t testing.TB) string {
	t.Helper()
	binOnce.Do(func() {
		out, err := exec.Command("go", "env", "GOMOD").Output()
		if err != nil {
			binErr = fmt.Errorf("go env GOMOD: %w", err)
			return
		}
		root := filepath.Dir(strings.TrimSpace(string(out)))
		binDir, err = os.MkdirTemp("", "mqsh-faults-")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(binDir, "mqsh")
		cmd := exec.Command("go", "build", "-o", binPath, ".")
		cmd.Dir = root
		if b, err := cmd.CombinedOutput(); err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, b)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// result is what one mqsh process did.
type result struct {
	err            error
	stdout, stderr string
	took           time.Duration
}

// mqsh runs the binary to completion on queue file db.
func mqsh(t testing.TB, db string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, mqshBinary(t), append([]string{"-u", db}, args...)...)
	cmd.Env = mqshEnv()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	err := cmd.Run()
	return result{err, out.String(), errb.String(), time.Since(start)}
}

// mqshEnv keeps the processes away from the user's own history, scripts and
// default queue.
func mqshEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "MQSH_") {
			env = append(env, kv)
		}
	}
	return append(env, "MQSH_NOHISTORY=1", "MQSH_SCRIPTS=", "NO_COLOR=1")
}

// mustMqsh is mqsh that fails the test when the process does.
func mustMqsh(t testing.TB, db string, args ...string) result {
	t.Helper()
	r := mqsh(t, db, args...)
	if r.err != nil {
		t.Fatalf("mqsh %s: %v\n%s%s", strings.Join(args, " "), r.err, r.stdout, r.stderr)
	}
	return r
}

// copyQueue copies a queue file and its WAL (not the shared-memory index,
// which SQLite rebuilds) to dst, removing any older dst files.
func copyQueue(t testing.TB, src, dst string) {
	t.Helper()
	for _, sfx := range []string{"", "-wal", "-shm", "-journal"} {
		os.Remove(dst + sfx)
	}
	for _, sfx := range []string{"", "-wal"} {
		in, err := os.Open(src + sfx)
		if os.IsNotExist(err) && sfx != "" {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		out, err := os.Create(dst + sfx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(out, in); err != nil {
			t.Fatal(err)
		}
		in.Close()
		if err := out.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// state is a fingerprint of a queue file, taken read-only.
type state struct {
	data   string         // hash of the schema and of every row of every table but the audit log
	audit  string         // hash of the audit rows without their time and user
	rows   map[string]int // rows per table, for messages
	nAudit int
}

// same reports whether two fingerprints match in data and audit.
func (s state) same(o state) bool { return s.data == o.data && s.audit == o.audit }

func (s state) String() string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(s.rows)) {
		parts = append(parts, fmt.Sprintf("%s %d", k, s.rows[k]))
	}
	return fmt.Sprintf("data %.12s (%s), audit %.12s (%d rows)", s.data, strings.Join(parts, ", "), s.audit, s.nAudit)
}

// inspect opens the queue file read-only with SQLite itself (not with mqsh,
// which might repair or refuse it), checks its integrity and foreign keys,
// and fingerprints it. The fingerprint covers every table and every column,
// so it does not depend on the details of the schema: a change to any id,
// status, due time, recipient or body shows.
func inspect(path string) (state, error) {
	st := state{rows: map[string]int{}}
	u := url.URL{Scheme: "file", Path: path, RawQuery: "mode=ro"}
	db, err := sql.Open("sqlite3", u.String())
	if err != nil {
		return st, err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	var problems []string
	rows, err := db.Query("PRAGMA integrity_check")
	if err != nil {
		return st, fmt.Errorf("integrity_check: %w", err)
	}
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			rows.Close()
			return st, err
		}
		if s != "ok" {
			problems = append(problems, s)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return st, fmt.Errorf("integrity_check: %w", err)
	}
	if len(problems) > 0 {
		return st, fmt.Errorf("integrity_check: %s", strings.Join(problems, "; "))
	}
	var fk int
	// A body stays in place while its message is in the trash (queue/trash.go).
	// A queue killed while it was being created may stop at an earlier
	// schema step, without the trash: the next open brings it up to date.
	fkq := "SELECT count(*) FROM pragma_foreign_key_check"
	var trash int
	db.QueryRow("SELECT count(*) FROM sqlite_schema WHERE name = 'trash_messages'").Scan(&trash)
	if trash > 0 {
		fkq += " WHERE NOT (\"table\" = 'bodies' AND rowid IN (SELECT id FROM trash_messages))"
	}
	if err := db.QueryRow(fkq).Scan(&fk); err != nil {
		return st, fmt.Errorf("foreign_key_check: %w", err)
	}
	if fk != 0 {
		return st, fmt.Errorf("foreign_key_check: %d rows point at nothing", fk)
	}

	data, audit := sha256.New(), sha256.New()
	var uv, app int64
	db.QueryRow("PRAGMA user_version").Scan(&uv)
	db.QueryRow("PRAGMA application_id").Scan(&app)
	fmt.Fprintf(data, "user_version %d application_id %d\n", uv, app)
	type obj struct{ kind, name, sql string }
	var objs []obj
	rows, err = db.Query("SELECT type, name, coalesce(sql, '') FROM sqlite_schema WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name")
	if err != nil {
		return st, fmt.Errorf("schema: %w", err)
	}
	for rows.Next() {
		var o obj
		if err := rows.Scan(&o.kind, &o.name, &o.sql); err != nil {
			rows.Close()
			return st, err
		}
		objs = append(objs, o)
	}
	rows.Close()
	for _, o := range objs {
		fmt.Fprintf(data, "%s %s %s\n", o.kind, o.name, o.sql)
		if o.kind != "table" {
			continue
		}
		enc, err := tableRows(db, o.name, o.name == "audit")
		if err != nil {
			return st, err
		}
		h := data
		if o.name == "audit" {
			h = audit
			st.nAudit = len(enc)
		} else {
			st.rows[o.name] = len(enc)
		}
		fmt.Fprintf(h, "table %s %d\n", o.name, len(enc))
		for _, r := range enc {
			io.WriteString(h, r)
		}
	}
	st.data = hex.EncodeToString(data.Sum(nil))
	st.audit = hex.EncodeToString(audit.Sum(nil))
	return st, nil
}

// inspectAfterCrash is inspect for a file whose writer was killed. A process
// killed while SQLite still used a rollback journal (a new file, before it is
// switched to WAL) leaves a hot journal, which only a connection that may
// write can roll back. Then a copy of the file and its journal is recovered
// by SQLite (opened read-write, as any next user would) and inspected; the
// file itself is left for mqsh to recover.
func inspectAfterCrash(path string) (st state, rolledBack bool, err error) {
	st, err = inspect(path)
	if err == nil || !strings.Contains(err.Error(), "readonly database") {
		return st, false, err
	}
	if fi, serr := os.Stat(path + "-journal"); serr != nil || fi.Size() == 0 {
		return st, false, err
	}
	cp := path + ".recovered"
	defer func() {
		for _, sfx := range []string{"", "-journal", "-wal", "-shm"} {
			os.Remove(cp + sfx)
		}
	}()
	for _, sfx := range []string{"", "-journal"} {
		b, rerr := os.ReadFile(path + sfx)
		if rerr != nil {
			return st, false, rerr
		}
		if werr := os.WriteFile(cp+sfx, b, 0o600); werr != nil {
			return st, false, werr
		}
	}
	path = cp
	u := url.URL{Scheme: "file", Path: path, RawQuery: "mode=rw"}
	db, oerr := sql.Open("sqlite3", u.String())
	if oerr != nil {
		return st, false, oerr
	}
	var n int
	if qerr := db.QueryRow("SELECT count(*) FROM sqlite_schema").Scan(&n); qerr != nil {
		db.Close()
		return st, false, fmt.Errorf("rolling back the hot journal: %w (read-only: %v)", qerr, err)
	}
	db.Close()
	st, err = inspect(path)
	return st, true, err
}

// tableRows returns every row of a table encoded as one line, sorted. For the
// audit log it leaves out when and by whom (which differ between runs).
func tableRows(db *sql.DB, table string, audit bool) ([]string, error) {
	rows, err := db.Query(`SELECT * FROM "` + strings.ReplaceAll(table, `"`, `""`) + `"`)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", table, err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	var out []string
	var b strings.Builder
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return nil, fmt.Errorf("read %s: %w", table, err)
		}
		b.Reset()
		for i, v := range vals {
			if audit && (cols[i] == "at" || cols[i] == "user") || table == "trash_messages" && cols[i] == "trashed_at" || table == "removals" && cols[i] == "at" {
				continue // times of the run (and who ran it)
			}
			switch v := v.(type) {
			case nil:
				b.WriteString("N")
			case []byte:
				b.WriteString("B" + hex.EncodeToString(v))
			case string:
				b.WriteString("S" + strconv.Quote(v))
			default:
				fmt.Fprintf(&b, "%T%v", v, v)
			}
			b.WriteByte('|')
		}
		b.WriteByte('\n')
		out = append(out, b.String())
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", table, err)
	}
	slices.Sort(out)
	return out, nil
}

// mustInspect is inspect that fails the test on a damaged file.
func mustInspect(t testing.TB, path string) state {
	t.Helper()
	st, err := inspect(path)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return st
}
