package queue

import (
	"bytes"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A queue file is never removed while another handle (another process, in
// real life) has it open: the failing importer's clean-up used to delete the
// file the other one was filling, losing its messages.
func TestDiscardKeepsAFileAnotherHandleUses(t *testing.T) {
	path := filepath.Join(t.TempDir(), "new.db")
	failing, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	good, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	// The failing one gives up before the good one has written anything.
	if _, err := failing.ImportJSON(t.Context(), strings.NewReader("{not json\n")); err == nil {
		t.Fatal("bad import accepted")
	}
	removed, err := failing.Discard()
	if err != nil || removed {
		t.Fatalf("Discard while another handle has the file open: removed %v, %v", removed, err)
	}
	res, err := good.LoadDemo(t.Context(), 5, 1)
	if err != nil {
		t.Fatal(err)
	}
	good.Close()
	q, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	if n := mustCount(t, q, Filter{}); n != res.Count || n == 0 {
		t.Errorf("%d messages after the other importer's clean-up, want %d", n, res.Count)
	}
}

// A queue left full by another handle that has closed since is kept too.
func TestDiscardKeepsAFileAnotherFilled(t *testing.T) {
	path := filepath.Join(t.TempDir(), "new.db")
	failing, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	good, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := good.LoadDemo(t.Context(), 5, 1); err != nil {
		t.Fatal(err)
	}
	good.Close()
	if removed, err := failing.Discard(); err != nil || removed {
		t.Fatalf("Discard of a queue another filled: removed %v, %v", removed, err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatal(err)
	}
}

// A queue this handle created and left unused, that no one else has open, is
// removed with its -wal and -shm files; one it did not create is kept.
func TestDiscardRemovesAnUnusedNewFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "new.db")
	q, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if removed, err := q.Discard(); err != nil || !removed {
		t.Fatalf("Discard of an unused new queue: removed %v, %v", removed, err)
	}
	left, _ := os.ReadDir(dir)
	if len(left) != 0 {
		t.Errorf("files left behind: %v", left)
	}

	q, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	q.Close()
	q, err = Open(path, Options{}) // an existing, empty queue: not this handle's
	if err != nil {
		t.Fatal(err)
	}
	if removed, err := q.Discard(); err != nil || removed {
		t.Fatalf("Discard of a queue this handle did not create: removed %v, %v", removed, err)
	}
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		t.Error("the existing queue was removed")
	}
}

// Another program's SQLite database is refused before anything in it is
// changed: it stays in its journal mode (bytes 18 and 19 of the header are 1
// for a rollback journal, 2 for WAL), with its tables, and gets no -wal file.
func TestForeignDatabaseIsLeftAsItWas(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "other.db")
	db, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("CREATE TABLE t(x); INSERT INTO t VALUES (1)"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	before, _ := os.ReadFile(path)
	if before[18] != 1 {
		t.Fatalf("setup: header byte 18 = %d, want a rollback-journal file", before[18])
	}
	for _, ro := range []bool{false, true} {
		q, err := Open(path, Options{ReadOnly: ro})
		if err == nil {
			q.Close()
			t.Fatal("another program's database was opened as a queue")
		}
		if !strings.Contains(err.Error(), "not an mqsh queue") {
			t.Errorf("error %q", err)
		}
	}
	after, _ := os.ReadFile(path)
	if !bytes.Equal(before, after) {
		t.Errorf("the refused file changed (header bytes 18, 19: %d %d, were %d %d)", after[18], after[19], before[18], before[19])
	}
	left, _ := os.ReadDir(dir)
	if len(left) != 1 {
		t.Errorf("files beside it: %v", left)
	}
}
