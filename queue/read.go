package queue

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// eachPage is how many messages Each and the bulk verbs read at a time.
const eachPage = 1000

const msgCols = "m.id, m.rp_lc, m.rp, m.created, m.size, m.env_id, m.priority"

func scanMessage(sc interface{ Scan(...any) error }) (Message, error) {
	// Scanning into *any is database/sql's fast path (no reflection).
	var (
		m Message
		v [7]any
	)
	if err := sc.Scan(&v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6]); err != nil {
		return m, err
	}
	return messageOf(v[:]), nil
}

// messageOf builds a message from the msgCols columns scanned into v.
func messageOf(v []any) Message {
	var m Message
	id, _ := v[0].(int64)
	m.ID = ID(id)
	m.ReturnPath = str(v[1])
	if v[2] != nil {
		m.ReturnPath = str(v[2])
	}
	created, _ := v[3].(int64)
	m.Created = fromUnix(created)
	m.Size, _ = v[4].(int64)
	m.EnvID = str(v[5])
	priority, _ := v[6].(int64)
	m.Priority = int(priority)
	return m
}

// loadParts fills in the domains and recipients of msgs, ascending ids (one
// query each), with each recipient's NOTIFY when arrival is set. dense says
// msgs holds every message between its first and last id, so a range scan
// replaces the lookups. Both queries return rows in
// (message id, idx) order, so they are merged with msgs in one pass; the
// domains and recipients of the whole batch share two backing arrays (each
// message's slices are capped, so appending to one never touches another).
func (tx *Tx) loadParts(msgs []Message, dense, arrival bool) error {
	return tx.loadPartsFrom("", msgs, dense, arrival)
}

// loadPartsFrom is loadParts from the tables named with a prefix: "" for the
// queue, "trash_" for the trash.
func (tx *Tx) loadPartsFrom(prefix string, msgs []Message, dense, arrival bool) error {
	if len(msgs) == 0 {
		return nil
	}
	for i := range msgs {
		msgs[i].Domains, msgs[i].Held = nil, false
	}
	var where string
	var args []any
	if dense {
		where = "msg_id BETWEEN ? AND ?"
		args = []any{int64(msgs[0].ID), int64(msgs[len(msgs)-1].ID)}
	} else {
		where = "msg_id IN (" + placeholders(len(msgs)) + ")"
		args = make([]any, len(msgs))
		for i := range msgs {
			args[i] = int64(msgs[i].ID)
		}
	}
	if prefix == "trash_" { // keyed by the removal's seq first
		where = "(trash_seq, msg_id) IN (SELECT trash_seq, id FROM trash_messages WHERE id IN (" + placeholders(len(args)) + "))"
	}
	// The hold columns are read only for the domains that have a hold (a
	// second, rare query): on an unheld queue five NULL columns a domain
	// were a tenth of the time of a listing.
	var (
		v     [10]any
		doms  = make([]Domain, 0, len(msgs)*3/2)
		dIdx  = make([]int64, 0, len(msgs)*3/2) // idx of each domain
		first = make([]int32, len(msgs)+1)      // msgs[k]'s domains are doms[first[k]:first[k+1]]
		k     = 0
		holds = false // a domain of the batch has a hold
	)
	err := tx.rows(tx.partsCtx(), "SELECT msg_id, idx, name, status, details, retry_num, due, notify, expires, hold_since IS NOT NULL FROM "+prefix+"domains WHERE "+where+" ORDER BY msg_id, idx", true, args, v[:], func() error {
		mid := v[0].(int64)
		for k < len(msgs) && int64(msgs[k].ID) < mid {
			k++
			first[k] = int32(len(doms))
		}
		if k == len(msgs) || int64(msgs[k].ID) != mid {
			return nil
		}
		d := Domain{Name: str(v[2]), Status: Status(v[3].(int64)), Details: str(v[4]), RetryNum: int(v[5].(int64)), Due: fromUnix(v[6].(int64)), Expires: fromUnix(v[8].(int64))}
		if n, ok := v[7].(int64); ok {
			d.NotifyAt = fromUnix(n)
		}
		holds = holds || v[9].(int64) != 0
		doms = append(doms, d)
		dIdx = append(dIdx, v[1].(int64))
		return nil
	})
	if err != nil {
		return err
	}
	for k < len(msgs) {
		k++
		first[k] = int32(len(doms))
	}
	if holds {
		if err := tx.loadHolds(prefix, where, args, msgs, doms, dIdx, first); err != nil {
			return err
		}
	}

	// address is NULL when it is address_lc.
	cols, rv := "msg_id, domain_idx, coalesce(address, address_lc), status, code, enhanced, message, orcpt", v[:8]
	if arrival {
		cols, rv = cols+", notify", v[:9]
	}
	var (
		rcpts = make([]Recipient, 0, len(doms)*3/2)
		rDom  = make([]int32, 0, len(doms)*3/2) // the domain (index in doms) of each recipient
		count = make([]int32, len(doms)+1)
	)
	k = 0
	err = tx.rows(tx.partsCtx(), "SELECT "+cols+" FROM "+prefix+"recipients WHERE "+where+" ORDER BY msg_id, idx", true, args, rv, func() error {
		mid := v[0].(int64)
		for k < len(msgs) && int64(msgs[k].ID) < mid {
			k++
		}
		if k == len(msgs) || int64(msgs[k].ID) != mid {
			return nil
		}
		di, want := int32(-1), v[1].(int64)
		for j := first[k]; j < first[k+1]; j++ {
			if dIdx[j] == want {
				di = j
				break
			}
		}
		if di < 0 {
			return fmt.Errorf("message %s: recipient %s belongs to a missing domain", ID(mid), str(v[2]))
		}
		r := Recipient{Address: str(v[2]), Status: Status(v[3].(int64)), Code: int(v[4].(int64)), Enhanced: str(v[5]), Message: str(v[6]), ORCPT: str(v[7])}
		if arrival {
			n, _ := v[8].(int64)
			r.Notify = Notify(n)
		}
		rcpts = append(rcpts, r)
		rDom = append(rDom, di)
		count[di+1]++
		return nil
	})
	if err != nil {
		return err
	}

	// Group the recipients by domain, keeping their order within each.
	for j := 1; j < len(count); j++ {
		count[j] += count[j-1]
	}
	byDom := rcpts
	sorted := true
	for i := 1; i < len(rDom) && sorted; i++ {
		sorted = rDom[i-1] <= rDom[i]
	}
	if !sorted {
		byDom = make([]Recipient, len(rcpts))
		next := append([]int32(nil), count[:len(doms)]...)
		for i, di := range rDom {
			byDom[next[di]] = rcpts[i]
			next[di]++
		}
	}
	for j := range doms {
		if count[j] < count[j+1] {
			doms[j].Recipients = byDom[count[j]:count[j+1]:count[j+1]]
		}
	}
	for k := range msgs {
		if first[k] < first[k+1] {
			msgs[k].Domains = doms[first[k]:first[k+1]:first[k+1]]
		}
	}
	return nil
}

// loadHolds fills in the holds of the domains loadPartsFrom read (doms, with
// their idx in dIdx and msgs[k]'s from first[k]), from the rows of the same
// selection (where, args) that have one, in the same (message id, idx) order.
func (tx *Tx) loadHolds(prefix, where string, args []any, msgs []Message, doms []Domain, dIdx []int64, first []int32) error {
	var v [7]any
	now := tx.q.clock().Unix()
	k := 0
	return tx.rows(tx.partsCtx(), "SELECT msg_id, idx, hold_since, hold_until, hold_by, hold_reason, hold_rule FROM "+prefix+"domains WHERE "+where+" AND hold_since IS NOT NULL ORDER BY msg_id, idx", true, args, v[:], func() error {
		mid, idx := v[0].(int64), v[1].(int64)
		for k < len(msgs) && int64(msgs[k].ID) < mid {
			k++
		}
		if k == len(msgs) || int64(msgs[k].ID) != mid {
			return nil
		}
		for j := first[k]; j < first[k+1]; j++ {
			if dIdx[j] == idx {
				if doms[j].Hold = holdOf(doms[j].Status, v[2:7], now); doms[j].Hold != nil {
					msgs[k].Held = true
				}
				break
			}
		}
		return nil
	})
}

// rows runs the query q with args and calls row after reading each row into
// v, one element a column, as database/sql scans into *any: int64, float64,
// string, []byte or nil. row must not use the transaction. prepared says to
// keep q prepared for the rest of the transaction. On a walk's connection
// (tx.raw) the rows come from the driver itself, without database/sql's
// locking and copying on every row, and q is always kept (a walk runs the
// same few queries on every page).
func (tx *Tx) rows(ctx context.Context, q string, prepared bool, args []any, v []any, row func() error) error {
	if tx.raw == nil {
		var (
			rows *sql.Rows
			err  error
		)
		if prepared {
			var stmt *sql.Stmt
			if stmt, err = tx.stmt(q); err == nil {
				rows, err = stmt.QueryContext(ctx, args...)
			}
		} else {
			rows, err = tx.tx.QueryContext(ctx, q, args...)
		}
		if err != nil {
			return err
		}
		defer rows.Close()
		dst := make([]any, len(v))
		for i := range v {
			dst[i] = &v[i]
		}
		for rows.Next() {
			if err := rows.Scan(dst...); err != nil {
				return err
			}
			if err := row(); err != nil {
				return err
			}
		}
		return rows.Err()
	}
	err := tx.raw.Raw(func(dc any) (err error) {
		// Raw closes the connection after a panic or driver.ErrBadConn,
		// and that close waits for the transaction open on it: a hang. So
		// neither leaves here (a row of unexpected types is an error).
		defer func() {
			if p := recover(); p != nil {
				err = fmt.Errorf("a row of the queue could not be read: %v", p)
			}
			if errors.Is(err, driver.ErrBadConn) {
				err = fmt.Errorf("the queue's connection failed: %v", err)
			}
		}()
		stmt, ok := tx.rawStmts[q]
		if !ok {
			c, ok := dc.(driver.ConnPrepareContext)
			if !ok {
				return fmt.Errorf("the SQLite driver's connection (%T) cannot prepare with a context", dc)
			}
			var err error
			if stmt, err = c.PrepareContext(ctx, q); err != nil {
				return err
			}
			if tx.rawStmts == nil {
				tx.rawStmts = map[string]driver.Stmt{}
			}
			tx.rawStmts[q] = stmt
		}
		sq, ok := stmt.(driver.StmtQueryContext)
		if !ok {
			return fmt.Errorf("the SQLite driver's statement (%T) cannot query with a context", stmt)
		}
		named := make([]driver.NamedValue, len(args))
		for i, a := range args {
			// What database/sql does with a driver that checks no values.
			val, err := driver.DefaultParameterConverter.ConvertValue(a)
			if err != nil {
				return fmt.Errorf("argument %d of a query: %w", i+1, err)
			}
			named[i] = driver.NamedValue{Ordinal: i + 1, Value: val}
		}
		rows, err := sq.QueryContext(ctx, named)
		if err != nil {
			return err
		}
		defer rows.Close()
		if n := len(rows.Columns()); n != len(v) {
			return fmt.Errorf("a query reads %d columns into %d values", n, len(v))
		}
		dv := make([]driver.Value, len(v))
		for {
			if err := rows.Next(dv); err == io.EOF {
				return nil
			} else if err != nil {
				return err
			}
			for i := range v {
				v[i] = dv[i]
			}
			if err := row(); err != nil {
				return err
			}
		}
	})
	if err != nil && tx.ctx.Err() != nil {
		// Cancelled: database/sql has ended the transaction and closed
		// its connection under the walk, which then fails for that.
		return tx.ctx.Err()
	}
	return err
}

// partsCtx is the context of the queries that read a batch's domains,
// recipients and holds. A walk (tx.raw) reads them without one: the driver
// watches a context with two locks a row, a tenth of its reading, and
// these queries are bounded (a batch's rows); the walk checks its context
// between batches, and its queries of messages keep it.
func (tx *Tx) partsCtx() context.Context {
	if tx.raw != nil {
		return context.Background()
	}
	return tx.ctx
}

// closeRaw closes the statements prepared on tx.raw, before the connection
// goes back to the pool.
func (tx *Tx) closeRaw() {
	if len(tx.rawStmts) == 0 {
		return
	}
	tx.raw.Raw(func(any) error {
		for _, s := range tx.rawStmts {
			s.Close()
		}
		return nil
	})
	tx.rawStmts = nil
}

// str reads a TEXT column scanned into an any; NULL is "".
func str(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case []byte:
		return string(x)
	}
	return ""
}

// stmt returns a statement prepared once per transaction.
func (tx *Tx) stmt(q string) (*sql.Stmt, error) {
	if s, ok := tx.stmts[q]; ok {
		return s, nil
	}
	s, err := tx.tx.PrepareContext(tx.ctx, q)
	if err != nil {
		return nil, err
	}
	if tx.stmts == nil {
		tx.stmts = map[string]*sql.Stmt{}
	}
	tx.stmts[q] = s
	return s, nil
}

// page reads one keyset page of whole messages.
func (tx *Tx) page(s *selection, after ID, limit int) ([]Message, error) {
	out, err := tx.pageMessages(s, after, limit)
	if err != nil {
		return nil, err
	}
	for i := 0; i < len(out); i += eachPage {
		if err := tx.loadParts(out[i:min(i+eachPage, len(out))], s.dense(), false); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// pageMessages reads one keyset page of messages without their domains and
// recipients (loadParts reads those).
func (tx *Tx) pageMessages(s *selection, after ID, limit int) ([]Message, error) {
	if s.empty {
		return nil, nil
	}
	after, err := tx.walkStart(s, after, limit)
	if err != nil {
		return nil, err
	}
	q, args := s.pageSQL(msgCols, after, limit)
	out := make([]Message, 0, min(max(limit, 0), eachPage))
	var v [7]any
	err = tx.rows(tx.ctx, q, false, args, v[:], func() error {
		out = append(out, messageOf(v[:]))
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// List returns the messages matching f with id > p.After, in ascending id order,
// at most p.Limit (0 = all). Each page costs the same, however far it is.
func (tx *Tx) List(f Filter, p Page) ([]Message, error) {
	if err := tx.check(); err != nil {
		return nil, err
	}
	s, err := tx.compile(f, true)
	if err != nil {
		return nil, fmt.Errorf("list: %w", err)
	}
	out, err := tx.page(s, p.After, p.Limit)
	if err != nil {
		return nil, tx.q.fileError("list", err)
	}
	return out, nil
}

// Each calls fn for every message matching f in ascending id order, reading
// pages of about a thousand messages so that memory stays constant. fn may call
// the transaction's other verbs. An error from fn stops the walk and is returned.
func (tx *Tx) Each(f Filter, fn func(m *Message) error) error {
	if err := tx.check(); err != nil {
		return err
	}
	s, err := tx.compile(f, true)
	if err != nil {
		return fmt.Errorf("each: %w", err)
	}
	var after ID
	for {
		if err := tx.ctx.Err(); err != nil {
			return err
		}
		msgs, err := tx.page(s, after, eachPage)
		if err != nil {
			return tx.q.fileError("each", err)
		}
		for i := range msgs {
			if err := fn(&msgs[i]); err != nil {
				return err
			}
		}
		if len(msgs) < eachPage {
			return nil
		}
		if tx.filed { // fn removed messages: they are not read on
			s.skipRemovals()
		}
		after = msgs[len(msgs)-1].ID
	}
}

// Batches calls fn with every message matching f, in ascending id order, in
// batches of about a thousand, all read from one snapshot of the queue.
// While fn handles a batch the next ones are read on other goroutines, so
// that reading and, say, writing out the messages use every core. fn may
// keep the batch. An error from fn stops the walk and is returned.
func (q *Queue) Batches(ctx context.Context, f Filter, fn func(msgs []Message) error) error {
	readers, err := q.walkReaders(ctx)
	if err != nil {
		return q.fileError("read queue", err)
	}
	defer func() {
		for _, t := range readers {
			t.done = true
			t.tx.Rollback()
			t.closeRaw()
			t.raw.Close()
		}
	}()
	return walkBatches(readers, f, fn)
}

// walkReaders opens the read transactions of a walk, each on a connection
// of its own whose rows are read below database/sql (rows): its per-row
// locking and copying were a fifth of the reading. On a machine with more
// than one core it opens two that see the same snapshot, so that two
// batches are read at once: both begin reading while this process holds
// the write lock for a moment, during which no change can be committed.
// When the lock is not to be had at once (another writer is at work, or the
// queue is open read-only), or the queue file is small (twoReadersFrom),
// the walk reads on one connection.
func (q *Queue) walkReaders(ctx context.Context) ([]*Tx, error) {
	var readers []*Tx
	open := func() error {
		conn, err := q.reader.Conn(ctx)
		if err != nil {
			return err
		}
		sqltx, err := conn.BeginTx(ctx, nil)
		if err != nil {
			conn.Close()
			return err
		}
		readers = append(readers, &Tx{q: q, ctx: ctx, tx: sqltx, raw: conn})
		return nil
	}
	fail := func(err error) ([]*Tx, error) {
		for _, t := range readers {
			t.tx.Rollback()
			t.raw.Close()
		}
		return nil, err
	}
	if err := open(); err != nil {
		return fail(err)
	}
	if q.writer == nil || runtime.GOMAXPROCS(0) < 2 || q.fileBytes() < twoReadersFrom {
		return readers, nil
	}
	// The second connection is had before the lock, so that the lock is
	// never held while waiting for a connection of the pool.
	if err := open(); err != nil {
		return fail(err)
	}
	release, ok := q.briefWriteLock(ctx)
	if !ok {
		second := readers[1]
		second.tx.Rollback()
		second.raw.Close()
		return readers[:1], nil
	}
	defer release()
	// A read transaction takes its snapshot at its first read.
	for i, t := range readers {
		if i > 0 && walkSnapshotHook != nil {
			walkSnapshotHook()
		}
		var v int64
		if err := t.tx.QueryRowContext(ctx, "PRAGMA schema_version").Scan(&v); err != nil {
			return fail(err)
		}
	}
	return readers, nil
}

// walkSnapshotHook, when set (by tests), runs in walkReaders between the
// snapshots of its two readers.
var walkSnapshotHook func()

// twoReadersFrom is the size of a queue file (with its -wal) from which a
// walk reads on two connections: the second connection and the lock cost
// about 2 ms of CPU, what one connection takes to read some 500 messages.
// A variable, so that tests can lower it.
var twoReadersFrom int64 = 8 << 20

// fileBytes is the size of the queue file and its -wal, or 0 when it cannot
// be told.
func (q *Queue) fileBytes() int64 {
	var n int64
	for _, name := range []string{q.abs, q.abs + "-wal"} {
		if st, err := os.Stat(name); err == nil {
			n += st.Size()
		}
	}
	return n
}

// lockWaitWalk is how long walkReaders waits for this process's write
// connection, when another of its goroutines is using it, before the walk
// reads on one connection instead.
const lockWaitWalk = 10 * time.Millisecond

// briefWriteLock takes the write lock for walkReaders, if it is to be had
// at once: the write connection is free, and no other connection holds the
// lock (SQLite waits writerBusyTimeout at most). The caller calls release
// as soon as it can.
func (q *Queue) briefWriteLock(ctx context.Context) (release func(), ok bool) {
	wctx, cancel := context.WithTimeout(ctx, lockWaitWalk)
	defer cancel()
	conn, err := q.writer.Conn(wctx)
	if err != nil {
		return nil, false
	}
	tx, err := conn.BeginTx(ctx, nil) // BEGIN IMMEDIATE
	if err != nil {
		conn.Close()
		return nil, false
	}
	return func() {
		tx.Rollback()
		conn.Close() // after the transaction: Close waits for it
	}, true
}

// walkBatches is the work of Batches, on its readers: each in turn reads
// the messages of the next page (a keyset page, so one after the other),
// then their domains and recipients while the other reads the next page's.
// fn gets the batches in order.
func walkBatches(readers []*Tx, f Filter, fn func(msgs []Message) error) error {
	tx := readers[0]
	if err := tx.check(); err != nil {
		return err
	}
	s, err := tx.compile(f, true)
	if err != nil {
		return fmt.Errorf("list: %w", err)
	}
	type batch struct {
		msgs []Message
		err  error
	}
	// The batches in id order, each a slot its reader fills; at most one
	// waiting for fn per reader.
	order := make(chan chan batch, len(readers))
	stop := make(chan struct{})
	var (
		mu    sync.Mutex // the next page: after, end
		after ID
		end   bool
		wg    sync.WaitGroup
	)
	for _, t := range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				select {
				case <-stop:
					end = true
				default:
				}
				if end {
					mu.Unlock()
					return
				}
				var msgs []Message
				err := t.ctx.Err()
				if err == nil {
					msgs, err = t.pageMessages(s, after, eachPage)
				}
				if err != nil || len(msgs) < eachPage {
					end = true
				} else {
					after = msgs[len(msgs)-1].ID
				}
				slot := make(chan batch, 1)
				select {
				case order <- slot:
				case <-stop:
					end = true
					mu.Unlock()
					return
				}
				mu.Unlock()
				if err == nil {
					err = t.loadParts(msgs, s.dense(), false)
				}
				slot <- batch{msgs, err}
			}
		}()
	}
	go func() {
		wg.Wait()
		close(order)
	}()
	defer func() {
		close(stop)
		wg.Wait() // the readers are finished with their transactions before they end
	}()
	for slot := range order {
		b := <-slot
		if err := tx.ctx.Err(); err != nil {
			return err // cancelled: no more batches, even those already read
		}
		if b.err != nil {
			if tx.ctx.Err() != nil {
				return b.err
			}
			return tx.q.fileError("list", b.err)
		}
		if len(b.msgs) == 0 {
			continue
		}
		if err := fn(b.msgs); err != nil {
			return err
		}
	}
	return nil
}

// Count returns how many messages match f.
func (tx *Tx) Count(f Filter) (int, error) {
	if err := tx.check(); err != nil {
		return 0, err
	}
	s, err := tx.compile(f, false)
	if err != nil {
		return 0, fmt.Errorf("count: %w", err)
	}
	if s.empty {
		return 0, nil
	}
	q, args := s.countSQL()
	var n int
	if err := tx.tx.QueryRowContext(tx.ctx, q, args...).Scan(&n); err != nil {
		return 0, tx.q.fileError("count", err)
	}
	return n, nil
}

// Get returns one message; ErrNotFound when no message has that id.
func (tx *Tx) Get(id ID) (*Message, error) {
	if err := tx.check(); err != nil {
		return nil, err
	}
	if uint64(id) > math.MaxInt64 {
		return nil, fmt.Errorf("message %s: %w", id, ErrNotFound)
	}
	// The message with the fields of schema step 2 (List leaves them zero),
	// each row read once.
	var (
		v          [7]any
		ret        sql.NullString
		ip, usr, h sql.NullString
	)
	err := tx.tx.QueryRowContext(tx.ctx, "SELECT "+msgCols+", m.ret, m.client_ip, m.client_user, m.client_helo FROM messages m WHERE m.id = ? AND "+liveCond("m.id"), int64(id)).
		Scan(&v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &ret, &ip, &usr, &h)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("message %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, tx.q.fileError("get", err)
	}
	m := messageOf(v[:7])
	m.Ret, m.Client = ret.String, Client{IP: ip.String, User: usr.String, Helo: h.String}
	msgs := []Message{m}
	if err := tx.loadParts(msgs, true, true); err != nil {
		return nil, tx.q.fileError("get", err)
	}
	return &msgs[0], nil
}

// Raw returns the RFC 5322 text of a message, nil when it was not kept;
// ErrNotFound when no message has that id.
func (tx *Tx) Raw(id ID) ([]byte, error) {
	if err := tx.check(); err != nil {
		return nil, err
	}
	if uint64(id) > math.MaxInt64 {
		return nil, fmt.Errorf("message %s: %w", id, ErrNotFound)
	}
	var raw []byte
	var exists int
	// Prepared once per transaction: the HTTP API reads a page's texts in one.
	st, err := tx.stmt("SELECT 1, b.raw FROM messages m LEFT JOIN bodies b ON b.msg_id = m.id WHERE m.id = ? AND " + liveCond("m.id"))
	if err == nil {
		err = st.QueryRowContext(tx.ctx, int64(id)).Scan(&exists, &raw)
	}
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("message %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, tx.q.fileError("raw", err)
	}
	return raw, nil
}

// AgeBuckets are the upper bounds of the "age" summary groups, qshape's: a
// message created less than 5 minutes ago is in "5m", between 5 and 10 minutes in
// "10m", and so on; "1280m+" holds everything older than 1280 minutes (about 21
// hours). A message created in the future counts as "5m".
var AgeBuckets = []time.Duration{5 * time.Minute, 10 * time.Minute, 20 * time.Minute, 40 * time.Minute, 80 * time.Minute, 160 * time.Minute, 320 * time.Minute, 640 * time.Minute, 1280 * time.Minute}

// Summary groups the messages matching f:
//   - "domain": per recipient domain, the messages with a recipient there, their
//     bytes, the oldest and newest creation time; most messages first;
//   - "sender": per return path (lower case; "<>" for bounces), the same figures;
//   - "status": per recipient state word (scheduled, delivered, tempfail,
//     permfail), the messages with at least one recipient in it;
//   - "age": per age bucket by creation time (AgeBuckets), every bucket listed in
//     order, empty ones included.
func (tx *Tx) Summary(f Filter, by string) ([]SummaryRow, error) {
	if err := tx.check(); err != nil {
		return nil, err
	}
	s, err := tx.compile(f, false)
	if err != nil {
		return nil, fmt.Errorf("summary: %w", err)
	}
	ids, args := s.idsSQL()
	sel := "WITH sel(id) AS MATERIALIZED (" + ids + ") "
	if f.IsEmpty() && !s.live {
		sel, args = "WITH sel(id) AS (SELECT id FROM messages) ", nil
	}
	agg := "count(*), coalesce(sum(m.size), 0), min(m.created), max(m.created)"
	var q string
	switch by {
	case "domain":
		q = sel + "SELECT d.name, " + agg + " FROM sel CROSS JOIN messages m ON m.id = sel.id CROSS JOIN domains d ON d.msg_id = m.id GROUP BY d.name ORDER BY 2 DESC, 1"
	case "sender":
		q = sel + "SELECT m.rp_lc, " + agg + " FROM sel CROSS JOIN messages m ON m.id = sel.id GROUP BY m.rp_lc ORDER BY 2 DESC, 1"
	case "status":
		q = sel + "SELECT x.status, " + agg + " FROM (SELECT DISTINCT rx.msg_id, rx.status FROM sel CROSS JOIN recipients rx ON rx.msg_id = sel.id) x CROSS JOIN messages m ON m.id = x.msg_id GROUP BY x.status ORDER BY 1"
	case "age":
		var b strings.Builder
		b.WriteString("CASE")
		for i, d := range AgeBuckets {
			fmt.Fprintf(&b, " WHEN ? - m.created < %d THEN %d", int64(d.Seconds()), i)
		}
		fmt.Fprintf(&b, " ELSE %d END", len(AgeBuckets))
		now := tx.q.clock().Unix()
		var pre []any
		for range AgeBuckets {
			pre = append(pre, now)
		}
		q = sel + "SELECT " + b.String() + ", " + agg + " FROM sel CROSS JOIN messages m ON m.id = sel.id GROUP BY 1 ORDER BY 1"
		args = append(append([]any{}, args...), pre...)
		// sel's parameters are numbered first in the text, so keep them first.
	default:
		return nil, fmt.Errorf("summary by %q: want domain, sender, status or age", by)
	}
	rows, err := tx.tx.QueryContext(tx.ctx, q, args...)
	if err != nil {
		return nil, tx.q.fileError("summary", err)
	}
	defer rows.Close()
	var out []SummaryRow
	for rows.Next() {
		var (
			key            any
			n              int
			size           int64
			oldest, newest sql.NullInt64
		)
		if err := rows.Scan(&key, &n, &size, &oldest, &newest); err != nil {
			return nil, err
		}
		r := SummaryRow{Count: n, Size: size}
		if oldest.Valid {
			r.Oldest, r.Newest = fromUnix(oldest.Int64), fromUnix(newest.Int64)
		}
		switch by {
		case "status":
			r.Key = Status(key.(int64)).Short()
		case "age":
			r.Key = AgeLabel(int(key.(int64)))
		case "sender":
			r.Key = asString(key)
			if r.Key == "" {
				r.Key = "<>"
			}
		default:
			r.Key = asString(key)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, tx.q.fileError("summary", err)
	}
	if by == "age" {
		full := make([]SummaryRow, len(AgeBuckets)+1)
		for i := range full {
			full[i].Key = AgeLabel(i)
		}
		for _, r := range out {
			for i := range full {
				if full[i].Key == r.Key {
					full[i] = r
				}
			}
		}
		out = full
	}
	return out, nil
}

func asString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case []byte:
		return string(x)
	}
	return fmt.Sprint(v)
}

// AgeLabel names age bucket i of AgeBuckets as summaries show it: "5m",
// and for the last, open bucket "1280m+".
func AgeLabel(i int) string {
	if i >= len(AgeBuckets) {
		return fmt.Sprintf("%dm+", int(AgeBuckets[len(AgeBuckets)-1].Minutes()))
	}
	return fmt.Sprintf("%dm", int(AgeBuckets[i].Minutes()))
}

// Suggest returns up to limit (default 20) distinct values of a kind starting
// with prefix, sorted, for tab completion. Every kind is a handful of index
// seeks, whatever the size of the queue:
//   - SuggestID: ids (upper-case hex) starting with a hex prefix, in either case;
//   - SuggestSender: return paths (lower case), "<>" when bounces are queued;
//   - SuggestRecipient: recipient addresses (lower case); a prefix starting with
//     "@" suggests "@domain" forms;
//   - SuggestDomain: recipient domains.
func (tx *Tx) Suggest(kind, prefix string, limit int) ([]string, error) {
	if err := tx.check(); err != nil {
		return nil, err
	}
	if limit <= 0 {
		limit = 20
	}
	// Messages filed for removal (removals.go) suggest nothing: while there
	// are any, each look skips them.
	filed, err := tx.hasRemovals()
	if err != nil {
		return nil, tx.q.fileError("suggest", err)
	}
	mlive, plive := "", ""
	if filed {
		mlive, plive = " AND "+liveCond("id"), liveCond("msg_id")
	}
	var out []string
	switch kind {
	case SuggestID:
		out, err = tx.suggestIDs(prefix, limit, mlive)
	case SuggestSender:
		p := strings.ToLower(prefix)
		if strings.HasPrefix("<>", p) {
			var one int
			e := tx.tx.QueryRowContext(tx.ctx, "SELECT 1 FROM messages WHERE rp_lc = ''"+mlive+" LIMIT 1").Scan(&one)
			if e == nil {
				out = append(out, "<>")
				limit--
			} else if !errors.Is(e, sql.ErrNoRows) {
				return nil, e
			}
		}
		more, e := tx.skipScan("messages", "rp_lc", p, limit, "rp_lc <> ''"+mlive)
		out, err = append(out, more...), e
	case SuggestRecipient:
		p := strings.ToLower(prefix)
		if strings.HasPrefix(p, "@") {
			var doms []string
			doms, err = tx.skipScan("domains", "name", p[1:], limit, plive)
			for _, d := range doms {
				out = append(out, "@"+d)
			}
		} else {
			out, err = tx.skipScan("recipients", "address_lc", p, limit, plive)
		}
	case SuggestDomain:
		out, err = tx.skipScan("domains", "name", strings.ToLower(strings.TrimPrefix(prefix, "@")), limit, plive)
	default:
		return nil, fmt.Errorf("suggest %q: want id, sender, recipient or domain", kind)
	}
	if err != nil {
		return nil, tx.q.fileError("suggest", err)
	}
	sort.Strings(out)
	return out, nil
}

// skipScan returns up to limit distinct values of an indexed column starting
// with prefix: one index seek per value, so a value shared by a hundred thousand
// rows costs no more than a unique one.
func (tx *Tx) skipScan(table, col, prefix string, limit int, extra string) ([]string, error) {
	var out []string
	upper, bounded := PrefixUpper(prefix)
	q := "SELECT " + col + " FROM " + table + " WHERE " + col + " > ?"
	if bounded {
		q += " AND " + col + " < ?"
	}
	if extra != "" {
		q += " AND " + extra
	}
	q += " ORDER BY " + col + " LIMIT 1"
	stmt, err := tx.tx.PrepareContext(tx.ctx, q)
	if err != nil {
		return nil, err
	}
	defer stmt.Close()
	// The first value may equal the prefix itself.
	var v string
	first := "SELECT " + col + " FROM " + table + " WHERE " + col + " = ?"
	if extra != "" {
		first += " AND " + extra
	}
	err = tx.tx.QueryRowContext(tx.ctx, first+" LIMIT 1", prefix).Scan(&v)
	if err == nil {
		out = append(out, v)
	} else if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, err
	}
	last := prefix
	for len(out) < limit {
		args := []any{last}
		if bounded {
			args = append(args, upper)
		}
		err := stmt.QueryRowContext(tx.ctx, args...).Scan(&v)
		if errors.Is(err, sql.ErrNoRows) {
			break
		}
		if err != nil {
			return nil, err
		}
		out = append(out, v)
		last = v
	}
	return out, nil
}

// PrefixUpper returns the least string greater than every string starting with
// p; bounded is false when there is none (p empty or all 0xFF bytes).
func PrefixUpper(p string) (string, bool) {
	b := []byte(p)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] < 0xFF {
			b[i]++
			return string(b[:i+1]), true
		}
	}
	return "", false
}

// IDPrefixRanges maps a hex id prefix (as typed, either case) to the id
// ranges holding the ids that print with it, shortest first: one range per
// hex length, at most 16; none when the prefix cannot start an id.
func IDPrefixRanges(prefix string) [][2]int64 {
	p := strings.ToUpper(strings.TrimSpace(prefix))
	if len(p) > 16 {
		return nil
	}
	var lo uint64
	if p != "" {
		v, err := strconv.ParseUint(p, 16, 64)
		if err != nil {
			return nil // not hex: nothing can match
		}
		if p[0] == '0' {
			return nil // ids print without leading zeros
		}
		lo = v
	}
	var out [][2]int64
	start := len(p)
	if start == 0 {
		start = 1
	}
	for n := start; n <= 16; n++ {
		shift := uint(4 * (n - len(p)))
		var from, to uint64
		if p == "" {
			from = uint64(1) << (4 * (n - 1))
			to = from<<4 - 1
			if n == 16 {
				to = math.MaxUint64
			}
		} else {
			from = lo << shift
			to = from | (uint64(1)<<shift - 1)
			if shift == 64 || from>>shift != lo {
				break
			}
		}
		if from > math.MaxInt64 {
			break
		}
		if to > math.MaxInt64 {
			to = math.MaxInt64
		}
		out = append(out, [2]int64{int64(from), int64(to)})
	}
	return out
}

// suggestIDs reads the ids of IDPrefixRanges: one indexed seek per range.
func (tx *Tx) suggestIDs(prefix string, limit int, live string) ([]string, error) {
	ranges := IDPrefixRanges(prefix)
	if len(ranges) == 0 {
		return nil, nil
	}
	stmt, err := tx.tx.PrepareContext(tx.ctx, "SELECT id FROM messages WHERE id BETWEEN ? AND ?"+live+" ORDER BY id LIMIT ?")
	if err != nil {
		return nil, err
	}
	defer stmt.Close()
	var out []string
	for _, r := range ranges {
		if len(out) >= limit {
			break
		}
		rows, err := stmt.QueryContext(tx.ctx, r[0], r[1], limit-len(out))
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return nil, err
			}
			out = append(out, ID(id).String())
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}
