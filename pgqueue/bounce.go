package pgqueue

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"mqsh/queue"
)

// Bounce, as the SQLite engine does it (queue/bounce.go): the selection
// fails with a failure notice to each sender carrying the reason, queued in
// the same transaction, then goes to the trash as a cancel's does.

var (
	_ queue.Bouncer   = (*Queue)(nil)
	_ queue.TxBouncer = (*Tx)(nil)
)

// bounceEnhanced is the status a bounced recipient takes (see
// queue/bounce.go for why 5.0.0).
const bounceEnhanced = "5.0.0"

// Bounce fails the selected messages with a failure notice to their
// senders in its own transaction.
func (q *Queue) Bounce(ctx context.Context, r queue.BounceRequest) (queue.BounceResult, error) {
	return write(q, ctx, r.DryRun, func(tx *Tx) (queue.BounceResult, error) { return tx.Bounce(r) })
}

// Bounce fails the pending recipients of the selected messages (only those
// the filter's recipient or domain names, when it names some) with code 0,
// enhanced status 5.0.0 and the reason as message, queues one failure
// notice per message to its sender (written by Options.Notices; none for a
// message from <>, nor where every recipient's NOTIFY excludes failures),
// then moves what has nothing left pending to the trash, as Cancel does;
// all in one change with one audit row ("bounce", the filter and reason=).
// The selected messages are locked first, so that what is noticed is what
// is failed even with other nodes at work.
func (tx *Tx) Bounce(r queue.BounceRequest) (queue.BounceResult, error) {
	res := queue.BounceResult{Result: queue.Result{DryRun: r.DryRun || tx.dry}}
	if err := tx.checkChange("bounce", r.Filter); err != nil {
		return res, err
	}
	reason, err := queue.CheckReason(r.Reason)
	if err != nil {
		return res, err
	}
	if tx.q.notices == nil {
		return res, errors.New("bounce: this queue was opened without a notice writer, so no failure notice could be made; nothing was changed")
	}
	sc, err := newScope("bounce", r.Filter)
	if err != nil {
		return res, err
	}
	err = tx.savepoint(r.DryRun, func(db pgx.Tx) error {
		var a args
		rcpt := "r.status IN " + pendingSQL
		if !sc.whole() {
			rcpt += " AND " + sc.sql(&a)
		}
		ids, err := tx.selectIDs(db, r.Filter, &a, "EXISTS (SELECT 1 FROM recipients r WHERE r.msg_id = m.id AND "+rcpt+")")
		if err != nil {
			return err
		}
		rows, err := db.Query(tx.ctx, "SELECT id FROM messages WHERE "+idSet("id", "$1")+" ORDER BY id FOR UPDATE", ids)
		if err != nil {
			return err
		}
		if ids, err = pgx.CollectRows(rows, pgx.RowTo[int64]); err != nil {
			return err
		}
		owed, err := tx.owedNotices(db, ids, sc, reason)
		if err != nil {
			return err
		}
		mark := failMark{verb: "bounce", set: "status = 3, code = 0, enhanced = '" + bounceEnhanced + "', message = $1", args: []any{reason}, details: reason}
		if err := tx.cancelSelected(db, r.Filter, sc, mark, ids, &res.Result); err != nil || res.Count == 0 {
			return err
		}
		if err := tx.audit(db, "bounce", queue.BounceAuditText(r.Filter, reason), res.IDs); err != nil {
			return err
		}
		// The notices last, so that the change above cannot take them.
		return tx.queueNotices(db, owed, &res)
	})
	if err != nil {
		return queue.BounceResult{Result: queue.Result{DryRun: res.DryRun}}, tx.verbError("bounce", err)
	}
	return res, nil
}

// owedNotice is a failure notice a bounce owes, with the text of the
// original message.
type owedNotice struct {
	queue.Notice
	raw []byte
}

// owedNotices reads the failure notices a bounce of the messages ids owes,
// before it changes anything: one per message with a pending recipient in
// the scope, about those recipients.
func (tx *Tx) owedNotices(db pgx.Tx, ids []int64, sc scope, reason string) ([]owedNotice, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	var a args
	set := a.add(ids)
	where := "r.status IN " + pendingSQL
	if !sc.whole() {
		where += " AND " + sc.sql(&a)
	}
	rows, err := db.Query(tx.ctx, `SELECT m.id, m.rp_lc, m.rp, m.env_id, m.ret, m.created, d.name, r.address_lc, r.address, r.orcpt, r.notify
		FROM messages m JOIN recipients r ON r.msg_id = m.id JOIN domains d ON d.msg_id = r.msg_id AND d.idx = r.domain_idx
		WHERE `+idSet("m.id", set)+` AND `+where+` ORDER BY m.id, d.idx, r.idx`, a...)
	if err != nil {
		return nil, err
	}
	var owed []owedNotice
	for rows.Next() {
		var (
			id, created               int64
			rpLC, domain, addrLC      string
			rp, env, ret, addr, orcpt *string
			notify                    int16
		)
		if err := rows.Scan(&id, &rpLC, &rp, &env, &ret, &created, &domain, &addrLC, &addr, &orcpt, &notify); err != nil {
			rows.Close()
			return nil, err
		}
		if len(owed) == 0 || owed[len(owed)-1].Message != queue.ID(id) {
			owed = append(owed, owedNotice{Notice: queue.Notice{Kind: queue.NoticeFailure, Message: queue.ID(id), ReturnPath: orString(rp, rpLC),
				EnvID: orString(env, ""), Ret: orString(ret, ""), Created: fromUnix(created), Domain: domain}})
		}
		n := &owed[len(owed)-1]
		n.Recipients = append(n.Recipients, queue.Recipient{Address: orString(addr, addrLC), ORCPT: orString(orcpt, ""), Notify: queue.Notify(notify),
			Status: queue.PermFail, Enhanced: bounceEnhanced, Message: reason})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for i := range owed {
		if owed[i].ReturnPath != "" {
			if owed[i].raw, err = tx.Raw(owed[i].Message); err != nil {
				return nil, err
			}
		}
	}
	return owed, nil
}

// queueNotices queues the failure notices owed, unless the message is from
// <>, and counts them in res.
func (tx *Tx) queueNotices(db pgx.Tx, owed []owedNotice, res *queue.BounceResult) error {
	for i := range owed {
		n := &owed[i]
		if n.ReturnPath == "" {
			res.NoNotice++ // never a notice about a bounce
			continue
		}
		text, err := tx.q.notices(n.Notice, n.raw)
		if err != nil {
			return fmt.Errorf("failure notice for message %s: %w", n.Message, err)
		}
		if text == nil {
			res.NotWanted++
			continue
		}
		m, err := tx.addNew(db, "notice", "bounce of "+n.Message.String()+": ", queue.Envelope{Recipients: []queue.EnvelopeRecipient{{Address: n.ReturnPath}}}, text, false)
		if err != nil {
			return err
		}
		res.Notices = append(res.Notices, m.ID)
	}
	return nil
}
