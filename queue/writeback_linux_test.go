package queue

import (
	"context"
	"golang.org/x/sys/unix"
	"path/filepath"
	"testing"
	"time"
)

// A commit that runs past writebackAfter has the disk start on the WAL and
// the file while SQLite still works (whileWriting), and what it committed is
// all there after a reopen; so does the close of the writer.
func TestLongCommitStartsWriteback(t *testing.T) {
	defer writebackAfter.Store(writebackAfter.Load())
	writebackAfter.Store(0) // every commit is "long"
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "queue.db")
	q, err := Open(path, Options{Now: func() time.Time { return testNow }, User: "tester"})
	if err != nil {
		t.Fatal(err)
	}
	var msgs []Message
	for i := range 300 {
		msgs = append(msgs, msg(ID(1000+i), "bulk@sender.example", testNow, "a@example.org", "b@example.net"))
	}
	put(t, q, msgs...)
	before := writebacks.Load()
	res, err := q.Cancel(ctx, CancelRequest{Filter: Filter{Sender: []string{"bulk@sender.example"}}})
	if err != nil || res.Count != 300 {
		t.Fatalf("cancel: %+v, %v", res, err)
	}
	if writebacks.Load() == before {
		t.Fatal("the cancel's commit started no writeback of the queue's files")
	}
	before = writebacks.Load()
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	if writebacks.Load() == before {
		t.Fatal("closing the writer (its checkpoint) started no writeback")
	}
	q, err = Open(path, Options{Now: func() time.Time { return testNow }, User: "tester"})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	if n := mustCount(t, q, Filter{All: true}); n != 0 {
		t.Fatalf("%d messages queued after the cancel and a reopen, want 0", n)
	}
	trashed, err := q.TrashList(ctx, Filter{All: true}, Page{})
	if err != nil || len(trashed) != 300 {
		t.Fatalf("trash after a reopen: %d messages, %v; want 300", len(trashed), err)
	}
}

// A commit shorter than writebackAfter starts nothing: the timer is stopped
// before it fires.
func TestShortCommitStartsNoWriteback(t *testing.T) {
	defer writebackAfter.Store(writebackAfter.Load())
	writebackAfter.Store(int64(time.Hour))
	q, _ := openTest(t)
	before := writebacks.Load()
	put(t, q, msg(1, "one@sender.example", testNow, "a@example.org"))
	if _, err := q.Cancel(context.Background(), CancelRequest{Filter: Filter{Sender: []string{"one@sender.example"}}}); err != nil {
		t.Fatal(err)
	}
	if n := writebacks.Load() - before; n != 0 {
		t.Fatalf("%d writebacks for short commits, want 0", n)
	}
}

// The writeback must not open and close a descriptor of the database file:
// closing one drops every POSIX lock the process holds on it, SQLite's
// own, and another process could then take the file as unused and
// checkpoint and delete the WAL under this one.
func TestWritebackKeepsSQLiteLocks(t *testing.T) {
	defer writebackAfter.Store(writebackAfter.Load())
	writebackAfter.Store(0)
	q, _ := openTest(t)
	put(t, q, msg(1, "one@sender.example", testNow, "a@example.org"))
	if _, err := q.Cancel(context.Background(), CancelRequest{Filter: Filter{Sender: []string{"one@sender.example"}}}); err != nil {
		t.Fatal(err)
	}
	fd, err := unix.Open(q.abs, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	// An open file description lock conflicts with the process's own POSIX
	// locks: asking for SQLite's lock bytes finds its shared lock there.
	lk := unix.Flock_t{Type: unix.F_WRLCK, Whence: 0, Start: 0x40000000, Len: 512}
	err = unix.FcntlFlock(uintptr(fd), unix.F_OFD_GETLK, &lk)
	q.Close() // before our descriptor closes (which drops the locks anyway)
	unix.Close(fd)
	if err != nil {
		t.Fatal(err)
	}
	if lk.Type == unix.F_UNLCK {
		t.Fatal("after a commit with writeback the process holds no lock on the queue file: a descriptor of it was closed under SQLite")
	}
}
