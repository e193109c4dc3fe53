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
	messageCols   = []string{"id", "rp_lc", "rp", "rp_domain", "created", "size", "env_id", "priority", "ret", "client_ip", "client_user", "client_helo", "subject_lc", "msgid", "client_inet"}
	domainCols    = []string{"msg_id", "idx", "name", "status", "details", "retry_num", "due", "notify", "expires", "hold_since", "hold_until", "hold_by", "hold_reason", "hold_rule", "msg_created", "msg_size"}
	recipientCols = []string{"msg_id", "idx", "domain_idx", "address_lc", "address", "status", "code", "enhanced", "message", "orcpt", "notify"}
	bodyCols      = []string{"msg_id", "raw"}
	dueCols       = []string{"msg_id", "due"}
)

// batch is the rows of up to copyBatch messages, ready to be copied.
type batch struct {
	msgs, doms, rcpts, bodies, dues [][]any
	ids                             []int64
	lines                           []int // input line of each message (0 = none)
}

func (b *batch) reset() {
	b.msgs, b.doms, b.rcpts, b.bodies, b.dues = b.msgs[:0], b.doms[:0], b.rcpts[:0], b.bodies[:0], b.dues[:0]
	b.ids, b.lines = b.ids[:0], b.lines[:0]
}

// encode adds the rows of a normalized message and its text (nil = not
// kept); line is its input line for errors.
func (b *batch) encode(m *queue.Message, raw []byte, line int) {
	id := int64(m.ID)
	rpLC := strings.ToLower(m.ReturnPath)
	b.msgs = append(b.msgs, []any{id, rpLC, orLower(m.ReturnPath, rpLC), domainOf(rpLC), m.Created.Unix(), m.Size, optStr(m.EnvID), m.Priority,
		optStr(m.Ret), optStr(m.Client.IP), optStr(m.Client.User), optStr(m.Client.Helo), nil, nil, clientInet(m.Client.IP)})
	if raw != nil {
		row := b.msgs[len(b.msgs)-1]
		subject, msgID := queue.MessageHeaders(raw)
		row[12], row[13] = optStr(subject), optStr(msgID)
	}
	if due := m.Due(); !due.IsZero() { // nothing pending: no row
		b.dues = append(b.dues, []any{id, due.Unix()})
	}
	ri := 0
	for di, d := range m.Domains {
		var notify any
		if !d.NotifyAt.IsZero() {
			notify = d.NotifyAt.Unix()
		}
		row := []any{id, di, d.Name, int16(d.Status), optStr(d.Details), d.RetryNum, d.Due.Unix(), notify, d.Expires.Unix(), nil, nil, nil, nil, nil, m.Created.Unix(), m.Size}
		if h := d.Hold; h != nil {
			var rule any
			if h.Rule != 0 {
				rule = h.Rule
			}
			row[9], row[10], row[11], row[12], row[13] = h.Since.Unix(), unixOrNull(h.Until), h.By, optStr(h.Reason), rule
		}
		b.doms = append(b.doms, row)
		for _, r := range d.Recipients {
			lc := strings.ToLower(r.Address)
			b.rcpts = append(b.rcpts, []any{id, ri, di, lc, orLower(r.Address, lc), int16(r.Status), r.Code, optStr(r.Enhanced), optStr(r.Message), optStr(r.ORCPT), int16(r.Notify)})
			ri++
		}
	}
	if raw != nil {
		b.bodies = append(b.bodies, []any{id, raw})
	}
	b.ids = append(b.ids, id)
	b.lines = append(b.lines, line)
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
	ins.cur.encode(m, raw, line)
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
	var dup *int64
	if err := ins.db.QueryRow(ctx, "SELECT min(id) FROM messages WHERE id IN (SELECT unnest($1::bigint[]))", b.ids).Scan(&dup); err != nil {
		return err
	}
	if dup != nil {
		line := 0
		for k, id := range b.ids {
			if id == *dup {
				line = b.lines[k]
			}
		}
		return queue.DuplicateIDError(queue.ID(*dup), line)
	}
	if ins.bulk && !ins.checked && len(ins.ids) == 0 && len(b.ids) >= copyBatch {
		// A full first batch into an empty queue: the import is bigger
		// than the queue, so build the indexes at the end from its first
		// row on.
		var queued bool
		if err := ins.db.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM messages)").Scan(&queued); err != nil {
			return err
		}
		if !queued {
			ins.checked = true
			if err := ins.dropIndexes(); err != nil {
				return err
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
		cols  []string
		rows  [][]any
	}{{"messages", messageCols, b.msgs}, {"domains", domainCols, b.doms}, {"recipients", recipientCols, b.rcpts}, {"bodies", bodyCols, b.bodies}, {"message_due", dueCols, b.dues}} {
		if len(t.rows) == 0 {
			continue
		}
		if _, err := ins.db.CopyFrom(ctx, pgx.Identifier{t.table}, t.cols, pgx.CopyFromRows(t.rows)); err != nil {
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

// optStr stores "" as NULL.
func optStr(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// orLower stores NULL when s equals its lower-case form lc, else s.
func orLower(s, lc string) any {
	if s == lc {
		return nil
	}
	return s
}
