package pgqueue

// Holds: `queue hold` and `queue release`, as the SQLite engine keeps them
// (queue/hold.go): per recipient domain, with who, why, since and until; a
// held domain is never claimed, while the message's other domains go on; a
// hold with an end counts as released from then on. Every node sees the
// same holds, since they are rows of the shared queue.

import (
	"context"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"mqsh/queue"
)

var (
	_ queue.Holder   = (*Queue)(nil)
	_ queue.TxHolder = (*Tx)(nil)
)

// activeHold is the condition "domain row d is held at now" (now a
// placeholder of unix seconds): pending, held, and its hold not at its end.
func activeHold(now string) string {
	return "d.status IN " + pendingSQL + " AND d.hold_since IS NOT NULL AND (d.hold_until IS NULL OR d.hold_until > " + now + ")"
}

// clearHold is the assignment that ends a domain's hold.
const clearHold = "hold_since = NULL, hold_until = NULL, hold_by = NULL, hold_reason = NULL, hold_rule = NULL"

// holdScope is the part of a hold's or release's filter that says which
// domains of a selected message it acts on.
type holdScope struct {
	rcpts   []*queue.AddressPattern
	domains []string
	release bool  // only domains held now
	now     int64 // unix seconds
}

// target is the condition on domain row d that the change acts on it:
// pending, and with a recipient or domain filter, a domain of a matching
// recipient (in any state, as the SQLite engine's holdTargets); for a
// release, held now.
func (s *holdScope) target(a *args) string {
	c := "d.status IN " + pendingSQL
	switch {
	case len(s.rcpts) == 0 && len(s.domains) == 0:
	case len(s.rcpts) == 0 && len(s.domains) == 1:
		c += " AND d.name = " + a.add(s.domains[0])
	default:
		c += " AND EXISTS (SELECT 1 FROM recipients r WHERE r.msg_id = d.msg_id AND r.domain_idx = d.idx AND " + scopeSQL(s.rcpts, s.domains, a) + ")"
	}
	if s.release {
		c += " AND " + activeHold(a.add(s.now))
	}
	return c
}

// Hold holds the pending domains of the selected messages (see
// queue.HoldRequest), in one savepoint with one audit entry (verb hold), and
// keeps what each domain had before (for an undo, by the entry's seq).
func (tx *Tx) Hold(r queue.HoldRequest) (queue.HoldResult, error) {
	res := queue.HoldResult{Result: queue.Result{DryRun: r.DryRun || tx.dry}}
	if err := tx.checkChange("hold", r.Filter); err != nil {
		return res, err
	}
	now := tx.q.clock()
	until, rule, err := queue.CheckHold(r, now)
	if err != nil {
		return res, err
	}
	rcpts, domains, _, err := changeScope("hold", r.Filter)
	if err != nil {
		return res, err
	}
	sc := &holdScope{rcpts: rcpts, domains: domains, now: now.Unix()}
	err = tx.savepoint(r.DryRun, func(db pgx.Tx) error {
		ids, seq, err := tx.changeHolds(db, "hold", r.Filter, sc, &res.Result, r.Rule, now.Unix(), queue.HoldAuditText(r, until))
		if err != nil {
			return err
		}
		if len(ids) > 0 {
			var a args
			set := a.add(ids)
			q := "UPDATE domains d SET hold_since = " + a.add(now.Unix()) + ", hold_until = " + a.add(unixOrNull(until)) + "::bigint, hold_by = " + a.add(tx.q.user) +
				", hold_reason = " + a.add(optStr(r.Reason)) + "::text, hold_rule = NULL WHERE d.msg_id IN (SELECT unnest(" + set + "::bigint[])) AND "
			if _, err := db.Exec(tx.ctx, q+sc.target(&a), a...); err != nil {
				return err
			}
		}
		if r.Rule {
			// Ids as SQLite gives rowids: one more than the highest, under a
			// lock that orders two nodes adding rules at once.
			if _, err := db.Exec(tx.ctx, "LOCK TABLE hold_rules IN SHARE ROW EXCLUSIVE MODE"); err != nil {
				return err
			}
			return db.QueryRow(tx.ctx, `INSERT INTO hold_rules(id, filter, reason, by, created, until, seq)
				SELECT coalesce(max(id), 0) + 1, $1, $2, $3, $4, $5, $6 FROM hold_rules RETURNING id`,
				rule.String(), optStr(r.Reason), tx.q.user, now.Unix(), unixOrNull(until), seq).Scan(&res.Rule)
		}
		return nil
	})
	if err != nil {
		return queue.HoldResult{Result: queue.Result{DryRun: res.DryRun}}, tx.verbError("hold", err)
	}
	if res.DryRun {
		res.Rule = 0
	}
	return res, nil
}

// ReleaseHold releases the held domains of the selected messages (see
// queue.ReleaseRequest), in one savepoint with one audit entry (verb
// release), and keeps the holds it ended (for an undo, by the entry's seq).
func (tx *Tx) ReleaseHold(r queue.ReleaseRequest) (queue.Result, error) {
	res := queue.Result{DryRun: r.DryRun || tx.dry}
	if err := tx.checkChange("release", r.Filter); err != nil {
		return res, err
	}
	rcpts, domains, _, err := changeScope("release", r.Filter)
	if err != nil {
		return res, err
	}
	sc := &holdScope{rcpts: rcpts, domains: domains, release: true, now: tx.q.clock().Unix()}
	err = tx.savepoint(r.DryRun, func(db pgx.Tx) error {
		ids, _, err := tx.changeHolds(db, "release", r.Filter, sc, &res, false, nil, r.Filter.String()+";")
		if err != nil || len(ids) == 0 {
			return err
		}
		var a args
		set := a.add(ids)
		_, err = db.Exec(tx.ctx, "UPDATE domains d SET "+clearHold+" WHERE d.msg_id IN (SELECT unnest("+set+"::bigint[])) AND "+sc.target(&a), a...)
		return err
	})
	if err != nil {
		return queue.Result{DryRun: res.DryRun}, tx.verbError("release", err)
	}
	return res, nil
}

// changeHolds is what hold and release share: the selected messages with a
// domain the change acts on are counted into res, the change is audited
// with text, and those domains' holds as they were are kept under the audit
// entry's seq, with after, the hold_since the change gives them (nil:
// none). It returns the messages' ids and the seq (0 when nothing was
// audited: it found none, and auditEmpty was not set).
func (tx *Tx) changeHolds(db pgx.Tx, verb string, f queue.Filter, sc *holdScope, res *queue.Result, auditEmpty bool, after any, text string) ([]int64, int64, error) {
	var a args
	ids, err := tx.selectIDs(db, f, &a, "EXISTS (SELECT 1 FROM domains d WHERE d.msg_id = m.id AND "+sc.target(&a)+")")
	if err != nil {
		return nil, 0, err
	}
	var b args
	set := b.add(ids)
	t := sc.target(&b)
	if res.Domains, err = tx.breakdown(db, "SELECT d.name, count(*) FROM domains d WHERE d.msg_id IN (SELECT unnest("+set+"::bigint[])) AND "+t+" GROUP BY d.name", b...); err != nil {
		return nil, 0, err
	}
	res.IDs, res.Count = toIDs(ids), len(ids)
	if res.Count == 0 && !auditEmpty {
		return nil, 0, nil
	}
	seq, err := tx.auditSeq(db, verb, text, res.IDs)
	if err != nil || res.Count == 0 {
		return nil, seq, err
	}
	c := append(args{}, b...)
	_, err = db.Exec(tx.ctx, "INSERT INTO hold_undo(seq, msg_id, idx, after, since, until, by, reason, rule) SELECT "+c.add(seq)+", d.msg_id, d.idx, "+c.add(after)+"::bigint, d.hold_since, d.hold_until, d.hold_by, d.hold_reason, d.hold_rule"+
		" FROM domains d WHERE d.msg_id IN (SELECT unnest("+set+"::bigint[])) AND "+t, c...)
	return ids, seq, err
}

// auditSeq records a change as audit does and returns its seq.
func (tx *Tx) auditSeq(db pgx.Tx, verb, text string, ids []queue.ID) (int64, error) {
	seq, err := tx.changeSeq(db)
	if err != nil {
		return 0, err
	}
	if err := tx.audit(db, verb, text, ids); err != nil {
		return 0, err
	}
	return seq, nil
}

// HoldUndo returns what the hold or release recorded under audit seq seq
// changed: each domain and the hold it had before, in message and domain
// order (see queue.Tx.HoldUndo). It is empty for any other change.
func (tx *Tx) HoldUndo(seq int64) ([]queue.HoldPrevious, error) {
	if err := tx.check(); err != nil {
		return nil, err
	}
	rows, err := tx.tx.Query(tx.ctx, "SELECT msg_id, idx, since, until, by, reason, rule FROM hold_undo WHERE seq = $1 ORDER BY msg_id, idx", seq)
	if err != nil {
		return nil, tx.q.dbError("hold undo", err)
	}
	defer rows.Close()
	var out []queue.HoldPrevious
	for rows.Next() {
		var p queue.HoldPrevious
		var id int64
		var since, until, rule *int64
		var by, reason *string
		if err := rows.Scan(&id, &p.DomainIdx, &since, &until, &by, &reason, &rule); err != nil {
			return nil, tx.q.dbError("hold undo", err)
		}
		p.Message = queue.ID(id)
		p.Hold = holdFrom(since, until, by, reason, rule)
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, tx.q.dbError("hold undo", err)
	}
	return out, nil
}

// holdFrom reads a hold from its columns; nil when since is NULL.
func holdFrom(since, until *int64, by, reason *string, rule *int64) *queue.Hold {
	if since == nil {
		return nil
	}
	h := &queue.Hold{Since: fromUnix(*since), By: orString(by, ""), Reason: orString(reason, "")}
	if until != nil {
		h.Until = fromUnix(*until)
	}
	if rule != nil {
		h.Rule = *rule
	}
	return h
}

// holdNow is a pending domain's hold as readers see it at now (unix
// seconds): nil when not held, or at its end.
func holdNow(st queue.Status, since, until *int64, by, reason *string, rule *int64, now int64) *queue.Hold {
	if !st.Pending() || until != nil && *until <= now {
		return nil
	}
	return holdFrom(since, until, by, reason, rule)
}

// holdCols are the hold columns of a domains row d, as holdNow reads them.
const holdCols = "d.hold_since, d.hold_until, d.hold_by, d.hold_reason, d.hold_rule"

// clearEndedHolds ends the holds whose time has come (Claim does it, so
// that the due index sees those domains again).
func (tx *Tx) clearEndedHolds(db pgx.Tx, now time.Time) error {
	_, err := db.Exec(tx.ctx, "UPDATE domains SET "+clearHold+" WHERE status IN "+pendingSQL+" AND hold_since IS NOT NULL AND hold_until <= $1", now.Unix())
	return err
}

func unixOrNull(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.Unix()
}

// ruleBy is who a rule's hold is by.
func ruleBy(id int64) string { return "rule " + strconv.FormatInt(id, 10) }

// The Queue verbs: each its Tx verb in a transaction of its own.

// Hold holds the pending domains of the selected messages.
func (q *Queue) Hold(ctx context.Context, r queue.HoldRequest) (queue.HoldResult, error) {
	return write(q, ctx, r.DryRun, func(tx *Tx) (queue.HoldResult, error) { return tx.Hold(r) })
}

// ReleaseHold releases the held domains of the selected messages.
func (q *Queue) ReleaseHold(ctx context.Context, r queue.ReleaseRequest) (queue.Result, error) {
	return write(q, ctx, r.DryRun, func(tx *Tx) (queue.Result, error) { return tx.ReleaseHold(r) })
}

// HoldRules lists the hold rules, those at their end included, by id.
func (q *Queue) HoldRules(ctx context.Context) ([]queue.HoldRule, error) {
	return read(q, ctx, func(tx *Tx) ([]queue.HoldRule, error) { return tx.HoldRules() })
}

// RemoveHoldRule removes a hold rule (the holds it made stay).
func (q *Queue) RemoveHoldRule(ctx context.Context, id int64) error {
	_, err := write(q, ctx, false, func(tx *Tx) (struct{}, error) { return struct{}{}, tx.RemoveHoldRule(id) })
	return err
}
