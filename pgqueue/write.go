package pgqueue

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"mqsh/queue"
)

// The verbs that change the queue. Each runs in a savepoint, checks its
// input with the shared checks of package queue, and audits what it did in
// the same transaction.

// Enqueue queues a new message with the queue's schedule (see
// queue.Tx.Enqueue).
func (tx *Tx) Enqueue(env queue.Envelope, raw []byte) (m *queue.Message, err error) {
	if err := tx.needWrite("enqueue"); err != nil {
		return nil, err
	}
	err = tx.savepoint(false, func(db pgx.Tx) error {
		m, err = tx.addNew(db, "enqueue", "", env, raw, true)
		return err
	})
	return m, err
}

// ImportEML queues an RFC 5322 message (see queue.Tx.ImportEML).
func (tx *Tx) ImportEML(raw []byte, env *queue.Envelope) (m *queue.Message, err error) {
	if err := tx.needWrite("import"); err != nil {
		return nil, err
	}
	e, err := queue.EnvelopeFromEML(raw, env)
	if err != nil {
		return nil, err
	}
	err = tx.savepoint(false, func(db pgx.Tx) error {
		m, err = tx.addNew(db, "import", "format=eml ", e, raw, false)
		return err
	})
	return m, err
}

// addNew queues one new message and audits it under verb; arrival says
// whether what env carries besides the envelope is stored (Enqueue).
func (tx *Tx) addNew(db pgx.Tx, verb, prefix string, env queue.Envelope, raw []byte, arrival bool) (*queue.Message, error) {
	ins := tx.newInserter(db)
	id, err := ins.newID()
	if err != nil {
		return nil, tx.verbError(verb, err)
	}
	m, raw, err := queue.BuildMessage(env, raw, id, tx.q.now(), tx.q.sched)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", verb, err)
	}
	if arrival {
		if _, err := queue.ApplyArrival(m, &env); err != nil {
			return nil, fmt.Errorf("%s: %w", verb, err)
		}
	}
	if err := tx.applyRules(db, m); err != nil {
		return nil, tx.verbError(verb, err)
	}
	if err := ins.add(m, raw, 0); err != nil {
		return nil, tx.verbError(verb, err)
	}
	if err := ins.finish(); err != nil {
		return nil, tx.verbError(verb, err)
	}
	if err := tx.audit(db, verb, queue.AddAuditText(prefix, m), []queue.ID{m.ID}); err != nil {
		return nil, tx.verbError(verb, err)
	}
	return m, nil
}

// EnqueueBatch queues several new messages in one savepoint, as
// queue.Tx.EnqueueBatch does: a message the queue refuses gets its error in
// errs and the others are queued; err is a failure of the whole batch.
func (tx *Tx) EnqueueBatch(msgs []queue.NewMessage) (out []*queue.Message, errs []error, err error) {
	if err := tx.needWrite("enqueue"); err != nil {
		return nil, nil, err
	}
	out, errs = make([]*queue.Message, len(msgs)), make([]error, len(msgs))
	err = tx.savepoint(false, func(db pgx.Tx) error {
		ins := tx.newInserter(db)
		rules, err := tx.loadRules(db)
		if err != nil {
			return tx.verbError("enqueue", err)
		}
		var ids []queue.ID
		for i := range msgs {
			env := msgs[i].Env
			last := ins.last
			id, err := ins.newID()
			if err != nil {
				return tx.verbError("enqueue", err)
			}
			m, raw, err := queue.BuildMessage(env, msgs[i].Raw, id, tx.q.now(), tx.q.sched)
			if err == nil {
				_, err = queue.ApplyArrival(m, &env)
			}
			if err != nil {
				ins.last = last // the id was not used
				errs[i] = fmt.Errorf("enqueue: %w", err)
				continue
			}
			rules.apply(m, tx)
			if err := ins.add(m, raw, 0); err != nil {
				return tx.verbError("enqueue", err)
			}
			out[i] = m
			ids = append(ids, m.ID)
		}
		if len(ids) == 0 {
			return nil
		}
		if err := ins.finish(); err != nil {
			return tx.verbError("enqueue", err)
		}
		if err := rules.save(db, tx); err != nil {
			return tx.verbError("enqueue", err)
		}
		text := fmt.Sprintf("batch of %d from %s", len(ids), queue.SourceOf(tx.ctx))
		return tx.verbError("enqueue", tx.audit(db, "enqueue", text, ids))
	})
	if err != nil {
		return nil, nil, err
	}
	return out, errs, nil
}

// ImportJSON reads JSON Lines and queues every message, keeping its id, all
// or none (see queue.Tx.ImportJSON). The lines are decoded on other
// goroutines while the rows of the batch before go in with COPY; an import
// at least as big as the queue builds the secondary indexes afresh at the
// end.
func (tx *Tx) ImportJSON(r io.Reader) (res queue.Result, err error) {
	if err := tx.needWrite("import"); err != nil {
		return queue.Result{DryRun: tx.dry}, err
	}
	err = tx.savepoint(false, func(db pgx.Tx) error {
		res = queue.Result{DryRun: tx.dry, Domains: map[string]int{}}
		ins := tx.newInserter(db)
		ins.bulk, ins.unique = true, true // readBatches refuses an id given twice
		lines, err := tx.readBatches(r, res.Domains, ins)
		if err == nil {
			err = ins.finish()
		}
		return tx.endImport(db, ins, err, queue.ImportJSONAuditText(lines), &res)
	})
	if err != nil {
		return queue.Result{DryRun: tx.dry}, err
	}
	return res, nil
}

// endImport ends an import whose rows ins wrote (err: how writing them
// ended): an import error in the import's words, or the ids in res and the
// audit row with text, when anything was imported.
func (tx *Tx) endImport(db pgx.Tx, ins *inserter, err error, text string, res *queue.Result) error {
	if err != nil {
		if tx.ctx.Err() != nil {
			return queue.ImportError(tx.ctx.Err())
		}
		return queue.ImportError(tx.q.scrub(err))
	}
	res.IDs = ins.ids
	slices.Sort(res.IDs)
	res.Count = len(res.IDs)
	if res.Count == 0 {
		return nil
	}
	return tx.verbError("import", tx.audit(db, "import", text, res.IDs))
}

// LoadDemo queues the six documented messages (those already queued are
// left as they are) and n generated ones (see queue.Tx.LoadDemo).
func (tx *Tx) LoadDemo(n int, seed int64) (res queue.Result, err error) {
	if err := tx.needWrite("demo"); err != nil {
		return queue.Result{DryRun: tx.dry}, err
	}
	if err := queue.CheckDemoCount(n); err != nil {
		return queue.Result{DryRun: tx.dry}, err
	}
	err = tx.savepoint(false, func(db pgx.Tx) error {
		res = queue.Result{DryRun: tx.dry, Domains: map[string]int{}}
		count := func(m *queue.Message) {
			for _, d := range m.Domains {
				res.Domains[d.Name]++
			}
		}
		ins := tx.newInserter(db)
		if _, err := ins.lastID(); err != nil {
			return tx.verbError("demo", err)
		}
		msgs, raws, err := queue.DocumentedDemo(tx.q.sched)
		if err != nil {
			return err
		}
		ids := make([]int64, len(msgs))
		for i := range msgs {
			ids[i] = int64(msgs[i].ID)
		}
		rows, err := db.Query(tx.ctx, "SELECT id FROM messages WHERE id IN (SELECT unnest($1::bigint[]))", ids)
		if err != nil {
			return tx.verbError("demo", err)
		}
		have, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		if err != nil {
			return tx.verbError("demo", err)
		}
		for i := range msgs {
			if slices.Contains(have, int64(msgs[i].ID)) {
				continue
			}
			count(&msgs[i])
			if err := ins.add(&msgs[i], raws[i], 0); err != nil {
				return tx.verbError("demo", err)
			}
		}
		err = queue.GenerateDemo(n, seed, tx.q.clock(), tx.q.sched, func(i int, m *queue.Message, raw []byte) error {
			if i%pageSize == 0 {
				if err := tx.ctx.Err(); err != nil {
					return err
				}
			}
			if m.ID <= ins.last {
				m.ID = queue.NextSlot(ins.last)
			}
			if err := queue.NormalizeMessage(m, tx.q.clock, tx.q.sched.Expire); err != nil {
				return err
			}
			count(m)
			return ins.add(m, raw, 0)
		})
		if err == nil {
			err = ins.finish()
		}
		if err != nil {
			return tx.verbError("demo", err)
		}
		res.IDs = ins.ids
		slices.Sort(res.IDs)
		res.Count = len(res.IDs)
		return tx.verbError("demo", tx.audit(db, "demo", queue.DemoAuditText(n, seed), res.IDs))
	})
	if err != nil {
		return queue.Result{DryRun: tx.dry}, err
	}
	return res, nil
}

// pendingSQL is the pending states, Scheduled and TempFail.
const pendingSQL = "(0,2)"

// selectIDs returns the ids of the messages f selects that also meet extra
// conditions, ascending.
func (tx *Tx) selectIDs(db pgx.Tx, f queue.Filter, a *args, extra ...string) ([]int64, error) {
	s, err := tx.compile(f, a, 0)
	if err != nil {
		return nil, err
	}
	if s.empty {
		return nil, nil
	}
	rows, err := db.Query(tx.ctx, "SELECT m.id FROM messages m"+s.where(extra...)+" ORDER BY m.id", *a...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[int64])
}

// breakdown runs a "name, count" query into a map.
func (tx *Tx) breakdown(db pgx.Tx, q string, a ...any) (map[string]int, error) {
	rows, err := db.Query(tx.ctx, q, a...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return queue.ScanCounts(rows)
}

func toIDs(ids []int64) []queue.ID {
	out := make([]queue.ID, len(ids))
	for i, id := range ids {
		out[i] = queue.ID(id)
	}
	return out
}

// refreshDue recomputes the due (message_due) of the messages ids from
// their pending domains: a message with nothing pending has no row.
func (tx *Tx) refreshDue(db pgx.Tx, ids []int64) error {
	_, err := db.Exec(tx.ctx, "WITH n AS (SELECT s.id, (SELECT min(d.due) FROM domains d WHERE d.msg_id = s.id AND d.status IN "+pendingSQL+") AS due FROM (SELECT DISTINCT unnest($1::bigint[]) AS id) s), "+
		"gone AS (DELETE FROM message_due md USING n WHERE md.msg_id = n.id AND n.due IS NULL) "+
		"INSERT INTO message_due(msg_id, due) SELECT n.id, n.due FROM n WHERE n.due IS NOT NULL "+
		"ON CONFLICT (msg_id) DO UPDATE SET due = excluded.due WHERE message_due.due <> excluded.due", ids)
	return err
}

// scopeSQL is the condition that recipient row r is in the scope of a
// change whose filter names rcpts and domains (see queue/scope.go): it
// matches one of the patterns (when there are any) and is in one of the
// domains (when there are any). "" when the filter names neither: the
// change acts on whole messages.
func scopeSQL(rcpts []*queue.AddressPattern, domains []string, a *args) string {
	onDomain := func(names string) string {
		return "EXISTS (SELECT 1 FROM domains dd WHERE dd.msg_id = r.msg_id AND dd.idx = r.domain_idx AND dd.name = ANY(" + names + "::text[]))"
	}
	var conds []string
	if len(rcpts) > 0 {
		var cs []string
		for _, p := range rcpts {
			if p.Kind() == queue.AddressDomain {
				cs = append(cs, onDomain(a.add([]string{p.Value()})))
				continue
			}
			cs = append(cs, addrMatch("r.address_lc", p, a))
		}
		conds = append(conds, anyOf(cs))
	}
	if len(domains) > 0 {
		conds = append(conds, onDomain(a.add(domains)))
	}
	return strings.Join(conds, " AND ")
}

// changeScope reads the scope of a change made with f: its recipient
// patterns and domains, and the scope's name for people.
func changeScope(verb string, f queue.Filter) (rcpts []*queue.AddressPattern, domains []string, text string, err error) {
	if _, rcpts, domains, err = f.Patterns(); err != nil {
		return nil, nil, "", fmt.Errorf("%s: %w", verb, err)
	}
	if text, err = f.ScopeText(); err != nil {
		return nil, nil, "", fmt.Errorf("%s: %w", verb, err)
	}
	return rcpts, domains, text, nil
}

// Retry sets the delivery due of the pending domains of the selected
// messages to r.At (zero = now); with a recipient or domain in the filter,
// only of the domains with a pending recipient it names (see
// queue.Tx.Retry).
func (tx *Tx) Retry(r queue.RetryRequest) (queue.Result, error) {
	res := queue.Result{DryRun: r.DryRun || tx.dry}
	if err := tx.checkChange("retry", r.Filter); err != nil {
		return res, err
	}
	rcpts, domains, scope, err := changeScope("retry", r.Filter)
	if err != nil {
		return res, err
	}
	if err := queue.CheckTime("at", r.At); err != nil {
		return res, fmt.Errorf("retry: %w", err)
	}
	if err := queue.CheckRetry(r); err != nil {
		return res, err
	}
	at := r.At.UTC().Truncate(time.Second)
	if r.At.IsZero() {
		at = tx.q.clock()
	}
	scoped := len(rcpts) > 0 || len(domains) > 0
	// pend is the condition on domain row d that the retry changes it.
	pend := func(a *args) string {
		c := "d.status IN " + pendingSQL
		if sc := scopeSQL(rcpts, domains, a); sc != "" {
			c += " AND EXISTS (SELECT 1 FROM recipients r WHERE r.msg_id = d.msg_id AND r.domain_idx = d.idx AND r.status IN " + pendingSQL + " AND " + sc + ")"
		}
		return c
	}
	if scoped {
		res.Scope = scope
	}
	err = tx.savepoint(r.DryRun, func(db pgx.Tx) error {
		var a args
		// A message with a pending domain has its due in message_due: a
		// retry of whole messages finds them there (a narrow table),
		// rather than among every domain row.
		has := "EXISTS (SELECT 1 FROM message_due md WHERE md.msg_id = m.id)"
		if scoped {
			has = "EXISTS (SELECT 1 FROM domains d WHERE d.msg_id = m.id AND " + pend(&a) + ")"
		}
		ids, err := tx.selectIDs(db, r.Filter, &a, has)
		if err != nil || len(ids) == 0 {
			res.Domains = map[string]int{}
			return err
		}
		res.IDs, res.Count = toIDs(ids), len(ids)
		// The statements below number their parameters afresh. cond is
		// the condition on domain row d that the retry changes it; the
		// ids go as one array, matched with = ANY (a hashed lookup, or
		// an index scan for a few).
		var b args
		set := b.add(ids)
		p := pend(&b)
		cond := "d.msg_id = ANY(" + set + "::bigint[]) AND " + p
		// What undo puts back (the previous due and expiry of the
		// domains matching cond) is kept by retryDomains' statement, from
		// the rows it reads anyway; seq is 0 when the queue keeps no undo.
		keep, err := tx.keepsUndo(db)
		if err != nil {
			return err
		}
		if err := tx.retryDomains(db, r, at, scoped, set, p, cond, b, keep, &res); err != nil {
			return err
		}
		return tx.audit(db, "retry", queue.RetryAuditText(r, at), res.IDs)
	})
	if err != nil {
		return queue.Result{DryRun: res.DryRun}, tx.verbError("retry", err)
	}
	return res, nil
}

// retryDomains gives the domains matching cond (p is its pending-and-in-
// scope part, set the placeholder of the messages' ids, a its parameters)
// their new due (and expiry), and their messages their new earliest due,
// in one statement: the domains are read once, from one snapshot; their
// previous state goes to undo_domains under keep (when not 0) from that
// read; only the rows whose values change are rewritten, found again by
// their row address (ctid) rather than by a second pass over the table;
// and the same statement returns what res reports (per domain name, the
// first and last new due, those past their expiry, and for a scoped retry
// the messages with a pending domain it left alone).
func (tx *Tx) retryDomains(db pgx.Tx, r queue.RetryRequest, at time.Time, scoped bool, set, p, cond string, a args, keep int64, res *queue.Result) error {
	c := append(args{}, a...)
	due := c.add(at.Unix()) + "::bigint"
	if r.Spread > 0 {
		// The i-th domain (from 0, in message id and domain order) of the
		// N retried comes due at + i*Spread/N, in whole seconds.
		due += " + (row_number() OVER (ORDER BY d.msg_id, d.idx) - 1) * " + c.add(int64(r.Spread/time.Second)) + "::bigint / count(*) OVER ()"
	}
	expires := "x.old_expires"
	if r.ExtendExpiry > 0 {
		expires = "greatest(x.old_expires, x.due + " + c.add(int64(r.ExtendExpiry/time.Second)) + "::bigint)"
	}
	var upd, updm string
	if r.Spread > 0 {
		upd = "UPDATE domains d SET due = x.due, expires = x.expires FROM x WHERE d.msg_id = x.msg_id AND d.idx = x.idx AND (x.due <> x.old_due OR x.expires <> x.old_expires)"
	} else {
		// One due for all: the rows are found again by cond, without a
		// join (a join with the domains reads and hashes the whole table).
		newExp := strings.ReplaceAll(strings.ReplaceAll(expires, "x.old_expires", "d.expires"), "x.due", due)
		// A row changed by another transaction since the snapshot is
		// checked against cond again (as a scan by cond would be).
		upd = "UPDATE domains d SET due = " + due + ", expires = " + newExp + " WHERE d.ctid = ANY(ARRAY(SELECT x.tid FROM x WHERE x.due <> x.old_due OR x.expires <> x.old_expires)) AND " + cond + " AND (d.due <> " + due + " OR d.expires <> " + newExp + ")"
	}
	// others: the pending domains of the messages that the retry leaves
	// alone (only a scoped retry has any); they keep their due, and a
	// message's due is the earliest of its pending domains'.
	others := "SELECT NULL::bigint AS msg_id, NULL::bigint AS due WHERE false"
	kept := "0"
	if scoped {
		others = "SELECT d.msg_id, d.due FROM domains d WHERE d.msg_id = ANY(" + set + "::bigint[]) AND d.status IN " + pendingSQL + " AND NOT (" + p + ")"
		kept = "(SELECT count(DISTINCT msg_id) FROM others)"
	}
	if r.Spread == 0 && !scoped {
		// Every pending domain of every message comes due at the same time.
		// (Every retried message has a pending domain, so a row.)
		updm = "UPDATE message_due m SET due = " + due + " WHERE m.msg_id = ANY(" + set + "::bigint[]) AND m.due <> " + due
	} else {
		updm = "UPDATE message_due m SET due = n.due FROM (SELECT msg_id, min(due) AS due FROM (SELECT msg_id, due FROM x UNION ALL SELECT msg_id, due FROM others) u GROUP BY msg_id) n " +
			"WHERE m.msg_id = n.msg_id AND m.due <> n.due"
	}
	undo := ""
	if keep != 0 {
		undo = "undo AS (INSERT INTO undo_domains(seq, msg_id, idx, status, details, due, expires) " +
			"SELECT " + c.add(keep) + "::bigint, x.msg_id, x.idx, x.status, x.details, x.old_due, x.old_expires FROM x0 x), "
	}
	q := "WITH x0 AS MATERIALIZED (SELECT d.ctid AS tid, d.msg_id, d.idx, d.name, d.status, d.details, d.due AS old_due, d.expires AS old_expires, " + due + " AS due FROM domains d WHERE " + cond + "), " +
		"x AS MATERIALIZED (SELECT x.*, " + expires + " AS expires FROM x0 x), " +
		undo +
		"others AS MATERIALIZED (" + others + "), " +
		"upd AS (" + upd + "), " +
		"updm AS (" + updm + ") " +
		"SELECT x.name, count(*), min(x.due), max(x.due), count(*) FILTER (WHERE x.due > x.expires), " + kept + " FROM x GROUP BY x.name"
	rows, err := db.Query(tx.ctx, q, c...)
	if err != nil {
		return err
	}
	res.Domains = map[string]int{}
	var first, last int64
	for n := 0; rows.Next(); n++ {
		var name string
		var count, past, kept int
		var lo, hi int64
		if err := rows.Scan(&name, &count, &lo, &hi, &past, &kept); err != nil {
			rows.Close()
			return err
		}
		res.Domains[name] = count
		res.PastExpiry += past
		res.Kept = kept
		if n == 0 || lo < first {
			first = lo
		}
		if n == 0 || hi > last {
			last = hi
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	res.First, res.Last = time.Unix(first, 0).UTC(), time.Unix(last, 0).UTC()
	if scoped {
		for _, n := range res.Domains {
			res.Parts += n
		}
	}
	return nil
}

// Cancel removes the selected messages; with a recipient or domain in the
// filter, it cancels the pending recipients it names, and removes the
// messages left with nothing pending (see queue.Tx.Cancel). The PostgreSQL
// queue has no trash yet: what is removed is gone.
func (tx *Tx) Cancel(r queue.CancelRequest) (queue.Result, error) {
	res := queue.Result{DryRun: r.DryRun || tx.dry}
	if err := tx.checkChange("cancel", r.Filter); err != nil {
		return res, err
	}
	sc, err := newScope("cancel", r.Filter)
	if err != nil {
		return res, err
	}
	err = tx.savepoint(r.DryRun, func(db pgx.Tx) error {
		if err := tx.cancelSelected(db, r.Filter, sc, canceledMark, nil, &res); err != nil || res.Count == 0 {
			return err
		}
		return tx.audit(db, "cancel", r.Filter.String(), res.IDs)
	})
	if err != nil {
		return queue.Result{DryRun: res.DryRun}, tx.verbError("cancel", err)
	}
	return res, nil
}

// scope is the recipients a change made with a filter acts on (see
// queue/scope.go): all of them (whole) or those the filter's recipient
// patterns and domains name.
type scope struct {
	rcpts   []*queue.AddressPattern
	domains []string
	text    string
}

func newScope(verb string, f queue.Filter) (scope, error) {
	rcpts, domains, text, err := changeScope(verb, f)
	return scope{rcpts, domains, text}, err
}

func (sc scope) whole() bool { return len(sc.rcpts) == 0 && len(sc.domains) == 0 }

// sql is the condition that recipient row r is in the scope.
func (sc scope) sql(a *args) string { return scopeSQL(sc.rcpts, sc.domains, a) }

// failMark is what a cancelled or bounced recipient becomes: the SET
// clause on recipients (its parameters numbered from $1 in args), and the
// details of a domain left with nothing pending and nothing delivered.
type failMark struct {
	verb    string // the verb the trash files removed messages under
	set     string
	args    []any
	details string
}

// canceledMark is Stalwart's cancel: code 0, "Delivery canceled.".
var canceledMark = failMark{verb: "cancel", set: "status = 3, code = 0, enhanced = NULL, message = 'Delivery canceled.'", details: "Delivery canceled."}

// removeMessages deletes the messages ids from every table, for good.
func (tx *Tx) removeMessages(db pgx.Tx, ids []int64) error {
	for _, t := range []string{"recipients", "domains", "bodies"} {
		if _, err := db.Exec(tx.ctx, "DELETE FROM "+t+" WHERE "+idList("msg_id", "$1"), ids); err != nil {
			return err
		}
	}
	for _, t := range []string{"message_due", "messages"} {
		col := "msg_id"
		if t == "messages" {
			col = "id"
		}
		if _, err := db.Exec(tx.ctx, "DELETE FROM "+t+" WHERE "+idList(col, "$1"), ids); err != nil {
			return err
		}
	}
	return nil
}

// cancelSelected cancels, as Cancel says, the messages f selects (only
// among within, when not nil), marking the recipients in the scope with
// mark, and fills res (nothing is changed when res.Count is 0). The caller
// writes the audit row.
func (tx *Tx) cancelSelected(db pgx.Tx, f queue.Filter, sc scope, mark failMark, within []int64, res *queue.Result) error {
	var a args
	var only []string
	if within != nil {
		only = append(only, idSet("m.id", a.add(within)))
	}
	if sc.whole() {
		ids, err := tx.selectIDs(db, f, &a, only...)
		if err != nil {
			return err
		}
		res.IDs, res.Count = toIDs(ids), len(ids)
		res.Domains, err = tx.trashMessages(db, mark.verb, ids)
		return err
	}
	res.Scope = sc.text
	match := "r.status IN " + pendingSQL + " AND " + sc.sql(&a)
	ids, err := tx.selectIDs(db, f, &a, append(only, "EXISTS (SELECT 1 FROM recipients r WHERE r.msg_id = m.id AND "+match+")")...)
	if err != nil {
		return err
	}
	var b args
	set := b.add(ids)
	match = "r.status IN " + pendingSQL + " AND " + sc.sql(&b)
	if res.Domains, err = tx.breakdown(db, "SELECT d.name, count(DISTINCT r.msg_id) FROM recipients r JOIN domains d ON d.msg_id = r.msg_id AND d.idx = r.domain_idx WHERE r.msg_id IN (SELECT unnest("+set+"::bigint[])) AND "+match+" GROUP BY d.name", b...); err != nil {
		return err
	}
	res.IDs, res.Count = toIDs(ids), len(ids)
	if len(ids) == 0 {
		return nil
	}
	inSet := "r.msg_id IN (SELECT unnest(" + set + "::bigint[])) AND " + match
	if err := db.QueryRow(tx.ctx, "SELECT count(*) FROM recipients r WHERE "+inSet, b...).Scan(&res.Parts); err != nil {
		return err
	}
	if err := db.QueryRow(tx.ctx, "SELECT count(*) FROM unnest("+set+"::bigint[]) AS s(id) WHERE EXISTS (SELECT 1 FROM recipients r WHERE r.msg_id = s.id AND r.status IN "+pendingSQL+" AND NOT ("+match+"))", b...).Scan(&res.Kept); err != nil {
		return err
	}
	// What undo puts back: the recipients' and pending domains' states.
	if err := tx.keepRecipients(db, inSet, b); err != nil {
		return err
	}
	if err := tx.keepDomains(db, "d.msg_id IN (SELECT unnest($1::bigint[])) AND d.status IN "+pendingSQL, args{ids}); err != nil {
		return err
	}
	c := append(args{}, mark.args...)
	cset := c.add(ids)
	cmatch := "r.status IN " + pendingSQL + " AND " + sc.sql(&c)
	if _, err := db.Exec(tx.ctx, "UPDATE recipients r SET "+mark.set+" WHERE r.msg_id IN (SELECT unnest("+cset+"::bigint[])) AND "+cmatch, c...); err != nil {
		return err
	}
	rest := "FROM recipients r WHERE r.msg_id = d.msg_id AND r.domain_idx = d.idx"
	if _, err := db.Exec(tx.ctx, "UPDATE domains d SET "+
		"status = CASE WHEN EXISTS (SELECT 1 "+rest+" AND r.status = 1) THEN 1 ELSE 3 END, "+
		"details = CASE WHEN EXISTS (SELECT 1 "+rest+" AND r.status = 1) THEN details ELSE $2 END "+
		"WHERE d.msg_id IN (SELECT unnest($1::bigint[])) AND d.status IN "+pendingSQL+" AND NOT EXISTS (SELECT 1 "+rest+" AND r.status IN "+pendingSQL+")", ids, mark.details); err != nil {
		return err
	}
	if err := tx.refreshDue(db, ids); err != nil {
		return err
	}
	// A message left with nothing pending goes to the trash.
	rows, err := db.Query(tx.ctx, "SELECT m.id FROM unnest($1::bigint[]) AS m(id) WHERE NOT EXISTS (SELECT 1 FROM domains d WHERE d.msg_id = m.id AND d.status IN "+pendingSQL+")", ids)
	if err != nil {
		return err
	}
	gone, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return err
	}
	_, err = tx.trashMessages(db, mark.verb, gone)
	return err
}

// Paused reports whether delivery from the queue is paused.
func (q *Queue) Paused(ctx context.Context) (bool, error) {
	var v int64
	err := q.pool.QueryRow(ctx, "SELECT value FROM meta WHERE key = 'paused'").Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, q.dbError("read queue", err)
	}
	return v != 0, nil
}

// SetPaused pauses (true) or resumes (false) delivery for every process on
// the queue, and audits the change as "pause" or "resume"; it reports
// whether the state changed.
func (q *Queue) SetPaused(ctx context.Context, paused bool) (changed bool, err error) {
	verb, v := "resume", 0
	if paused {
		verb, v = "pause", 1
	}
	err = q.update(ctx, false, func(tx *Tx) error {
		if err := tx.needWrite(verb); err != nil {
			return err
		}
		err := tx.savepoint(false, func(db pgx.Tx) error {
			var old int64
			// The row lock orders two processes switching at once.
			if _, err := db.Exec(ctx, "INSERT INTO meta(key, value) VALUES('paused', 0) ON CONFLICT (key) DO NOTHING"); err != nil {
				return err
			}
			if err := db.QueryRow(ctx, "SELECT value FROM meta WHERE key = 'paused' FOR UPDATE").Scan(&old); err != nil {
				return err
			}
			if (old != 0) == paused {
				return nil
			}
			if _, err := db.Exec(ctx, "UPDATE meta SET value = $1 WHERE key = 'paused'", v); err != nil {
				return err
			}
			changed = true
			return tx.audit(db, verb, "", nil)
		})
		return tx.verbError(verb, err)
	})
	if err != nil {
		return false, err
	}
	return changed, nil
}
