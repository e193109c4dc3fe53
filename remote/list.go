package remote

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"mqsh/queue"
)

// scan lists the messages matching f with id > after, in id order, calling
// fn for each until it returns false. It asks for pages of whole messages
// (values=1) after the last id seen (range-start), each request bounded
// by max-total so the server stops at a full page; a server that ignores
// range-start is paged by number instead.
func (c *Client) scan(ctx context.Context, f queue.Filter, after queue.ID, fn func(m *remoteMessage) (bool, error)) error {
	return c.scanPages(ctx, f, after, c.pageSize, fn)
}

// scanPages is scan with pages of size messages. While fn works through a
// page, the next one is already being asked for and decoded, so that the
// server, the decoding and fn (printing, most often) overlap. mqsh's own
// server names a full page's last id in a header (lastIDHeader) before the
// body: the next page is then asked for as soon as that header arrives,
// while this one is still being received and decoded, so that the server
// builds the next page while the client decodes this one.
func (c *Client) scanPages(ctx context.Context, f queue.Filter, after queue.ID, size int, fn func(m *remoteMessage) (bool, error)) error {
	mt, err := f.Matcher()
	if err != nil {
		return c.matcherError(err)
	}
	base := serverParams(f, c.Now())
	var lo queue.ID // the filter's own lower bound
	if s := base.Get("range-start"); s != "" {
		v, _ := strconv.ParseUint(s, 10, 64)
		lo = queue.ID(v)
	}
	// The pages fetched ahead are dropped (their requests cancelled) when
	// fn stops early or fails.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	limit := strconv.Itoa(size)
	// request asks for the page after id last, or page number n when the
	// server ignores range-start (byNumber); it is nil when there is
	// nothing after last.
	request := func(last queue.ID, byNumber bool, n int) *pageRequest {
		q := url.Values{}
		for k, v := range base {
			q[k] = v
		}
		q.Set("values", "1")
		q.Set("blob-hash", "0") // mqsh's server then skips reading each text; Stalwart ignores it
		q.Set("limit", limit)
		if byNumber {
			q.Set("page", strconv.Itoa(n))
		} else {
			if last == ^queue.ID(0) {
				return nil
			}
			q.Set("range-start", strconv.FormatUint(uint64(max(lo, last+1)), 10))
			q.Set("max-total", limit)
		}
		rctx, stop := context.WithCancel(ctx)
		p := &pageRequest{page: make(chan fetchedPage, 1), lastID: make(chan queue.ID, 1), after: last, stop: stop}
		go func() { p.page <- c.fetchPage(rctx, q, p.lastID) }()
		return p
	}
	last := after
	byNumber, page := false, 1
	cur := request(last, false, page)
	var ahead *pageRequest // asked for on cur's last-id header
	for cur != nil {
		var res fetchedPage
		for waiting := true; waiting; {
			select {
			case id := <-cur.lastID:
				cur.lastID = nil
				if !byNumber && ahead == nil {
					ahead = request(max(last, id), false, 0)
				}
			case res = <-cur.page:
				waiting = false
			}
		}
		cur.stop() // its answer is read: this frees its context
		cur = nil
		if res.err != nil {
			return res.err
		}
		msgs := res.msgs
		if !byNumber && len(msgs) > 0 && msgs[0].ID <= last && last > 0 {
			// range-start was ignored: page by number from the start.
			ahead.cancel()
			byNumber, page, ahead = true, 1, nil
			cur = request(last, true, page)
			continue
		}
		// Ask for the next page before working through this one, unless
		// it is asked for already.
		if res.full {
			page++
			next := last
			for i := range msgs {
				next = max(next, msgs[i].ID)
			}
			if ahead != nil && ahead.after == next {
				cur = ahead
			} else {
				ahead.cancel()
				cur = request(next, byNumber, page)
			}
		} else {
			ahead.cancel()
		}
		ahead = nil
		c.seen.add(msgs)
		for i := range msgs {
			m := &msgs[i]
			if m.ID <= last {
				continue
			}
			last = m.ID
			if !mt.Match(&m.Message) {
				continue
			}
			more, err := fn(m)
			if err != nil || !more {
				return err
			}
		}
	}
	return nil
}

// pageRequest is one page asked for: its answer comes on page; lastID
// gives the page's last id as soon as the server's header names it.
type pageRequest struct {
	page   chan fetchedPage
	lastID chan queue.ID
	after  queue.ID // the page starts after this id
	stop   context.CancelFunc
}

// cancel drops the request; nil does nothing.
func (p *pageRequest) cancel() {
	if p != nil {
		p.stop()
	}
}

// lastIDHeader is the header in which mqsh's server names a full page's
// last id (httpapi.LastIDHeader).
const lastIDHeader = "Mqsh-Last-Id"

// fetchedPage is one page of a listing, decoded.
type fetchedPage struct {
	msgs []remoteMessage
	full bool // the page was full: there may be more
	err  error
}

// fetchPage asks for one page of whole messages and decodes it. The page's
// last id goes to lastID when the answer's header names it.
func (c *Client) fetchPage(ctx context.Context, q url.Values, lastID chan<- queue.ID) fetchedPage {
	r := listRoute(q)
	r.onOK = func(h http.Header) {
		if v, err := strconv.ParseUint(h.Get(lastIDHeader), 10, 64); err == nil {
			lastID <- queue.ID(v)
		}
	}
	data, found, err := call[listData](ctx, c, r)
	if err != nil {
		return fetchedPage{err: fmt.Errorf("list: %w", err)}
	}
	if !found {
		return fetchedPage{err: c.noQueueAPI()}
	}
	msgs := make([]remoteMessage, 0, len(data.Items))
	for i := range data.Items {
		m, err := toMessage(&data.Items[i], c.Now)
		if err != nil {
			return fetchedPage{err: fmt.Errorf("list: %w", kindf(ErrBadResponse, err, "%s sent a message mqsh cannot read: %v", c.Location(), err))}
		}
		msgs = append(msgs, m)
	}
	limit, _ := strconv.Atoi(q.Get("limit"))
	return fetchedPage{msgs: msgs, full: len(data.Items) >= limit}
}

// List returns the messages matching f with id > p.After, in ascending id
// order, at most p.Limit (0 = all).
func (c *Client) List(ctx context.Context, f queue.Filter, p queue.Page) ([]queue.Message, error) {
	var out []queue.Message
	size := c.pageSize
	if exactOnServer(f) && p.Limit > 0 {
		size = min(size, p.Limit) // every message listed is a match: ask for no more
	}
	err := c.scanPages(ctx, f, p.After, size, func(m *remoteMessage) (bool, error) {
		out = append(out, m.Message)
		return p.Limit <= 0 || len(out) < p.Limit, nil
	})
	return out, err
}

// Batches calls fn with every message matching f, in id order, in batches
// of a page (queue.Batcher): one walk over the listing, so that the next
// page is asked for while fn writes out this one, where queue.EachBatch
// without it would list page by page, each List a walk of its own that
// asks for a page ahead only to drop it. fn may keep the batch.
func (c *Client) Batches(ctx context.Context, f queue.Filter, fn func(msgs []queue.Message) error) error {
	var batch []queue.Message
	err := c.scan(ctx, f, 0, func(m *remoteMessage) (bool, error) {
		if batch == nil {
			batch = make([]queue.Message, 0, c.pageSize)
		}
		batch = append(batch, m.Message)
		if len(batch) < c.pageSize {
			return true, nil
		}
		err := fn(batch)
		batch = nil
		return err == nil, err
	})
	if err != nil || len(batch) == 0 {
		return err
	}
	return fn(batch)
}

// Each calls fn for every message matching f, in id order, a page at a time.
func (c *Client) Each(ctx context.Context, f queue.Filter, fn func(m *queue.Message) error) error {
	return c.scan(ctx, f, 0, func(m *remoteMessage) (bool, error) {
		return true, fn(&m.Message)
	})
}

// Count returns how many messages match f: the server's total for the
// empty filter, else a count of a listing finished on the client.
func (c *Client) Count(ctx context.Context, f queue.Filter) (int, error) {
	if exactOnServer(f) {
		data, found, err := call[totalData](ctx, c, listRoute(url.Values{"limit": {"1"}}))
		if err != nil {
			return 0, fmt.Errorf("count: %w", err)
		}
		if !found {
			return 0, c.noQueueAPI()
		}
		return data.Total, nil
	}
	n := 0
	err := c.scan(ctx, f, 0, func(*remoteMessage) (bool, error) { n++; return true, nil })
	return n, err
}

// Get returns one message; an error wrapping queue.ErrNotFound when the
// server has none of that id.
func (c *Client) Get(ctx context.Context, id queue.ID) (*queue.Message, error) {
	m, err := c.get(ctx, id)
	if err != nil {
		return nil, err
	}
	return &m.Message, nil
}

func (c *Client) get(ctx context.Context, id queue.ID) (*remoteMessage, error) {
	w, found, err := call[queue.MessageJSON](ctx, c, route{method: "GET", path: messagePath(id), permission: "message-queue-get"})
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", id, err)
	}
	if !found {
		return nil, c.notFound(ctx, id)
	}
	m, err := toMessage(&w, c.Now)
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", id, kindf(ErrBadResponse, err, "%s sent a message mqsh cannot read: %v", c.Location(), err))
	}
	c.seen.add([]remoteMessage{m})
	return &m, nil
}

// messagePath is the route of one message: its id in decimal.
func messagePath(id queue.ID) string {
	return "/api/queue/messages/" + strconv.FormatUint(uint64(id), 10)
}
