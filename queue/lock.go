package queue

// The write lock. SQLite lets one connection write at a time, across
// processes. A change waits for the lock in Go, not in SQLite's busy handler,
// so that the wait can be told about, limited (Options.LockWait) and stopped
// (the context) at once. A writer that holds the lock for more than a moment
// publishes who it is in a small record beside the queue file (QUEUE-writer:
// process id, user, source, first verb, start time), which a waiting process
// reads to say what it waits for.

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/mattn/go-sqlite3"
)

// ErrConflict is returned by UpdateDeferred when the write lock could not be
// taken at the first change because another writer was at work or had
// committed since the transaction's snapshot: everything was rolled back.
var ErrConflict = errors.New("another change to the queue was committed while this transaction was reading it")

// The waiting writer's notices: the first after waitNoticeFirst, then every
// waitNoticeEvery. announceAfter is how long a write transaction runs before
// it publishes its holder record. Variables, so that tests can shorten them.
var (
	waitNoticeFirst = time.Second
	waitNoticeEvery = 5 * time.Second
	announceAfter   = 250 * time.Millisecond
)

// waitPoll is the pause between two tries for the write lock (on top of
// SQLite's own short busy timeout on write connections, writerBusyTimeout).
const waitPoll = 20 * time.Millisecond

// LockHolder says who holds a queue's write lock, as its holder published it.
type LockHolder struct {
	PID    int       `json:"pid"`
	User   string    `json:"user"`
	Source string    `json:"source"`         // "cli", "shell", "script NAME ARGS..." (WithSource)
	Verb   string    `json:"verb,omitempty"` // its first change: retry, cancel, import...
	Since  time.Time `json:"since"`          // when it took the lock
}

// String says who holds the lock: `process 4242 (root, cli: retry)`.
func (h *LockHolder) String() string {
	if h == nil {
		return "another connection (which did not say who it is: an older mqsh, or another program)"
	}
	what := h.Source
	if h.Verb != "" {
		what += ": " + h.Verb
	}
	return fmt.Sprintf("process %d (%s, %s)", h.PID, h.User, what)
}

// LockWait describes a change waiting for the write lock (Options.Waiting).
type LockWait struct {
	Path   string        // the queue file
	Holder *LockHolder   // nil when the holder published nothing (yet)
	Waited time.Duration // so far
}

// String is the notice a front end shows: what is waited for, since when.
func (w LockWait) String() string {
	s := fmt.Sprintf("waiting %s for the write lock of %s, held by %s", w.Waited.Round(time.Second), w.Path, w.Holder)
	if w.Holder != nil {
		s += fmt.Sprintf(" since %s (%s ago)", w.Holder.Since.Local().Format("15:04:05"), time.Since(w.Holder.Since).Round(time.Second))
	}
	return s + "; Ctrl-C stops waiting, nothing changed"
}

// isBusy reports whether err is SQLite saying the lock is taken (or, for a
// transaction that began as a read, that its snapshot is out of date).
func isBusy(err error) bool {
	var se sqlite3.Error
	return errors.As(err, &se) && (se.Code == sqlite3.ErrBusy || se.Code == sqlite3.ErrLocked)
}

// waitStopped is waitLock's error when its context ended: a sentence that
// needs no more context.
type waitStopped struct{ err error }

func (e *waitStopped) Error() string { return e.err.Error() }
func (e *waitStopped) Unwrap() error { return e.err }

// waitLock runs try until it does not fail for want of the write lock,
// pausing in between, telling Options.Waiting every few seconds who holds the
// lock, and giving up when ctx ends or after Options.LockWait.
func (q *Queue) waitLock(ctx context.Context, op string, try func() error) error {
	start := time.Now()
	nextNotice := start.Add(waitNoticeFirst)
	stopped := func() error {
		return &waitStopped{fmt.Errorf("%s: stopped waiting for the write lock of %s (held by %s): nothing changed: %w", op, q.path, q.holder(), context.Cause(ctx))}
	}
	for {
		err := try()
		if err == nil {
			return nil
		}
		// A context that ends while a try is under way fails the try with
		// its own error (database/sql and the driver see it first) rather
		// than with the lock's: the wait was stopped all the same.
		if ctx.Err() != nil && (isBusy(err) || errors.Is(err, ctx.Err())) {
			return stopped()
		}
		if !isBusy(err) {
			return err
		}
		waited := time.Since(start)
		if q.lockWait > 0 && waited >= q.lockWait {
			return fmt.Errorf("%s: %s stayed locked for %s by %s: nothing changed; try again, or allow a longer wait", op, q.path, q.lockWait, q.holder())
		}
		if q.waiting != nil && !time.Now().Before(nextNotice) {
			q.waiting(LockWait{Path: q.path, Holder: q.holder(), Waited: waited})
			nextNotice = time.Now().Add(waitNoticeEvery)
		}
		select {
		case <-ctx.Done():
			return stopped()
		case <-time.After(waitPoll):
		}
	}
}

// beginWrite starts an immediate (write-locked) transaction on db, waiting
// for the lock as long as allowed.
func (q *Queue) beginWrite(ctx context.Context, db txBeginner) (*sql.Tx, error) {
	var tx *sql.Tx
	err := q.waitLock(ctx, "change queue", func() (err error) {
		tx, err = db.BeginTx(ctx, nil)
		return err
	})
	return tx, err
}

func (q *Queue) holderPath() string { return q.abs + "-writer" }

// holder reads the published record of the lock's holder; nil when there is
// none, or its process is gone.
func (q *Queue) holder() *LockHolder {
	b, err := os.ReadFile(q.holderPath())
	if err != nil {
		return nil
	}
	var h LockHolder
	if json.Unmarshal(b, &h) != nil || h.PID <= 0 || !processAlive(h.PID) {
		return nil
	}
	return &h
}

// announcer publishes the holder record of one write transaction once it has
// held the lock for announceAfter, and removes it when the transaction ends.
type announcer struct {
	mu     sync.Mutex
	q      *Queue
	timer  *time.Timer
	rec    []byte // what was written; nil until then
	ended  bool
	holder LockHolder
}

// announce starts the timer for a transaction that has just taken the lock.
func (q *Queue) announce(ctx context.Context, verb string) *announcer {
	a := &announcer{q: q, holder: LockHolder{PID: os.Getpid(), User: q.user, Source: SourceOf(ctx), Verb: verb, Since: time.Now().UTC()}}
	a.timer = time.AfterFunc(announceAfter, func() {
		a.mu.Lock()
		defer a.mu.Unlock()
		if a.ended {
			return
		}
		b, err := json.Marshal(a.holder)
		if err != nil {
			return
		}
		mode := os.FileMode(0o600)
		if st, err := os.Stat(q.abs); err == nil {
			mode = st.Mode().Perm() &^ 0o111
		}
		tmp := q.holderPath() + fmt.Sprintf(".%d", os.Getpid())
		if os.WriteFile(tmp, b, mode) != nil || os.Rename(tmp, q.holderPath()) != nil {
			os.Remove(tmp)
			return
		}
		a.rec = b
	})
	return a
}

// setVerb records the transaction's first change, unless one is known.
func (a *announcer) setVerb(verb string) {
	a.mu.Lock()
	if a.holder.Verb == "" {
		a.holder.Verb = verb
	}
	a.mu.Unlock()
}

// end stops the timer and removes the record if it is still this one's.
func (a *announcer) end() {
	if a == nil {
		return
	}
	a.timer.Stop()
	a.mu.Lock()
	defer a.mu.Unlock()
	a.ended = true
	if a.rec != nil {
		if b, err := os.ReadFile(a.q.holderPath()); err == nil && strings.TrimSpace(string(b)) == string(a.rec) {
			os.Remove(a.q.holderPath())
		}
	}
}
