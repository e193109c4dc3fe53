package queue

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// The trash: messages removed by cancel (and bounce) are moved to the
// trash_* tables, with the time, the audit seq and the verb of the change,
// and kept there for the trash retention, so that `queue trash restore` and
// `queue undo` can put them back exactly as they were. Their bodies stay in
// bodies, not copied, until the trashed copy is purged. An id is either in
// the queue or in the trash, never both: adding a message whose id is in the
// trash (an import that keeps ids) drops the trashed copy.

// DefaultTrashRetention is how long removed messages stay in the trash when
// the queue sets nothing else.
const DefaultTrashRetention = 7 * 24 * time.Hour

// metaTrashRetention is the meta key of the retention, in seconds.
const metaTrashRetention = "trash_retention"

// trashTables pairs each live table with its trash table.
var trashTables = [...]struct{ live, trash string }{
	{"messages", "trash_messages"},
	{"domains", "trash_domains"},
	{"recipients", "trash_recipients"},
}

// trashRetention returns the queue's retention: the meta setting, else
// DefaultTrashRetention. 0 means no trash.
func (tx *Tx) trashRetention() (time.Duration, error) {
	var secs int64
	err := tx.tx.QueryRowContext(tx.ctx, "SELECT value FROM meta WHERE key = ?", metaTrashRetention).Scan(&secs)
	if errors.Is(err, sql.ErrNoRows) {
		return DefaultTrashRetention, nil
	}
	if err != nil {
		return 0, err
	}
	return time.Duration(secs) * time.Second, nil
}

// removeSelected removes the messages whose ids are in selTable (filled by
// selectInto), n of them, from the queue, with their domains and recipients.
// It is the one way messages leave the queue:
//
//   - verb "" (delivery finished, or a purge): gone for good, bodies too;
//   - verb "cancel", "bounce" ...: filed for removal under the verb and the
//     audit seq of the change in progress (changeSeq), and moved to the trash
//     for the trash retention (see removals.go: at once when they are few,
//     else afterwards); with a retention of 0 they are gone for good. The
//     caller writes its audit row (tx.audit) afterwards, in the same
//     transaction.
//
// whole says every queued message goes (cancel --all; selTable is not
// read). Expired trash is purged first (cheaply: a few indexed looks when
// nothing is due).
func (tx *Tx) removeSelected(verb string, whole bool, n int) error {
	if verb != "" {
		ret, err := tx.trashRetention()
		if err != nil {
			return err
		}
		if err := tx.purgeExpired(ret); err != nil {
			return err
		}
		return tx.fileRemovals(verb, whole, n)
	}
	sel := "SELECT id FROM " + selTable
	if whole {
		sel = ""
	}
	return tx.deleteMessages(sel, true)
}

// deleteMessages deletes the rows of the messages whose ids sel selects
// ("": every message, the tables emptied without visiting their rows) from
// the live tables, and their texts with bodies (a message moved to the
// trash keeps its text where it is).
func (tx *Tx) deleteMessages(sel string, bodies bool) error {
	where, mwhere := "", ""
	if sel != "" {
		where, mwhere = " WHERE msg_id IN ("+sel+")", " WHERE id IN ("+sel+")"
	}
	tables := []string{"recipients", "domains"}
	if bodies {
		tables = append(tables, "bodies")
	}
	for _, t := range tables {
		if _, err := tx.tx.ExecContext(tx.ctx, "DELETE FROM "+t+where); err != nil {
			return err
		}
	}
	_, err := tx.tx.ExecContext(tx.ctx, "DELETE FROM messages"+mwhere)
	return err
}

// trashColumns returns the columns of a live table, comma-separated, after
// making sure its trash table has every one of them: a schema step that adds
// a column to a live table need not know about the trash. The answer is kept
// by the Queue once a transaction that added no column found none missing.
func (tx *Tx) trashColumns(live, trash string) (string, error) {
	tx.q.trashMu.Lock()
	cols, ok := tx.q.trashCols[live]
	tx.q.trashMu.Unlock()
	if ok {
		return cols, nil
	}
	liveCols, _, err := tx.tableColumns(live)
	if err != nil {
		return "", err
	}
	_, have, err := tx.tableColumns(trash)
	if err != nil {
		return "", err
	}
	names := make([]string, len(liveCols))
	added := false
	for i, c := range liveCols {
		names[i] = c.name
		if !have[c.name] {
			if _, err := tx.tx.ExecContext(tx.ctx, "ALTER TABLE "+trash+" ADD COLUMN "+c.name+" "+c.typ); err != nil {
				return "", fmt.Errorf("add column %s to %s: %w", c.name, trash, err)
			}
			added, tx.alteredTrash = true, true
		}
	}
	cols = strings.Join(names, ", ")
	// A column added in this transaction, to this trash table or another,
	// may yet be rolled back with it (a dry run that cancels and restores).
	if !added && !tx.alteredTrash {
		tx.q.trashMu.Lock()
		if tx.q.trashCols == nil {
			tx.q.trashCols = map[string]string{}
		}
		tx.q.trashCols[live] = cols
		tx.q.trashMu.Unlock()
	}
	return cols, nil
}

// column is a table column's name and declared type.
type column struct{ name, typ string }

// tableColumns lists a table's columns in order; the second answer is the
// set of their names.
func (tx *Tx) tableColumns(table string) ([]column, map[string]bool, error) {
	rows, err := tx.tx.QueryContext(tx.ctx, "SELECT name, type FROM pragma_table_info(?) ORDER BY cid", table)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	var out []column
	set := map[string]bool{}
	for rows.Next() {
		var c column
		if err := rows.Scan(&c.name, &c.typ); err != nil {
			return nil, nil, err
		}
		out = append(out, c)
		set[c.name] = true
	}
	return out, set, rows.Err()
}

// purgeExpired deletes for good what the trash holds longer than ret, and
// the undo data (undo_domains, undo_recipients, hold_undo) of changes older
// than that. Seqs grow with time, so what has expired is what was filed
// under a seq before the first change still within the retention: a few
// indexed looks when nothing has expired. What the transaction in progress
// filed (its unit, its reserved seq) never counts as expired.
func (tx *Tx) purgeExpired(ret time.Duration) error {
	limit, err := tx.expiredSeq(ret)
	if err != nil {
		return err
	}
	for _, own := range []int64{tx.unit, tx.seq} {
		if own != 0 && own < limit {
			limit = own
		}
	}
	if err := tx.expiredRemovals(limit); err != nil {
		return err
	}
	for _, t := range []string{"trash_messages", "undo_domains", "undo_recipients", "hold_undo"} {
		col := "seq"
		if t == "trash_messages" {
			col = "trash_seq"
		}
		var low sql.NullInt64
		if err := tx.tx.QueryRowContext(tx.ctx, "SELECT min("+col+") FROM "+t).Scan(&low); err != nil {
			return err
		}
		if !low.Valid || low.Int64 >= limit {
			continue
		}
		if t == "trash_messages" {
			err = tx.purgeTrash("trash_seq < ?", limit)
		} else {
			_, err = tx.tx.ExecContext(tx.ctx, "DELETE FROM "+t+" WHERE seq < ?", limit)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// expiredSeq returns the first audit seq still within the retention ret:
// what is filed under an earlier seq has expired.
func (tx *Tx) expiredSeq(ret time.Duration) (int64, error) {
	var first sql.NullInt64
	if err := tx.tx.QueryRowContext(tx.ctx, "SELECT min(seq) FROM audit WHERE at >= ?", tx.q.now().Add(-ret).UnixMilli()).Scan(&first); err != nil {
		return 0, err
	}
	if !first.Valid {
		return 1 << 62, nil // every change is older
	}
	return first.Int64, nil
}

// pickTrash fills temp.mqsh_pick with the id and trash seq of the trashed
// messages matching cond (on trash_messages' columns): the key of their
// domains and recipients in the trash.
func (tx *Tx) pickTrash(cond string, args ...any) error {
	if _, err := tx.tx.ExecContext(tx.ctx, "CREATE TEMP TABLE IF NOT EXISTS mqsh_pick(id INTEGER PRIMARY KEY, seq INTEGER NOT NULL)"); err != nil {
		return err
	}
	if _, err := tx.tx.ExecContext(tx.ctx, "DELETE FROM temp.mqsh_pick"); err != nil {
		return err
	}
	_, err := tx.tx.ExecContext(tx.ctx, "INSERT INTO temp.mqsh_pick(id, seq) SELECT id, trash_seq FROM trash_messages WHERE "+cond, args...)
	return err
}

// pickedParts is the condition on a trash_domains or trash_recipients row
// of a message in temp.mqsh_pick.
const pickedParts = "(trash_seq, msg_id) IN (SELECT seq, id FROM temp.mqsh_pick)"

// purgeTrash deletes for good the trashed messages matching cond (on
// trash_messages' columns), bodies included. A body whose id is queued
// again belongs to the queued message and stays.
func (tx *Tx) purgeTrash(cond string, args ...any) error {
	if err := tx.pickTrash(cond, args...); err != nil {
		return err
	}
	for _, t := range []string{"trash_recipients", "trash_domains"} {
		if _, err := tx.tx.ExecContext(tx.ctx, "DELETE FROM "+t+" WHERE "+pickedParts); err != nil {
			return err
		}
	}
	if _, err := tx.tx.ExecContext(tx.ctx, "DELETE FROM bodies WHERE msg_id IN (SELECT id FROM temp.mqsh_pick) AND msg_id NOT IN (SELECT id FROM messages)"); err != nil {
		return err
	}
	_, err := tx.tx.ExecContext(tx.ctx, "DELETE FROM trash_messages WHERE id IN (SELECT id FROM temp.mqsh_pick)")
	return err
}

// keepUndo runs keep with the seq of the change in progress when the queue
// keeps undo data (its trash retention is not 0).
func (tx *Tx) keepUndo(keep func(seq int64) error) error {
	ret, err := tx.trashRetention()
	if err != nil || ret == 0 {
		return err
	}
	seq, err := tx.changeSeq()
	if err != nil {
		return err
	}
	return keep(seq)
}

// keepDomains records, for undo under seq, the state of the domains of the
// selected messages that match cond (on domains d) before a change.
func (tx *Tx) keepDomains(seq int64, cond string, args ...any) error {
	_, err := tx.tx.ExecContext(tx.ctx, "INSERT INTO undo_domains(seq, msg_id, idx, status, details, due, expires) "+
		"SELECT ?, d.msg_id, d.idx, d.status, d.details, d.due, d.expires FROM domains d WHERE d.msg_id IN (SELECT id FROM "+selTable+") AND "+cond,
		append([]any{seq}, args...)...)
	return err
}

// selectIDs fills selTable with ids given as a JSON array.
func (tx *Tx) selectIDs(jsonIDs []byte) error {
	if _, err := tx.tx.ExecContext(tx.ctx, "CREATE TEMP TABLE IF NOT EXISTS mqsh_sel(id INTEGER PRIMARY KEY)"); err != nil {
		return err
	}
	if _, err := tx.tx.ExecContext(tx.ctx, "DELETE FROM "+selTable); err != nil {
		return err
	}
	_, err := tx.tx.ExecContext(tx.ctx, "INSERT OR IGNORE INTO "+selTable+"(id) SELECT value FROM json_each(?)", jsonIDs)
	return err
}

// dropTrashed purges the trashed copies of ids about to be queued again (an
// import that keeps ids, the demo's documented messages): the queued message
// replaces its trashed copy.
func (tx *Tx) dropTrashed(ids []ID) error {
	if _, err := tx.sweepRemovals("id IN (SELECT value FROM json_each(?))", []any{idsJSON(ids)}, 0); err != nil {
		return err
	}
	return tx.purgeTrash("id IN (SELECT value FROM json_each(?))", idsJSON(ids))
}

// TrashedMessage is a message in the trash: as it was when removed, and
// when, by which change (its audit seq) and verb.
type TrashedMessage struct {
	Message
	TrashedAt time.Time // UTC, milliseconds
	Seq       int64     // the audit seq of the change that removed it
	Verb      string    // cancel, bounce ...
}

// TrashRequest selects trashed messages for TrashRestore and TrashPurge.
// The filter matches them as it would match them in the queue; an empty
// filter needs Filter.All, except for TrashPurge, where it means the
// expired ones (held longer than the retention).
type TrashRequest struct {
	Filter Filter
	DryRun bool
}

// Trasher is implemented by a queue engine with a trash (the SQLite
// engine); a backend without it (a remote Stalwart server) deletes what it
// cancels. Callers find it by type assertion on their Backend.
type Trasher interface {
	TrashList(ctx context.Context, f Filter, p Page) ([]TrashedMessage, error)
	TrashRestore(ctx context.Context, r TrashRequest) (Result, error)
	TrashPurge(ctx context.Context, r TrashRequest) (Result, error)
	TrashRetention(ctx context.Context) (time.Duration, error)
	SetTrashRetention(ctx context.Context, d time.Duration) error
}

// TxTrasher is Trasher inside a unit of work (Backend.Run): implemented by
// the SQLite engine's Tx.
type TxTrasher interface {
	TrashList(f Filter, p Page) ([]TrashedMessage, error)
	TrashRestore(r TrashRequest) (Result, error)
	TrashPurge(r TrashRequest) (Result, error)
}

var (
	_ Trasher   = (*Queue)(nil)
	_ TxTrasher = (*Tx)(nil)
)

// ErrNoTrash is what a backend without a trash answers; callers wrap it
// with where the queue is (NoTrash).
var ErrNoTrash = errors.New("the trash is not available")

// NoTrash is the error of a caller whose backend is not a Trasher.
func NoTrash(b Backend) error {
	return fmt.Errorf("%w on the queue at %s: the trash is kept by a local mqsh queue file", ErrNoTrash, b.Location())
}

// TrashList returns one page of the trashed messages f selects, in
// ascending id order.
func (q *Queue) TrashList(ctx context.Context, f Filter, p Page) ([]TrashedMessage, error) {
	var out []TrashedMessage
	if err := q.sweepAll(ctx); err != nil {
		return nil, err
	}
	err := q.View(ctx, func(tx *Tx) (err error) { out, err = tx.TrashList(f, p); return })
	return out, err
}

// TrashRestore puts trashed messages back into the queue.
func (q *Queue) TrashRestore(ctx context.Context, r TrashRequest) (Result, error) {
	var res Result
	err := q.writeVerb(ctx, r.DryRun, func(tx *Tx) (err error) { res, err = tx.TrashRestore(r); return })
	return res, err
}

// TrashPurge deletes trashed messages for good.
func (q *Queue) TrashPurge(ctx context.Context, r TrashRequest) (Result, error) {
	var res Result
	err := q.writeVerb(ctx, r.DryRun, func(tx *Tx) (err error) { res, err = tx.TrashPurge(r); return })
	return res, err
}

// TrashRetention returns how long removed messages are kept in the trash
// (DefaultTrashRetention unless set; 0 = no trash).
func (q *Queue) TrashRetention(ctx context.Context) (time.Duration, error) {
	var d time.Duration
	err := q.View(ctx, func(tx *Tx) (err error) { d, err = tx.trashRetention(); return })
	if err != nil {
		return 0, q.fileError("trash retention", err)
	}
	return d, nil
}

// SetTrashRetention sets how long removed messages are kept in the trash,
// for every process using the queue, in whole seconds; 0 turns the trash
// (and undo of later cancels) off. The change is audited ("trash-retention").
func (q *Queue) SetTrashRetention(ctx context.Context, d time.Duration) error {
	if d < 0 {
		return fmt.Errorf("trash retention %s: give a duration of 0 or more (0 turns the trash off)", d)
	}
	secs := int64(d / time.Second)
	return q.Update(ctx, func(tx *Tx) error {
		if err := tx.needWrite("trash retention"); err != nil {
			return err
		}
		if err := tx.setMeta(metaTrashRetention, secs); err != nil {
			return err
		}
		return tx.audit("trash-retention", "retention="+(time.Duration(secs)*time.Second).String(), nil)
	})
}

// trashCols are the columns TrashList reads of trash_messages.
const trashCols = msgCols + ", m.ret, m.client_ip, m.client_user, m.client_helo, m.trashed_at, m.trash_seq, m.trash_verb"

// TrashList returns one page of the trashed messages f selects, in
// ascending id order. The filter is applied to each trashed message as
// Filter.Match does.
func (tx *Tx) TrashList(f Filter, p Page) ([]TrashedMessage, error) {
	if err := tx.check(); err != nil {
		return nil, err
	}
	if filed, err := tx.hasRemovals(); err != nil || filed {
		if err == nil && !tx.write {
			err = errors.New("messages removed by a change are still being moved to the trash: list it when they are (serve moves them within seconds; a user who may change the queue can list it now)")
		}
		if err == nil {
			err = tx.sweepAll()
		}
		if err != nil {
			return nil, tx.q.fileError("trash", err)
		}
	}
	mt, err := f.Matcher()
	if err != nil {
		return nil, fmt.Errorf("trash: %w", err)
	}
	var out []TrashedMessage
	err = tx.walkTrash(p.After, func(batch []TrashedMessage) bool {
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
		return nil, tx.q.fileError("trash", err)
	}
	return out, nil
}

// walkTrash reads the trash in ascending id order after a given id, a page
// at a time, until fn returns false.
func (tx *Tx) walkTrash(after ID, fn func(batch []TrashedMessage) bool) error {
	for {
		rows, err := tx.tx.QueryContext(tx.ctx, "SELECT "+trashCols+" FROM trash_messages m WHERE m.id > ? ORDER BY m.id LIMIT ?", int64(after), eachPage)
		if err != nil {
			return err
		}
		var batch []TrashedMessage
		var msgs []Message
		for rows.Next() {
			var ( // scanned as scanMessage does, then the trash's own columns
				v      [15]any
				ret    sql.NullString
				ip     sql.NullString
				user   sql.NullString
				helo   sql.NullString
				at     int64
				seq    int64
				verb   string
				msgDst = []any{&v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6]}
			)
			if err := rows.Scan(append(msgDst, &ret, &ip, &user, &helo, &at, &seq, &verb)...); err != nil {
				rows.Close()
				return err
			}
			m, _ := scanMessage(valuesScanner(v[:7]))
			m.Ret, m.Client = ret.String, Client{IP: ip.String, User: user.String, Helo: helo.String}
			msgs = append(msgs, m)
			batch = append(batch, TrashedMessage{TrashedAt: time.UnixMilli(at).UTC(), Seq: seq, Verb: verb})
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if len(msgs) == 0 {
			return nil
		}
		if err := tx.loadPartsFrom("trash_", msgs, false, true); err != nil {
			return err
		}
		if err := tx.loadTrashNotify(msgs); err != nil {
			return err
		}
		for i := range batch {
			batch[i].Message = msgs[i]
		}
		if !fn(batch) || len(msgs) < eachPage {
			return nil
		}
		after = msgs[len(msgs)-1].ID
	}
}

// valuesScanner hands values already scanned to scanMessage.
type valuesScanner []any

func (v valuesScanner) Scan(dst ...any) error {
	for i := range dst {
		*(dst[i].(*any)) = v[i]
	}
	return nil
}

// loadTrashNotify fills in the recipients' NOTIFY flags of trashed messages.
func (tx *Tx) loadTrashNotify(msgs []Message) error {
	byID := make(map[ID]*Message, len(msgs))
	args := make([]any, len(msgs))
	for i := range msgs {
		byID[msgs[i].ID] = &msgs[i]
		args[i] = int64(msgs[i].ID)
	}
	rows, err := tx.tx.QueryContext(tx.ctx, "SELECT msg_id, address_lc, notify FROM trash_recipients WHERE notify != 0 AND msg_id IN ("+placeholders(len(msgs))+")", args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var addr string
		var n int
		if err := rows.Scan(&id, &addr, &n); err != nil {
			return err
		}
		m := byID[ID(id)]
		for d := range m.Domains {
			for r := range m.Domains[d].Recipients {
				if rc := &m.Domains[d].Recipients[r]; strings.EqualFold(rc.Address, addr) {
					rc.Notify = Notify(n)
				}
			}
		}
	}
	return rows.Err()
}

// selectTrash fills selTable with the ids of the trashed messages f selects.
func (tx *Tx) selectTrash(f Filter) error {
	if err := tx.selectIDs([]byte("[]")); err != nil {
		return err
	}
	if f.IsEmpty() {
		_, err := tx.tx.ExecContext(tx.ctx, "INSERT INTO "+selTable+"(id) SELECT id FROM trash_messages")
		return err
	}
	mt, err := f.Matcher()
	if err != nil {
		return err
	}
	stmt, err := tx.tx.PrepareContext(tx.ctx, "INSERT INTO "+selTable+"(id) VALUES(?)")
	if err != nil {
		return err
	}
	defer stmt.Close()
	var werr error
	err = tx.walkTrash(0, func(batch []TrashedMessage) bool {
		for i := range batch {
			if mt.Match(&batch[i].Message) {
				if _, werr = stmt.ExecContext(tx.ctx, int64(batch[i].ID)); werr != nil {
					return false
				}
			}
		}
		return true
	})
	if err == nil {
		err = werr
	}
	return err
}

// TrashRestore puts the trashed messages r.Filter selects back into the
// queue exactly as they were removed: same ids, statuses, due times, bodies.
// An empty filter needs Filter.All. Audited as "restore".
func (tx *Tx) TrashRestore(r TrashRequest) (Result, error) {
	res := Result{DryRun: r.DryRun || tx.preview}
	if err := tx.checkChange("trash restore", r.Filter); err != nil {
		return res, err
	}
	if err := tx.sweepAll(); err != nil {
		return res, tx.verbError("trash restore", err)
	}
	err := tx.savepoint(r.DryRun, func() error {
		if err := tx.selectTrash(r.Filter); err != nil {
			return err
		}
		var err error
		if res.IDs, err = tx.selected(); err != nil {
			return err
		}
		if res.Count = len(res.IDs); res.Count == 0 {
			return nil
		}
		missing, err := tx.restoreSelected()
		if err != nil {
			return err
		}
		if len(missing) > 0 { // not possible: every id came from the trash, none is queued
			return fmt.Errorf("messages %v are queued and in the trash at once", missing)
		}
		if res.Domains, err = tx.selectedDomains("domains"); err != nil {
			return err
		}
		return tx.audit("restore", r.Filter.String(), res.IDs)
	})
	if err != nil {
		return Result{DryRun: res.DryRun}, tx.verbError("trash restore", err)
	}
	return res, nil
}

// TrashPurge deletes trashed messages for good, bodies too: those r.Filter
// selects, every one with Filter.All, and with an empty filter those held
// longer than the retention. Audited as "purge".
func (tx *Tx) TrashPurge(r TrashRequest) (Result, error) {
	res := Result{DryRun: r.DryRun || tx.preview}
	if err := tx.needWrite("trash purge"); err != nil {
		return res, err
	}
	if err := r.Filter.Validate(); err != nil {
		return res, fmt.Errorf("trash purge: %w", err)
	}
	if err := tx.sweepAll(); err != nil {
		return res, tx.verbError("trash purge", err)
	}
	err := tx.savepoint(r.DryRun, func() error {
		if r.Filter.IsEmpty() && !r.Filter.All {
			ret, err := tx.trashRetention()
			if err != nil {
				return err
			}
			limit, err := tx.expiredSeq(ret)
			if err != nil {
				return err
			}
			if err := tx.selectIDs([]byte("[]")); err != nil {
				return err
			}
			if _, err := tx.tx.ExecContext(tx.ctx, "INSERT INTO "+selTable+"(id) SELECT id FROM trash_messages WHERE trash_seq < ?", limit); err != nil {
				return err
			}
		} else if err := tx.selectTrash(r.Filter); err != nil {
			return err
		}
		var err error
		if res.IDs, err = tx.selected(); err != nil {
			return err
		}
		if res.Count = len(res.IDs); res.Count > 0 {
			if res.Domains, err = tx.selectedDomains("trash_domains"); err != nil {
				return err
			}
			if err := tx.purgeTrash("id IN (SELECT id FROM " + selTable + ")"); err != nil {
				return err
			}
		}
		if err := tx.purgeAllHistory(); err != nil {
			return err
		}
		if res.Count == 0 {
			return nil
		}
		text := r.Filter.String()
		if r.Filter.IsEmpty() && !r.Filter.All {
			text = "expired"
		}
		return tx.audit("purge", text, res.IDs)
	})
	if err != nil {
		return Result{DryRun: res.DryRun}, tx.verbError("trash purge", err)
	}
	return res, nil
}

// restoreSelected moves the trashed messages whose ids are in selTable back
// into the queue, with their domains and recipients (their bodies never
// left), and returns the ids it could not restore: not in the trash (never
// there, or purged), or queued again under the same id meanwhile. Those are
// taken out of selTable. A restored domain has no delivery lease.
func (tx *Tx) restoreSelected() (missing []ID, err error) {
	missing, err = tx.queryIDs("SELECT id FROM " + selTable + " s WHERE NOT EXISTS (SELECT 1 FROM trash_messages t WHERE t.id = s.id) OR EXISTS (SELECT 1 FROM messages m WHERE m.id = s.id) ORDER BY id")
	if err != nil {
		return nil, err
	}
	if len(missing) > 0 {
		if _, err := tx.tx.ExecContext(tx.ctx, "DELETE FROM "+selTable+" WHERE id IN (SELECT value FROM json_each(?))", idsJSON(missing)); err != nil {
			return nil, err
		}
	}
	if err := tx.pickTrash("id IN (SELECT id FROM " + selTable + ")"); err != nil {
		return nil, err
	}
	// A big restore into a queue no bigger than itself drops the live tables'
	// indexes and builds them again afterwards, as an import does: sorting
	// beats growing them row by row.
	var n int
	if err := tx.tx.QueryRowContext(tx.ctx, "SELECT count(*) FROM temp.mqsh_pick").Scan(&n); err != nil {
		return nil, err
	}
	if n >= bulkAfter {
		ins := &inserter{tx: tx, ids: make([]ID, n)}
		if err := ins.considerBulk(); err != nil {
			return nil, err
		}
		defer func() {
			if e := ins.rebuild(); e != nil && err == nil {
				err = e
			}
		}()
	}
	for _, t := range trashTables {
		cols, err := tx.trashColumns(t.live, t.trash)
		if err != nil {
			return nil, err
		}
		w := " WHERE " + pickedParts
		if t.live == "messages" {
			w = " WHERE id IN (SELECT id FROM temp.mqsh_pick)"
		}
		if _, err := tx.tx.ExecContext(tx.ctx, "INSERT INTO "+t.live+"("+cols+") SELECT "+cols+" FROM "+t.trash+w); err != nil {
			return nil, fmt.Errorf("restore from trash: %w", err)
		}
		if _, err := tx.tx.ExecContext(tx.ctx, "DELETE FROM "+t.trash+w); err != nil {
			return nil, err
		}
	}
	_, err = tx.tx.ExecContext(tx.ctx, "UPDATE domains SET locked_until = NULL, locked_by = NULL WHERE msg_id IN (SELECT id FROM "+selTable+") AND locked_by IS NOT NULL")
	return missing, err
}

// idsJSON writes ids as a JSON array, for json_each.
func idsJSON(ids []ID) string {
	var b strings.Builder
	b.WriteByte('[')
	for i, id := range ids {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatUint(uint64(id), 10))
	}
	b.WriteByte(']')
	return b.String()
}
