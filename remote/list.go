package remote

import (
	"context"
	"fmt"
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
// server, the decoding and fn (printing, most often) overlap.
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
	// The page fetched ahead is dropped (its request cancelled) when fn
	// stops early or fails.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	limit := strconv.Itoa(size)
	// request asks for the page after id last, or page number n when the
	// server ignores range-start (byNumber); ok is false when there is
	// nothing after last.
	request := func(last queue.ID, byNumber bool, n int) (<-chan fetchedPage, bool) {
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
				return nil, false
			}
			q.Set("range-start", strconv.FormatUint(uint64(max(lo, last+1)), 10))
			q.Set("max-total", limit)
		}
		ch := make(chan fetchedPage, 1)
		go func() { ch <- c.fetchPage(ctx, q) }()
		return ch, true
	}
	last := after
	byNumber, page := false, 1
	pending, ok := request(last, false, page)
	for ok {
		res := <-pending
		if res.err != nil {
			return res.err
		}
		msgs := res.msgs
		if !byNumber && len(msgs) > 0 && msgs[0].ID <= last && last > 0 {
			// range-start was ignored: page by number from the start.
			byNumber, page = true, 1
			pending, ok = request(last, true, page)
			continue
		}
		// Ask for the next page before working through this one.
		ok = res.full
		if ok {
			page++
			next := last
			for i := range msgs {
				next = max(next, msgs[i].ID)
			}
			pending, ok = request(next, byNumber, page)
		}
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

// fetchedPage is one page of a listing, decoded.
type fetchedPage struct {
	msgs []remoteMessage
	full bool // the page was full: there may be more
	err  error
}

// fetchPage asks for one page of whole messages and decodes it.
func (c *Client) fetchPage(ctx context.Context, q url.Values) fetchedPage {
	data, found, err := call[listData](ctx, c, listRoute(q))
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
