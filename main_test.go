package main

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3"
	"github.com/rogpeppe/go-internal/testscript"

	"mqsh/internal/pgtest"
)

var update = flag.Bool("update", false, "rewrite the cmp files of testdata/script from the actual output")

func TestMain(m *testing.M) {
	testscript.Main(pgtest.Wrap(m), map[string]func(){
		"mqsh": func() { os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv)) },
	})
}

// TestScripts runs the end-to-end scripts in testdata/script: mqsh as a
// program, on real SQLite queues in each script's work folder, with the clock
// fixed at 2023-03-01T12:00:00Z.
func TestScripts(t *testing.T) {
	params := scriptParams()
	for name, cmd := range remoteCmds { // servers for the remote client
		params.Cmds[name] = cmd
	}
	testscript.Run(t, params)
}

// scriptParams are the settings of the end-to-end scripts.
func scriptParams() testscript.Params {
	return testscript.Params{
		Dir:                 filepath.Join("testdata", "script"),
		UpdateScripts:       *update,
		RequireExplicitExec: true,
		Setup: func(e *testscript.Env) error {
			e.Setenv("HOME", filepath.Join(e.WorkDir, "home"))
			e.Setenv("MQSH_NOW", "2023-03-01T12:00:00Z")
			e.Setenv("MQSH_URL", filepath.Join(e.WorkDir, "queue.db"))
			e.Setenv("MQSH_NOHISTORY", "1")
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			// exitcode N PROGRAM ARGS... runs a program and checks its exit code.
			"exitcode": func(ts *testscript.TestScript, neg bool, args []string) {
				if neg || len(args) < 2 {
					ts.Fatalf("usage: exitcode N PROGRAM [ARGS...]")
				}
				err := ts.Exec(args[1], args[2:]...)
				code := 0
				var ee *exec.ExitError
				if errors.As(err, &ee) {
					code = ee.ExitCode()
				} else if err != nil {
					ts.Fatalf("%s: %v", args[1], err)
				}
				if strconv.Itoa(code) != args[0] {
					ts.Fatalf("%s exited with %d, want %s", args[1], code, args[0])
				}
			},
		},
	}
}

// TestBuildWithoutCgoSaysWhy builds mqsh as a machine without a C compiler
// does (CGO_ENABLED=0): the first error must name the cause, not a missing
// method of go-sqlite3's stub.
func TestBuildWithoutCgoSaysWhy(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the go command")
	}
	// Stat the sources the build reads, so that go test's cache of this
	// result goes when they change.
	for _, dir := range []string{".", "queue", "repl", "lua"} {
		ents, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			os.Stat(filepath.Join(dir, e.Name()))
		}
	}
	gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
	cmd := exec.Command(gobin, "build", "-o", os.DevNull, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("a build without cgo succeeded:\n%s", out)
	}
	var first string
	for _, line := range strings.Split(string(out), "\n") {
		if line != "" && !strings.HasPrefix(line, "#") {
			first = line
			break
		}
	}
	if !strings.Contains(first, "mqsh needs cgo and a C compiler") || !strings.Contains(first, "CGO_ENABLED=1") {
		t.Errorf("the first error does not name the cause: %q\n%s", first, out)
	}
}

// The first Ctrl-C cancels the running command; if the command does not stop
// (here: blocked reading ids from a pipe that stays open), the second ends
// mqsh at once, as it would any program.
func TestSecondSignalEndsStuckCommand(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("no go command to build mqsh with: %v", err)
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "mqsh")
	if out, err := exec.Command(gobin, "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	db := filepath.Join(dir, "q.db")
	if out, err := exec.Command(bin, "-u", db, "queue", "demo").CombinedOutput(); err != nil {
		t.Fatalf("queue demo: %v\n%s", err, out)
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pw.Close()
	cmd := exec.Command(bin, "-u", db, "queue", "status", "-")
	cmd.Stdin = pr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pr.Close()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer cmd.Process.Kill()
	time.Sleep(500 * time.Millisecond)
	for i := 0; i < 2; i++ {
		if err := cmd.Process.Signal(os.Interrupt); err != nil {
			t.Fatal(err)
		}
		time.Sleep(300 * time.Millisecond)
	}
	select {
	case err := <-exited:
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.Success() {
			t.Errorf("mqsh ended with %v, want an end by the signal", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("mqsh still runs after a second Ctrl-C")
	}
}

// Ctrl-C while mqsh waits to open a queue whose write lock another process
// holds (here the schema is one step behind, so opening must take the
// lock) stops the wait as it stops a change's (the notice said "Ctrl-C
// stops waiting, nothing changed"): mqsh says it was interrupted and exits
// with 1, rather than being killed by the signal, and the file is as it was.
func TestCtrlCStopsOpeningAHeldQueue(t *testing.T) {
	bin := builtMQSH(t)
	db := filepath.Join(t.TempDir(), "q.db")
	if out, err := exec.Command(bin, "-u", db, "queue", "demo").CombinedOutput(); err != nil {
		t.Fatalf("queue demo: %v\n%s", err, out)
	}
	other, err := sql.Open("sqlite3", db)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	conn, err := other.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var version int
	if err := conn.QueryRowContext(t.Context(), "PRAGMA user_version").Scan(&version); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(t.Context(), fmt.Sprintf("PRAGMA user_version = %d", version-1)); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(t.Context(), "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	defer conn.ExecContext(context.Background(), "ROLLBACK")

	cmd := exec.Command(bin, "-u", db, "queue", "list")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var said []string
	select { // the first notice comes after a second of waiting
	case l := <-lines:
		said = append(said, l)
	case <-time.After(20 * time.Second):
		t.Fatal("mqsh did not say that it waits")
	}
	if !strings.Contains(said[0], "waiting") || !strings.Contains(said[0], "Ctrl-C stops waiting") {
		t.Fatalf("mqsh said %q, want the wait's notice", said[0])
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		for l := range lines {
			said = append(said, l)
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("mqsh still waits after Ctrl-C")
	}
	err = cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Errorf("mqsh ended with %v, want exit status 1", err)
	}
	if out := strings.Join(said, "\n"); said[len(said)-1] != "mqsh: interrupted" {
		t.Errorf("mqsh said:\n%s\nwant the wait's notice, then what a change stopped waiting says: mqsh: interrupted", out)
	}
	var now int
	if err := conn.QueryRowContext(t.Context(), "PRAGMA user_version").Scan(&now); err != nil || now != version-1 {
		t.Errorf("schema version %d (%v) after the stopped open, want %d", now, err, version-1)
	}
}

// TestOneShotWalk: the commands whose process may do nothing but walk the
// queue or import into it (and so collect garbage less often) are run, lua,
// queue list and queue import.
func TestOneShotWalk(t *testing.T) {
	for _, c := range []struct {
		path []string
		want bool
	}{
		{[]string{"run"}, true},
		{[]string{"lua"}, true},
		{[]string{"queue", "list"}, true},
		{[]string{"queue", "import"}, true},
		{[]string{"queue", "status"}, false},
		{[]string{"serve"}, false},
		{[]string{"summary"}, false},
	} {
		if got := oneShotWalk(c.path); got != c.want {
			t.Errorf("oneShotWalk(%q) = %t, want %t", c.path, got, c.want)
		}
	}
}
