package queue

// Hold rules: `queue hold --rule` also holds the mail that arrives later,
// as KumoMTA's suspensions and mox's hold rules do. A rule is the sender,
// recipient and domain of the hold's filter, its reason and its end; every
// way a message is queued (Enqueue, EnqueueBatch for SMTP, .eml imports)
// applies the rules in force to it in the same savepoint, and counts a hit
// for each message a rule held.

import (
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"
)

// HoldRule holds matching mail on arrival until it ends or is removed.
type HoldRule struct {
	ID      int64
	Filter  Filter    // its sender, recipient and domain patterns
	Reason  string    // "" when none was given
	By      string    // who made it
	Created time.Time // UTC
	Until   time.Time // when it ends (and the holds it made); zero = until removed
	Hits    int       // messages it has held on arrival
}

// Ended reports whether the rule has ended by now.
func (r *HoldRule) Ended(now time.Time) bool { return !r.Until.IsZero() && !r.Until.After(now) }

// HoldRuleJSON is a hold rule as machines read it (`queue rules -o json`,
// the HTTP API): times in RFC 3339, UTC; until omitted when the rule lasts
// until removed.
type HoldRuleJSON struct {
	ID      int64  `json:"id"`
	Filter  string `json:"filter"`
	Reason  string `json:"reason,omitempty"`
	By      string `json:"by"`
	Created string `json:"created"`
	Until   string `json:"until,omitempty"`
	Ended   bool   `json:"ended"`
	Hits    int    `json:"hits"`
}

// JSON is the rule as HoldRuleJSON, ended or not by now.
func (r *HoldRule) JSON(now time.Time) HoldRuleJSON {
	j := HoldRuleJSON{ID: r.ID, Filter: r.Filter.String(), Reason: r.Reason, By: r.By, Created: r.Created.UTC().Format(time.RFC3339), Ended: r.Ended(now), Hits: r.Hits}
	if !r.Until.IsZero() {
		j.Until = r.Until.UTC().Format(time.RFC3339)
	}
	return j
}

// ErrNoRule: no hold rule has that id.
var ErrNoRule = errors.New("hold rule not found")

// ruleFilter is the part of a hold's filter a rule keeps: the sender,
// recipient and domain, which a message arriving later can match. Anything
// else (ids, times, statuses) names messages already queued, so a rule
// refuses it; and a rule must name at least one of the three.
func ruleFilter(f Filter) (Filter, error) {
	for _, k := range FilterKeys {
		if k.IsSet(&f) && k != KeySender && k != KeyRcpt && k != KeyDomain && k != KeyAll {
			return Filter{}, fmt.Errorf("a hold rule catches arriving mail by sender, recipient and domain only, not by %s: hold those messages without a rule, and make the rule with a sender, recipient or domain", k.Name)
		}
	}
	rule := Filter{Sender: f.Sender, Recipient: f.Recipient, Domain: f.Domain}
	if rule.IsEmpty() {
		return Filter{}, errors.New("a hold rule needs a sender, recipient or domain to catch arriving mail by (to stop all delivery, pause it)")
	}
	return rule, rule.Validate()
}

// HoldRules lists the hold rules, those at their end included, by id.
func (tx *Tx) HoldRules() ([]HoldRule, error) {
	if err := tx.check(); err != nil {
		return nil, err
	}
	out, err := tx.rules(false)
	if err != nil {
		return nil, tx.q.fileError("hold rules", err)
	}
	return out, nil
}

// rules reads the rules, only those in force when inForce.
func (tx *Tx) rules(inForce bool) ([]HoldRule, error) {
	q := "SELECT id, filter, reason, by, created, until, hits FROM hold_rules"
	var args []any
	if inForce {
		q += " WHERE until IS NULL OR until > ?"
		args = append(args, tx.q.clock().Unix())
	}
	rows, err := tx.tx.QueryContext(tx.ctx, q+" ORDER BY id", args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []HoldRule
	for rows.Next() {
		var r HoldRule
		var text string
		var reason sql.NullString
		var created int64
		var until sql.NullInt64
		if err := rows.Scan(&r.ID, &text, &reason, &r.By, &created, &until, &r.Hits); err != nil {
			return nil, err
		}
		f, err := ParseFilter(text)
		if err != nil {
			return nil, fmt.Errorf("hold rule %d: %w", r.ID, err)
		}
		r.Filter, r.Reason, r.Created = f, reason.String, fromUnix(created)
		if until.Valid {
			r.Until = fromUnix(until.Int64)
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
	err := tx.tx.QueryRowContext(tx.ctx, "SELECT filter FROM hold_rules WHERE id = ?", id).Scan(&text)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("rules rm: %w: there is no rule %d (`queue rules` lists them)", ErrNoRule, id)
	}
	if err != nil {
		return tx.q.fileError("rules rm", err)
	}
	err = tx.savepoint(false, func() error {
		if _, err := tx.tx.ExecContext(tx.ctx, "DELETE FROM hold_rules WHERE id = ?", id); err != nil {
			return err
		}
		return tx.audit("rule-rm", fmt.Sprintf("rule=%d %s", id, text), nil)
	})
	if err != nil {
		return tx.verbError("rules rm", err)
	}
	return nil
}

// applyRules holds the domains of new messages that the hold rules in force
// select, as a hold with the rule's filter would (a domain held already,
// by the arrival policy, is left as it is), and counts the rules' hits.
func (tx *Tx) applyRules(msgs []*Message) error {
	rules, err := tx.rules(true)
	if err != nil || len(rules) == 0 {
		return err
	}
	type ready struct {
		*HoldRule
		mt *Matcher
	}
	var rs []ready
	for i := range rules {
		mt, err := rules[i].Filter.Matcher()
		if err != nil {
			continue // refused when it was made; never here
		}
		rs = append(rs, ready{&rules[i], mt})
	}
	now := tx.q.clock()
	hits := map[int64]int{}
	for _, m := range msgs {
		if m == nil {
			continue
		}
		for _, r := range rs {
			if !r.mt.Match(m) {
				continue
			}
			held := false
			for i := range m.Domains {
				d := &m.Domains[i]
				if !d.Status.Pending() || d.Hold != nil || !r.mt.targets(d) {
					continue
				}
				d.Hold = &Hold{By: fmt.Sprintf("rule %d", r.ID), Reason: r.Reason, Since: now, Until: r.Until, Rule: r.ID}
				if _, err := tx.dexec("UPDATE domains SET hold_since = ?, hold_until = ?, hold_by = ?, hold_reason = ?, hold_rule = ? WHERE msg_id = ? AND idx = ?",
					now.Unix(), unixOrNull(r.Until), d.Hold.By, nullable(r.Reason), r.ID, int64(m.ID), i); err != nil {
					return err
				}
				held = true
			}
			if held {
				m.Held = true
				hits[r.ID]++
			}
		}
	}
	for id, n := range hits {
		if _, err := tx.dexec("UPDATE hold_rules SET hits = hits + ? WHERE id = ?", n, id); err != nil {
			return err
		}
	}
	return nil
}

// targets reports whether a hold with the matcher's filter acts on domain d
// of a message it selects (as holdTargets says in SQL): with a recipient or
// domain filter, d must be a domain of a matching recipient.
func (mt *Matcher) targets(d *Domain) bool {
	return slices.ContainsFunc(d.Recipients, func(r Recipient) bool { return inScope(mt.domains, mt.rcpts, d.Name, r.Address) })
}
