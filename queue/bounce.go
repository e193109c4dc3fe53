package queue

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// NoticeWriter writes the text of a failure notice (an RFC 3464 delivery
// status notification) for a notice the engine owes a sender, with the
// original message's text (nil when it was not kept). It returns nil text
// when no notice is owed after all (the recipients' NOTIFY excludes
// failures). The engine queues the text from <> to n.ReturnPath. Package
// notices provides one; the queue, which imports none of ours, is given it
// in Options.Notices.
type NoticeWriter func(n Notice, raw []byte) ([]byte, error)

// BounceRequest: fail the selected messages (with a recipient or domain in
// the filter, only those pending recipients: the scope) with a failure
// notice to each sender giving Reason, then remove them as Cancel does.
type BounceRequest struct {
	Filter Filter
	Reason string // told to the sender; required
	DryRun bool
}

// BounceResult says what Bounce did (or would do).
type BounceResult struct {
	Result
	Notices   []ID // the failure notices queued, ascending (in a dry run: would be)
	NoNotice  int  // messages from <> (bounces themselves): removed without a notice
	NotWanted int  // messages whose recipients' NOTIFY asked for no failure notice
}

// Bouncer is implemented by a backend that can bounce (the SQLite engine);
// the remote Stalwart client cannot, and says so.
type Bouncer interface {
	Bounce(ctx context.Context, r BounceRequest) (BounceResult, error)
}

// TxBouncer is Bouncer inside a unit of work (Backend.Run).
type TxBouncer interface {
	Bounce(r BounceRequest) (BounceResult, error)
}

var (
	_ Bouncer   = (*Queue)(nil)
	_ TxBouncer = (*Tx)(nil)
)

// The status a bounced recipient takes. 5.0.0 ("other undefined status",
// RFC 3463) rather than 5.7.1: the message is refused by this server's
// administrator, not by the destination nor for want of authorization,
// which 5.7.1 would tell the sender; the reason text says the rest. The
// code is 0, as for a cancel: no SMTP server answered, so the notice
// carries the reason as text, not as a remote Diagnostic-Code.
const bounceEnhanced = "5.0.0"

// maxReason is the longest reason Bounce takes, in bytes.
const maxReason = 1000

// Bounce fails the selected messages with a failure notice to their
// senders: see BounceRequest and Tx.Bounce.
func (q *Queue) Bounce(ctx context.Context, r BounceRequest) (BounceResult, error) {
	var res BounceResult
	err := q.writeVerb(ctx, r.DryRun, func(tx *Tx) (err error) { res, err = tx.Bounce(r); return })
	return res, err
}

// Bounce fails the pending recipients of the selected messages (only those
// the filter's recipient or domain names, when it names some) with code 0,
// enhanced status 5.0.0 and the reason as message, queues one failure
// notice per message to its sender (written by Options.Notices; none for a
// message from <>, nor where every recipient's NOTIFY excludes failures),
// then removes what has nothing left pending, as Cancel does; all in one
// change with one audit row ("bounce", the filter and reason=). A message
// is counted when anything in it changed. An empty filter needs
// Filter.All.
func (tx *Tx) Bounce(r BounceRequest) (BounceResult, error) {
	res := BounceResult{Result: Result{DryRun: r.DryRun || tx.preview}}
	if err := tx.checkChange("bounce", r.Filter); err != nil {
		return res, err
	}
	reason, err := CheckReason(r.Reason)
	if err != nil {
		return res, err
	}
	if tx.q.notices == nil {
		return res, errors.New("bounce: this queue was opened without a notice writer, so no failure notice could be made; nothing was changed")
	}
	sc, err := r.Filter.changeScope()
	if err != nil {
		return res, fmt.Errorf("bounce: %w", err)
	}
	err = tx.savepoint(r.DryRun, func() error {
		if err := tx.selectInto(r.Filter); err != nil {
			return err
		}
		owed, err := tx.owedNotices(sc, reason)
		if err != nil {
			return err
		}
		mark := failMark{verb: "bounce", set: "status = 3, code = 0, enhanced = '" + bounceEnhanced + "', message = ?", args: []any{reason}, details: reason}
		// Its notices are queued by now: the bounced messages are removed
		// by their ids, even for --all.
		if err := tx.cancelSelected(sc, false, mark, &res.Result); err != nil || res.Count == 0 {
			return err
		}
		if err := tx.audit("bounce", BounceAuditText(r.Filter, reason), res.IDs); err != nil {
			return err
		}
		// The notices last, so that the change above cannot take them (a
		// bounce --all empties the whole queue).
		return tx.queueNotices(owed, &res)
	})
	if err != nil {
		return BounceResult{Result: Result{DryRun: res.DryRun}}, tx.verbError("bounce", err)
	}
	return res, nil
}

// BounceAuditText is the audit text of a bounce: the filter, then the reason.
func BounceAuditText(f Filter, reason string) string {
	return f.String() + "; reason=" + quoteValue(reason)
}

// CheckReason reads the reason of a bounce as Bounce does: printable text, one line, not
// empty, at most maxReason bytes.
func CheckReason(s string) (string, error) {
	r := strings.TrimSpace(s)
	switch {
	case r == "":
		return "", errors.New("bounce: give a reason (--reason TEXT): it is what the sender is told")
	case !utf8.ValidString(r):
		return "", errors.New("bounce: the reason is not valid UTF-8 text")
	case len(r) > maxReason:
		return "", fmt.Errorf("bounce: the reason is %d bytes long: keep it to %d, a sentence or two", len(r), maxReason)
	}
	if err := checkPrintable(r); err != nil {
		return "", fmt.Errorf("bounce: reason: %w", err)
	}
	return r, nil
}

// owedNotice is a failure notice a bounce owes, with the text of the
// original message.
type owedNotice struct {
	Notice
	raw []byte
}

// owedNotices reads the failure notices a bounce of the messages in
// selTable owes, before it changes anything: one per message with a
// pending recipient in the scope, about those recipients.
func (tx *Tx) owedNotices(sc scope, reason string) ([]owedNotice, error) {
	where := "r.status IN " + pendingSQL
	var args []any
	if !sc.whole() {
		var w string
		w, args = sc.rcptSQL()
		where = w
	}
	rows, err := tx.tx.QueryContext(tx.ctx, `SELECT m.id, m.rp_lc, m.rp, m.env_id, m.ret, m.created, d.name, r.address_lc, r.address, r.orcpt, r.notify
		FROM `+selTable+` s CROSS JOIN messages m ON m.id = s.id CROSS JOIN recipients r ON r.msg_id = m.id
		CROSS JOIN domains d ON d.msg_id = r.msg_id AND d.idx = r.domain_idx
		WHERE `+where+` ORDER BY m.id, d.idx, r.idx`, args...)
	if err != nil {
		return nil, err
	}
	var owed []owedNotice
	err = func() error {
		defer rows.Close()
		for rows.Next() {
			var id, created int64
			var rpLC, domain, addrLC string
			var rp, env, ret, addr, orcpt sql.NullString
			var notify int
			if err := rows.Scan(&id, &rpLC, &rp, &env, &ret, &created, &domain, &addrLC, &addr, &orcpt, &notify); err != nil {
				return err
			}
			if len(owed) == 0 || owed[len(owed)-1].Message != ID(id) {
				n := Notice{Kind: NoticeFailure, Message: ID(id), ReturnPath: rpLC, EnvID: env.String, Ret: ret.String,
					Created: time.Unix(created, 0).UTC(), Domain: domain}
				if rp.Valid {
					n.ReturnPath = rp.String
				}
				owed = append(owed, owedNotice{Notice: n})
			}
			rc := Recipient{Address: addrLC, ORCPT: orcpt.String, Notify: Notify(notify),
				Status: PermFail, Enhanced: bounceEnhanced, Message: reason}
			if addr.Valid {
				rc.Address = addr.String
			}
			n := &owed[len(owed)-1]
			n.Recipients = append(n.Recipients, rc)
		}
		return rows.Err()
	}()
	if err != nil {
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
func (tx *Tx) queueNotices(owed []owedNotice, res *BounceResult) error {
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
		m, err := tx.addNew("notice", "bounce of "+n.Message.String()+": ", Envelope{Recipients: []EnvelopeRecipient{{Address: n.ReturnPath}}}, text)
		if err != nil {
			return err
		}
		res.Notices = append(res.Notices, m.ID)
	}
	return nil
}
