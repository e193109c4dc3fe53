package pgqueue

import (
	"fmt"
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
	messageCols   = []string{"id", "rp_lc", "rp", "rp_domain", "created", "size", "env_id", "priority", "due", "ret", "client_ip", "client_user", "client_helo", "held"}
	domainCols    = []string{"msg_id", "idx", "name", "status", "details", "retry_num", "due", "notify", "expires"}
	recipientCols = []string{"msg_id", "idx", "domain_idx", "address_lc", "address", "status", "code", "enhanced", "message", "orcpt", "notify"}
	bodyCols      = []string{"msg_id", "raw"}
)

// inserter buffers the rows of normalized messages and copies them.
type inserter struct {
	tx                  *Tx
	db                  pgx.Tx // the savepoint written in
	msgs, doms, rcpts   [][]any
	bodies              [][]any
	batchIDs            []int64
	lines               []int // input line of each buffered message (0 = none)
	ids                 []queue.ID
	last                queue.ID // the highest id given out or seen
	lockedLast, hasLast bool
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
	ins.last = max(ins.last, queue.ID(max(last, maxID)))
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
	id := int64(m.ID)
	rpLC := strings.ToLower(m.ReturnPath)
	ins.msgs = append(ins.msgs, []any{id, rpLC, orLower(m.ReturnPath, rpLC), domainOf(rpLC), m.Created.Unix(), m.Size, optStr(m.EnvID), m.Priority,
		optTime(m), optStr(m.Ret), optStr(m.Client.IP), optStr(m.Client.User), optStr(m.Client.Helo), m.Held})
	ri := 0
	for di, d := range m.Domains {
		var notify any
		if !d.NotifyAt.IsZero() {
			notify = d.NotifyAt.Unix()
		}
		ins.doms = append(ins.doms, []any{id, di, d.Name, int16(d.Status), optStr(d.Details), d.RetryNum, d.Due.Unix(), notify, d.Expires.Unix()})
		for _, r := range d.Recipients {
			lc := strings.ToLower(r.Address)
			ins.rcpts = append(ins.rcpts, []any{id, ri, di, lc, orLower(r.Address, lc), int16(r.Status), r.Code, optStr(r.Enhanced), optStr(r.Message), optStr(r.ORCPT), int16(r.Notify)})
			ri++
		}
	}
	if raw != nil {
		ins.bodies = append(ins.bodies, []any{id, raw})
	}
	ins.batchIDs = append(ins.batchIDs, id)
	ins.lines = append(ins.lines, line)
	ins.last = max(ins.last, m.ID)
	if len(ins.batchIDs) >= copyBatch {
		return ins.flush()
	}
	return nil
}

// flush copies what add buffered, refusing an id already queued.
func (ins *inserter) flush() error {
	if len(ins.batchIDs) == 0 {
		return nil
	}
	ctx := ins.tx.ctx
	var dup *int64
	if err := ins.db.QueryRow(ctx, "SELECT min(id) FROM messages WHERE id = ANY($1)", ins.batchIDs).Scan(&dup); err != nil {
		return err
	}
	if dup != nil {
		line := 0
		for k, id := range ins.batchIDs {
			if id == *dup {
				line = ins.lines[k]
			}
		}
		return queue.DuplicateIDError(queue.ID(*dup), line)
	}
	for _, t := range []struct {
		table string
		cols  []string
		rows  [][]any
	}{{"messages", messageCols, ins.msgs}, {"domains", domainCols, ins.doms}, {"recipients", recipientCols, ins.rcpts}, {"bodies", bodyCols, ins.bodies}} {
		if len(t.rows) == 0 {
			continue
		}
		if _, err := ins.db.CopyFrom(ctx, pgx.Identifier{t.table}, t.cols, pgx.CopyFromRows(t.rows)); err != nil {
			return fmt.Errorf("copy into %s: %w", t.table, err)
		}
	}
	for _, id := range ins.batchIDs {
		ins.ids = append(ins.ids, queue.ID(id))
	}
	ins.msgs, ins.doms, ins.rcpts, ins.bodies = ins.msgs[:0], ins.doms[:0], ins.rcpts[:0], ins.bodies[:0]
	ins.batchIDs, ins.lines = ins.batchIDs[:0], ins.lines[:0]
	return nil
}

// finish copies what is buffered and records the highest id given out, so
// that an id is never given out again, even after its message is gone.
func (ins *inserter) finish() error {
	if err := ins.flush(); err != nil {
		return err
	}
	_, err := ins.db.Exec(ins.tx.ctx, "INSERT INTO meta(key, value) VALUES('last_id', $1) ON CONFLICT (key) DO UPDATE SET value = greatest(meta.value, excluded.value)", int64(ins.last))
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

// optTime is the message's due, NULL when nothing is pending.
func optTime(m *queue.Message) any {
	due := m.Due()
	if due.IsZero() {
		return nil
	}
	return due.Unix()
}
