package queue

// Ingest: the SMTP server's group commit, a batch of new messages in a write
// transaction of its own on a connection kept for it. Each batch is the
// whole of its transaction, so it needs no savepoint: when writing fails the
// transaction is rolled back. The connection keeps SQLite's statement
// journals in memory (PRAGMA temp_store = MEMORY): by default a statement
// journal past 64 KiB spills to a temporary file, created, written and
// deleted in every transaction, and a batch of a few messages touching a
// dozen indexes is past it. In memory it is bounded by the pages one batch
// changes; the other write connections keep the default, since their verbs'
// savepoints may span a whole queue.
//
// The connection also checkpoints the WAL less often: at 4,000 pages (16
// MiB) rather than SQLite's 1,000. A checkpoint runs inside the commit that
// takes the WAL past the mark, so it stalls every session waiting on that
// commit; and group commits rewrite the same index pages (the ends of the
// indexes on id, time and due) commit after commit, which a checkpoint
// copies once however often they were written (BENCHMARKS.md). Durability
// is the same: each commit's WAL frames are on disk before the caller is
// told so, whenever the checkpoint runs.
//
// The connection commits with synchronous = NORMAL, and the flush of its
// commits is the caller's to wait for, off its path (ingest_flush.go): the
// SMTP server's committer writes the next batch while the last is flushed.

import (
	"context"
	"database/sql"
	"errors"

	"github.com/mattn/go-sqlite3"
)

// Ingester is implemented by a backend that queues a batch of new messages
// in a transaction of its own faster than Run with EnqueueBatch (the SQLite
// queue). Ingest queues msgs as EnqueueBatch does, commits, and returns the
// queued messages in the order given; a message the queue refuses is
// reported in errs at its index and left out. When writing or committing
// fails, nothing is stored and err says why: the caller may then queue the
// messages one by one to find the one at fault.
//
// Ingest returns once the batch is committed, not yet once it is on disk:
// flushed waits until it is (with the queue's commits durable, SetDurable),
// or says why that cannot be known, in which case the messages may be in
// the queue but must not be reported as safely queued. The caller may
// ingest the next batch before it calls flushed; one flush covers every
// batch committed before it began.
type Ingester interface {
	Ingest(ctx context.Context, msgs []NewMessage) (out []*Message, errs []error, flushed func() error, err error)
}

// Ingest queues msgs in one write transaction (see Ingester), audited as
// one enqueue from SourceOf(ctx). With SetDurable on, flushed returns once
// the commit is on disk. Unlike other audited writes it runs no lazy purge
// of what has expired: the server that ingests keeps house on its own
// round. After a flush that failed it refuses every batch with the flush's
// error (ingest_flush.go).
func (q *Queue) Ingest(ctx context.Context, msgs []NewMessage) (out []*Message, errs []error, flushed func() error, err error) {
	if q.readOnly {
		return nil, nil, nil, q.readOnlyError("enqueue")
	}
	if err := q.ingFlush.failed(); err != nil {
		return nil, nil, nil, err
	}
	q.resolveUser()
	q.wrote.Store(true)
	sqltx, err := q.beginWrite(ctx, q.ingestDB())
	if err != nil {
		var se sqlite3.Error
		if errors.As(err, &se) {
			return nil, nil, nil, q.fileError("enqueue", err)
		}
		return nil, nil, nil, err // waitLock's sentence
	}
	t := &Tx{q: q, ctx: ctx, tx: sqltx, write: true, locked: true, verbSet: true, noHousekeep: true}
	t.ann = q.announce(ctx, "enqueue")
	err = q.finish(t, func(tx *Tx) error {
		out, errs, err = tx.enqueueBatch(msgs)
		return err
	})
	if err != nil {
		return nil, nil, nil, err
	}
	return out, errs, q.committedIngest(), nil
}

// ingestPragmas are the settings of Ingest's connection beside those of
// every write connection (see the top of the file).
const ingestPragmas = "PRAGMA temp_store = MEMORY; PRAGMA wal_autocheckpoint = 4000"

// ingestDB returns Ingest's connection, opening it on first use.
func (q *Queue) ingestDB() *sql.DB {
	q.ingOnce.Do(func() {
		db := sql.OpenDB(writerConnector{q: q, abs: q.abs, txlock: "immediate", ingest: true})
		db.SetMaxOpenConns(1)
		db.SetMaxIdleConns(1)
		db.SetConnMaxLifetime(0)
		q.ingest = db
	})
	return q.ingest
}
