package queue

// The queue file on disk, before SQLite sees it and after it is closed: what
// may be opened (a regular file, never a named pipe or a device), how a new
// queue is created (mode 0600, like the shell history: it holds addresses and
// message text), and when a queue file may be removed again.
//
// Every handle holds a shared lock on the queue's directory (flock(2)) from
// before it looks at the file until it has closed it. Removing a queue file
// takes the exclusive lock without waiting: when another mqsh process, or
// another handle in this one, has a queue of that directory open, the file is
// kept. The lock is on the directory rather than on the file because closing
// any descriptor of the file would drop the POSIX locks SQLite holds on it for
// other connections of this process; it never blocks a reader or a writer,
// only a removal.

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// prepareFile checks what lies at abs and, when nothing does and the queue
// may be written, creates an empty file with mode 0600. It reports whether
// whether this call created it.
func (q *Queue) prepareFile(abs string) (created bool, err error) {
	st, err := os.Stat(abs)
	switch {
	case err == nil:
		if err := regularFile(q.path, st); err != nil {
			return false, err
		}
		if !q.readOnly && !writable(abs, st) {
			q.readOnly, q.roFile = true, true
		}
		return false, nil
	case !errors.Is(err, fs.ErrNotExist):
		return false, fmt.Errorf("open queue %s: %w", q.path, err)
	case q.readOnly:
		return false, fmt.Errorf("open queue %s: the file does not exist (a read-only queue is never created)", q.path)
	}
	f, err := os.OpenFile(abs, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		// Another process created it a moment ago: open theirs.
		return q.prepareFile(abs)
	}
	if err != nil {
		return false, fmt.Errorf("open queue %s: cannot create the file (%w): check the permissions of its directory", q.path, errors.Unwrap(err))
	}
	f.Close() // no SQLite connection has the file open yet
	return true, nil
}

// regularFile refuses anything but a regular file (or a link to one): a named
// pipe would block the open for ever, a device or socket is no queue.
func regularFile(name string, st fs.FileInfo) error {
	m := st.Mode()
	switch {
	case m.IsRegular():
		return nil
	case m.IsDir():
		return fmt.Errorf("open queue %s: it is a directory: give the path of a queue file inside it", name)
	}
	what := "a special file"
	switch {
	case m&fs.ModeNamedPipe != 0:
		what = "a named pipe (FIFO)"
	case m&fs.ModeSocket != 0:
		what = "a socket"
	case m&fs.ModeDevice != 0:
		what = "a device"
	}
	return fmt.Errorf("open queue %s: it is %s, not a regular file: give the path of a queue file", name, what)
}

// Discard closes the queue and removes its file (with its -wal and -shm files)
// when this handle created the queue, it holds no message and no audited
// change, and no other handle, in this process or another, has a queue of
// its directory open; otherwise it only closes the queue. It reports whether
// the file was removed. A command that created a queue and then failed calls
// it, so that no empty queue is left behind, and no one else's is lost.
func (q *Queue) Discard() (removed bool, err error) {
	if !q.created || q.writer == nil {
		return false, q.Close()
	}
	q.closeOnce.Do(func() { removed, err = q.closeAndRemoveIfUnused() })
	return removed, err
}

// closeAndRemoveIfUnused closes the handle and removes the file when it is
// unused and no other handle has its directory's queues open.
func (q *Queue) closeAndRemoveIfUnused() (removed bool, err error) {
	if q.reader != nil {
		err = q.reader.Close()
	}
	if q.deferred != nil {
		q.deferred.Close()
	}
	// Every other handle of the directory holds its shared lock: with the
	// exclusive one, no one else has the file open, nor can open it until
	// it is gone.
	remove := q.lock.exclusive() && q.unused()
	if e := q.closeWriter(); err == nil {
		err = e
	}
	if remove {
		removed = q.removeFiles()
	}
	q.lock.release()
	return removed, err
}

// unused reports whether the queue file holds nothing to keep: no schema
// (its creation failed), or no message and no audited change.
func (q *Queue) unused() bool {
	if q.writer == nil {
		st, err := os.Stat(q.abs)
		return err == nil && st.Size() == 0
	}
	ctx := context.Background()
	appID, _, tables, err := readSchema(ctx, q.writer)
	if err != nil || tables == 0 {
		return err == nil
	}
	if appID != applicationID {
		return false
	}
	var n int
	err = q.writer.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM messages) OR EXISTS (SELECT 1 FROM audit)`).Scan(&n)
	return err == nil && n == 0
}

// removeFiles removes the queue file and SQLite's files beside it; it
// reports whether the queue file is gone.
func (q *Queue) removeFiles() bool {
	for _, suffix := range []string{"-wal", "-shm", "-journal", "-writer"} {
		os.Remove(q.abs + suffix)
	}
	err := os.Remove(q.abs)
	return err == nil || errors.Is(err, fs.ErrNotExist)
}
