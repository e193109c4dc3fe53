package queue

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// fileSize is the size of a file, 0 when it does not exist.
func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	st, err := os.Stat(path)
	if os.IsNotExist(err) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}

// journalModeOf reads the journal mode recorded in the queue file, on a
// connection of its own.
func journalModeOf(t *testing.T, path string) string {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var mode, check string
	if err := db.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow("PRAGMA integrity_check").Scan(&check); err != nil || check != "ok" {
		t.Fatalf("integrity_check: %q %v", check, err)
	}
	return mode
}

// importedOnce checks what an import of n messages into q, whose file is
// path, left: every message, the queue in WAL mode, no journal; and says
// whether the pages went into the file directly (the -wal file holds
// almost nothing) or through the -wal file (which holds them all).
func importedOnce(t *testing.T, q *Queue, path string, n int) (direct bool) {
	t.Helper()
	if got := mustCount(t, q, Filter{}); got != n {
		t.Fatalf("the queue holds %d messages, want %d", got, n)
	}
	var mode string
	if err := q.reader.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Fatalf("after the import the queue is in %q mode (%v), want wal", mode, err)
	}
	if mode := journalModeOf(t, path); mode != "wal" {
		t.Fatalf("after the import the file says %q mode, want wal", mode)
	}
	if fileSize(t, path+"-journal") > 0 {
		t.Fatal("a rollback journal is left beside the queue")
	}
	wal, file := fileSize(t, path+"-wal"), fileSize(t, path)
	switch {
	case wal < file/20:
		return true
	case wal > file/2:
		return false
	}
	t.Fatalf("the -wal file holds %d bytes of a %d-byte queue: neither almost nothing nor the import", wal, file)
	return false
}

// An import into an empty queue writes its pages into the queue file
// directly (not into the -wal file, to be copied into the file again by
// the checkpoint), and leaves the queue in WAL mode, every message in it.
func TestImportIntoEmptyQueueWritesTheFileOnce(t *testing.T) {
	src := demoJSONLines(t, 3000, 1)
	for _, how := range []string{"ImportJSON", "RunImport"} {
		t.Run(how, func(t *testing.T) {
			q, _ := openTest(t)
			var err error
			if how == "ImportJSON" {
				_, err = q.ImportJSON(t.Context(), bytes.NewReader(src))
			} else {
				err = q.RunImport(t.Context(), func(tx Txn) error {
					_, err := tx.(TxImporter).ImportJSON(bytes.NewReader(src))
					return err
				})
			}
			if err != nil {
				t.Fatal(err)
			}
			if !importedOnce(t, q, q.abs, 3000) {
				t.Errorf("the import into an empty queue went through the -wal file (%d bytes for a %d-byte queue)", fileSize(t, q.abs+"-wal"), fileSize(t, q.abs))
			}
			// The queue carries on in WAL mode.
			if _, err := q.Enqueue(t.Context(), Envelope{Sender: "a@b.test", Recipients: []EnvelopeRecipient{{Address: "c@d.test"}}}, []byte("x")); err != nil {
				t.Fatal(err)
			}
			if fileSize(t, q.abs+"-wal") == 0 {
				t.Error("a write after the import did not go into the -wal file")
			}
		})
	}
}

// The import writes the file directly only into an empty queue that no
// other connection has open; otherwise, and when the switch out of WAL
// mode is refused, it runs in WAL mode, as before, without an error.
func TestImportIntoQueueInUseGoesThroughTheWAL(t *testing.T) {
	needsImmediateRemoval(t)
	src := demoJSONLines(t, 3000, 1)
	one := Envelope{Sender: "a@b.test", Recipients: []EnvelopeRecipient{{Address: "c@d.test"}}}
	cases := []struct {
		name  string
		setup func(t *testing.T, q *Queue) (want int)
	}{
		{"a message queued", func(t *testing.T, q *Queue) int {
			if _, err := q.Enqueue(t.Context(), one, []byte("x")); err != nil {
				t.Fatal(err)
			}
			return 3001
		}},
		{"a message in the trash", func(t *testing.T, q *Queue) int {
			if _, err := q.Enqueue(t.Context(), one, []byte("x")); err != nil {
				t.Fatal(err)
			}
			if _, err := q.Cancel(t.Context(), CancelRequest{Filter: Filter{All: true}}); err != nil {
				t.Fatal(err)
			}
			var n int
			if err := q.reader.QueryRow("SELECT count(*) FROM trash_messages").Scan(&n); err != nil || n != 1 {
				t.Fatalf("setup: %d messages in the trash (%v)", n, err)
			}
			return 3000
		}},
		{"another handle has read it", func(t *testing.T, q *Queue) int {
			other, err := Open(q.abs, Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { other.Close() })
			mustCount(t, other, Filter{})
			return 3000
		}},
		{"a read transaction is open", func(t *testing.T, q *Queue) int {
			rtx, err := q.reader.BeginTx(t.Context(), nil)
			if err != nil {
				t.Fatal(err)
			}
			var n int
			if err := rtx.QueryRow("SELECT count(*) FROM messages").Scan(&n); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { rtx.Rollback() })
			return 3000
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			q, _ := openTest(t)
			want := c.setup(t, q)
			// The -wal file as the setup left it, checkpointed away.
			if _, err := q.writer.Exec("PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
				t.Fatal(err)
			}
			if _, err := q.ImportJSON(t.Context(), bytes.NewReader(src)); err != nil {
				t.Fatalf("import: %v", err)
			}
			if importedOnce(t, q, q.abs, want) {
				t.Error("the import wrote the file directly")
			}
		})
	}
}

// An import that fails (a bad line) into an empty queue in rollback-journal
// mode leaves the empty queue, in WAL mode, even when it has written pages
// into the file already (a small page cache).
func TestFailedImportIntoEmptyQueue(t *testing.T) {
	for _, small := range []bool{false, true} {
		t.Run(fmt.Sprintf("small cache %v", small), func(t *testing.T) {
			q, _ := openTest(t)
			empty := fileSize(t, q.abs)
			schema := schemaObjects(t, q, nil)
			good := demoJSONLines(t, 6000, 1)
			var grew bool
			r := io.MultiReader(bytes.NewReader(good), readerFunc(func(p []byte) (int, error) {
				if small && !grew {
					// The lines before are in: wait until their pages are.
					for deadline := time.Now().Add(20 * time.Second); !grew && time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
						grew = fileSize(t, q.abs) > 4*empty
					}
					if !grew {
						t.Error("the import wrote no pages into the file: the test proves nothing")
					}
				}
				return copy(p, "not json\n"), io.EOF
			}))
			if small {
				if err := q.LimitCache(t.Context(), 1<<20); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := q.ImportJSON(t.Context(), r); err == nil || !strings.Contains(err.Error(), "line 6001") {
				t.Fatalf("import of a bad line: %v", err)
			}
			importedOnce(t, q, q.abs, 0)
			if got := schemaObjects(t, q, nil); !maps.Equal(got, schema) {
				t.Fatalf("the failed import changed the indexes:\n%v\nwant\n%v", got, schema)
			}
			if _, err := q.ImportJSON(t.Context(), bytes.NewReader(good)); err != nil {
				t.Fatal(err)
			}
			if !importedOnce(t, q, q.abs, 6000) {
				t.Error("the import after the failed one went through the -wal file")
			}
		})
	}
}

// readerFunc is an io.Reader of a function.
type readerFunc func(p []byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

// The child of TestImportIntoEmptyQueueKilled: imports its standard input
// into the queue it is given.
func importChild() {
	q, err := Open(os.Getenv("MQSH_TEST_DIRECT_IMPORT"), Options{})
	if err == nil && os.Getenv("MQSH_TEST_DIRECT_IMPORT_CACHE") != "" {
		err = q.LimitCache(context.Background(), 1<<20)
	}
	if err == nil {
		var res Result
		res, err = q.ImportJSON(context.Background(), os.Stdin)
		fmt.Println("IMPORTED", res.Count)
	}
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(1)
	}
	if err := q.Close(); err != nil {
		fmt.Println("ERR", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// startImport starts a process that imports its standard input into the
// queue at path, and writes src to it in the background without closing it.
func startImport(t *testing.T, path string, src []byte, smallCache bool) (cmd *exec.Cmd, stdin io.WriteCloser, out *bufio.Reader) {
	t.Helper()
	cmd = exec.Command(os.Args[0], "-test.run=^TestImportIntoEmptyQueueKilled$")
	cmd.Env = append(os.Environ(), "MQSH_TEST_DIRECT_IMPORT="+path)
	if smallCache {
		cmd.Env = append(cmd.Env, "MQSH_TEST_DIRECT_IMPORT_CACHE=1")
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	go stdin.Write(src)
	return cmd, stdin, bufio.NewReader(stdout)
}

// waitFor polls cond until it holds, failing the test after a while.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
	}
}

// A process killed in the middle of an import into an empty queue, after
// it has written pages into the queue file itself (its page cache is
// small), leaves the empty queue: the next open rolls the journal back and
// returns the file to WAL mode, and the import can be run again.
func TestImportIntoEmptyQueueKilled(t *testing.T) {
	if os.Getenv("MQSH_TEST_DIRECT_IMPORT") != "" {
		importChild()
	}
	if testing.Short() {
		t.Skip("spawns a process")
	}
	path := filepath.Join(t.TempDir(), "q.db")
	q, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	q.Close()
	empty := fileSize(t, path)
	src := demoJSONLines(t, 8000, 1)
	cmd, _, _ := startImport(t, path, src, true)
	waitFor(t, "the import writes pages into the queue file", func() bool {
		return fileSize(t, path+"-journal") > 0 && fileSize(t, path) > 4*empty
	})
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	if fileSize(t, path+"-journal") == 0 {
		t.Fatal("no journal after the kill: the test proves nothing")
	}

	q, err = Open(path, Options{})
	if err != nil {
		t.Fatalf("open after the kill: %v", err)
	}
	defer q.Close()
	importedOnce(t, q, path, 0)
	var audit int
	if err := q.reader.QueryRow("SELECT count(*) FROM audit").Scan(&audit); err != nil || audit != 0 {
		t.Fatalf("audit rows after the kill: %d (%v)", audit, err)
	}
	if _, err := q.ImportJSON(t.Context(), bytes.NewReader(src)); err != nil {
		t.Fatalf("the import again: %v", err)
	}
	if !importedOnce(t, q, path, 8000) {
		t.Error("the import again went through the -wal file")
	}
}

// While an import writes an empty queue directly, another process that
// opens the queue to read sees it empty; one that opens it with write
// access waits for the import to end, then sees every message.
func TestOpenDuringImportIntoEmptyQueue(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns a process")
	}
	path := filepath.Join(t.TempDir(), "q.db")
	q, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	q.Close()
	src := demoJSONLines(t, 2000, 1)
	cmd, stdin, out := startImport(t, path, src, false)
	waitFor(t, "the import's transaction has begun", func() bool { return fileSize(t, path+"-journal") > 0 })
	time.Sleep(200 * time.Millisecond) // the lines are in

	ro, err := Open(path, Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("open to read during the import: %v", err)
	}
	defer ro.Close()
	if n := mustCount(t, ro, Filter{}); n != 0 {
		t.Fatalf("a reader during the import sees %d messages, want the empty queue", n)
	}

	opened := make(chan *Queue, 1)
	go func() {
		rw, err := Open(path, Options{})
		if err != nil {
			t.Errorf("open with write access during the import: %v", err)
		}
		opened <- rw
	}()
	select {
	case rw := <-opened:
		if rw != nil {
			rw.Close()
		}
		t.Fatal("opening with write access did not wait for the import")
	case <-time.After(300 * time.Millisecond):
	}
	stdin.Close()
	line, _ := out.ReadString('\n')
	if line != "IMPORTED 2000\n" {
		t.Fatalf("child: %q", line)
	}
	rw := <-opened
	if rw == nil {
		t.FailNow()
	}
	defer rw.Close()
	if n := mustCount(t, rw, Filter{}); n != 2000 {
		t.Fatalf("after the import, %d messages", n)
	}
	if n := mustCount(t, ro, Filter{}); n != 2000 {
		t.Fatalf("after the import, the reader sees %d messages", n)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("child: %v", err)
	}
	if mode := journalModeOf(t, path); mode != "wal" {
		t.Fatalf("after the import the file says %q mode", mode)
	}
}
