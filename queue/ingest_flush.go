package queue

// The flush of Ingest's commits, off the committer's path.
//
// Ingest's connection commits with synchronous = NORMAL: SQLite writes the
// commit's frames to the WAL and returns without a flush. With SetDurable
// on, Ingest hands back a wait (flushed) that opens the WAL file, flushes it
// with fdatasync, and closes it; one flush serves every commit that had
// returned before it began, so the SMTP server's committer writes its next
// batch while the last one is flushed, and answers a batch's sessions only
// once a flush covering it is over (smtpd/commit.go).
//
// That is as durable as synchronous = FULL, where SQLite flushes the WAL in
// the commit itself:
//   - frames are appended to the WAL, or written over its start once it is
//     restarted; under NORMAL SQLite still flushes the WAL before every
//     checkpoint and the database file after it, and restarts the WAL only
//     after a complete checkpoint, so frames written over were already in
//     the flushed file;
//   - the WAL is deleted only when the last connection closes, after a
//     complete checkpoint: a WAL not found holds nothing not in the file
//     already flushed;
//   - the first flush of a WAL file this queue has not flushed before
//     flushes its directory too, so that a WAL just created is found after a
//     crash (SQLite, under FULL, flushes the directory of a new WAL once).
//
// Our own descriptor of the WAL is harmless, unlike one of the database file
// (writeback_linux.go): closing a descriptor drops the POSIX locks the
// process holds on that file, and SQLite keeps its locks on the database
// file and the -shm, none on the -wal.
//
// A flush that fails (EIO from a failing disk) leaves everything committed
// since the last good flush unknown: the kernel may have dropped the pages
// it could not write, and the WAL's frames are chained by checksum, so a
// later good flush does not make the earlier ones safe. The error sticks:
// every wait still pending and every later Ingest fails with it (the SMTP
// server answers 451 and writes through its other, FULL, path), until the
// queue is opened again.

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
)

// ingestFlush is a queue's record of Ingest's commits and their flushes.
type ingestFlush struct {
	committed atomic.Uint64 // Ingest's durable commits so far

	failure atomic.Pointer[error] // the flush that failed, if one did (sticks)

	mu      sync.Mutex  // held during a flush: one at a time
	flushed uint64      // the commits known to be on disk
	wal     string      // the WAL's path, symbolic links resolved; "" until the first flush
	walFile os.FileInfo // the WAL file last flushed, to know a new one

	// sync flushes an open file to disk (nil: datasync); tests watch or
	// fail it.
	sync func(*os.File) error
}

// failed returns the error of the flush that failed, if one did. It does
// not wait for a flush under way: Ingest asks it while one runs.
func (f *ingestFlush) failed() error {
	if p := f.failure.Load(); p != nil {
		return *p
	}
	return nil
}

// noFlush is the wait of a commit that needs none: the queue's commits are
// not durable (SetDurable off).
func noFlush() error { return nil }

// committedIngest records a commit of Ingest's and returns its wait.
func (q *Queue) committedIngest() func() error {
	if !q.durable.Load() {
		return noFlush
	}
	seq := q.ingFlush.committed.Add(1)
	return func() error { return q.flushIngest(seq) }
}

// flushIngest returns once Ingest's commit number seq is on disk: at once
// if a flush since covered it, else after a flush of its own, which covers
// every commit made so far.
func (q *Queue) flushIngest(seq uint64) error {
	f := &q.ingFlush
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.flushed >= seq {
		return nil
	}
	if err := f.failed(); err != nil {
		return err
	}
	upto := f.committed.Load() // commits that have returned: their frames are written
	if err := q.flushWAL(); err != nil {
		err = fmt.Errorf("flush of %s to disk failed (%w): what was queued since the last good flush may be in the queue but is not known to be on disk, and the queue takes no more batches this way until it is opened again; check the disk and the system log, then restart the server", f.wal, err)
		f.failure.Store(&err)
		return err
	}
	f.flushed = upto
	return nil
}

// realPath is the queue file's path with symbolic links resolved: SQLite
// opens the file a link points to and names its WAL after that.
func (q *Queue) realPath() string {
	if real, err := filepath.EvalSymlinks(q.abs); err == nil {
		return real
	}
	return q.abs
}

// flushWAL flushes the queue's WAL file, and its directory when the file is
// new to this queue. Called with ingFlush.mu held.
func (q *Queue) flushWAL() error {
	f := &q.ingFlush
	if f.wal == "" {
		f.wal = q.realPath() + "-wal"
	}
	w, err := os.Open(f.wal)
	if os.IsNotExist(err) {
		return nil // checkpointed into the file, flushed, and removed
	}
	if err != nil {
		return err
	}
	defer w.Close()
	sync := f.sync
	if sync == nil {
		sync = datasync
	}
	if err := sync(w); err != nil {
		return err
	}
	st, err := w.Stat()
	if err != nil {
		return err
	}
	if f.walFile == nil || !os.SameFile(f.walFile, st) {
		if err := syncDir(filepath.Dir(f.wal)); err != nil {
			return err
		}
		f.walFile = st
	}
	return nil
}
