package pgqueue

import (
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	"mqsh/queue"
)

// Storing whole messages: every verb that adds messages (Enqueue, the
// imports, the demo) buffers their rows and writes them with COPY, a batch
// at a time, after checking that no id of the batch is queued already.

// copyBatch is how many messages are buffered before their rows are copied.
const copyBatch = 5000

var (
	messageCols = []copyCol{{"id", "bigint"}, {"rp_lc", "text"}, {"rp", "text"}, {"rp_domain", "text"}, {"created", "bigint"}, {"size", "bigint"}, {"env_id", "text"}, {"priority", "integer"},
		{"ret", "text"}, {"client_ip", "text"}, {"client_user", "text"}, {"client_helo", "text"}, {"subject_lc", "text"}, {"msgid", "text"}, {"client_inet", "inet"}}
	domainCols = []copyCol{{"msg_id", "bigint"}, {"idx", "integer"}, {"name", "text"}, {"status", "smallint"}, {"details", "text"}, {"retry_num", "integer"}, {"due", "bigint"}, {"notify", "bigint"},
		{"expires", "bigint"}, {"hold_since", "bigint"}, {"hold_until", "bigint"}, {"hold_by", "text"}, {"hold_reason", "text"}, {"hold_rule", "bigint"}, {"msg_created", "bigint"}, {"msg_size", "bigint"}}
	recipientCols = []copyCol{{"msg_id", "bigint"}, {"idx", "integer"}, {"domain_idx", "integer"}, {"address_lc", "text"}, {"address", "text"}, {"status", "smallint"}, {"code", "integer"},
		{"enhanced", "text"}, {"message", "text"}, {"orcpt", "text"}, {"notify", "smallint"}}
	bodyCols = []copyCol{{"msg_id", "bigint"}, {"raw", "bytea"}}
	dueCols  = []copyCol{{"msg_id", "bigint"}, {"due", "bigint"}}
)

// batch is the rows of up to copyBatch messages, encoded for COPY.
type batch struct {
	msgs, doms, rcpts, bodies, dues copyRows
	ids                             []int64
	lines                           []int          // input line of each message (0 = none)
	full                            bool           // the input goes on after a batch cut at a size limit
	domains                         map[string]int // for ImportJSON: messages per recipient domain
}

func (b *batch) reset() {
	b.msgs.reset()
	b.doms.reset()
	b.rcpts.reset()
	b.bodies.reset()
	b.dues.reset()
	b.ids, b.lines, b.full = b.ids[:0], b.lines[:0], false
	clear(b.domains)
}

// encode adds the rows of a normalized message and its text (nil = not
// kept); line is its input line for errors. A number too big for its
// column is an error, and nothing of the message is added.
func (b *batch) encode(m *queue.Message, raw []byte, line int) error {
	priority, err := int4Of("priority", m.Priority)
	if err != nil {
		return err
	}
	for _, d := range m.Domains {
		if _, err := int4Of("retry count", d.RetryNum); err != nil {
			return fmt.Errorf("domain %s: %w", d.Name, err)
		}
		for _, r := range d.Recipients {
			if _, err := int4Of("reply code", r.Code); err != nil {
				return fmt.Errorf("recipient %s: %w", r.Address, err)
			}
		}
	}
	id := int64(m.ID)
	rpLC := strings.ToLower(m.ReturnPath)
	var subject, msgID string
	if raw != nil {
		subject, msgID = queue.MessageHeaders(raw)
	}
	c := &b.msgs
	c.row(len(messageCols))
	c.int8(id)
	c.text(rpLC)
	c.optText(orLower(m.ReturnPath, rpLC))
	c.text(domainOf(rpLC))
	c.int8(m.Created.Unix())
	c.int8(m.Size)
	c.optText(m.EnvID)
	c.int4(priority)
	c.optText(m.Ret)
	c.optText(m.Client.IP)
	c.optText(m.Client.User)
	c.optText(m.Client.Helo)
	c.optText(subject)
	c.optText(msgID)
	c.inet(m.Client.IP)
	if due := m.Due(); !due.IsZero() { // nothing pending: no row
		b.dues.row(len(dueCols))
		b.dues.int8(id)
		b.dues.int8(due.Unix())
	}
	ri := 0
	for di, d := range m.Domains {
		c := &b.doms
		c.row(len(domainCols))
		c.int8(id)
		c.int4(int32(di))
		c.text(d.Name)
		c.int2(int16(d.Status))
		c.optText(d.Details)
		c.int4(int32(d.RetryNum))
		c.int8(d.Due.Unix())
		if d.NotifyAt.IsZero() {
			c.null()
		} else {
			c.int8(d.NotifyAt.Unix())
		}
		c.int8(d.Expires.Unix())
		if h := d.Hold; h != nil {
			c.int8(h.Since.Unix())
			if h.Until.IsZero() {
				c.null()
			} else {
				c.int8(h.Until.Unix())
			}
			c.text(h.By)
			c.optText(h.Reason)
			c.optInt8(h.Rule)
		} else {
			c.null()
			c.null()
			c.null()
			c.null()
			c.null()
		}
		c.int8(m.Created.Unix())
		c.int8(m.Size)
		for _, r := range d.Recipients {
			c := &b.rcpts
			lc := strings.ToLower(r.Address)
			c.row(len(recipientCols))
			c.int8(id)
			c.int4(int32(ri))
			c.int4(int32(di))
			c.text(lc)
			c.optText(orLower(r.Address, lc))
			c.int2(int16(r.Status))
			c.int4(int32(r.Code))
			c.optText(r.Enhanced)
			c.optText(r.Message)
			c.optText(r.ORCPT)
			c.int2(int16(r.Notify))
			ri++
		}
	}
	if raw != nil {
		b.bodies.row(len(bodyCols))
		b.bodies.int8(id)
		b.bodies.bytea(raw)
	}
	b.ids = append(b.ids, id)
	b.lines = append(b.lines, line)
	return nil
}

// inserter writes batches of messages with COPY.
type inserter struct {
	tx         *Tx
	db         pgx.Tx // the savepoint written in
	cur        batch  // what add buffered
	ids        []queue.ID
	last       queue.ID // the highest id given out or seen
	lockedLast bool
	floor      queue.ID // the highest id ever given out or queued, when lockedLast was set
	// bulk says the inserter may drop the secondary indexes for a big
	// import (see considerBulk); dropped holds their definitions.
	bulk    bool
	checked bool
	dropped []string
	// freeze says the queue's tables were emptied anew in this savepoint
	// (see lockEmpty), so that COPY writes their rows frozen.
	freeze bool
	// unique says the caller refuses an id given twice itself (the JSON
	// import), so that once the tables hold only the import's rows no id
	// need be looked up in them.
	unique bool
}

func (tx *Tx) newInserter(db pgx.Tx) *inserter { return &inserter{tx: tx, db: db} }

// lastID locks the record of the highest id given out (so that two
// processes adding messages give out different ids) and reads it.
func (ins *inserter) lastID() (queue.ID, error) {
	if ins.lockedLast {
		return ins.last, nil
	}
	ctx := ins.tx.ctx
	if _, err := ins.db.Exec(ctx, "INSERT INTO meta(key, value) VALUES('last_id', 0) ON CONFLICT (key) DO NOTHING"); err != nil {
		return 0, err
	}
	var last, maxID int64
	if err := ins.db.QueryRow(ctx, "SELECT value FROM meta WHERE key = 'last_id' FOR UPDATE").Scan(&last); err != nil {
		return 0, err
	}
	if err := ins.db.QueryRow(ctx, "SELECT coalesce(max(id), 0) FROM messages").Scan(&maxID); err != nil {
		return 0, err
	}
	ins.lockedLast = true
	ins.floor = queue.ID(max(last, maxID))
	ins.last = max(ins.last, ins.floor)
	return ins.last, nil
}

// newID gives out the id of a new message.
func (ins *inserter) newID() (queue.ID, error) {
	last, err := ins.lastID()
	if err != nil {
		return 0, err
	}
	ins.last = queue.NewID(ins.tx.q.now(), last)
	return ins.last, nil
}

// add buffers a normalized message and its text (nil = not kept); line is
// its input line for errors.
func (ins *inserter) add(m *queue.Message, raw []byte, line int) error {
	if err := ins.cur.encode(m, raw, line); err != nil {
		return err
	}
	ins.last = max(ins.last, m.ID)
	if len(ins.cur.ids) >= copyBatch {
		return ins.flush()
	}
	return nil
}

// flush writes what add buffered.
func (ins *inserter) flush() error {
	err := ins.write(&ins.cur)
	ins.cur.reset()
	return err
}

// write copies a batch, refusing an id already queued.
func (ins *inserter) write(b *batch) error {
	if len(b.ids) == 0 {
		return nil
	}
	ctx := ins.tx.ctx
	if !ins.freeze || !ins.unique { // else every row queued is this import's, and its ids were checked
		if err := ins.refuseQueued(b.ids, b.lines); err != nil {
			return err
		}
	}
	if ins.bulk && !ins.checked && len(ins.ids) == 0 && (b.full || len(b.ids) >= copyBatch) {
		// A full first batch into an empty queue: the import is bigger
		// than the queue, so build the indexes at the end from its first
		// row on.
		var queued bool
		if err := ins.db.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM messages)").Scan(&queued); err != nil {
			return err
		}
		if !queued {
			ins.checked = true
			fresh, err := ins.lockEmpty()
			if err != nil {
				return err
			}
			if err := ins.dropIndexes(); err != nil {
				return err
			}
			if fresh {
				if _, err := ins.db.Exec(ctx, "TRUNCATE messages, domains, recipients, bodies, message_due"); err != nil {
					return err
				}
				ins.freeze = true
			}
		}
	}
	if !ins.lockedLast || slices.Min(b.ids) <= int64(ins.floor) { // new ids are above every id ever queued, trashed or not
		if err := ins.tx.dropTrashed(ins.db, b.ids); err != nil { // a queued id replaces its trashed copy
			return err
		}
	}
	for _, t := range []struct {
		table string
		cols  []copyCol
		rows  *copyRows
	}{{"messages", messageCols, &b.msgs}, {"domains", domainCols, &b.doms}, {"recipients", recipientCols, &b.rcpts}, {"bodies", bodyCols, &b.bodies}, {"message_due", dueCols, &b.dues}} {
		if t.rows.n == 0 {
			continue
		}
		if err := copyIn(ctx, ins.db, t.table, t.cols, t.rows, ins.freeze); err != nil {
			return fmt.Errorf("copy into %s: %w", t.table, err)
		}
	}
	for _, id := range b.ids {
		ins.ids = append(ins.ids, queue.ID(id))
		ins.last = max(ins.last, queue.ID(id))
	}
	if ins.bulk && !ins.checked && len(ins.ids) >= bulkAfter {
		return ins.considerBulk()
	}
	return nil
}

// refuseQueued refuses the first of ids (input lines in lines) that is
// queued already.
func (ins *inserter) refuseQueued(ids []int64, lines []int) error {
	if len(ids) == 0 {
		return nil
	}
	var dup *int64
	if err := ins.db.QueryRow(ins.tx.ctx, "SELECT min(id) FROM messages WHERE id IN (SELECT unnest($1::bigint[]))", ids).Scan(&dup); err != nil {
		return err
	}
	if dup == nil {
		return nil
	}
	line := 0
	for k, id := range ids {
		if id == *dup {
			line = lines[k]
		}
	}
	return queue.DuplicateIDError(queue.ID(*dup), line)
}

// bulkAfter is how many messages an import copies before it considers bulk
// loading: when it has added at least as many messages as the queue held,
// the secondary indexes are dropped and built again (sorted, several times
// faster than growing them row by row) when the import ends, in the same
// transaction. Meanwhile other processes wait for the queue's tables. An
// import into an empty queue does so from its first full batch.
const bulkAfter = 20000

// considerBulk drops the secondary indexes when the import is at least as
// big as what the queue held before it; finish builds them again.
func (ins *inserter) considerBulk() error {
	ins.checked = true
	ctx := ins.tx.ctx
	var n int
	if err := ins.db.QueryRow(ctx, "SELECT count(*) FROM messages").Scan(&n); err != nil {
		return err
	}
	if len(ins.ids) < n-len(ins.ids) {
		return nil
	}
	return ins.dropIndexes()
}

// lockEmpty locks the tables of messages for the rest of the transaction
// and reports whether they are all empty, so that an import into an empty
// queue may empty them anew (TRUNCATE) and copy its rows in FREEZE: rows
// written already frozen, into files that PostgreSQL need not write to its
// WAL when the server runs with wal_level minimal, nor revisit to mark
// committed or to freeze later. The lock comes first so that no message
// added meanwhile by another process is lost.
func (ins *inserter) lockEmpty() (bool, error) {
	ctx := ins.tx.ctx
	if _, err := ins.db.Exec(ctx, "LOCK TABLE messages, domains, recipients, bodies, message_due IN ACCESS EXCLUSIVE MODE"); err != nil {
		return false, err
	}
	var empty bool
	err := ins.db.QueryRow(ctx, `SELECT NOT EXISTS (SELECT 1 FROM messages) AND NOT EXISTS (SELECT 1 FROM domains)
		AND NOT EXISTS (SELECT 1 FROM recipients) AND NOT EXISTS (SELECT 1 FROM bodies) AND NOT EXISTS (SELECT 1 FROM message_due)`).Scan(&empty)
	return empty, err
}

// dropIndexes drops the secondary indexes of the messages, domains,
// recipients and message_due, keeping their definitions for finish.
func (ins *inserter) dropIndexes() error {
	ctx := ins.tx.ctx
	rows, err := ins.db.Query(ctx, `SELECT i.indexname, i.indexdef FROM pg_indexes i
		WHERE i.schemaname = current_schema() AND i.tablename IN ('messages', 'domains', 'recipients', 'message_due')
		AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)
		ORDER BY i.indexname`)
	if err != nil {
		return err
	}
	type index struct{ name, def string }
	idx, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (index, error) {
		var x index
		err := r.Scan(&x.name, &x.def)
		return x, err
	})
	if err != nil {
		return err
	}
	for _, x := range idx {
		if _, err := ins.db.Exec(ctx, "DROP INDEX "+pgx.Identifier{x.name}.Sanitize()); err != nil {
			return err
		}
		ins.dropped = append(ins.dropped, x.def)
	}
	return nil
}

// finish copies what is buffered, builds dropped indexes again and records
// the highest id given out, so that an id is never given out again, even
// after its message is gone.
func (ins *inserter) finish() error {
	if err := ins.flush(); err != nil {
		return err
	}
	ctx := ins.tx.ctx
	for _, def := range ins.dropped {
		if _, err := ins.db.Exec(ctx, def); err != nil {
			return fmt.Errorf("build index again: %w", err)
		}
	}
	ins.dropped = nil
	_, err := ins.db.Exec(ctx, "INSERT INTO meta(key, value) VALUES('last_id', $1) ON CONFLICT (key) DO UPDATE SET value = greatest(meta.value, excluded.value)", int64(ins.last))
	return err
}

// domainOf returns the lower-case domain of an address ("" when none).
func domainOf(addr string) string {
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return ""
	}
	return strings.ToLower(addr[at+1:])
}

// orLower is s, or "" (stored as NULL) when s equals its lower-case form lc.
func orLower(s, lc string) string {
	if s == lc {
		return ""
	}
	return s
}

// optStr stores "" as NULL.
func optStr(s string) any {
	if s == "" {
		return nil
	}
	return s
}
