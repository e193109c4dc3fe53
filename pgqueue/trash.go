package pgqueue

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"mqsh/queue"
)

// The trash, as the SQLite engine keeps it (queue/trash.go): messages
// removed by cancel (and bounce) are moved to the trash_* tables with the
// time, the audit seq and the verb of the change, and kept for the trash
// retention, so that `queue trash restore` and `queue undo` can put them
// back exactly as they were. Their bodies stay in bodies until the trashed
// copy is purged. An id is either in the queue or in the trash, never both:
// adding a message whose id is in the trash (an import that keeps ids)
// drops the trashed copy. Every move is one statement of data-modifying
// CTEs (DELETE ... RETURNING into INSERT), whatever the number of messages.

var (
	_ queue.Trasher   = (*Queue)(nil)
	_ queue.TxTrasher = (*Tx)(nil)
)

// metaTrashRetention is the meta key of the retention, in seconds.
const metaTrashRetention = "trash_retention"

// trashTables pairs each live table with its trash table.
var trashTables = [...]struct{ live, trash string }{
	{"messages", "trash_messages"},
	{"domains", "trash_domains"},
	{"recipients", "trash_recipients"},
}

// idSet is the condition that column col is one of the ids in parameter p
// (a bigint array): a hashed semi-join, one statement for any number.
func idSet(col, p string) string {
	return col + " IN (SELECT unnest(" + p + "::bigint[]))"
}

// idList is the condition that column col is one of the ids in parameter p
// (a bigint array), for a statement that finds rows by an index on col: an
// index scan takes the ids in ascending order, one descent each, so rows
// are removed in the order they lie and the trash's indexes are written in
// key order. The array is passed through a sub-select so that the planner
// does not estimate each of 100,000 ids one by one (half a second) and then
// read the whole table.
func idList(col, p string) string {
	return col + " = ANY((SELECT " + p + "::bigint[])::bigint[])"
}

// trashRetention returns the queue's retention: the meta setting, else
// queue.DefaultTrashRetention. 0 means no trash.
func (tx *Tx) trashRetention(db pgx.Tx) (time.Duration, error) {
	var secs int64
	err := db.QueryRow(tx.ctx, "SELECT value FROM meta WHERE key = $1", metaTrashRetention).Scan(&secs)
	if errors.Is(err, pgx.ErrNoRows) {
		return queue.DefaultTrashRetention, nil
	}
	if err != nil {
		return 0, err
	}
	return time.Duration(secs) * time.Second, nil
}

// trashColumns returns the columns of a live table, quoted, after making
// sure its trash table has every one of them: a schema step that adds a
// column to a live table need not know about the trash.
func (tx *Tx) trashColumns(db pgx.Tx, live, trash string) ([]string, error) {
	rows, err := db.Query(tx.ctx, `SELECT a.attname, format_type(a.atttypid, a.atttypmod),
		EXISTS (SELECT 1 FROM pg_attribute t WHERE t.attrelid = $2::regclass AND t.attname = a.attname AND t.attnum > 0 AND NOT t.attisdropped)
		FROM pg_attribute a WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum`, live, trash)
	if err != nil {
		return nil, err
	}
	type column struct {
		name, typ string
		have      bool
	}
	cols, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (column, error) {
		var c column
		err := r.Scan(&c.name, &c.typ, &c.have)
		return c, err
	})
	if err != nil {
		return nil, err
	}
	out := make([]string, len(cols))
	for i, c := range cols {
		out[i] = pgx.Identifier{c.name}.Sanitize()
		if !c.have {
			if _, err := db.Exec(tx.ctx, "ALTER TABLE "+trash+" ADD COLUMN "+out[i]+" "+c.typ); err != nil {
				return nil, fmt.Errorf("add column %s to %s: %w", c.name, trash, err)
			}
		}
	}
	return out, nil
}

// prefixed returns cols qualified by a table alias, comma-separated; a
// column in blank is replaced by NULL.
func prefixed(alias string, cols []string, blank ...string) string {
	out := make([]string, len(cols))
	for i, c := range cols {
		out[i] = alias + "." + c
		for _, b := range blank {
			if c == (pgx.Identifier{b}).Sanitize() {
				out[i] = "NULL"
			}
		}
	}
	return strings.Join(out, ", ")
}

// trashMessages is the one way messages leave the queue on a change: the
// messages ids, with their domains and recipients, are moved to the trash
// under verb and the audit seq of the change in progress (changeSeq), in
// one statement; with a retention of 0 they are deleted for good, bodies
// too. Expired trash is purged first. It returns how many domains of each
// name it removed (a cancel's per-domain breakdown), counted in the same
// statement. The caller writes its audit row.
func (tx *Tx) trashMessages(db pgx.Tx, verb string, ids []int64) (map[string]int, error) {
	if len(ids) == 0 {
		return map[string]int{}, nil
	}
	ret, err := tx.trashRetention(db)
	if err != nil {
		return nil, err
	}
	if err := tx.purgeExpired(db, ret); err != nil {
		return nil, err
	}
	if ret == 0 {
		counts, err := tx.breakdown(db, "SELECT d.name, count(*) FROM domains d WHERE "+idSet("d.msg_id", "$1")+" GROUP BY d.name", ids)
		if err != nil {
			return nil, err
		}
		return counts, tx.removeMessages(db, ids)
	}
	seq, err := tx.changeSeq(db)
	if err != nil {
		return nil, err
	}
	var ctes []string
	for i, t := range trashTables {
		cols, err := tx.trashColumns(db, t.live, t.trash)
		if err != nil {
			return nil, err
		}
		list := strings.Join(cols, ", ")
		key, ins := "msg_id", ""
		if t.live == "messages" {
			key = "id"
			ins = fmt.Sprintf("INSERT INTO trash_messages(%s, trashed_at, trash_seq, trash_verb) SELECT %s, $2, $3, $4 FROM g%d", list, list, i)
		} else {
			ins = fmt.Sprintf("INSERT INTO %s(trash_seq, %s) SELECT $3, %s FROM g%d", t.trash, list, list, i)
		}
		ctes = append(ctes, fmt.Sprintf("g%d AS (DELETE FROM %s WHERE %s RETURNING %s)", i, t.live, idList(key, "$1"), list),
			fmt.Sprintf("i%d AS (%s)", i, ins))
	}
	// A message in the trash has no due (message_due): its domains keep
	// theirs, and a restore reads it from them.
	ctes = append(ctes, "gd AS (DELETE FROM message_due WHERE "+idList("msg_id", "$1")+")")
	// g1 holds the removed domains: the breakdown comes from them rather
	// than from a second look-up of every id.
	q := "WITH " + strings.Join(ctes, ", ") + " SELECT name, count(*) FROM g1 GROUP BY name"
	counts, err := tx.breakdown(db, q, ids, tx.q.now().UnixMilli(), seq, verb)
	if err != nil {
		return nil, fmt.Errorf("move to trash: %w", err)
	}
	return counts, nil
}

// purgeExpired deletes for good what the trash holds longer than ret, and
// the undo data (undo_domains, undo_recipients, hold_undo) of changes older
// than that: what was filed under a seq before the first change still
// within the retention. What the transaction in progress filed (its unit,
// its reserved seq) never counts as expired. One round trip when nothing
// has expired.
func (tx *Tx) purgeExpired(db pgx.Tx, ret time.Duration) error {
	var st houseState
	err := db.QueryRow(tx.ctx, `SELECT coalesce((SELECT min(seq) FROM audit WHERE at >= $1), $2),
		(SELECT min(trash_seq) FROM trash_messages), (SELECT min(seq) FROM undo_domains),
		(SELECT min(seq) FROM undo_recipients), (SELECT min(seq) FROM hold_undo)`,
		tx.q.now().Add(-ret).UnixMilli(), int64(1)<<62).Scan(&st.limit, &st.low[0], &st.low[1], &st.low[2], &st.low[3])
	if err != nil {
		return err
	}
	return tx.dropExpired(db, st)
}

// dropExpired deletes what was filed under a seq before st.limit, in the
// tables whose lowest seq (st.low) says something is there; what the
// transaction in progress filed (its unit, its reserved seq) never counts
// as expired.
func (tx *Tx) dropExpired(db pgx.Tx, st houseState) error {
	limit := st.limit
	for _, own := range []int64{tx.unit, tx.seq} {
		if own != 0 && own < limit {
			limit = own
		}
	}
	for i, t := range []string{"trash_messages", "undo_domains", "undo_recipients", "hold_undo"} {
		if st.low[i] == nil || *st.low[i] >= limit {
			continue
		}
		var err error
		if i == 0 {
			_, err = tx.purgeTrash(db, "trash_seq < $1", limit)
		} else {
			_, err = db.Exec(tx.ctx, "DELETE FROM "+t+" WHERE seq < $1", limit)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// expiredSeq returns the first audit seq still within the retention ret:
// what is filed under an earlier seq has expired.
func (tx *Tx) expiredSeq(db pgx.Tx, ret time.Duration) (int64, error) {
	var first *int64
	if err := db.QueryRow(tx.ctx, "SELECT min(seq) FROM audit WHERE at >= $1", tx.q.now().Add(-ret).UnixMilli()).Scan(&first); err != nil {
		return 0, err
	}
	if first == nil {
		return 1 << 62, nil // every change is older
	}
	return *first, nil
}

// purgeTrash deletes for good the trashed messages matching cond (on
// trash_messages' columns, with args), bodies included, in one statement,
// and returns how many. A body whose id is queued again belongs to the
// queued message and stays.
func (tx *Tx) purgeTrash(db pgx.Tx, cond string, args ...any) (int64, error) {
	var n int64
	err := db.QueryRow(tx.ctx, `WITH t AS (DELETE FROM trash_messages WHERE `+cond+` RETURNING id, trash_seq),
		d AS (DELETE FROM trash_domains x USING t WHERE x.trash_seq = t.trash_seq AND x.msg_id = t.id),
		r AS (DELETE FROM trash_recipients x USING t WHERE x.trash_seq = t.trash_seq AND x.msg_id = t.id),
		b AS (DELETE FROM bodies x USING t WHERE x.msg_id = t.id AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.id = t.id))
		SELECT count(*) FROM t`, args...).Scan(&n)
	return n, err
}

// dropTrashed purges the trashed copies of ids about to be queued again (an
// import that keeps ids): the queued message replaces its trashed copy.
// Called before their rows are written.
func (tx *Tx) dropTrashed(db pgx.Tx, ids []int64) error {
	_, err := tx.purgeTrash(db, idSet("id", "$1"), ids)
	return err
}

// restoreTrashed moves the trashed messages ids back into the queue, with
// their domains and recipients (their bodies never left), in one statement,
// and returns the ids it could not restore: not in the trash (never there,
// or purged), or queued again under the same id meanwhile. A restored
// domain has no delivery lease.
func (tx *Tx) restoreTrashed(db pgx.Tx, ids []int64) (missing []int64, err error) {
	rows, err := db.Query(tx.ctx, "SELECT s.id FROM unnest($1::bigint[]) AS s(id) WHERE NOT EXISTS (SELECT 1 FROM trash_messages t WHERE t.id = s.id)"+
		" OR EXISTS (SELECT 1 FROM messages m WHERE m.id = s.id) ORDER BY s.id", ids)
	if err != nil {
		return nil, err
	}
	if missing, err = pgx.CollectRows(rows, pgx.RowTo[int64]); err != nil {
		return nil, err
	}
	pick := ids
	if len(missing) > 0 {
		gone := make(map[int64]bool, len(missing))
		for _, id := range missing {
			gone[id] = true
		}
		pick = nil
		for _, id := range ids {
			if !gone[id] {
				pick = append(pick, id)
			}
		}
	}
	if len(pick) == 0 {
		return missing, nil
	}
	var cols [len(trashTables)][]string
	for i, t := range trashTables {
		if cols[i], err = tx.trashColumns(db, t.live, t.trash); err != nil {
			return nil, err
		}
	}
	mc, dc, rc := cols[0], cols[1], cols[2]
	q := `WITH t AS (DELETE FROM trash_messages WHERE ` + idSet("id", "$1") + ` RETURNING ` + strings.Join(mc, ", ") + `, trash_seq),
		d AS (DELETE FROM trash_domains x USING t WHERE x.trash_seq = t.trash_seq AND x.msg_id = t.id RETURNING ` + prefixed("x", dc) + `),
		r AS (DELETE FROM trash_recipients x USING t WHERE x.trash_seq = t.trash_seq AND x.msg_id = t.id RETURNING ` + prefixed("x", rc) + `),
		im AS (INSERT INTO messages(` + strings.Join(mc, ", ") + `) SELECT ` + prefixed("t", mc) + ` FROM t),
		id AS (INSERT INTO domains(` + strings.Join(dc, ", ") + `) SELECT ` + prefixed("d", dc, "locked_until", "locked_by") + ` FROM d),
		idue AS (INSERT INTO message_due(msg_id, due) SELECT d.msg_id, min(d.due) FROM d WHERE d.status IN ` + pendingSQL + ` GROUP BY d.msg_id)
		INSERT INTO recipients(` + strings.Join(rc, ", ") + `) SELECT ` + prefixed("r", rc) + ` FROM r`
	if _, err := db.Exec(tx.ctx, q, pick); err != nil {
		return nil, fmt.Errorf("restore from trash: %w", err)
	}
	return missing, nil
}

// trashCols are the columns walkTrash reads of trash_messages.
const trashCols = msgCols + ", m.ret, m.client_ip, m.client_user, m.client_helo, m.trashed_at, m.trash_seq, m.trash_verb"

// walkTrash reads the trash in ascending id order after a given id, a page
// at a time, until fn returns false.
func (tx *Tx) walkTrash(db pgx.Tx, after queue.ID, fn func(batch []queue.TrashedMessage) bool) error {
	for {
		rows, err := db.Query(tx.ctx, "SELECT "+trashCols+" FROM trash_messages m WHERE m.id > $1 ORDER BY m.id LIMIT $2", int64(after), pageSize)
		if err != nil {
			return err
		}
		var batch []queue.TrashedMessage
		for rows.Next() {
			var (
				t                   queue.TrashedMessage
				id, created, at     int64
				rp, env             *string
				ret, ip, user, helo *string
			)
			if err := rows.Scan(&id, &t.ReturnPath, &rp, &created, &t.Size, &env, &t.Priority, &ret, &ip, &user, &helo, &at, &t.Seq, &t.Verb); err != nil {
				rows.Close()
				return err
			}
			t.ID, t.Created, t.ReturnPath, t.EnvID = queue.ID(id), fromUnix(created), orString(rp, t.ReturnPath), orString(env, "")
			t.Ret = orString(ret, "")
			t.Client = queue.Client{IP: orString(ip, ""), User: orString(user, ""), Helo: orString(helo, "")}
			t.TrashedAt = fromUnixMilli(at)
			batch = append(batch, t)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if len(batch) == 0 {
			return nil
		}
		if err := tx.loadTrashParts(db, batch); err != nil {
			return err
		}
		if !fn(batch) || len(batch) < pageSize {
			return nil
		}
		after = batch[len(batch)-1].ID
	}
}

// loadTrashParts fills in the domains and recipients of trashed messages
// (ascending ids), found by their trash seq and id.
func (tx *Tx) loadTrashParts(db pgx.Tx, msgs []queue.TrashedMessage) error {
	ptrs, seqs := make([]*queue.Message, len(msgs)), make([]int64, len(msgs))
	for i := range msgs {
		ptrs[i], seqs[i] = &msgs[i].Message, msgs[i].Seq
	}
	return tx.readParts(db, ptrs, seqs)
}

// TrashList returns one page of the trashed messages f selects, in
// ascending id order. The filter is applied to each trashed message as
// Filter.Match does.
func (tx *Tx) TrashList(f queue.Filter, p queue.Page) ([]queue.TrashedMessage, error) {
	if err := tx.check(); err != nil {
		return nil, err
	}
	mt, err := f.Matcher()
	if err != nil {
		return nil, fmt.Errorf("trash: %w", err)
	}
	var out []queue.TrashedMessage
	err = tx.walkTrash(tx.tx, p.After, func(batch []queue.TrashedMessage) bool {
		for i := range batch {
			if mt.Match(&batch[i].Message) {
				out = append(out, batch[i])
				if p.Limit > 0 && len(out) == p.Limit {
					return false
				}
			}
		}
		return true
	})
	if err != nil {
		return nil, tx.q.dbError("trash", err)
	}
	return out, nil
}

// selectTrash returns the ids of the trashed messages f selects, ascending.
func (tx *Tx) selectTrash(db pgx.Tx, f queue.Filter) ([]int64, error) {
	if f.IsEmpty() {
		rows, err := db.Query(tx.ctx, "SELECT id FROM trash_messages ORDER BY id")
		if err != nil {
			return nil, err
		}
		return pgx.CollectRows(rows, pgx.RowTo[int64])
	}
	mt, err := f.Matcher()
	if err != nil {
		return nil, err
	}
	var ids []int64
	err = tx.walkTrash(db, 0, func(batch []queue.TrashedMessage) bool {
		for i := range batch {
			if mt.Match(&batch[i].Message) {
				ids = append(ids, int64(batch[i].ID))
			}
		}
		return true
	})
	return ids, err
}

// TrashRestore puts the trashed messages r.Filter selects back into the
// queue exactly as they were removed: same ids, statuses, due times, bodies.
// An empty filter needs Filter.All. Audited as "restore".
func (tx *Tx) TrashRestore(r queue.TrashRequest) (queue.Result, error) {
	res := queue.Result{DryRun: r.DryRun || tx.dry}
	if err := tx.checkChange("trash restore", r.Filter); err != nil {
		return res, err
	}
	err := tx.savepoint(r.DryRun, func(db pgx.Tx) error {
		ids, err := tx.selectTrash(db, r.Filter)
		if err != nil {
			return err
		}
		res.IDs, res.Count = toIDs(ids), len(ids)
		if res.Count == 0 {
			res.Domains = map[string]int{}
			return nil
		}
		missing, err := tx.restoreTrashed(db, ids)
		if err != nil {
			return err
		}
		if len(missing) > 0 { // not possible: every id came from the trash, none is queued
			return fmt.Errorf("messages %v are queued and in the trash at once", missing)
		}
		if res.Domains, err = tx.breakdown(db, "SELECT d.name, count(*) FROM domains d WHERE "+idSet("d.msg_id", "$1")+" GROUP BY d.name", ids); err != nil {
			return err
		}
		return tx.audit(db, "restore", r.Filter.String(), res.IDs)
	})
	if err != nil {
		return queue.Result{DryRun: res.DryRun}, tx.verbError("trash restore", err)
	}
	return res, nil
}

// TrashPurge deletes trashed messages for good, bodies too: those r.Filter
// selects, every one with Filter.All, and with an empty filter those held
// longer than the retention. Audited as "purge".
func (tx *Tx) TrashPurge(r queue.TrashRequest) (queue.Result, error) {
	res := queue.Result{DryRun: r.DryRun || tx.dry}
	if err := tx.needWrite("trash purge"); err != nil {
		return res, err
	}
	if err := r.Filter.Validate(); err != nil {
		return res, fmt.Errorf("trash purge: %w", err)
	}
	err := tx.savepoint(r.DryRun, func(db pgx.Tx) error {
		var ids []int64
		var err error
		if r.Filter.IsEmpty() && !r.Filter.All {
			ret, err := tx.trashRetention(db)
			if err != nil {
				return err
			}
			limit, err := tx.expiredSeq(db, ret)
			if err != nil {
				return err
			}
			rows, err := db.Query(tx.ctx, "SELECT id FROM trash_messages WHERE trash_seq < $1 ORDER BY id", limit)
			if err != nil {
				return err
			}
			if ids, err = pgx.CollectRows(rows, pgx.RowTo[int64]); err != nil {
				return err
			}
		} else if ids, err = tx.selectTrash(db, r.Filter); err != nil {
			return err
		}
		res.IDs, res.Count = toIDs(ids), len(ids)
		res.Domains = map[string]int{}
		if res.Count > 0 {
			if res.Domains, err = tx.breakdown(db, "SELECT d.name, count(*) FROM trash_domains d JOIN trash_messages m ON m.id = d.msg_id AND m.trash_seq = d.trash_seq WHERE "+idSet("m.id", "$1")+" GROUP BY d.name", ids); err != nil {
				return err
			}
			if _, err := tx.purgeTrash(db, idSet("id", "$1"), ids); err != nil {
				return err
			}
		}
		if err := tx.purgeAllHistory(db); err != nil { // the expired history too
			return err
		}
		if res.Count == 0 {
			return nil
		}
		text := r.Filter.String()
		if r.Filter.IsEmpty() && !r.Filter.All {
			text = "expired"
		}
		return tx.audit(db, "purge", text, res.IDs)
	})
	if err != nil {
		return queue.Result{DryRun: res.DryRun}, tx.verbError("trash purge", err)
	}
	return res, nil
}

// TrashList returns one page of the trashed messages f selects, in
// ascending id order.
func (q *Queue) TrashList(ctx context.Context, f queue.Filter, p queue.Page) ([]queue.TrashedMessage, error) {
	return read(q, ctx, func(tx *Tx) ([]queue.TrashedMessage, error) { return tx.TrashList(f, p) })
}

// TrashRestore puts trashed messages back into the queue.
func (q *Queue) TrashRestore(ctx context.Context, r queue.TrashRequest) (queue.Result, error) {
	return write(q, ctx, r.DryRun, func(tx *Tx) (queue.Result, error) { return tx.TrashRestore(r) })
}

// TrashPurge deletes trashed messages for good.
func (q *Queue) TrashPurge(ctx context.Context, r queue.TrashRequest) (queue.Result, error) {
	return write(q, ctx, r.DryRun, func(tx *Tx) (queue.Result, error) { return tx.TrashPurge(r) })
}

// TrashRetention returns how long removed messages are kept in the trash
// (queue.DefaultTrashRetention unless set; 0 = no trash).
func (q *Queue) TrashRetention(ctx context.Context) (time.Duration, error) {
	d, err := read(q, ctx, func(tx *Tx) (time.Duration, error) { return tx.trashRetention(tx.tx) })
	if err != nil {
		return 0, q.dbError("trash retention", err)
	}
	return d, nil
}

// SetTrashRetention sets how long removed messages are kept in the trash,
// for every process using the queue, in whole seconds; 0 turns the trash
// (and undo of later cancels) off. The change is audited
// ("trash-retention").
func (q *Queue) SetTrashRetention(ctx context.Context, d time.Duration) error {
	if d < 0 {
		return fmt.Errorf("trash retention %s: give a duration of 0 or more (0 turns the trash off)", d)
	}
	secs := int64(d / time.Second)
	return q.update(ctx, false, func(tx *Tx) error {
		if err := tx.needWrite("trash retention"); err != nil {
			return err
		}
		return tx.verbError("trash retention", tx.savepoint(false, func(db pgx.Tx) error {
			if _, err := db.Exec(tx.ctx, "INSERT INTO meta(key, value) VALUES($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value", metaTrashRetention, secs); err != nil {
				return err
			}
			return tx.audit(db, "trash-retention", "retention="+(time.Duration(secs)*time.Second).String(), nil)
		}))
	})
}
