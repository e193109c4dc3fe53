package queue

import (
	"context"
	"database/sql"
	"fmt"
	"maps"
	"math"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Storing whole messages: the checks and normal form every new or imported
// message passes (normalize), and the batched inserts that write them.

// inserter writes whole messages in batches, the fast path for imports; every
// verb that adds messages (Enqueue, ImportJSON, ImportEML, LoadDemo) goes
// through it. Messages are encoded into a rowBatch (by add, or ahead of time
// on the decoding goroutines of ImportJSON, see write) and each batch is
// written with a few INSERT statements of many rows per table (insertrows.go).
type inserter struct {
	tx   *Tx
	last ID // the highest id given out or seen
	ids  []ID

	enc   rowEncoder // for add
	batch *rowBatch  // what add buffered
	bs    [][]any    // bodies buffered by add: msg_id, raw

	demo     bool              // adds demo messages (LoadDemo): the queue's real mail flag is left alone
	trash    bool              // the trash holds messages, or will (removals.go): an id added is looked for there (see trash.go)
	bulk     bool              // may switch to bulk loading (imports)
	nextBulk int               // messages added when the switch is next considered
	dropped  map[string]string // indexes dropped for a bulk load: name -> CREATE statement
}

// Bulk loading: when an import has added at least as many messages as the
// queue held, the secondary indexes are dropped and rebuilt (sorted, much
// faster than growing them row by row) when the import ends, in the same
// transaction. An import considers it after its first full batch (so that an
// import into an empty or small queue never grows the indexes row by row),
// then at bulkAfter messages and each time it has doubled since.
// bulkAfter is also the size from which a restore from the trash does the
// same (trash.go).
const bulkAfter = 20000

// insertBatch is how many messages a rowBatch holds.
const insertBatch = 256

// insertCols are the columns the inserter writes, in order: those a
// rowBatch encodes, and the bodies' pairs.
var insertCols = map[string]string{
	"bodies":     "msg_id, raw",
	"messages":   "id, rp_lc, rp, rp_domain, created, size, env_id, priority, due, ret, client_ip, client_user, client_helo, subject_lc, msgid",
	"domains":    "msg_id, idx, name, status, details, retry_num, due, notify, expires, msg_created, msg_size, hold_since, hold_until, hold_by, hold_reason, hold_rule",
	"recipients": "msg_id, idx, domain_idx, address_lc, address, status, code, enhanced, message, orcpt, notify",
}

func (tx *Tx) newInserter() (*inserter, error) {
	ins := &inserter{tx: tx, batch: &rowBatch{}}
	var last, maxID, maxTrash sql.NullInt64
	var filed bool
	if err := tx.tx.QueryRowContext(tx.ctx, "SELECT (SELECT value FROM meta WHERE key = 'last_id'), (SELECT max(id) FROM messages), (SELECT max(id) FROM trash_messages), EXISTS (SELECT 1 FROM removals)").Scan(&last, &maxID, &maxTrash, &filed); err != nil {
		return nil, err
	}
	ins.last = ID(max(last.Int64, maxID.Int64, maxTrash.Int64))
	ins.trash = maxTrash.Valid || filed // an id filed for removal is in the trash to come
	return ins, nil
}

// rebuildCacheKiB is the page cache, and so the memory of SQLite's sorter,
// while a bulk load rebuilds the indexes: sorted in runs of 4 MiB and merged,
// they take less CPU than in one big in-memory sort. The sorter runs on the
// connection's thread alone (PRAGMA threads as the connection has it, 0):
// with two helper threads the rebuild of a 1,000,000-message import took
// about 0.4 s less wall time but 3 s more CPU (8.3 s against 5.3), since
// each helper merges its runs into a file of their own that is read again.
// The connection's cache size is restored afterwards.
const rebuildCacheKiB = 4096

// finish writes what is buffered, rebuilds dropped indexes and records the
// highest id given out, so that an id is never reused even after its message
// is removed.
func (ins *inserter) finish() error {
	if err := ins.flush(); err != nil {
		return err
	}
	if err := ins.rebuild(); err != nil {
		return err
	}
	if _, err := ins.tx.tx.ExecContext(ins.tx.ctx, "INSERT INTO meta(key, value) VALUES('last_id', ?) ON CONFLICT(key) DO UPDATE SET value = max(value, excluded.value)", int64(ins.last)); err != nil {
		return err
	}
	return ins.tx.markRealMail(ins.demo)
}

// rebuild creates the indexes a bulk load dropped.
func (ins *inserter) rebuild() (err error) {
	if len(ins.dropped) == 0 {
		return nil
	}
	ctx, tx := ins.tx.ctx, ins.tx.tx
	var cache int64
	if err := tx.QueryRowContext(ctx, "PRAGMA cache_size").Scan(&cache); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA cache_size = %d", -rebuildCacheKiB)); err != nil {
		return err
	}
	defer func() {
		bg := context.WithoutCancel(ctx)
		if _, e := tx.ExecContext(bg, fmt.Sprintf("PRAGMA cache_size = %d", cache)); e != nil && err == nil {
			err = e
		}
	}()
	// In a fixed order, so that runs are comparable.
	names := slices.Sorted(maps.Keys(ins.dropped))
	for _, name := range names {
		if _, err := tx.ExecContext(ctx, ins.dropped[name]); err != nil {
			return fmt.Errorf("rebuild index %s: %w", name, err)
		}
		delete(ins.dropped, name)
	}
	return nil
}

// lineError names the input line of a message when known.
type lineError struct {
	line int
	err  error
}

func (e *lineError) Error() string { return fmt.Sprintf("line %d: %v", e.line, e.err) }
func (e *lineError) Unwrap() error { return e.err }

// add buffers a normalized message and its raw text (nil = not kept); line is
// its input line for error messages (0 = none). The text's Subject and
// Message-ID go into the message's row, for the filters.
func (ins *inserter) add(m *Message, raw []byte, line int) error {
	var h msgHeaders
	if raw != nil {
		h = readHeaders(raw)
	}
	if err := ins.enc.encode(ins.batch, m, line, h); err != nil {
		return err
	}
	ins.last = max(ins.last, m.ID)
	if raw != nil {
		ins.bs = append(ins.bs, []any{int64(m.ID), raw})
	}
	if ins.batch.n < insertBatch {
		return nil
	}
	return ins.flush()
}

// flush writes what add buffered.
func (ins *inserter) flush() error {
	if ins.batch.n == 0 {
		return nil
	}
	if err := ins.write(ins.batch); err != nil {
		return err
	}
	ins.batch.reset()
	return nil
}

// write inserts an encoded batch (and the bodies add buffered), then, for a
// bulk load, considers dropping the secondary indexes.
func (ins *inserter) write(b *rowBatch) error {
	if err := ins.tx.ctx.Err(); err != nil {
		return err
	}
	if ins.trash && len(b.ids) > 0 {
		if err := ins.tx.dropTrashed(b.ids); err != nil {
			return err
		}
	}
	for _, t := range [...]struct {
		table *insertTable
		rows  *boundRows
	}{{msgTable, &b.msgs}, {domTable, &b.doms}, {rcptTable, &b.rcpts}} {
		if done, err := ins.insertRows(t.table, t.rows); err != nil {
			if t.table == msgTable && isDuplicateKey(err) {
				return ins.duplicate(b, done)
			}
			return err
		}
	}
	ins.bs = append(ins.bs, b.bodies...)
	if len(ins.bs) > 0 {
		bodies := boundRows{vals: make([]any, 0, 2*len(ins.bs)), n: len(ins.bs)}
		for _, r := range ins.bs {
			bodies.vals = append(bodies.vals, r...)
		}
		if _, err := ins.insertRows(bodyTable, &bodies); err != nil {
			return err
		}
	}
	ins.bs = ins.bs[:0]
	for _, id := range b.ids {
		ins.last = max(ins.last, id)
	}
	ins.ids = append(ins.ids, b.ids...)
	if ins.bulk && ins.dropped == nil && len(ins.ids) >= max(ins.nextBulk, insertBatch) {
		ins.nextBulk = max(bulkAfter, 2*len(ins.ids))
		return ins.considerBulk()
	}
	return nil
}

// considerBulk drops the secondary indexes when the import is at least as big
// as what the queue held; finish rebuilds them.
func (ins *inserter) considerBulk() error {
	ctx := ins.tx.ctx
	// Counted no further than the answer needs, so that asking often on a
	// big queue costs no more than the import itself.
	var n int
	if err := ins.tx.tx.QueryRowContext(ctx, "SELECT count(*) FROM (SELECT 1 FROM messages LIMIT ?)", 2*len(ins.ids)+1).Scan(&n); err != nil {
		return err
	}
	if len(ins.ids) < n-len(ins.ids) {
		return nil
	}
	rows, err := ins.tx.tx.QueryContext(ctx, "SELECT name, tbl_name, sql FROM sqlite_schema WHERE type = 'index' AND sql IS NOT NULL AND tbl_name IN ('messages', 'domains', 'recipients')")
	if err != nil {
		return err
	}
	type index struct{ name, table, sql string }
	var idx []index
	for rows.Next() {
		var x index
		if err := rows.Scan(&x.name, &x.table, &x.sql); err != nil {
			rows.Close()
			return err
		}
		idx = append(idx, x)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	ins.dropped = map[string]string{}
	for _, x := range idx {
		if where, ok := partialWhere(x.sql); ok && ins.bulk {
			// An import's first batch is in: a partial index no row matches
			// yet (the holds, subjects and clients of an export that has
			// none) is kept, its rebuild would scan its table for nothing,
			// and the few rows that match later go in one by one. Asked
			// through the index, this costs nothing. (A restore from the
			// trash asks before it moves anything, and drops them all.)
			var matched bool
			if err := ins.tx.tx.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM "+x.table+" INDEXED BY "+x.name+" WHERE "+where+")").Scan(&matched); err != nil {
				return err
			}
			if !matched {
				continue
			}
		}
		if _, err := ins.tx.tx.ExecContext(ctx, "DROP INDEX "+x.name); err != nil {
			return err
		}
		ins.dropped[x.name] = x.sql
	}
	return nil
}

// partialWhere returns the condition of a partial index's CREATE INDEX
// statement (as SQLite keeps it in sqlite_schema: as the migration wrote
// it, WHERE on a line of its own included).
func partialWhere(create string) (string, bool) {
	m := partialWhereRE.FindStringSubmatchIndex(create)
	if m == nil {
		return "", false
	}
	return create[m[2]:], true
}

// partialWhereRE finds the WHERE of a CREATE INDEX statement: after the
// closing parenthesis of its columns, between any white space.
var partialWhereRE = regexp.MustCompile(`(?is)\)\s+WHERE\s+(.*)$`)

// duplicate finds which message of a failed batch is already queued; the
// batch's first done messages were written before the failure.
func (ins *inserter) duplicate(b *rowBatch, done int) error {
	for k, id := range b.ids[done:] {
		k += done
		var one int
		err := ins.tx.tx.QueryRowContext(ins.tx.ctx, "SELECT 1 FROM messages WHERE id = ?", int64(id)).Scan(&one)
		if err == nil {
			return DuplicateIDError(id, b.lines[k])
		}
	}
	return fmt.Errorf("a message id is already in the queue")
}

// rowBatch is up to insertBatch normalized messages encoded as the rows of
// the messages, domains and recipients tables, ready for inserter.write.
type rowBatch struct {
	msgs, doms, rcpts boundRows
	ids               []ID
	lines             []int          // input lines, for error messages (0 = none)
	ends              []rowEnd       // where each message's rows end
	n                 int            // messages
	bodies            [][]any        // for ImportJSON: msg_id, text of the messages that carried one
	domains           map[string]int // for ImportJSON: messages per recipient domain
}

// rowEnd is where a message's rows end in its batch: domains, recipients
// and bodies.
type rowEnd struct{ doms, rcpts, bodies int }

func (b *rowBatch) reset() {
	b.msgs.reset()
	b.doms.reset()
	b.rcpts.reset()
	b.ids, b.lines, b.ends, b.n = b.ids[:0], b.lines[:0], b.ends[:0], 0
	clear(b.bodies)
	b.bodies = b.bodies[:0]
	clear(b.domains)
}

// truncate keeps the first k messages.
func (b *rowBatch) truncate(k int) {
	if k >= b.n {
		return
	}
	var e rowEnd
	if k > 0 {
		e = b.ends[k-1]
	}
	b.msgs.truncate(k, msgTable.ncol)
	b.doms.truncate(e.doms, domTable.ncol)
	b.rcpts.truncate(e.rcpts, rcptTable.ncol)
	b.bodies = b.bodies[:e.bodies]
	b.ids, b.lines, b.ends, b.n = b.ids[:k], b.lines[:k], b.ends[:k], k
}

// rowEncoder encodes messages into rowBatches and refuses an id it has
// already encoded.
type rowEncoder struct {
	seen SeenIDs // ids encoded, with their line numbers
}

// encode adds a normalized message to b, with the columns its text gave
// (zero when it has none); line is its input line (0 = none).
func (e *rowEncoder) encode(b *rowBatch, m *Message, line int, h msgHeaders) error {
	if err := e.seen.Add(m.ID, line); err != nil {
		return err
	}
	b.add(m, line, h, nil)
	return nil
}

// add adds a normalized message to b, with the columns its text gave (zero
// when it has none) and the text to keep (nil: none); line is its input
// line (0 = none).
func (b *rowBatch) add(m *Message, line int, h msgHeaders, text []byte) {
	id := int64(m.ID)
	rpLC := strings.ToLower(m.ReturnPath)
	r := &b.msgs
	r.int(id)
	r.str(rpLC)
	r.orLower(m.ReturnPath, rpLC)
	r.str(domainOf(rpLC))
	r.int(m.Created.Unix())
	r.int(m.Size)
	r.optStr(m.EnvID)
	r.int(int64(m.Priority))
	r.optTime(m.Due())
	r.optStr(m.Ret)
	r.optStr(m.Client.IP)
	r.optStr(m.Client.User)
	r.optStr(m.Client.Helo)
	r.optStr(h.subject)
	r.optStr(h.msgID)
	r.end(msgTable.ncol)
	ri := 0
	for di, d := range m.Domains {
		r := &b.doms
		r.int(id)
		r.int(int64(di))
		r.str(d.Name)
		r.int(int64(d.Status))
		r.optStr(d.Details)
		r.int(int64(d.RetryNum))
		r.int(d.Due.Unix())
		r.optTime(d.NotifyAt)
		r.int(d.Expires.Unix())
		r.int(m.Created.Unix()) // the message's, for the grid by domain (schema step 6)
		r.int(m.Size)
		if h := d.Hold; h != nil { // an unheld domain's row stops here: the hold columns read as NULL
			r.int(h.Since.Unix())
			r.optTime(h.Until)
			r.str(h.By)
			r.optStr(h.Reason)
			if h.Rule != 0 {
				r.int(h.Rule)
			} else {
				r.null()
			}
		}
		r.end(domTable.ncol)
		for _, rc := range d.Recipients {
			r := &b.rcpts
			lc := strings.ToLower(rc.Address)
			r.int(id)
			r.int(int64(ri))
			r.int(int64(di))
			r.str(lc)
			r.orLower(rc.Address, lc)
			r.int(int64(rc.Status))
			r.int(int64(rc.Code))
			r.optStr(rc.Enhanced)
			r.optStr(rc.Message)
			r.optStr(rc.ORCPT)
			r.int(int64(rc.Notify))
			r.end(rcptTable.ncol)
			ri++
		}
	}
	if text != nil {
		b.bodies = append(b.bodies, []any{id, text})
	}
	b.ids = append(b.ids, m.ID)
	b.lines = append(b.lines, line)
	b.ends = append(b.ends, rowEnd{b.doms.n, b.rcpts.n, len(b.bodies)})
	b.n++
}

// normalize checks a message about to be stored and brings it to the stored
// form: lower-case domain names, one domain per name, recipients deduplicated
// case-insensitively, times in whole seconds, missing times from the schedule.
func (q *Queue) normalize(m *Message) error {
	return normalizeMessage(m, q.clock, q.sched.Expire, false)
}

// smallSetSize is how many keys smallSet holds in a list before it turns
// to a map: a message has a few recipients, and maps cost more to make than
// a short list costs to look through.
const smallSetSize = 16

// smallSet is a set of strings, a list while small.
type smallSet struct {
	list []string
	m    map[string]bool
	n    int // keys held
}

// add adds k, reporting false when it was there already.
func (s *smallSet) add(k string) bool {
	if s.m == nil {
		if slices.Contains(s.list, k) {
			return false
		}
		if len(s.list) < smallSetSize {
			s.list = append(s.list, k)
			s.n++
			return true
		}
		s.m = make(map[string]bool, 2*smallSetSize)
		for _, x := range s.list {
			s.m[x] = true
		}
	}
	if s.m[k] {
		return false
	}
	s.m[k] = true
	s.n++
	return true
}

// normalizeMessage is normalize with the clock for a message without a
// creation time and the expiry of a domain without one. own says that no
// one else holds m's domains and recipients (a message just decoded), so
// that they are brought to form in place rather than copied.
func normalizeMessage(m *Message, clock func() time.Time, expire time.Duration, own bool) error {
	if uint64(m.ID) > math.MaxInt64 || m.ID == 0 {
		return fmt.Errorf("message id %d is out of range (1 to %d)", uint64(m.ID), int64(math.MaxInt64))
	}
	m.ReturnPath = strings.TrimSpace(m.ReturnPath)
	if err := checkAddressLength(m.ReturnPath); err != nil {
		return fmt.Errorf("message %s: return path: %w", m.ID, err)
	}
	if err := checkPrintable(m.ReturnPath); err != nil {
		return fmt.Errorf("message %s: return path %q: %w", m.ID, m.ReturnPath, err)
	}
	if m.ReturnPath == "<>" {
		m.ReturnPath = ""
	}
	if m.Created.IsZero() {
		m.Created = clock()
	}
	m.Created = m.Created.UTC().Truncate(time.Second)
	if m.Size < 0 {
		return fmt.Errorf("message %s: negative size %d", m.ID, m.Size)
	}
	if len(m.Domains) == 0 {
		return fmt.Errorf("message %s has no recipients", m.ID)
	}
	var seenDom map[string]int // for many domains; else a look through doms
	if len(m.Domains) > smallSetSize {
		seenDom = make(map[string]int, len(m.Domains))
	}
	var rcptBuf [smallSetSize]string
	seenRcpt := smallSet{list: rcptBuf[:0]}
	doms := m.Domains[:0]
	if !own {
		doms = make([]Domain, 0, len(m.Domains))
	}
	for _, d := range m.Domains {
		d.Name = strings.ToLower(strings.TrimSpace(d.Name))
		if err := checkDomainLength(d.Name); err != nil {
			return fmt.Errorf("message %s: %w", m.ID, err)
		}
		if err := checkPrintable(d.Name); err != nil {
			return fmt.Errorf("message %s: domain %q: %w", m.ID, d.Name, err)
		}
		if d.Name == "" && len(d.Recipients) > 0 {
			d.Name = domainOf(d.Recipients[0].Address)
		}
		if d.Name == "" {
			return fmt.Errorf("message %s: a recipient domain has no name", m.ID)
		}
		if d.Status < Scheduled || d.Status > PermFail {
			return fmt.Errorf("message %s: domain %s: invalid status %d", m.ID, d.Name, d.Status)
		}
		if d.Due.IsZero() {
			d.Due = m.Created
		}
		if d.Expires.IsZero() {
			d.Expires = m.Created.Add(expire)
		}
		d.Due = d.Due.UTC().Truncate(time.Second)
		d.Expires = d.Expires.UTC().Truncate(time.Second)
		if !d.NotifyAt.IsZero() {
			d.NotifyAt = d.NotifyAt.UTC().Truncate(time.Second)
		}
		rcpts := d.Recipients[:0]
		if !own {
			rcpts = make([]Recipient, 0, len(d.Recipients))
		}
		for _, r := range d.Recipients {
			r.Address = strings.TrimSpace(r.Address)
			if err := checkAddressLength(r.Address); err != nil {
				return fmt.Errorf("message %s: recipient: %w", m.ID, err)
			}
			if err := checkPrintable(r.Address); err != nil {
				return fmt.Errorf("message %s: recipient %q: %w", m.ID, r.Address, err)
			}
			lc := strings.ToLower(r.Address)
			if lc == "" {
				return fmt.Errorf("message %s: domain %s has an empty recipient address", m.ID, d.Name)
			}
			if r.Status < Scheduled || r.Status > PermFail {
				return fmt.Errorf("message %s: recipient %s: invalid status %d", m.ID, r.Address, r.Status)
			}
			if !seenRcpt.add(lc) {
				continue
			}
			rcpts = append(rcpts, r)
		}
		d.Recipients = rcpts
		k, ok := seenDom[d.Name]
		if seenDom == nil {
			k = slices.IndexFunc(doms, func(x Domain) bool { return x.Name == d.Name })
			ok = k >= 0
		}
		if ok {
			doms[k].Recipients = append(doms[k].Recipients, d.Recipients...)
			continue
		}
		if seenDom != nil {
			seenDom[d.Name] = len(doms)
		}
		doms = append(doms, d)
	}
	m.Domains = doms
	if err := checkRecipientCount(seenRcpt.n); err != nil {
		return fmt.Errorf("message %s: %w", m.ID, err)
	}
	return checkMessageTimes(m)
}
