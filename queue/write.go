package queue

import (
	"context"
	"database/sql"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Message ids for new messages have Stalwart's snowflake shape: milliseconds
// since snowflakeEpoch shifted left by 21 bits, a 12-bit sequence shifted by 9,
// and a 9-bit node number (0 here).
var snowflakeEpoch = time.Unix(1632280000, 0) // 2021-09-22T03:06:40Z

// Snowflake returns the id Stalwart would give a message queued at t with
// sequence number seq (0-4095) on node 0.
func Snowflake(t time.Time, seq int) ID {
	ms := t.Sub(snowflakeEpoch).Milliseconds()
	if ms < 0 {
		ms = 0
	}
	return ID(uint64(ms)<<21 | uint64(seq&0xFFF)<<9)
}

// inserter writes whole messages in batches, the fast path for imports; every
// verb that adds messages (Enqueue, ImportJSON, ImportEML, LoadDemo) goes
// through it. Messages are encoded into a rowBatch (by add, or ahead of time
// on another goroutine for ImportJSON, see write) and each batch is written
// with one INSERT statement per table.
type inserter struct {
	tx    *Tx
	stmts map[string]*sql.Stmt // by table (and row count for bodies)
	last  ID                   // the highest id given out or seen
	ids   []ID

	enc   rowEncoder // for add
	batch *rowBatch  // what add buffered
	bs    [][]any    // bodies buffered by add: msg_id, raw

	bulk    bool              // may switch to bulk loading (imports)
	checked bool              // the switch was considered
	dropped map[string]string // indexes dropped for a bulk load: name -> CREATE statement
}

// bulkAfter is how many messages an import adds before it considers bulk
// loading: when it has added at least as many messages as the queue held,
// the secondary indexes are dropped and rebuilt (sorted, much faster than
// growing them row by row) when the import ends, in the same transaction.

const bulkAfter = 20000

// insertBatch is how many messages a rowBatch holds; bodyChunk is how many
// bodies one INSERT statement writes.
const (
	insertBatch = 256
	bodyChunk   = 128
)

// insertCols are the columns a rowBatch encodes, in order.
var insertCols = map[string]string{
	"messages":   "id, rp_lc, rp, rp_domain, created, size, env_id, priority, due",
	"domains":    "msg_id, idx, name, status, details, retry_num, due, notify, expires",
	"recipients": "msg_id, idx, domain_idx, address_lc, address, status, code, enhanced, message, orcpt",
}

func (tx *Tx) newInserter() (*inserter, error) {
	ins := &inserter{tx: tx, stmts: map[string]*sql.Stmt{}, batch: &rowBatch{}}
	var last, maxID sql.NullInt64
	if err := tx.tx.QueryRowContext(tx.ctx, "SELECT (SELECT value FROM meta WHERE key = 'last_id'), (SELECT max(id) FROM messages)").Scan(&last, &maxID); err != nil {
		return nil, err
	}
	ins.last = ID(max(last.Int64, maxID.Int64))
	return ins, nil
}

func (ins *inserter) close() {
	for _, s := range ins.stmts {
		s.Close()
	}
}

// nextSlot is the first id of the sequence slot after id's: the low 9 bits
// of an id are its node part, left zero here.
func nextSlot(id ID) ID { return id | 511 + 1 }

// newID gives out an id for a message created at t: the snowflake of t, or
// the next sequence slot after the highest id so far, whichever is larger, so
// ids grow strictly even within one millisecond and across processes (the
// write transaction serialises them).
func (ins *inserter) newID(t time.Time) ID {
	id := Snowflake(t, 0)
	if next := nextSlot(ins.last); next > id {
		id = next
	}
	ins.last = id
	return id
}

// rebuildThreads and rebuildCacheKiB tune SQLite's sorter while a bulk load
// rebuilds the indexes: with helper threads and a small memory budget it sorts
// in runs on both cores, about a quarter faster than one big in-memory sort.
// The connection's settings are restored afterwards.
const (
	rebuildThreads  = 2
	rebuildCacheKiB = 4096
)

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
	_, err := ins.tx.tx.ExecContext(ins.tx.ctx, "INSERT INTO meta(key, value) VALUES('last_id', ?) ON CONFLICT(key) DO UPDATE SET value = max(value, excluded.value)", int64(ins.last))
	return err
}

// rebuild creates the indexes a bulk load dropped.
func (ins *inserter) rebuild() (err error) {
	if len(ins.dropped) == 0 {
		return nil
	}
	ctx, tx := ins.tx.ctx, ins.tx.tx
	var threads, cache int64
	if err := tx.QueryRowContext(ctx, "PRAGMA threads").Scan(&threads); err != nil {
		return err
	}
	if err := tx.QueryRowContext(ctx, "PRAGMA cache_size").Scan(&cache); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA threads = %d", max(threads, rebuildThreads))); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA cache_size = %d", -rebuildCacheKiB)); err != nil {
		return err
	}
	defer func() {
		bg := context.WithoutCancel(ctx)
		if _, e := tx.ExecContext(bg, fmt.Sprintf("PRAGMA threads = %d", threads)); e != nil && err == nil {
			err = e
		}
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
// its input line for error messages (0 = none).
func (ins *inserter) add(m *Message, raw []byte, line int) error {
	if err := ins.enc.encode(ins.batch, m, line); err != nil {
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
	for _, t := range [...]struct {
		table string
		rows  *jsonRows
	}{{"messages", &b.msgs}, {"domains", &b.doms}, {"recipients", &b.rcpts}} {
		if t.rows.n == 0 {
			continue
		}
		if err := ins.exec(t.table, t.rows.text()); err != nil {
			if t.table == "messages" && isDuplicateKey(err) {
				return ins.duplicate(b)
			}
			return err
		}
	}
	for i := 0; i < len(ins.bs); i += bodyChunk {
		if err := ins.execBodies(ins.bs[i:min(i+bodyChunk, len(ins.bs))]); err != nil {
			return err
		}
	}
	ins.bs = ins.bs[:0]
	for _, id := range b.ids {
		ins.last = max(ins.last, id)
	}
	ins.ids = append(ins.ids, b.ids...)
	if ins.bulk && !ins.checked && len(ins.ids) >= bulkAfter {
		return ins.considerBulk()
	}
	return nil
}

// exec runs the INSERT of a table for a JSON array of rows (text): SQLite
// unpacks the rows itself, which costs less than binding every value through
// the driver. jsonb() converts the text once, so that each row's columns are
// read from SQLite's parsed form rather than from text again.
func (ins *inserter) exec(table string, rows string) error {
	stmt, ok := ins.stmts[table]
	if !ok {
		cols := strings.Split(insertCols[table], ", ")
		sel := make([]string, len(cols))
		for i := range cols {
			sel[i] = fmt.Sprintf("value->>%d", i)
		}
		q := "INSERT INTO " + table + "(" + insertCols[table] + ") SELECT " + strings.Join(sel, ", ") + " FROM jsonb_each(jsonb(?))"
		var err error
		if stmt, err = ins.tx.tx.PrepareContext(ins.tx.ctx, q); err != nil {
			return err
		}
		ins.stmts[table] = stmt
	}
	_, err := stmt.ExecContext(ins.tx.ctx, rows)
	return err
}

// execBodies inserts message bodies: msg_id, raw pairs.
func (ins *inserter) execBodies(rows [][]any) error {
	key := fmt.Sprint("bodies", len(rows))
	stmt, ok := ins.stmts[key]
	if !ok {
		q := "INSERT INTO bodies(msg_id, raw) VALUES " + strings.Repeat("(?, ?),", len(rows)-1) + "(?, ?)"
		var err error
		if stmt, err = ins.tx.tx.PrepareContext(ins.tx.ctx, q); err != nil {
			return err
		}
		ins.stmts[key] = stmt
	}
	args := make([]any, 0, 2*len(rows))
	for _, r := range rows {
		args = append(args, r...)
	}
	_, err := stmt.ExecContext(ins.tx.ctx, args...)
	return err
}

// considerBulk drops the secondary indexes when the import is at least as big
// as what the queue held; finish rebuilds them.
func (ins *inserter) considerBulk() error {
	ins.checked = true
	ctx := ins.tx.ctx
	var n int
	if err := ins.tx.tx.QueryRowContext(ctx, "SELECT count(*) FROM messages").Scan(&n); err != nil {
		return err
	}
	if len(ins.ids) < n-len(ins.ids) {
		return nil
	}
	rows, err := ins.tx.tx.QueryContext(ctx, "SELECT name, sql FROM sqlite_schema WHERE type = 'index' AND sql IS NOT NULL AND tbl_name IN ('messages', 'domains', 'recipients')")
	if err != nil {
		return err
	}
	idx := map[string]string{}
	for rows.Next() {
		var name, sql string
		if err := rows.Scan(&name, &sql); err != nil {
			rows.Close()
			return err
		}
		idx[name] = sql
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	ins.dropped = map[string]string{}
	for name, sql := range idx {
		if _, err := ins.tx.tx.ExecContext(ctx, "DROP INDEX "+name); err != nil {
			return err
		}
		ins.dropped[name] = sql
	}
	return nil
}

// duplicate finds which message of a failed batch is already queued.
func (ins *inserter) duplicate(b *rowBatch) error {
	for k, id := range b.ids {
		var one int
		err := ins.tx.tx.QueryRowContext(ins.tx.ctx, "SELECT 1 FROM messages WHERE id = ?", int64(id)).Scan(&one)
		if err == nil {
			e := fmt.Errorf("message %s is already in the queue", id)
			if line := b.lines[k]; line > 0 {
				return &lineError{line, e}
			}
			return e
		}
	}
	return fmt.Errorf("a message id is already in the queue")
}

// rowBatch is up to insertBatch normalized messages encoded as the rows of
// the messages, domains and recipients tables, ready for inserter.write.
type rowBatch struct {
	msgs, doms, rcpts jsonRows
	ids               []ID
	lines             []int // input lines, for error messages (0 = none)
	n                 int   // messages
	err               error // for ImportJSON: the error that ends the input after these messages
}

func (b *rowBatch) reset() {
	b.msgs.reset()
	b.doms.reset()
	b.rcpts.reset()
	b.ids, b.lines, b.n, b.err = b.ids[:0], b.lines[:0], 0, nil
}

// rowEncoder encodes messages into rowBatches and refuses an id it has
// already encoded.
type rowEncoder struct {
	seen map[ID]int // ids encoded, with their line numbers
}

// encode adds a normalized message to b; line is its input line (0 = none).
func (e *rowEncoder) encode(b *rowBatch, m *Message, line int) error {
	if e.seen == nil {
		e.seen = map[ID]int{}
	}
	if prev, dup := e.seen[m.ID]; dup {
		if prev > 0 {
			return fmt.Errorf("message %s appears twice (first on line %d)", m.ID, prev)
		}
		return fmt.Errorf("message %s appears twice", m.ID)
	}
	e.seen[m.ID] = line
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
	r.end()
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
		r.end()
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
			r.end()
			ri++
		}
	}
	b.ids = append(b.ids, m.ID)
	b.lines = append(b.lines, line)
	b.n++
	return nil
}

// jsonRows builds a JSON array (text) of rows, each an array of column
// values: integers, strings and nulls. One statement per table unpacks a
// whole batch (see inserter.exec), which costs far less than binding every
// value through the driver.
type jsonRows struct {
	buf []byte // "[" and the rows so far, each followed by a comma
	row bool   // a row is open and has a value
	n   int    // rows
}

// open starts a row when none is open, else separates the next value.
func (j *jsonRows) next() {
	if len(j.buf) == 0 {
		j.buf = append(j.buf, '[')
	}
	if j.row {
		j.buf = append(j.buf, ',')
		return
	}
	j.buf = append(j.buf, '[')
	j.row = true
}

func (j *jsonRows) int(v int64) {
	j.next()
	j.buf = strconv.AppendInt(j.buf, v, 10)
}

func (j *jsonRows) null() {
	j.next()
	j.buf = append(j.buf, "null"...)
}

// str writes s as a JSON string: quotes, backslashes and control characters
// escaped, every other byte as it is (SQLite stores the bytes unchanged).
func (j *jsonRows) str(s string) {
	j.next()
	j.buf = append(j.buf, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		j.buf = append(j.buf, s[start:i]...)
		switch c {
		case '"', '\\':
			j.buf = append(j.buf, '\\', c)
		default:
			j.buf = append(j.buf, '\\', 'u', '0', '0', "0123456789abcdef"[c>>4], "0123456789abcdef"[c&15])
		}
		start = i + 1
	}
	j.buf = append(append(j.buf, s[start:]...), '"')
}

// optStr stores "" as NULL.
func (j *jsonRows) optStr(s string) {
	if s == "" {
		j.null()
		return
	}
	j.str(s)
}

// optTime stores a time as unix seconds, the zero time as NULL.
func (j *jsonRows) optTime(t time.Time) {
	if t.IsZero() {
		j.null()
		return
	}
	j.int(t.Unix())
}

// orLower stores NULL when s equals its lower-case form lc, else s: the
// space-saving form of the address columns.
func (j *jsonRows) orLower(s, lc string) {
	if s == lc {
		j.null()
		return
	}
	j.str(s)
}

// end finishes a row.
func (j *jsonRows) end() {
	j.buf = append(j.buf, "],"...)
	j.row = false
	j.n++
}

// text returns the array of the rows so far (bound as text: a blob would be
// read as SQLite's binary JSON).
func (j *jsonRows) text() string {
	j.buf[len(j.buf)-1] = ']'
	return string(j.buf)
}

func (j *jsonRows) reset() { j.buf, j.row, j.n = j.buf[:0], false, 0 }

// normalize checks a message about to be stored and brings it to the stored
// form: lower-case domain names, one domain per name, recipients deduplicated
// case-insensitively, times in whole seconds, missing times from the schedule.
func (q *Queue) normalize(m *Message) error {
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
		m.Created = q.clock()
	}
	m.Created = m.Created.UTC().Truncate(time.Second)
	if m.Size < 0 {
		return fmt.Errorf("message %s: negative size %d", m.ID, m.Size)
	}
	if len(m.Domains) == 0 {
		return fmt.Errorf("message %s has no recipients", m.ID)
	}
	seenDom := map[string]int{}
	seenRcpt := map[string]bool{}
	var doms []Domain
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
			d.Expires = m.Created.Add(q.sched.Expire)
		}
		d.Due = d.Due.UTC().Truncate(time.Second)
		d.Expires = d.Expires.UTC().Truncate(time.Second)
		if !d.NotifyAt.IsZero() {
			d.NotifyAt = d.NotifyAt.UTC().Truncate(time.Second)
		}
		var rcpts []Recipient
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
			if seenRcpt[lc] {
				continue
			}
			seenRcpt[lc] = true
			rcpts = append(rcpts, r)
		}
		d.Recipients = rcpts
		if k, ok := seenDom[d.Name]; ok {
			doms[k].Recipients = append(doms[k].Recipients, d.Recipients...)
			continue
		}
		seenDom[d.Name] = len(doms)
		doms = append(doms, d)
	}
	m.Domains = doms
	if err := checkRecipientCount(len(seenRcpt)); err != nil {
		return fmt.Errorf("message %s: %w", m.ID, err)
	}
	return checkMessageTimes(m)
}

// audit records a change in the current transaction.
func (tx *Tx) audit(verb, text string, ids []ID) error {
	sorted := ids
	if !slices.IsSorted(ids) {
		sorted = slices.Clone(ids)
		slices.Sort(sorted)
	}
	_, err := tx.tx.ExecContext(tx.ctx, "INSERT INTO audit(at, user, source, verb, filter, count, ids) VALUES(?,?,?,?,?,?,?)",
		tx.q.now().UnixMilli(), tx.q.user, SourceOf(tx.ctx), verb, text, len(ids), encodeIDs(sorted))
	return err
}

// checkAddress validates an envelope address (without angle brackets).
func checkAddress(what, a string) (string, error) {
	a = strings.TrimSpace(a)
	if err := checkAddressLength(a); err != nil {
		return "", fmt.Errorf("invalid %s: %w", what, err)
	}
	if err := checkPrintable(a); err != nil {
		return "", fmt.Errorf("invalid %s %q: %w", what, a, err)
	}
	if len(a) > 2 && a[0] == '<' && a[len(a)-1] == '>' {
		a = a[1 : len(a)-1]
	}
	at := strings.LastIndexByte(a, '@')
	if at <= 0 || at == len(a)-1 || strings.ContainsAny(a, " \t\r\n<>,") {
		return "", fmt.Errorf("invalid %s %q: want an address such as bill@example.net", what, a)
	}
	return a, nil
}

// addNew queues one new message with the envelope env and the text raw (its
// Bcc fields removed, see stripBcc) and audits it under verb, its audit text
// starting with prefix: the work of Enqueue and ImportEML, inside their
// savepoint (which has checked that the queue may be written).
func (tx *Tx) addNew(verb, prefix string, env Envelope, raw []byte) (*Message, error) {
	raw = stripBcc(raw)
	m, err := tx.q.envelopeMessage(env, raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", verb, err)
	}
	ins, err := tx.newInserter()
	if err != nil {
		return nil, tx.q.fileError(verb, err)
	}
	defer ins.close()
	m.ID = ins.newID(tx.q.now())
	if err := tx.q.normalize(m); err != nil {
		return nil, fmt.Errorf("%s: %w", verb, err)
	}
	if raw == nil {
		raw = []byte{}
	}
	if err := ins.add(m, raw, 0); err != nil {
		return nil, tx.q.fileError(verb, err)
	}
	if err := ins.finish(); err != nil {
		return nil, tx.q.fileError(verb, err)
	}
	sender := m.ReturnPath
	if sender == "" {
		sender = "<>"
	}
	text := fmt.Sprintf("%ssender=%s recipients=%d size=%d", prefix, quoteValue(sender), len(m.Recipients()), m.Size)
	if err := tx.audit(verb, text, []ID{m.ID}); err != nil {
		return nil, tx.q.fileError(verb, err)
	}
	return m, nil
}

// envelopeMessage builds a new message from an envelope, scheduled from now.
func (q *Queue) envelopeMessage(env Envelope, raw []byte) (*Message, error) {
	sender := strings.TrimSpace(env.Sender)
	if sender == "<>" {
		sender = ""
	}
	if sender != "" {
		var err error
		if sender, err = checkAddress("sender", sender); err != nil {
			return nil, fmt.Errorf("%w, or <> for a bounce", err)
		}
	}
	if len(env.Recipients) == 0 {
		return nil, fmt.Errorf("no recipients: a message needs at least one")
	}
	if err := checkRecipientCount(len(env.Recipients)); err != nil {
		return nil, err
	}
	now := q.clock()
	m := &Message{ReturnPath: sender, Created: now, Size: int64(len(raw)), EnvID: env.EnvID, Priority: env.Priority}
	var notify time.Time
	if len(q.sched.Notify) > 0 {
		notify = now.Add(q.sched.Notify[0])
	}
	for _, er := range env.Recipients {
		a, err := checkAddress("recipient", er.Address)
		if err != nil {
			return nil, err
		}
		m.addRecipient(domainOf(a), Recipient{Address: a, ORCPT: er.ORCPT},
			Domain{Due: now, NotifyAt: notify, Expires: now.Add(q.sched.Expire)})
	}
	return m, nil
}

// selTable is the temporary table the bulk verbs collect matched ids in (the
// writer has one connection, so it is private to the running transaction).
const selTable = "temp.mqsh_sel"

// selectInto fills selTable with the ids matching f.
func (tx *Tx) selectInto(f Filter) error {
	s, err := tx.compile(f, false)
	if err != nil {
		return err
	}
	if _, err := tx.tx.ExecContext(tx.ctx, "CREATE TEMP TABLE IF NOT EXISTS mqsh_sel(id INTEGER PRIMARY KEY)"); err != nil {
		return err
	}
	if _, err := tx.tx.ExecContext(tx.ctx, "DELETE FROM "+selTable); err != nil {
		return err
	}
	if s.empty {
		return nil
	}
	q, args := s.idsSQL()
	_, err = tx.tx.ExecContext(tx.ctx, "INSERT OR IGNORE INTO "+selTable+"(id) "+q, args...)
	return err
}

// selected returns the ids in selTable, ascending.
func (tx *Tx) selected() ([]ID, error) {
	rows, err := tx.tx.QueryContext(tx.ctx, "SELECT id FROM "+selTable+" ORDER BY id")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []ID
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, ID(id))
	}
	return out, rows.Err()
}

// breakdown runs a "name, count" query into a map.
func (tx *Tx) breakdown(q string, args ...any) (map[string]int, error) {
	rows, err := tx.tx.QueryContext(tx.ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var name string
		var n int
		if err := rows.Scan(&name, &n); err != nil {
			return nil, err
		}
		out[name] = n
	}
	return out, rows.Err()
}

const pendingSQL = "(0,2)" // the pending states, Scheduled and TempFail

// refreshDue recomputes messages.due for the messages in selTable.
func (tx *Tx) refreshDue() error {
	_, err := tx.tx.ExecContext(tx.ctx, "UPDATE messages SET due = (SELECT min(d.due) FROM domains d WHERE d.msg_id = messages.id AND d.status IN "+pendingSQL+") WHERE id IN (SELECT id FROM "+selTable+")")
	return err
}

// Retry sets the delivery due of the pending (scheduled or temporarily failed)
// domains of the selected messages, only r.Domain when set, to r.At (zero =
// now). Expiry is left alone: never shortened, and not extended either; a domain
// retried after its expiry expires when it comes due. Messages with nothing
// pending (in r.Domain) are not counted. An empty filter needs Filter.All.
func (tx *Tx) Retry(r RetryRequest) (Result, error) {
	res := Result{DryRun: r.DryRun || tx.preview}
	if err := tx.needWrite("retry"); err != nil {
		return res, err
	}
	if r.Filter.IsEmpty() && !r.Filter.All {
		return res, fmt.Errorf("retry: %w", ErrEmptyFilter)
	}
	if err := r.Filter.Validate(); err != nil {
		return res, fmt.Errorf("retry: %w", err)
	}
	if err := checkPrintable(strings.TrimSpace(r.Domain)); err != nil {
		return res, fmt.Errorf("retry: domain %q: %w", r.Domain, err)
	}
	if err := checkTime("at", r.At); err != nil {
		return res, fmt.Errorf("retry: %w", err)
	}
	at := r.At.UTC().Truncate(time.Second) // dues are whole seconds
	if r.At.IsZero() {
		at = tx.q.clock()
	}
	domain := strings.ToLower(strings.TrimPrefix(strings.TrimSpace(r.Domain), "@"))
	pend := "d.status IN " + pendingSQL
	var pargs []any
	if domain != "" {
		pend += " AND d.name = ?"
		pargs = append(pargs, domain)
	}
	err := tx.savepoint(r.DryRun, func() error {
		if err := tx.selectInto(r.Filter); err != nil {
			return err
		}
		if _, err := tx.tx.ExecContext(tx.ctx, "DELETE FROM "+selTable+" WHERE NOT EXISTS (SELECT 1 FROM domains d WHERE d.msg_id = mqsh_sel.id AND "+pend+")", pargs...); err != nil {
			return err
		}
		var err error
		if res.Domains, err = tx.breakdown("SELECT d.name, count(*) FROM "+selTable+" s CROSS JOIN domains d ON d.msg_id = s.id WHERE "+pend+" GROUP BY d.name", pargs...); err != nil {
			return err
		}
		if res.IDs, err = tx.selected(); err != nil {
			return err
		}
		res.Count = len(res.IDs)
		if res.Count == 0 {
			return nil
		}
		upd := "UPDATE domains AS d SET due = ? WHERE d.msg_id IN (SELECT id FROM " + selTable + ") AND " + pend
		if _, err := tx.tx.ExecContext(tx.ctx, upd, append([]any{at.Unix()}, pargs...)...); err != nil {
			return err
		}
		if err := tx.refreshDue(); err != nil {
			return err
		}
		// The filter, then the verb's own options, named apart from the
		// filter's fields: "domain=x; retry-domain=x at=T".
		text := r.Filter.String() + ";"
		if domain != "" {
			text += " retry-domain=" + quoteValue(domain)
		}
		text += " at=" + formatTime(at)
		return tx.audit("retry", text, res.IDs)
	})
	if err != nil {
		return Result{DryRun: res.DryRun}, tx.verbError("retry", err)
	}
	return res, nil
}

// verbError wraps an error of a write verb: a filter error as it is, SQLite
// errors in the words of fileError.
func (tx *Tx) verbError(verb string, err error) error {
	if ctxErr := tx.ctx.Err(); ctxErr != nil {
		return fmt.Errorf("%s: %w (nothing was changed)", verb, ctxErr)
	}
	return tx.q.fileError(verb, err)
}

// Cancel removes the selected messages (their bodies too) when r.Recipient is
// empty. With r.Recipient (matched as Filter.Recipient) the matching pending
// recipients become permanently failed with code 0 and message "Delivery
// canceled."; a domain left with no pending recipient becomes Completed when one
// of its recipients was delivered, else permanently failed with details
// "Delivery canceled."; a message with nothing pending left is removed. A message
// is counted when anything in it changed. An empty filter needs Filter.All.
func (tx *Tx) Cancel(r CancelRequest) (Result, error) {
	res := Result{DryRun: r.DryRun || tx.preview}
	if err := tx.needWrite("cancel"); err != nil {
		return res, err
	}
	if r.Filter.IsEmpty() && !r.Filter.All {
		return res, fmt.Errorf("cancel: %w", ErrEmptyFilter)
	}
	if err := r.Filter.Validate(); err != nil {
		return res, fmt.Errorf("cancel: %w", err)
	}
	var rc string
	var rargs []any
	if r.Recipient != "" {
		p, err := parseAddrPattern(r.Recipient, false)
		if err != nil {
			return res, fmt.Errorf("cancel: recipient: %w", err)
		}
		switch p.kind {
		case addrExact:
			rc, rargs = "r.address_lc = ?", []any{p.value}
		case addrDomain:
			rc, rargs = "r.address_lc GLOB ?", []any{"*@" + globEscape(p.value)}
		case addrGlob:
			rc, rargs = p.globSQL("r.address_lc")
		}
	}
	err := tx.savepoint(r.DryRun, func() error {
		if err := tx.selectInto(r.Filter); err != nil {
			return err
		}
		var err error
		if rc == "" {
			if res.Domains, err = tx.breakdown("SELECT d.name, count(*) FROM " + selTable + " s CROSS JOIN domains d ON d.msg_id = s.id GROUP BY d.name"); err != nil {
				return err
			}
			if res.IDs, err = tx.selected(); err != nil {
				return err
			}
			res.Count = len(res.IDs)
			if res.Count == 0 {
				return nil
			}
			for _, t := range []string{"recipients", "domains", "bodies"} {
				if _, err := tx.tx.ExecContext(tx.ctx, "DELETE FROM "+t+" WHERE msg_id IN (SELECT id FROM "+selTable+")"); err != nil {
					return err
				}
			}
			if _, err := tx.tx.ExecContext(tx.ctx, "DELETE FROM messages WHERE id IN (SELECT id FROM "+selTable+")"); err != nil {
				return err
			}
			return tx.audit("cancel", r.Filter.String(), res.IDs)
		}
		match := "r.status IN " + pendingSQL + " AND " + rc
		if _, err := tx.tx.ExecContext(tx.ctx, "DELETE FROM "+selTable+" WHERE NOT EXISTS (SELECT 1 FROM recipients r WHERE r.msg_id = mqsh_sel.id AND "+match+")", rargs...); err != nil {
			return err
		}
		if res.Domains, err = tx.breakdown("SELECT d.name, count(DISTINCT r.msg_id) FROM "+selTable+" s CROSS JOIN recipients r ON r.msg_id = s.id CROSS JOIN domains d ON d.msg_id = r.msg_id AND d.idx = r.domain_idx WHERE "+match+" GROUP BY d.name", rargs...); err != nil {
			return err
		}
		if res.IDs, err = tx.selected(); err != nil {
			return err
		}
		res.Count = len(res.IDs)
		if res.Count == 0 {
			return nil
		}
		if _, err := tx.tx.ExecContext(tx.ctx, "UPDATE recipients AS r SET status = 3, code = 0, enhanced = NULL, message = 'Delivery canceled.' WHERE r.msg_id IN (SELECT id FROM "+selTable+") AND "+match, rargs...); err != nil {
			return err
		}
		rest := "FROM recipients r WHERE r.msg_id = d.msg_id AND r.domain_idx = d.idx"
		if _, err := tx.tx.ExecContext(tx.ctx, "UPDATE domains AS d SET "+
			"status = CASE WHEN EXISTS (SELECT 1 "+rest+" AND r.status = 1) THEN 1 ELSE 3 END, "+
			"details = CASE WHEN EXISTS (SELECT 1 "+rest+" AND r.status = 1) THEN details ELSE 'Delivery canceled.' END "+
			"WHERE d.msg_id IN (SELECT id FROM "+selTable+") AND d.status IN "+pendingSQL+
			" AND NOT EXISTS (SELECT 1 "+rest+" AND r.status IN "+pendingSQL+")"); err != nil {
			return err
		}
		gone := "SELECT id FROM " + selTable + " s WHERE NOT EXISTS (SELECT 1 FROM domains d WHERE d.msg_id = s.id AND d.status IN " + pendingSQL + ")"
		for _, t := range []string{"recipients", "domains", "bodies"} {
			if _, err := tx.tx.ExecContext(tx.ctx, "DELETE FROM "+t+" WHERE msg_id IN ("+gone+")"); err != nil {
				return err
			}
		}
		if _, err := tx.tx.ExecContext(tx.ctx, "DELETE FROM messages WHERE id IN (SELECT id FROM "+selTable+") AND NOT EXISTS (SELECT 1 FROM domains d WHERE d.msg_id = messages.id)"); err != nil {
			return err
		}
		if err := tx.refreshDue(); err != nil {
			return err
		}
		return tx.audit("cancel", r.Filter.String()+"; cancel-rcpt="+quoteValue(r.Recipient), res.IDs)
	})
	if err != nil {
		return Result{DryRun: res.DryRun}, tx.verbError("cancel", err)
	}
	return res, nil
}
