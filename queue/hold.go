package queue

// Holds: `queue hold` and `queue release`. A hold is kept per recipient
// domain (schema step 3): a held domain is never claimed for delivery, while
// the message's other domains go on. A hold may have an end, after which it
// counts as released without anyone releasing it.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Hold says that a recipient domain of a message is held, by whom and why.
type Hold struct {
	By     string    // who held it: the audit user, "policy" (the arrival policy) or "rule N"
	Reason string    // why; "" when no reason was given
	Since  time.Time // when it was held, UTC
	Until  time.Time // when it releases by itself; zero = until released
	Rule   int64     // the hold rule that held it on arrival; 0 = none
}

// HoldRequest: hold the pending domains of the selected messages. A
// recipient (Filter.Recipient) or domain (Filter.Domain) filter holds only
// the domains of the matching recipients (both: the domains matching both);
// with neither, every pending domain of the message is held. A domain held
// already gets this hold instead. A message is counted when a domain of it
// is held. An empty filter needs Filter.All.
type HoldRequest struct {
	Filter Filter
	Reason string    // why, shown with the hold; "" = none
	Until  time.Time // when the hold ends by itself; zero = until released
	// Rule also holds mail arriving later that the filter's sender,
	// recipient and domain select, until Until (see HoldRule).
	Rule   bool
	DryRun bool
}

// ReleaseRequest: release the held domains of the selected messages, only
// those of the matching recipients with a recipient or domain filter, as
// HoldRequest. A message is counted when a domain of it was held.
type ReleaseRequest struct {
	Filter Filter
	DryRun bool
}

// HoldResult is what Hold did: the messages held, and the rule it added.
type HoldResult struct {
	Result
	Rule int64 // the id of the hold rule added (HoldRequest.Rule); 0 = none
}

// Holder is implemented by a queue engine that can hold and release mail
// (the SQLite engine); a backend without it (a remote Stalwart server) has
// no holds. Callers find it by type assertion on their Backend.
type Holder interface {
	Hold(ctx context.Context, r HoldRequest) (HoldResult, error)
	// ReleaseHold is the verb `queue release` (Release is the delivery
	// engine's handing back of leases).
	ReleaseHold(ctx context.Context, r ReleaseRequest) (Result, error)
	HoldRules(ctx context.Context) ([]HoldRule, error)
	RemoveHoldRule(ctx context.Context, id int64) error
}

// TxHolder is Holder inside a unit of work (Backend.Run): implemented by
// the SQLite engine's Tx.
type TxHolder interface {
	Hold(r HoldRequest) (HoldResult, error)
	ReleaseHold(r ReleaseRequest) (Result, error)
	HoldRules() ([]HoldRule, error)
	RemoveHoldRule(id int64) error
}

var (
	_ Holder   = (*Queue)(nil)
	_ TxHolder = (*Tx)(nil)
)

// ErrInvalidHold: a hold's end, reason or rule was refused (the error says
// why); nothing was changed.
var ErrInvalidHold = errors.New("invalid hold")

// invalidHold wraps a refusal of a hold's options in ErrInvalidHold, keeping
// its text.
func invalidHold(err error) error {
	return &sentinelError{msg: "hold: " + err.Error(), is: ErrInvalidHold}
}

// ErrNoHolds is what a backend without holds answers; callers wrap it with
// where the queue is.
var ErrNoHolds = errors.New("hold is not available")

// NoHolds is the error of a caller whose backend is not a Holder: "hold is
// not available on the queue at LOCATION".
func NoHolds(b Backend) error {
	return fmt.Errorf("%w on the queue at %s: holds are kept by a local mqsh queue file", ErrNoHolds, b.Location())
}

// activeHold is the condition "domain d is held now" (argument: now, unix
// seconds): pending, held, and its hold not at its end.
const activeHold = "d.status IN " + pendingSQL + " AND d.hold_since IS NOT NULL AND (d.hold_until IS NULL OR d.hold_until > ?)"

// holdTargets is the condition on a domain d of a selected message that a
// hold or release acts on: pending, and with a recipient or domain filter,
// a domain of the matching recipients.
func holdTargets(f Filter) (string, []any, error) {
	sc, err := f.changeScope()
	if err != nil {
		return "", nil, err
	}
	where := "d.status IN " + pendingSQL
	switch {
	case sc.whole():
		return where, nil, nil
	case sc.domain != "":
		return where + " AND d.name = ?", []any{sc.domain}, nil
	}
	w, args := joinConds(sc.conds)
	return where + " AND EXISTS (SELECT 1 FROM recipients r WHERE r.msg_id = d.msg_id AND r.domain_idx = d.idx AND " + w + ")", args, nil
}

// Hold holds the pending domains of the selected messages (see HoldRequest),
// in one savepoint with one audit entry (verb hold), and keeps what each
// domain had before (for an undo, by the entry's seq).
func (tx *Tx) Hold(r HoldRequest) (HoldResult, error) {
	res := HoldResult{Result: Result{DryRun: r.DryRun || tx.preview}}
	if err := tx.checkChange("hold", r.Filter); err != nil {
		return res, err
	}
	now := tx.q.clock()
	until, rule, err := CheckHold(r, now)
	if err != nil {
		return res, err
	}
	target, targs, err := holdTargets(r.Filter)
	if err != nil {
		return res, fmt.Errorf("hold: %w", err)
	}
	err = tx.savepoint(r.DryRun, func() error {
		n, seq, err := tx.changeHolds("hold", r.Filter, target, targs, &res.Result, r.Rule, now.Unix(), func(string) string { return HoldAuditText(r, until) })
		if err != nil {
			return err
		}
		if n > 0 {
			_, err = tx.tx.ExecContext(tx.ctx, "UPDATE domains AS d SET hold_since = ?, hold_until = ?, hold_by = ?, hold_reason = ?, hold_rule = NULL WHERE d.msg_id IN (SELECT id FROM "+selTable+") AND "+target,
				append([]any{now.Unix(), unixOrNull(until), tx.q.user, nullable(r.Reason)}, targs...)...)
			if err != nil {
				return err
			}
		}
		if r.Rule {
			sr, err := tx.tx.ExecContext(tx.ctx, "INSERT INTO hold_rules(filter, reason, by, created, until, seq) VALUES(?,?,?,?,?,?)",
				rule.String(), nullable(r.Reason), tx.q.user, now.Unix(), unixOrNull(until), seq)
			if err != nil {
				return err
			}
			res.Rule, err = sr.LastInsertId()
			return err
		}
		return nil
	})
	if err != nil {
		return HoldResult{Result: Result{DryRun: res.DryRun}}, tx.verbError("hold", err)
	}
	if res.DryRun {
		res.Rule = 0
	}
	return res, nil
}

// ReleaseHold releases the held domains of the selected messages (see
// ReleaseRequest), in one savepoint with one audit entry (verb release), and
// keeps the holds it ended (for an undo, by the entry's seq).
func (tx *Tx) ReleaseHold(r ReleaseRequest) (Result, error) {
	res := Result{DryRun: r.DryRun || tx.preview}
	if err := tx.checkChange("release", r.Filter); err != nil {
		return res, err
	}
	target, targs, err := holdTargets(r.Filter)
	if err != nil {
		return res, fmt.Errorf("release: %w", err)
	}
	target += " AND d.hold_since IS NOT NULL AND (d.hold_until IS NULL OR d.hold_until > ?)"
	targs = append(targs, tx.q.clock().Unix())
	err = tx.savepoint(r.DryRun, func() error {
		n, _, err := tx.changeHolds("release", r.Filter, target, targs, &res, false, nil, func(text string) string { return text })
		if err != nil || n == 0 {
			return err
		}
		_, err = tx.tx.ExecContext(tx.ctx, "UPDATE domains AS d SET "+clearHold+" WHERE d.msg_id IN (SELECT id FROM "+selTable+") AND "+target, targs...)
		return err
	})
	if err != nil {
		return Result{DryRun: res.DryRun}, tx.verbError("release", err)
	}
	return res, nil
}

// clearHold is the assignment that ends a domain's hold.
const clearHold = "hold_since = NULL, hold_until = NULL, hold_by = NULL, hold_reason = NULL, hold_rule = NULL"

// changeHolds is what hold and release share: the selected messages with a
// target domain (the condition target on d) are collected in selTable and
// counted into res, the change is audited (its text the filter, then what
// options adds), and the target domains' holds as they were are kept under
// the audit entry's seq, with after, the hold_since the change gives them
// (nil: none). It returns how many messages it found, and the seq (0 when
// nothing was audited: it found none, and auditEmpty was not set).
func (tx *Tx) changeHolds(verb string, f Filter, target string, targs []any, res *Result, auditEmpty bool, after any, options func(string) string) (int, int64, error) {
	if err := tx.selectInto(f); err != nil {
		return 0, 0, err
	}
	if _, err := tx.tx.ExecContext(tx.ctx, "DELETE FROM "+selTable+" WHERE NOT EXISTS (SELECT 1 FROM domains d WHERE d.msg_id = mqsh_sel.id AND "+target+")", targs...); err != nil {
		return 0, 0, err
	}
	var err error
	if res.Domains, err = tx.breakdown("SELECT d.name, count(*) FROM "+selTable+" s CROSS JOIN domains d ON d.msg_id = s.id WHERE "+target+" GROUP BY d.name", targs...); err != nil {
		return 0, 0, err
	}
	if res.IDs, err = tx.selected(); err != nil {
		return 0, 0, err
	}
	res.Count = len(res.IDs)
	if res.Count == 0 && !auditEmpty {
		return 0, 0, nil
	}
	if err := tx.audit(verb, options(f.String()+";"), res.IDs); err != nil {
		return 0, 0, err
	}
	var seq int64
	if err := tx.tx.QueryRowContext(tx.ctx, "SELECT last_insert_rowid()").Scan(&seq); err != nil {
		return 0, 0, err
	}
	if res.Count == 0 {
		return 0, seq, nil
	}
	_, err = tx.tx.ExecContext(tx.ctx, "INSERT INTO hold_undo(seq, msg_id, idx, after, since, until, by, reason, rule) SELECT ?, d.msg_id, d.idx, ?, d.hold_since, d.hold_until, d.hold_by, d.hold_reason, d.hold_rule FROM "+
		selTable+" s CROSS JOIN domains d ON d.msg_id = s.id WHERE "+target, append([]any{seq, after}, targs...)...)
	return res.Count, seq, err
}

// holdUntil checks the end of a hold: zero (none) or a time to come.
func holdUntil(t, now time.Time) (time.Time, error) {
	if t.IsZero() {
		return t, nil
	}
	if err := CheckTime("until", t); err != nil {
		return time.Time{}, err
	}
	t = t.UTC().Truncate(time.Second)
	if !t.After(now) {
		return time.Time{}, fmt.Errorf("the hold would end at %s, which is not after now (%s): give a time to come, or a duration such as 2h", formatTime(t), formatTime(now))
	}
	return t, nil
}

func unixOrNull(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.Unix()
}

// HoldPrevious is the hold a domain had before a hold or release changed it,
// as kept for an undo (see HoldUndo).
type HoldPrevious struct {
	Message   ID
	DomainIdx int
	Hold      *Hold // nil: the domain was not held
}

// HoldUndo returns what the hold or release recorded under audit seq seq
// changed: each domain and the hold it had before, in message and domain
// order. It is empty for any other change.
func (tx *Tx) HoldUndo(seq int64) ([]HoldPrevious, error) {
	if err := tx.check(); err != nil {
		return nil, err
	}
	rows, err := tx.tx.QueryContext(tx.ctx, "SELECT msg_id, idx, since, until, by, reason, rule FROM hold_undo WHERE seq = ? ORDER BY msg_id, idx", seq)
	if err != nil {
		return nil, tx.q.fileError("hold undo", err)
	}
	defer rows.Close()
	var out []HoldPrevious
	for rows.Next() {
		var p HoldPrevious
		var id int64
		var since, until, rule sql.NullInt64
		var by, reason sql.NullString
		if err := rows.Scan(&id, &p.DomainIdx, &since, &until, &by, &reason, &rule); err != nil {
			return nil, err
		}
		p.Message = ID(id)
		if since.Valid {
			p.Hold = &Hold{By: by.String, Reason: reason.String, Since: fromUnix(since.Int64), Rule: rule.Int64}
			if until.Valid {
				p.Hold.Until = fromUnix(until.Int64)
			}
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// holdOf reads a domain's hold from its columns hold_since, hold_until,
// hold_by, hold_reason and hold_rule (scanned into v): nil unless the domain
// is pending and held at now (unix seconds).
func holdOf(st Status, v []any, now int64) *Hold {
	since, ok := v[0].(int64)
	if !ok || !st.Pending() {
		return nil
	}
	h := &Hold{Since: fromUnix(since), By: str(v[2]), Reason: str(v[3])}
	if until, ok := v[1].(int64); ok {
		if until <= now {
			return nil
		}
		h.Until = fromUnix(until)
	}
	h.Rule, _ = v[4].(int64)
	return h
}

// clearEndedHolds ends the holds whose time has come (the delivery engine
// does it as it claims, so the due index sees those domains again).
func (tx *Tx) clearEndedHolds(now time.Time) error {
	_, err := tx.dexec("UPDATE domains SET "+clearHold+" WHERE status IN "+pendingSQL+" AND hold_since IS NOT NULL AND hold_until <= ?", now.Unix())
	return err
}

// The Queue verbs: each its Tx verb in a transaction of its own.

// Hold holds the pending domains of the selected messages (see HoldRequest).
func (q *Queue) Hold(ctx context.Context, r HoldRequest) (HoldResult, error) {
	var res HoldResult
	err := q.writeVerb(ctx, r.DryRun, func(tx *Tx) (err error) { res, err = tx.Hold(r); return })
	return res, err
}

// ReleaseHold releases the held domains of the selected messages (see
// ReleaseRequest).
func (q *Queue) ReleaseHold(ctx context.Context, r ReleaseRequest) (Result, error) {
	var res Result
	err := q.writeVerb(ctx, r.DryRun, func(tx *Tx) (err error) { res, err = tx.ReleaseHold(r); return })
	return res, err
}

// HoldRules lists the hold rules, those at their end included, by id.
func (q *Queue) HoldRules(ctx context.Context) ([]HoldRule, error) {
	var out []HoldRule
	err := q.View(ctx, func(tx *Tx) (err error) { out, err = tx.HoldRules(); return })
	return out, err
}

// RemoveHoldRule removes a hold rule (the holds it made stay).
func (q *Queue) RemoveHoldRule(ctx context.Context, id int64) error {
	return q.Update(ctx, func(tx *Tx) error { return tx.RemoveHoldRule(id) })
}
