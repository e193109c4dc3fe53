package queue

import (
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
