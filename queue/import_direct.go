package queue

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// An import into an empty queue writes its pages once. In WAL mode every
// page of a bulk load is written into the -wal file at commit and copied
// into the queue file by the checkpoint (72 MB twice, and two more flushes,
// per 100,000 messages). When the queue holds no message, the import's
// transaction runs in rollback-journal mode instead: SQLite writes the pages
// straight into the file, and its journal keeps only the few pages the
// empty queue had, so that a crash (or a failed import) rolls back to the
// empty queue. The queue is back in WAL mode when the import returns.
//
// SQLite leaves WAL mode only on a connection outside a transaction that
// can take the file's exclusive lock: no other connection, of this handle
// or any other process, may have the queue open in WAL mode (an idle
// connection that has read in WAL mode keeps a shared lock on the file for
// as long as it is open). The idle read connections of this handle are
// closed for the switch; when any other connection holds the file (a
// server, a shell, a reader at work), the switch is refused and the import
// runs in WAL mode, as every other write does.
//
// While the import runs in rollback-journal mode, a process that opens the
// queue reads it as it was (empty) until the import starts writing pages
// into the file (when its page cache fills, or at the commit); from then it
// waits for the commit, as a read waits for the lock (busyTimeout). A
// process that would write waits for the import to end, as writers wait for
// each other; one that opens the queue with write access waits too, since
// opening switches a queue found out of WAL mode back to it (migrate.go).

// ImportRunner is implemented by a backend that can run an import, a unit
// of work that adds messages, faster than Run(ctx, RunWrite, fn) when the
// queue is empty (the SQLite engine: see RunImport).
type ImportRunner interface {
	RunImport(ctx context.Context, fn func(tx Txn) error) error
}

var _ ImportRunner = (*Queue)(nil)

// RunImport runs fn, an import (`queue import` of its files), as
// Run(ctx, RunWrite, fn) does: in one transaction, committed when fn
// returns nil. Into an empty queue that no other connection has open, the
// transaction writes the queue file directly (see above), and takes the
// write lock from the start.
func (q *Queue) RunImport(ctx context.Context, fn func(tx Txn) error) error {
	return q.importInto(ctx, func(tx *Tx) error { return fn(tx) }, func() error { return q.Run(ctx, RunWrite, fn) })
}

// updateImport is Update for an import: directly into the file when the
// queue is empty (see above).
func (q *Queue) updateImport(ctx context.Context, fn func(tx *Tx) error) error {
	return q.importInto(ctx, fn, func() error { return q.Update(ctx, fn) })
}

// importInto runs fn in a transaction that writes the queue file directly
// when the queue is empty and the switch out of WAL mode is granted, and
// runs otherwise, the way every other write goes, instead.
func (q *Queue) importInto(ctx context.Context, fn func(tx *Tx) error, otherwise func() error) error {
	if q.readOnly {
		return otherwise()
	}
	conn, restore := q.leaveWAL(ctx)
	if conn == nil {
		return otherwise()
	}
	err := q.runWriteOn(ctx, conn, false, q.directWrite(fn))
	if e := restore(); err == nil {
		err = e
	}
	return err
}

// directWrite is fn as the first thing in a transaction in rollback-journal
// mode: its commit waits for readers as long as a reader waits for it
// (busyTimeout) rather than the writer's short wait, since in this mode
// SQLite writes into the file only when no one reads it.
func (q *Queue) directWrite(fn func(tx *Tx) error) func(tx *Tx) error {
	return func(tx *Tx) error {
		if _, err := tx.tx.ExecContext(tx.ctx, fmt.Sprintf("PRAGMA busy_timeout = %d", busyTimeout.Milliseconds())); err != nil {
			return tx.q.fileError("import", err)
		}
		return fn(tx)
	}
}

// leaveWAL switches the queue file to rollback-journal mode for an import
// when the queue holds no message (not even in the trash), on the writer's
// one connection, which it returns held, with the function that switches
// back and hands the connection back. It returns a nil connection when the
// queue is not empty or the switch is refused: the import then runs in WAL
// mode.
func (q *Queue) leaveWAL(ctx context.Context) (*sql.Conn, func() error) {
	var held bool
	if err := q.writer.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM messages) OR EXISTS (SELECT 1 FROM trash_messages)").Scan(&held); err != nil || held {
		return nil, nil
	}
	conn, err := q.writer.Conn(ctx)
	if err != nil {
		return nil, nil
	}
	// The idle read connections of this handle hold the file's shared lock
	// (as do those of UpdateDeferred): closed, they open again on their
	// next use, in whatever mode the file is then.
	q.reader.SetMaxIdleConns(0)
	q.reader.SetMaxIdleConns(readerIdleConns)
	if db, err := q.deferredDB(); err == nil {
		db.SetMaxIdleConns(0)
		db.SetMaxIdleConns(deferredIdleConns)
	}
	var mode string
	if err := conn.QueryRowContext(ctx, "PRAGMA journal_mode = DELETE").Scan(&mode); err != nil || mode != "delete" {
		// Refused (another connection has the file open in WAL mode), or
		// an error the import itself will meet and report.
		conn.Close()
		return nil, nil
	}
	// The commit is the journal's removal: EXTRA flushes the directory
	// after it, so that after a power loss the journal cannot come back
	// and roll the import back (with FULL, SQLite flushes the journal and
	// the file, not the directory).
	restore := func() error { return q.backToWAL(conn) }
	if _, err := conn.ExecContext(ctx, "PRAGMA synchronous = EXTRA"); err != nil {
		restore()
		return nil, nil
	}
	return conn, restore
}

// readerIdleConns and deferredIdleConns are how many idle connections the
// read pool and UpdateDeferred's pool keep (store.go).
const (
	readerIdleConns   = 4
	deferredIdleConns = 1
)

// backToWAL switches the queue file back to WAL mode after an import in
// rollback-journal mode, restores the connection's settings and hands it
// back to the writer's pool. Another process that opened the queue during
// the import may be switching it too, or reading: it waits for them as a
// writer waits for the lock, however the import ended.
func (q *Queue) backToWAL(conn *sql.Conn) error {
	defer conn.Close()
	ctx := context.Background()
	var mode string
	err := q.waitLock(ctx, "import", func() error {
		return conn.QueryRowContext(ctx, "PRAGMA journal_mode = WAL").Scan(&mode)
	})
	if err == nil && mode != "wal" {
		err = fmt.Errorf("it stays in %s mode", mode)
	}
	syncMode := "NORMAL"
	if e := conn.Raw(func(dc any) error {
		if wc, ok := dc.(*writeConn); ok && wc.full {
			syncMode = "FULL"
		}
		return nil
	}); e != nil && err == nil {
		err = e
	}
	for _, s := range []string{"PRAGMA synchronous = " + syncMode, fmt.Sprintf("PRAGMA busy_timeout = %d", writerBusyTimeout/time.Millisecond)} {
		if _, e := conn.ExecContext(ctx, s); e != nil {
			err = errors.Join(err, e)
		}
	}
	if err != nil {
		// The import's change is committed (or rolled back) already; the
		// next process to open the queue switches it to WAL (migrate).
		return fmt.Errorf("import: the import is over, but %s could not be switched back to WAL mode (%w): the next mqsh to open it switches it", q.path, err)
	}
	return nil
}
