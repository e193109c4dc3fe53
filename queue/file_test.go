package queue

import (
	"bytes"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
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

// A queue on read-only media whose -wal file holds committed changes but
// which has no -shm file: SQLite cannot read the WAL without creating the
// -shm, so the queue is refused with a sentence rather than shown as it was
// before those changes (with immutable=1).
func TestReadOnlyMediaWithUnreadWAL(t *testing.T) {
	src := t.TempDir()
	path := filepath.Join(src, "q.db")
	q, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := q.LoadDemo(t.Context(), 10, 1); err != nil {
		t.Fatal(err)
	}
	q.Close() // all in the main file now
	q, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	if _, err := q.Cancel(t.Context(), CancelRequest{Filter: Filter{IDs: []ID{0x2B91F716}}}); err != nil {
		t.Fatal(err)
	}
	// A copy of the file and its -wal, as a crashed writer or a snapshot
	// leaves them, without the -shm.
	dir := t.TempDir()
	for _, suffix := range []string{"", "-wal"} {
		b, err := os.ReadFile(path + suffix)
		if err != nil {
			t.Fatal(err)
		}
		if suffix == "-wal" && len(b) == 0 {
			t.Fatal("setup: the -wal file is empty")
		}
		os.WriteFile(filepath.Join(dir, "q.db"+suffix), b, 0o644)
	}
	ro := filepath.Join(readOnlyPlace(t, dir), "q.db")
	r, err := Open(ro, Options{})
	if err == nil {
		n := mustCount(t, r, Filter{})
		r.Close()
		if n != 15 {
			t.Fatalf("opened, and shows %d messages, not the 15 committed", n)
		}
		return // read correctly: as good as a refusal
	}
	for _, want := range []string{"-wal", "-shm", "read-only", "writable"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}

	// Without the -wal, the file is whole, and is read.
	os.Chmod(dir, 0o755)
	if err := os.Remove(filepath.Join(dir, "q.db-wal")); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() != 0 {
		os.Chmod(dir, 0o555)
	}
	r, err = Open(ro, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if n := mustCount(t, r, Filter{}); n != 16 {
		t.Errorf("%d messages", n)
	}
}

// A queue file without write permission is read without leaving -wal and
// -shm files (with its 0444 mode) beside it.
func TestReadOnlyFileLeavesNothingBehind(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "q.db")
	q, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	q.LoadDemo(t.Context(), 3, 1)
	q.Close()
	os.Chmod(path, 0o444)
	r, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if n := mustCount(t, r, Filter{}); n != 9 {
		t.Errorf("%d messages", n)
	}
	r.Close()
	if left, _ := os.ReadDir(dir); len(left) != 1 {
		t.Errorf("files left: %v", left)
	}
}

// A new queue file is created 0600: it holds addresses and message text. An
// existing file keeps its mode.
func TestNewQueueFileIsPrivate(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "q.db")
	q, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	q.LoadDemo(t.Context(), 3, 1)
	for _, f := range []string{path, path + "-wal", path + "-shm"} {
		if st, err := os.Stat(f); err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v %v, want mode 0600", filepath.Base(f), st.Mode(), err)
		}
	}
	q.Close()
	os.Chmod(path, 0o640)
	q, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	q.Close()
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o640 {
		t.Errorf("an existing queue became %v", st.Mode())
	}
}

// A named pipe, a socket or a device given as the queue is refused at once,
// never opened (opening a FIFO waits for a writer for ever).
func TestSpecialFilesAreRefused(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skip(err)
	}
	for _, c := range []struct{ path, want string }{
		{fifo, "named pipe"},
		{"/dev/null", "device"},
	} {
		done := make(chan error, 1)
		go func() {
			q, err := Open(c.path, Options{})
			if err == nil {
				q.Close()
			}
			done <- err
		}()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "not a regular file") {
				t.Errorf("%s: %v", c.path, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: Open hangs", c.path)
		}
	}
}

// A new queue that cannot be created for lack of space is not left behind as
// a 0-byte file that later opens as "an empty file".
func TestFullDiskLeavesNoFile(t *testing.T) {
	dir := fullDisk(t)
	path := filepath.Join(dir, "q.db")
	q, err := Open(path, Options{})
	if err == nil {
		q.Close()
		t.Fatal("a queue was created on a full disk")
	}
	if !strings.Contains(err.Error(), "full") {
		t.Errorf("error %q does not say the disk is full", err)
	}
	left, _ := os.ReadDir(dir)
	if len(left) != 1 {
		t.Errorf("files left: %v", left)
	}
}
