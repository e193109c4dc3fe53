package queue

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Attempt is the outcome of one delivery attempt of one claimed domain.
type Attempt struct {
	Lease
	// Host is the host tried, as host[ip]:port; empty when none was reached.
	Host string
	// Reply is the reply or error for the domain as a whole, as shown to
	// people: why the domain failed when DomainFail is set, else the last
	// reply (it goes into the attempts history).
	Reply string
	// DomainFail is set when the domain failed before any recipient was
	// answered (no MX, connection refused, timeout, 421): a temporary
	// failure of the domain; its recipients keep their status.
	DomainFail bool
	// Skipped is set when nothing was tried (an expired job): only expiry
	// applies.
	Skipped bool
	// Recipients holds the answer for each recipient tried.
	Recipients []RcptResult
	// RetryAfter, when positive, replaces the schedule's next interval (a
	// policy's next_retry).
	RetryAfter time.Duration
}

// RcptResult is the answer for one recipient: Completed (delivered),
// TempFail or PermFail with the reply.
type RcptResult struct {
	Address  string
	Status   Status
	Code     int
	Enhanced string
	Message  string
}

// NoticeKind is the kind of a delivery status notice.
type NoticeKind int

// The notices Record reports.
const (
	NoticeFailure NoticeKind = iota // permanently failed (or expired)
	NoticeDelay                     // still pending at a notify time
	NoticeSuccess                   // delivered, and NOTIFY=SUCCESS was asked
)

func (k NoticeKind) String() string {
	switch k {
	case NoticeDelay:
		return "delay"
	case NoticeSuccess:
		return "success"
	}
	return "failure"
}

// Notice says that the sender of a message is to be told about some of its
// recipients in one domain. Record returns notices; it sends nothing.
type Notice struct {
	Kind       NoticeKind
	Message    ID
	ReturnPath string // never empty: no notice is made about a bounce
	EnvID      string
	Ret        string
	Created    time.Time // the arrival date
	Domain     string
	RemoteMTA  string      // the host last tried, host[ip]:port; empty when none
	Recipients []Recipient // with their status and last reply
}

// expiredText is what an expired domain that was never tried says.
const expiredText = "Message expired without any delivery attempts made."

// Record stores the attempts in one write transaction. Per attempt: each
// still-pending recipient answered takes its result; the domain becomes
// Completed (all recipients final, one delivered), PermFail (all final, none
// delivered) or TempFail with the next retry from the schedule (RetryAfter
// when set), never later than its expiry; a domain still pending at its
// expiry fails permanently with its last reply, or expiredText when it was
// never tried; the lease is released; an attempts row is written; the
// message's due is refreshed and the message removed once nothing in it is
// pending. A message cancelled meanwhile stays gone (only its attempts row
// is written), and recipients cancelled meanwhile stay cancelled. The
// notices due are returned: failure and success notices for recipients that
// became final (success only with NOTIFY=SUCCESS, failure unless NOTIFY
// excludes it), a delay notice when the domain is still pending at its
// notify time (which then moves to the next one); none with NOTIFY=NEVER,
// none about a message from <>.
func (q *Queue) Record(ctx context.Context, attempts []Attempt) ([]Notice, error) {
	if len(attempts) == 0 {
		return nil, nil
	}
	var notices []Notice
	err := q.Update(ctx, func(tx *Tx) error {
		if err := tx.needWrite("record"); err != nil {
			return err
		}
		notices = notices[:0]
		now := q.clock()
		var gone []byte // ids of messages with nothing left pending, as a JSON array
		rcpts, err := tx.attemptRecipients(attempts)
		if err != nil {
			return err
		}
		domains, domainsRead, err := tx.attemptDomains(attempts)
		if err != nil {
			return err
		}
		for i := range attempts {
			n, err := tx.record(&attempts[i], now, &gone, rcpts, domains, domainsRead)
			if err != nil {
				return fmt.Errorf("message %s domain %s: %w", attempts[i].Message, attempts[i].Domain, err)
			}
			notices = append(notices, n...)
		}
		if len(gone) == 0 {
			return nil
		}
		// They go for good, as in Stalwart, in one statement per table.
		gone = append(gone, ']')
		if err := tx.selectIDs(gone); err != nil {
			return err
		}
		return tx.removeSelected("", false, 0)
	})
	if err != nil {
		return nil, fmt.Errorf("record delivery: %w", err)
	}
	return notices, nil
}

// attemptRecipients reads the recipients of the attempted domains in one
// statement, keyed by message id and domain index. A domain attempted twice
// in the batch is left out (record reads it after the first has changed it).
func (tx *Tx) attemptRecipients(attempts []Attempt) (map[[2]int64][]rcptRow, error) {
	seen := make(map[[2]int64]int, len(attempts))
	ids := []byte{'['}
	for i, a := range attempts {
		k := [2]int64{int64(a.Message), int64(a.DomainIdx)}
		seen[k]++
		if i > 0 {
			ids = append(ids, ',')
		}
		ids = strconv.AppendInt(ids, int64(a.Message), 10)
	}
	ids = append(ids, ']')
	rows, err := tx.dquery(`SELECT msg_id, domain_idx, idx, address_lc, address, status, code, enhanced, message, orcpt, notify
		FROM recipients WHERE msg_id IN (SELECT value FROM json_each(?)) ORDER BY msg_id, idx`, ids)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make(map[[2]int64][]rcptRow, len(attempts))
	for rows.Next() {
		var id, dom int64
		var r rcptRow
		var lc string
		var addr, enh, msg, orcpt sql.NullString
		var notify int
		if err := rows.Scan(&id, &dom, &r.idx, &lc, &addr, &r.Status, &r.Code, &enh, &msg, &orcpt, &notify); err != nil {
			return nil, err
		}
		k := [2]int64{id, dom}
		if seen[k] != 1 {
			continue
		}
		r.Address = lc
		if addr.Valid {
			r.Address = addr.String
		}
		r.Enhanced, r.Message, r.ORCPT, r.Notify = enh.String, msg.String, orcpt.String, Notify(notify)
		out[k] = append(out[k], r)
	}
	return out, rows.Err()
}

// attemptCols are what record reads of an attempted domain (d) and its
// message (m), whether another domain of the message is pending last.
const attemptCols = `d.status, d.details, d.retry_num, d.notify, d.expires, d.locked_by, m.rp_lc, m.rp, m.env_id, m.ret, m.created,
	EXISTS (SELECT 1 FROM domains o WHERE o.msg_id = d.msg_id AND o.idx != d.idx AND o.status IN ` + pendingSQL + `)`

// attemptRow is a row of attemptCols.
type attemptRow struct {
	status            Status
	details, lockedBy sql.NullString
	retryNum          int
	notifyAt          sql.NullInt64
	expires, created  int64
	rpLC              string
	rp, env, ret      sql.NullString
	others            bool
}

func (r *attemptRow) dest() []any {
	return []any{&r.status, &r.details, &r.retryNum, &r.notifyAt, &r.expires, &r.lockedBy, &r.rpLC, &r.rp, &r.env, &r.ret, &r.created, &r.others}
}

// attemptDomains reads, in one statement, the attemptCols of the attempted
// domains whose message has no other attempt in the batch (another would
// change what they read: whether another domain is pending); read says
// which messages were read, and a domain of one of them missing from the
// answer was cancelled meanwhile. The others record reads one by one.
func (tx *Tx) attemptDomains(attempts []Attempt) (rows map[[2]int64]attemptRow, read map[int64]bool, err error) {
	perMsg := make(map[int64]int, len(attempts))
	for _, a := range attempts {
		perMsg[int64(a.Message)]++
	}
	keys := []byte{'['}
	read = make(map[int64]bool, len(attempts))
	for _, a := range attempts {
		id := int64(a.Message)
		if perMsg[id] != 1 {
			continue
		}
		if len(keys) > 1 {
			keys = append(keys, ',')
		}
		keys = append(keys, '[')
		keys = strconv.AppendInt(keys, id, 10)
		keys = append(keys, ',')
		keys = strconv.AppendInt(keys, int64(a.DomainIdx), 10)
		keys = append(keys, ']')
		read[id] = true
	}
	keys = append(keys, ']')
	rows = make(map[[2]int64]attemptRow, len(read))
	if len(read) == 0 {
		return rows, read, nil
	}
	rs, err := tx.dquery(`SELECT d.msg_id, d.idx, `+attemptCols+`
		FROM domains d JOIN messages m ON m.id = d.msg_id
		WHERE (d.msg_id, d.idx) IN (SELECT value->>0, value->>1 FROM json_each(?)) AND `+liveCond("m.id"), keys)
	if err != nil {
		return nil, nil, err
	}
	defer rs.Close()
	for rs.Next() {
		var id, idx int64
		var r attemptRow
		if err := rs.Scan(append([]any{&id, &idx}, r.dest()...)...); err != nil {
			return nil, nil, err
		}
		rows[[2]int64{id, idx}] = r
	}
	return rows, read, rs.Err()
}

func (tx *Tx) record(a *Attempt, now time.Time, gone *[]byte, prefetched map[[2]int64][]rcptRow, domains map[[2]int64]attemptRow, domainsRead map[int64]bool) ([]Notice, error) {
	id := int64(a.Message)
	if !a.Skipped {
		if _, err := tx.dexec("INSERT INTO attempts(msg_id, domain, at, host, reply) VALUES(?, ?, ?, ?, ?)",
			id, a.Domain, tx.q.now().UnixMilli(), nullable(a.Host), nullable(a.Reply)); err != nil {
			return nil, err
		}
	}
	row, ok := domains[[2]int64{id, int64(a.DomainIdx)}]
	if !ok && !domainsRead[id] {
		err := tx.drow(`SELECT `+attemptCols+`
			FROM domains d JOIN messages m ON m.id = d.msg_id WHERE d.msg_id = ? AND d.idx = ? AND `+liveCond("m.id"), id, a.DomainIdx).Scan(row.dest()...)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return nil, err
		}
		ok = err == nil
	}
	if !ok {
		return nil, nil // cancelled meanwhile: it stays gone
	}
	var err error
	var d AttemptDomain
	d.Status, d.RetryNum, d.OthersPending = row.status, row.retryNum, row.others
	details, lockedBy, notifyAt, expires, created := row.details, row.lockedBy, row.notifyAt, row.expires, row.created
	rpLC, rp, env, ret := row.rpLC, row.rp, row.env, row.ret
	d.Details, d.LockedBy, d.Expires, d.Created = details.String, lockedBy.String, fromUnix(expires), fromUnix(created)
	if notifyAt.Valid {
		d.NotifyAt = fromUnix(notifyAt.Int64)
	}
	d.ReturnPath, d.EnvID, d.Ret = rpLC, env.String, ret.String
	if rp.Valid {
		d.ReturnPath = rp.String
	}
	if d.Status.Pending() {
		rcpts, ok := prefetched[[2]int64{id, int64(a.DomainIdx)}]
		if !ok {
			if rcpts, err = tx.domainRecipients(id, a.DomainIdx); err != nil {
				return nil, err
			}
		}
		d.Recipients = make([]AttemptRecipient, len(rcpts))
		for i, r := range rcpts {
			d.Recipients[i] = AttemptRecipient{Recipient: r.Recipient, Idx: r.idx}
		}
	}
	ch := tx.q.sched.ApplyAttempt(a, &d, now)
	switch {
	case !ch.Write:
		if ch.Release {
			_, err = tx.dexec("UPDATE domains SET locked_until = NULL, locked_by = NULL WHERE msg_id = ? AND idx = ?", id, a.DomainIdx)
		}
		return nil, err
	case ch.Gone:
		// Nothing left to deliver: the message goes (Record removes it).
		if len(*gone) == 0 {
			*gone = append(*gone, '[')
		} else {
			*gone = append(*gone, ',')
		}
		*gone = strconv.AppendInt(*gone, id, 10)
	default:
		for _, r := range d.Recipients {
			if !r.Dirty {
				continue
			}
			if _, err := tx.dexec("UPDATE recipients SET status = ?, code = ?, enhanced = ?, message = ? WHERE msg_id = ? AND idx = ?",
				int(r.Status), r.Code, nullable(r.Enhanced), nullable(r.Message), id, r.Idx); err != nil {
				return nil, err
			}
		}
		lockSQL := ""
		if ch.Release {
			lockSQL = ", locked_until = NULL, locked_by = NULL"
		}
		var notify any
		if !ch.NotifyAt.IsZero() {
			notify = ch.NotifyAt.Unix()
		}
		if _, err := tx.dexec("UPDATE domains SET status = ?, details = ?, retry_num = ?, due = ?, notify = ?"+lockSQL+" WHERE msg_id = ? AND idx = ?",
			int(ch.Status), nullable(ch.Details), ch.RetryNum, ch.Due.Unix(), notify, id, a.DomainIdx); err != nil {
			return nil, err
		}
		if _, err := tx.dexec("UPDATE messages SET due = (SELECT min(due) FROM domains WHERE msg_id = ?1 AND status IN "+pendingSQL+") WHERE id = ?1", id); err != nil {
			return nil, err
		}
	}
	return ch.Notices, nil
}

// wants reports whether NOTIFY flags n ask for the notice bit (no flags:
// failures and delays, as Stalwart does).
func wants(n, bit Notify) bool {
	if n == 0 {
		return bit == NotifyFailure || bit == NotifyDelay
	}
	return n&bit != 0
}

// retryAfter is the wait after attempt n (0 for the first): the schedule's
// interval n, the last one repeating.
func (s Schedule) retryAfter(n int) time.Duration {
	if len(s.Retry) == 0 {
		return DefaultSchedule.retryAfter(n)
	}
	if n >= len(s.Retry) {
		n = len(s.Retry) - 1
	}
	if n < 0 {
		n = 0
	}
	return s.Retry[n]
}
