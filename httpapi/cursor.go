package httpapi

import (
	"net/url"
	"sync"
	"time"

	"mqsh/queue"
)

// Page cursors: a client reading a listing page after page (page=1, 2, 3
// ... with the same parameters) gets each page from where the previous one
// ended, by id, instead of the server reading and skipping every message
// before it. Reading page N costs a page, not N pages, and a message removed
// meanwhile from an earlier page shifts nothing: no message is skipped or
// shown twice. A page asked for out of turn is counted from the start, as
// Stalwart does. Only selections the engine makes exactly use cursors (the
// others are read whole anyway, to count their total).

// cursorTTL is how long a cursor is kept after its page was read.
const cursorTTL = time.Minute

// maxCursors bounds the cursors kept; the oldest go first.
const maxCursors = 256

type cursorKey struct {
	query  string // the request's parameters without page
	offset int    // the position the cursor resumes at
}

type cursor struct {
	after queue.ID // the id at position offset-1
	at    time.Time
}

type cursors struct {
	mu sync.Mutex
	m  map[cursorKey]cursor
}

// cursorQuery is the key of a listing's parameters: all but page, in a
// canonical order.
func cursorQuery(q url.Values) string {
	c := url.Values{}
	for k, v := range q {
		if k != "page" {
			c[k] = v
		}
	}
	return c.Encode()
}

// get returns the cursor resuming query at offset.
func (c *cursors) get(query string, offset int) (queue.ID, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := cursorKey{query, offset}
	cur, ok := c.m[k]
	if !ok || time.Since(cur.at) > cursorTTL {
		delete(c.m, k)
		return 0, false
	}
	return cur.after, true
}

// put records that position offset of query follows id after.
func (c *cursors) put(query string, offset int, after queue.ID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[cursorKey]cursor{}
	}
	now := time.Now()
	if len(c.m) >= maxCursors {
		var oldest cursorKey
		first := true
		for k, v := range c.m {
			if now.Sub(v.at) > cursorTTL {
				delete(c.m, k)
				continue
			}
			if first || v.at.Before(c.m[oldest].at) {
				oldest, first = k, false
			}
		}
		if len(c.m) >= maxCursors {
			delete(c.m, oldest)
		}
	}
	c.m[cursorKey{query, offset}] = cursor{after: after, at: now}
}
