package pgqueue

// Hold rules: `queue hold --rule` also holds the mail that arrives later,
// on every node, as the SQLite engine does (queue/rules.go). Enqueue,
// EnqueueBatch (serve) and .eml imports apply the rules in force to each
// new message before its rows are written, in the same savepoint, and count
// a hit for each message a rule held.

import (
	"errors"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"

	"mqsh/queue"
)

// HoldRules lists the hold rules, those at their end included, by id.
func (tx *Tx) HoldRules() ([]queue.HoldRule, error) {
	if err := tx.check(); err != nil {
		return nil, err
	}
	out, err := tx.rules(tx.tx, false)
	if err != nil {
		return nil, tx.q.dbError("hold rules", err)
	}
	return out, nil
}

// rules reads the rules, only those in force when inForce.
func (tx *Tx) rules(db pgx.Tx, inForce bool) ([]queue.HoldRule, error) {
	q := "SELECT id, filter, reason, by, created, until, hits FROM hold_rules"
	var a args
	if inForce {
		q += " WHERE until IS NULL OR until > " + a.add(tx.q.clock().Unix())
	}
	rows, err := db.Query(tx.ctx, q+" ORDER BY id", a...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []queue.HoldRule
	for rows.Next() {
		var r queue.HoldRule
		var text string
		var reason *string
		var created int64
		var until *int64
		if err := rows.Scan(&r.ID, &text, &reason, &r.By, &created, &until, &r.Hits); err != nil {
			return nil, err
		}
		f, err := queue.ParseFilter(text)
		if err != nil {
			return nil, fmt.Errorf("hold rule %d: %w", r.ID, err)
		}
		r.Filter, r.Reason, r.Created = f, orString(reason, ""), fromUnix(created)
		if until != nil {
			r.Until = fromUnix(*until)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// RemoveHoldRule removes a hold rule, audited (verb rule-rm). The holds it
// made stay until released or at their end.
func (tx *Tx) RemoveHoldRule(id int64) error {
	if err := tx.needWrite("rules rm"); err != nil {
		return err
	}
	var text string
	err := tx.tx.QueryRow(tx.ctx, "SELECT filter FROM hold_rules WHERE id = $1", id).Scan(&text)
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("rules rm: %w: there is no rule %d (`queue rules` lists them)", queue.ErrNoRule, id)
	}
	if err != nil {
		return tx.q.dbError("rules rm", err)
	}
	err = tx.savepoint(false, func(db pgx.Tx) error {
		if _, err := db.Exec(tx.ctx, "DELETE FROM hold_rules WHERE id = $1", id); err != nil {
			return err
		}
		return tx.audit(db, "rule-rm", fmt.Sprintf("rule=%d %s", id, text), nil)
	})
	if err != nil {
		return tx.verbError("rules rm", err)
	}
	return nil
}

// ruleSet is the hold rules in force, ready to apply to new messages.
type ruleSet struct {
	rules []readyRule
	hits  map[int64]int
}

type readyRule struct {
	*queue.HoldRule
	mt *queue.Matcher
	in func(domain string, r queue.Recipient) bool // the rule's scope
}

// loadRules reads the rules in force (none: an empty set, applied for
// nothing).
func (tx *Tx) loadRules(db pgx.Tx) (*ruleSet, error) {
	rules, err := tx.rules(db, true)
	if err != nil {
		return nil, err
	}
	rs := &ruleSet{hits: map[int64]int{}}
	for i := range rules {
		mt, err := rules[i].Filter.Matcher()
		if err != nil {
			continue // refused when it was made; never here
		}
		in, _, _, err := rules[i].Filter.ScopeOf()
		if err != nil {
			continue
		}
		rs.rules = append(rs.rules, readyRule{&rules[i], mt, in})
	}
	return rs, nil
}

// apply holds the domains of a new message m (not yet written) that the
// rules select, as a hold with the rule's filter would (a domain held
// already, by the arrival policy, is left as it is), at now.
func (rs *ruleSet) apply(m *queue.Message, tx *Tx) {
	if m == nil || len(rs.rules) == 0 {
		return
	}
	now := tx.q.clock()
	for _, r := range rs.rules {
		if !r.mt.Match(m) {
			continue
		}
		held := false
		for i := range m.Domains {
			d := &m.Domains[i]
			if !d.Status.Pending() || d.Hold != nil || !slices.ContainsFunc(d.Recipients, func(rc queue.Recipient) bool { return r.in(d.Name, rc) }) {
				continue
			}
			d.Hold = &queue.Hold{By: ruleBy(r.ID), Reason: r.Reason, Since: now, Until: r.Until, Rule: r.ID}
			held = true
		}
		if held {
			m.Held = true
			rs.hits[r.ID]++
		}
	}
}

// save counts the rules' hits.
func (rs *ruleSet) save(db pgx.Tx, tx *Tx) error {
	for id, n := range rs.hits {
		if _, err := db.Exec(tx.ctx, "UPDATE hold_rules SET hits = hits + $1 WHERE id = $2", n, id); err != nil {
			return err
		}
	}
	clear(rs.hits)
	return nil
}

// applyRules applies the rules in force to one new message and counts
// their hits.
func (tx *Tx) applyRules(db pgx.Tx, m *queue.Message) error {
	rs, err := tx.loadRules(db)
	if err != nil {
		return err
	}
	rs.apply(m, tx)
	return rs.save(db, tx)
}
