package queue

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// quickNotices shortens the waiting writer's notices for a test.
func quickNotices(t *testing.T) {
	first, every, ann := waitNoticeFirst, waitNoticeEvery, announceAfter
	waitNoticeFirst, waitNoticeEvery, announceAfter = 100*time.Millisecond, 200*time.Millisecond, 50*time.Millisecond
	t.Cleanup(func() { waitNoticeFirst, waitNoticeEvery, announceAfter = first, every, ann })
}

// notices collects what a waiting writer is told.
type notices struct {
	mu   sync.Mutex
	got  []string
	seen chan struct{}
}

func newNotices() *notices { return &notices{seen: make(chan struct{}, 100)} }

func (n *notices) add(w LockWait) {
	n.mu.Lock()
	n.got = append(n.got, w.String())
	n.mu.Unlock()
	n.seen <- struct{}{}
}

func (n *notices) all() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return strings.Join(n.got, "\n")
}

// holdLock runs a cancel in an Update on q under the source "script
// hold.lua" and keeps the write lock until release is closed.
func holdLock(t *testing.T, q *Queue, release chan struct{}) (holding chan struct{}, done chan error) {
	holding, done = make(chan struct{}), make(chan error, 1)
	go func() {
		ctx := WithSource(context.Background(), "script hold.lua")
		done <- q.Update(ctx, func(tx *Tx) error {
			if _, err := tx.Cancel(CancelRequest{Filter: Filter{IDs: []ID{0x2B91F716}}}); err != nil {
				return err
			}
			close(holding)
			<-release
			return nil
		})
	}()
	<-holding
	return holding, done
}

func twoHandles(t *testing.T, opts Options) (a, b *Queue) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "q.db")
	a, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	if _, err := a.LoadDemo(t.Context(), 0, 1); err != nil {
		t.Fatal(err)
	}
	b, err = Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return a, b
}

// A writer that waits for another's lock says, every few seconds, for whom
// (process, user, source, verb) and since when, and goes ahead once the lock
// is free.
func TestWaitingWriterSaysForWhom(t *testing.T) {
	quickNotices(t)
	n := newNotices()
	a, b := twoHandles(t, Options{Waiting: n.add})
	release := make(chan struct{})
	_, held := holdLock(t, a, release)
	retried := make(chan error, 1)
	go func() {
		_, err := b.Retry(t.Context(), RetryRequest{Filter: Filter{All: true}})
		retried <- err
	}()
	for range 2 {
		select {
		case <-n.seen:
		case err := <-retried:
			t.Fatalf("the retry did not wait for the lock: %v", err)
		case <-time.After(10 * time.Second):
			t.Fatal("no notice while waiting")
		}
	}
	close(release)
	if err := <-held; err != nil {
		t.Fatal(err)
	}
	if err := <-retried; err != nil {
		t.Fatalf("retry after the lock was freed: %v", err)
	}
	got := n.all()
	for _, want := range []string{"waiting", "write lock", fmt.Sprintf("process %d", os.Getpid()), "script hold.lua: cancel", "since", "Ctrl-C"} {
		if !strings.Contains(got, want) {
			t.Errorf("notices do not say %q:\n%s", want, got)
		}
	}
	if _, err := os.Stat(a.holderPath()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the holder record is left behind: %v", err)
	}
}

// Cancelling the context stops the wait at once, with nothing changed; a
// wait limit (LockWait) stops it after that long.
func TestWaitingWriterStops(t *testing.T) {
	quickNotices(t)
	a, b := twoHandles(t, Options{})
	release := make(chan struct{})
	_, held := holdLock(t, a, release)
	defer func() { close(release); <-held }()

	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(300*time.Millisecond, cancel)
	start := time.Now()
	_, err := b.Retry(ctx, RetryRequest{Filter: Filter{All: true}})
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "stopped waiting") || !strings.Contains(err.Error(), "nothing changed") {
		t.Errorf("cancelled wait: %v", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("the wait went on for %s after it was cancelled", d)
	}

	path := b.Path()
	b.Close()
	b, err = Open(path, Options{LockWait: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	_, err = b.Retry(t.Context(), RetryRequest{Filter: Filter{All: true}})
	if err == nil || !strings.Contains(err.Error(), "stayed locked for 300ms") || !strings.Contains(err.Error(), fmt.Sprintf("process %d", os.Getpid())) {
		t.Errorf("wait limit: %v", err)
	}
	if n := auditCount(t, b); n != 1 {
		t.Errorf("%d audit rows, want the demo's alone: the waiting retries changed nothing", n)
	}
}

// A transaction begun with UpdateDeferred that only reads holds up no
// writer; when it then writes after another writer committed, it gets
// ErrConflict with nothing changed, and runs again under the lock.
func TestDeferredReaderDoesNotBlockWriters(t *testing.T) {
	a, b := twoHandles(t, Options{})
	reading, release, done := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	runs := 0
	script := func(tx *Tx) error {
		runs++
		n, err := tx.Count(Filter{})
		if err != nil {
			return err
		}
		if runs == 1 {
			close(reading)
			<-release
		}
		// A write based on what was read.
		_, err = tx.Cancel(CancelRequest{Filter: Filter{IDs: []ID{0x2B91F716}}})
		if err == nil && n == 0 {
			err = errors.New("nothing read")
		}
		return err
	}
	go func() { done <- a.UpdateDeferred(t.Context(), false, script) }()
	<-reading
	retried := make(chan error, 1)
	go func() {
		_, err := b.Retry(t.Context(), RetryRequest{Filter: Filter{All: true}})
		retried <- err
	}()
	select {
	case err := <-retried:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a writer waited for a script that had only read")
	}
	close(release)
	err := <-done
	if !errors.Is(err, ErrConflict) {
		t.Fatalf("a deferred transaction writing after another commit: %v, want ErrConflict", err)
	}
	if n := mustCount(t, b, Filter{IDs: []ID{0x2B91F716}}); n != 1 {
		t.Fatal("the conflicting transaction changed something")
	}
	if err := a.Update(t.Context(), script); err != nil {
		t.Fatal(err)
	}
	if n := mustCount(t, b, Filter{IDs: []ID{0x2B91F716}}); n != 0 {
		t.Error("the rerun did not cancel")
	}
	// Without a competing commit, a deferred transaction writes at once.
	if err := a.UpdateDeferred(t.Context(), false, func(tx *Tx) error {
		_, err := tx.Retry(RetryRequest{Filter: Filter{All: true}})
		return err
	}); err != nil {
		t.Fatal(err)
	}
}

// TestWaitingForAnotherProcess: the lock is held by a real second process;
// the waiting writer names that process, and goes ahead when it is done.
func TestWaitingForAnotherProcess(t *testing.T) {
	if path := os.Getenv("MQSH_TEST_HOLD_QUEUE"); path != "" {
		announceAfter = 10 * time.Millisecond
		q, err := Open(path, Options{})
		if err != nil {
			fmt.Println("ERR", err)
			os.Exit(1)
		}
		err = q.Update(WithSource(context.Background(), "cli"), func(tx *Tx) error {
			if _, err := tx.Retry(RetryRequest{Filter: Filter{All: true}}); err != nil {
				return err
			}
			time.Sleep(100 * time.Millisecond) // published
			fmt.Println("HOLDING")
			bufio.NewReader(os.Stdin).ReadString('\n') // until the parent says
			return nil
		})
		q.Close()
		if err != nil {
			fmt.Println("ERR", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	if testing.Short() {
		t.Skip("spawns a process")
	}
	quickNotices(t)
	n := newNotices()
	_, b := twoHandles(t, Options{Waiting: n.add})
	cmd := exec.Command(os.Args[0], "-test.run=^TestWaitingForAnotherProcess$")
	cmd.Env = append(os.Environ(), "MQSH_TEST_HOLD_QUEUE="+b.Path())
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	line, _ := bufio.NewReader(stdout).ReadString('\n')
	if line != "HOLDING\n" {
		stdin.Close()
		t.Fatalf("child: %q", line)
	}
	cancelled := make(chan error, 1)
	go func() {
		_, err := b.Cancel(t.Context(), CancelRequest{Filter: Filter{All: true}})
		cancelled <- err
	}()
	select {
	case <-n.seen:
	case err := <-cancelled:
		t.Fatalf("did not wait for the other process: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("no notice")
	}
	stdin.Close()
	if err := <-cancelled; err != nil {
		t.Fatal(err)
	}
	if got, want := n.all(), fmt.Sprintf("process %d (", cmd.Process.Pid); !strings.Contains(got, want) || !strings.Contains(got, "cli: retry") {
		t.Errorf("notices do not name the other process (%s, cli: retry):\n%s", want, got)
	}
	if c := mustCount(t, b, Filter{}); c != 0 {
		t.Errorf("%d messages left", c)
	}
}

// A process that opens a queue which another holds exclusively for a moment
// (as SQLite does while the creator of a new queue switches it to WAL, or
// while the last process to close a queue checkpoints its WAL) waits for
// the file like any writer waits for the lock, and says so, instead of
// failing with SQLite's "database is locked". Two scripts that create one
// queue at the same moment both succeed.
func TestOpenWaitsForAnotherHoldingTheFile(t *testing.T) {
	quickNotices(t)
	path := filepath.Join(t.TempDir(), "q.db")
	// Another connection takes the exclusive lock of the new, still empty
	// file after this process has looked at it and before it creates the
	// schema, and keeps it until the opener says it waits.
	conn := otherConn(t, path)
	held := false
	beforeMigrateHook = func() {
		if _, err := conn.ExecContext(t.Context(), "BEGIN EXCLUSIVE"); err != nil {
			t.Errorf("take the exclusive lock: %v", err)
		}
		held = true
	}
	defer func() { beforeMigrateHook = nil }()
	n := newNotices()
	var release sync.Once
	q, err := Open(path, Options{Waiting: func(w LockWait) {
		n.add(w)
		release.Do(func() {
			if _, err := conn.ExecContext(t.Context(), "ROLLBACK"); err != nil {
				t.Errorf("release the exclusive lock: %v", err)
			}
		})
	}})
	if err != nil {
		t.Fatalf("open while another holds the file: %v", err)
	}
	defer q.Close()
	if !held {
		t.Fatal("the file was never held: the test proves nothing")
	}
	if got := n.all(); !strings.Contains(got, "waiting") {
		t.Errorf("the opener did not say that it waits: %q", got)
	}
	if _, err := q.Enqueue(t.Context(), Envelope{Sender: "a@b.test", Recipients: []EnvelopeRecipient{{Address: "c@d.test"}}}, []byte("x")); err != nil {
		t.Errorf("the queue opened after the wait does not work: %v", err)
	}
}

// A wait stopped while a try for the lock is under way (database/sql and the
// SQLite driver then fail the try with the context's own error rather than
// with "database is locked") says, like any stopped wait, for whose lock it
// waited and that nothing changed.
func TestWaitStoppedDuringATry(t *testing.T) {
	a, b := twoHandles(t, Options{})
	release := make(chan struct{})
	_, held := holdLock(t, a, release)
	defer func() { close(release); <-held }()

	ctx, cancel := context.WithCancel(t.Context())
	tries := 0
	err := b.waitLock(ctx, "change queue", func() error {
		if tries++; tries == 1 {
			_, err := b.writer.BeginTx(ctx, nil) // busy: a holds the lock
			return err
		}
		cancel() // the wait is stopped while this try runs
		tx, err := b.writer.BeginTx(ctx, nil)
		if err == nil {
			tx.Rollback()
			t.Fatal("a transaction began under a cancelled context")
		}
		return err
	})
	if tries != 2 {
		t.Fatalf("%d tries, want 2", tries)
	}
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "stopped waiting") || !strings.Contains(err.Error(), "nothing changed") {
		t.Errorf("wait stopped during a try: %v", err)
	}
}

// Opening a queue waits, like a change, while another process holds its
// write lock and the schema must be brought up to date; Ctrl-C (the
// context given to OpenContext) stops that wait at once, with an error that
// names the wait and says nothing changed, and leaves the file as it was.
func TestOpenStopsWaitingWhenCancelled(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.db")
	q, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := q.LoadDemo(t.Context(), 0, 1); err != nil {
		t.Fatal(err)
	}
	q.Close()
	conn := otherConn(t, path)
	// An older schema, so that opening must take the write lock; another
	// connection holds it (for 10 s at most, so that a wait that is not
	// stopped ends the test all the same).
	old := len(migrations) - 1
	if _, err := conn.ExecContext(t.Context(), fmt.Sprintf("PRAGMA user_version = %d", old)); err != nil {
		t.Fatal(err)
	}
	defer holdFor10s(t, conn, "BEGIN IMMEDIATE")()
	q, err = openCancelledAt100ms(t, path)
	if err == nil {
		q.Close()
		t.Fatal("Open succeeded while another connection held the write lock")
	}
	msg := err.Error()
	if !errors.Is(err, context.Canceled) || !strings.HasPrefix(msg, "open queue: stopped waiting for the write lock of "+path) ||
		!strings.Contains(msg, "nothing changed") || strings.Count(msg, "open queue") != 1 {
		t.Errorf("cancelled open: %v", err)
	}
	var version int
	if err := conn.QueryRowContext(t.Context(), "PRAGMA user_version").Scan(&version); err != nil || version != old {
		t.Errorf("schema version %d (%v) after the cancelled open, want %d: nothing changed", version, err, old)
	}
}

// A file another process holds whole (as SQLite does while a new queue is
// created, or while the last process to close a queue writes its WAL into
// it) is waited for before its schema can even be read; Ctrl-C stops that
// wait too, at once.
func TestOpenStopsWaitingForAFileHeldWhole(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.db")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	conn := otherConn(t, path)
	defer holdFor10s(t, conn, "BEGIN EXCLUSIVE")()
	q, err := openCancelledAt100ms(t, path)
	if err == nil {
		q.Close()
		t.Fatal("Open succeeded while another connection held the file")
	}
	if msg := err.Error(); !errors.Is(err, context.Canceled) || !strings.HasPrefix(msg, "open queue: stopped waiting for the write lock of "+path) ||
		!strings.Contains(msg, "nothing changed") {
		t.Errorf("cancelled open: %v", err)
	}
}

// holdFor10s begins a transaction on conn with begin (BEGIN IMMEDIATE or
// EXCLUSIVE) and rolls it back after 10 s at most, so that a wait that is
// never stopped ends the test all the same; call what it returns (deferred)
// to roll back sooner.
func holdFor10s(t *testing.T, conn *sql.Conn, begin string) (rollback func()) {
	t.Helper()
	if _, err := conn.ExecContext(t.Context(), begin); err != nil {
		t.Fatal(err)
	}
	released := make(chan struct{})
	release := time.AfterFunc(10*time.Second, func() { conn.ExecContext(context.Background(), "ROLLBACK"); close(released) })
	return func() {
		if release.Stop() {
			conn.ExecContext(context.Background(), "ROLLBACK")
		} else {
			<-released
		}
	}
}

// openCancelledAt100ms opens path under a context cancelled after 100 ms
// and fails the test when opening went on for seconds after that.
func openCancelledAt100ms(t *testing.T, path string) (*Queue, error) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	q, err := OpenContext(ctx, path, Options{})
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Open went on for %s after its context was cancelled at 100ms", d)
	}
	return q, err
}

// otherConn is a connection to the file at path of another handle, as
// another process would have, closed when the test ends.
func otherConn(t *testing.T, path string) *sql.Conn {
	t.Helper()
	other, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Close() })
	conn, err := other.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}
