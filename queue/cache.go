package queue

import (
	"context"
	"fmt"
	"sync"
)

// CacheLimiter is implemented by engines that keep part of the queue in
// memory per write connection (the SQLite engine's page cache, 256 MiB by
// default, so that bulk changes to a big queue stay in memory). A server
// that runs for days on a big queue limits it: otherwise every page it ever
// changed stays resident. It is optional.
type CacheLimiter interface {
	// LimitCache sets the page cache of each write connection to at most
	// bytes (at least 1 MiB). Call it before the queue is shared between
	// goroutines (serve does, before it starts anything).
	LimitCache(ctx context.Context, bytes int64) error
}

var _ CacheLimiter = (*Queue)(nil)

// LimitCache reopens q's write connections with a page cache of bytes: every
// connection made from now on, including those database/sql makes to
// replace one, has it. Nothing is done on a read-only queue, whose
// connections only read (through memory-mapped I/O, without a cache to fill).
func (q *Queue) LimitCache(_ context.Context, bytes int64) error {
	if bytes < 1<<20 {
		return fmt.Errorf("invalid cache size %d bytes: want 1M or more", bytes)
	}
	q.cacheKiB = bytes >> 10
	if q.writer == nil {
		return nil
	}
	old := q.writer
	if err := q.openWriter(q.abs); err != nil {
		q.writer = old
		return err
	}
	old.Close()
	if q.deferred != nil {
		// Opened already: opened again, with the new cache, at next use.
		q.deferred.Close()
		q.deferred, q.defErr, q.defOnce = nil, nil, sync.Once{}
	}
	return nil
}
