package pgqueue

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"mqsh/queue"
)

// The delivery side (queue.DeliveryStore): workers on any number of
// machines claim due domains with SELECT ... FOR UPDATE SKIP LOCKED and a
// lease (locked_until, locked_by), so each domain is delivered by one worker
// at a time and a dead worker's domains are taken up when its lease runs
// out; what an attempt did is applied by queue's ApplyAttempt, the rules the
// SQLite engine applies.

// changedChannel is the NOTIFY channel every change to the queue is
// announced on, at commit.
const changedChannel = "mqsh_queue"

// Claim leases up to r.Max due pending domains that are not held (a hold
// at its end is cleared first), earliest due first, to r.Worker for r.Lease; nothing while delivery
// is paused (see queue.Queue.Claim). Domains another worker is claiming at
// the same moment are skipped, not waited for.
func (q *Queue) Claim(ctx context.Context, r queue.ClaimRequest) ([]queue.Job, error) {
	if err := r.Check(); err != nil {
		return nil, err
	}
	var jobs []queue.Job
	err := q.update(ctx, false, func(tx *Tx) error {
		if err := tx.needWrite("claim"); err != nil {
			return err
		}
		jobs = nil
		var paused int64
		err := tx.tx.QueryRow(ctx, "SELECT coalesce((SELECT value FROM meta WHERE key = 'paused'), 0)").Scan(&paused)
		if err != nil || paused != 0 {
			return err
		}
		now := q.clock()
		if err := tx.clearEndedHolds(tx.tx, now); err != nil {
			return err
		}
		rows, err := tx.tx.Query(ctx, `SELECT d.msg_id, d.idx, d.name, d.retry_num, d.expires
			FROM domains d
			WHERE d.status IN `+pendingSQL+` AND d.hold_since IS NULL AND d.due <= $1 AND (d.locked_until IS NULL OR d.locked_until < $1)
			ORDER BY d.due LIMIT $2 FOR UPDATE SKIP LOCKED`, now.Unix(), r.Candidates())
		if err != nil {
			return err
		}
		var cands []queue.Job
		for rows.Next() {
			var j queue.Job
			var id, exp int64
			if err := rows.Scan(&id, &j.DomainIdx, &j.Domain, &j.RetryNum, &exp); err != nil {
				rows.Close()
				return err
			}
			j.Message, j.Expires = queue.ID(id), fromUnix(exp)
			cands = append(cands, j)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if jobs = r.Pick(cands, now); len(jobs) == 0 {
			return nil
		}
		ids, idxs := make([]int64, len(jobs)), make([]int32, len(jobs))
		for i, j := range jobs {
			ids[i], idxs[i] = int64(j.Message), int32(j.DomainIdx)
		}
		if _, err := tx.tx.Exec(ctx, `UPDATE domains d SET locked_until = $1, locked_by = $2
			FROM unnest($3::bigint[], $4::integer[]) AS k(msg_id, idx) WHERE d.msg_id = k.msg_id AND d.idx = k.idx`,
			now.Add(r.Lease).Unix(), r.Worker, ids, idxs); err != nil {
			return err
		}
		for i := range jobs {
			if err := tx.loadJob(&jobs[i]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, q.scrub(fmt.Errorf("claim: %w", err))
	}
	return jobs, nil
}

// loadJob reads the rest of j.
func (tx *Tx) loadJob(j *queue.Job) error {
	var rpLC string
	var rp, env, ret *string
	var created int64
	err := tx.tx.QueryRow(tx.ctx, "SELECT m.rp_lc, m.rp, m.env_id, m.ret, m.created, m.size, b.raw FROM messages m LEFT JOIN bodies b ON b.msg_id = m.id WHERE m.id = $1", int64(j.Message)).
		Scan(&rpLC, &rp, &env, &ret, &created, &j.Size, &j.Raw)
	if err != nil {
		return err
	}
	j.ReturnPath, j.EnvID, j.Ret, j.Created = orString(rp, rpLC), orString(env, ""), orString(ret, ""), fromUnix(created)
	rcpts, err := tx.domainRecipients(tx.tx, int64(j.Message), j.DomainIdx)
	if err != nil {
		return err
	}
	for _, r := range rcpts {
		if r.Status.Pending() {
			j.Recipients = append(j.Recipients, r.Recipient)
		}
	}
	return nil
}

// domainRecipients reads the recipients of one domain of a message.
func (tx *Tx) domainRecipients(db pgx.Tx, id int64, domainIdx int) ([]queue.AttemptRecipient, error) {
	rows, err := db.Query(tx.ctx, "SELECT idx, address_lc, address, status, code, enhanced, message, orcpt, notify FROM recipients WHERE msg_id = $1 AND domain_idx = $2 ORDER BY idx", id, domainIdx)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []queue.AttemptRecipient
	for rows.Next() {
		var r queue.AttemptRecipient
		var addr, enh, msg, orcpt *string
		var status, notify int16
		if err := rows.Scan(&r.Idx, &r.Address, &addr, &status, &r.Code, &enh, &msg, &orcpt, &notify); err != nil {
			return nil, err
		}
		r.Address, r.Status, r.Notify = orString(addr, r.Address), queue.Status(status), queue.Notify(notify)
		r.Enhanced, r.Message, r.ORCPT = orString(enh, ""), orString(msg, ""), orString(orcpt, "")
		out = append(out, r)
	}
	return out, rows.Err()
}

// Record stores the outcomes of delivery attempts in one transaction,
// releases their leases and returns the notices due (see
// queue.Queue.Record).
func (q *Queue) Record(ctx context.Context, attempts []queue.Attempt) ([]queue.Notice, error) {
	if len(attempts) == 0 {
		return nil, nil
	}
	var notices []queue.Notice
	err := q.update(ctx, false, func(tx *Tx) error {
		if err := tx.needWrite("record"); err != nil {
			return err
		}
		notices = notices[:0]
		now := q.clock()
		var gone []int64
		for i := range attempts {
			n, g, err := tx.record(&attempts[i], now)
			if err != nil {
				return fmt.Errorf("message %s domain %s: %w", attempts[i].Message, attempts[i].Domain, err)
			}
			notices = append(notices, n...)
			if g {
				gone = append(gone, int64(attempts[i].Message))
			}
		}
		tx.wrote = true
		if len(gone) == 0 {
			return nil
		}
		return tx.removeMessages(tx.tx, gone)
	})
	if err != nil {
		return nil, q.scrub(fmt.Errorf("record delivery: %w", err))
	}
	return notices, nil
}

// record applies one attempt; gone says its message has nothing pending.
func (tx *Tx) record(a *queue.Attempt, now time.Time) ([]queue.Notice, bool, error) {
	ctx, id := tx.ctx, int64(a.Message)
	if !a.Skipped {
		if _, err := tx.tx.Exec(ctx, "INSERT INTO attempts(msg_id, domain, at, host, reply) VALUES($1, $2, $3, $4, $5)",
			id, a.Domain, tx.q.now().UnixMilli(), optStr(a.Host), optStr(a.Reply)); err != nil {
			return nil, false, err
		}
	}
	var d queue.AttemptDomain
	var status int16
	var details, lockedBy, rp, env, ret *string
	var notifyAt *int64
	var expires, created int64
	var rpLC string
	err := tx.tx.QueryRow(ctx, `SELECT d.status, d.details, d.retry_num, d.notify, d.expires, d.locked_by, m.rp_lc, m.rp, m.env_id, m.ret, m.created,
		EXISTS (SELECT 1 FROM domains o WHERE o.msg_id = d.msg_id AND o.idx <> d.idx AND o.status IN `+pendingSQL+`)
		FROM domains d JOIN messages m ON m.id = d.msg_id WHERE d.msg_id = $1 AND d.idx = $2 FOR UPDATE OF d`, id, a.DomainIdx).
		Scan(&status, &details, &d.RetryNum, &notifyAt, &expires, &lockedBy, &rpLC, &rp, &env, &ret, &created, &d.OthersPending)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, false, nil // cancelled meanwhile: it stays gone
	}
	if err != nil {
		return nil, false, err
	}
	d.Status, d.Details, d.LockedBy = queue.Status(status), orString(details, ""), orString(lockedBy, "")
	d.Expires, d.Created = fromUnix(expires), fromUnix(created)
	if notifyAt != nil {
		d.NotifyAt = fromUnix(*notifyAt)
	}
	d.ReturnPath, d.EnvID, d.Ret = orString(rp, rpLC), orString(env, ""), orString(ret, "")
	if d.Status.Pending() {
		if d.Recipients, err = tx.domainRecipients(tx.tx, id, a.DomainIdx); err != nil {
			return nil, false, err
		}
	}
	ch := tx.q.sched.ApplyAttempt(a, &d, now)
	switch {
	case !ch.Write:
		if ch.Release {
			_, err = tx.tx.Exec(ctx, "UPDATE domains SET locked_until = NULL, locked_by = NULL WHERE msg_id = $1 AND idx = $2", id, a.DomainIdx)
		}
		return nil, false, err
	case ch.Gone:
		return ch.Notices, true, nil
	}
	for _, r := range d.Recipients {
		if !r.Dirty {
			continue
		}
		if _, err := tx.tx.Exec(ctx, "UPDATE recipients SET status = $1, code = $2, enhanced = $3, message = $4 WHERE msg_id = $5 AND idx = $6",
			int16(r.Status), r.Code, optStr(r.Enhanced), optStr(r.Message), id, r.Idx); err != nil {
			return nil, false, err
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
	if _, err := tx.tx.Exec(ctx, "UPDATE domains SET status = $1, details = $2, retry_num = $3, due = $4, notify = $5"+lockSQL+" WHERE msg_id = $6 AND idx = $7",
		int16(ch.Status), optStr(ch.Details), ch.RetryNum, ch.Due.Unix(), notify, id, a.DomainIdx); err != nil {
		return nil, false, err
	}
	if err := tx.refreshDue(tx.tx, []int64{id}); err != nil {
		return nil, false, err
	}
	return ch.Notices, false, nil
}

// Release hands leases back (only those still held by their worker).
func (q *Queue) Release(ctx context.Context, leases []queue.Lease) error {
	if len(leases) == 0 {
		return nil
	}
	err := q.update(ctx, false, func(tx *Tx) error {
		if err := tx.needWrite("release"); err != nil {
			return err
		}
		for _, l := range leases {
			if _, err := tx.tx.Exec(ctx, "UPDATE domains SET locked_until = NULL, locked_by = NULL WHERE msg_id = $1 AND idx = $2 AND locked_by = $3", int64(l.Message), l.DomainIdx, l.Worker); err != nil {
				return err
			}
		}
		tx.wrote = true // the domains are there to be claimed: wake the others
		return nil
	})
	if err != nil {
		return q.scrub(fmt.Errorf("release: %w", err))
	}
	return nil
}

// Renew extends the leases worker holds to lease (DefaultLease when 0)
// from now.
func (q *Queue) Renew(ctx context.Context, worker string, lease time.Duration) error {
	if lease <= 0 {
		lease = queue.DefaultLease
	}
	err := q.update(ctx, false, func(tx *Tx) error {
		if err := tx.needWrite("renew"); err != nil {
			return err
		}
		_, err := tx.tx.Exec(ctx, "UPDATE domains SET locked_until = $1 WHERE locked_by = $2 AND status IN "+pendingSQL, q.clock().Add(lease).Unix(), worker)
		return err
	})
	if err != nil {
		return q.scrub(fmt.Errorf("renew leases: %w", err))
	}
	return nil
}

// NextDue returns the earliest due of the pending domains not leased (or
// with a lease run out) and not held, or the earliest end of a hold when
// that comes first (Claim then clears the hold). It reads two indexes.
func (q *Queue) NextDue(ctx context.Context) (time.Time, bool, error) {
	var t *int64
	err := q.pool.QueryRow(ctx, `SELECT least(
		(SELECT d.due FROM domains d WHERE d.status IN `+pendingSQL+` AND d.hold_since IS NULL AND (d.locked_until IS NULL OR d.locked_until < $1)
			ORDER BY d.due LIMIT 1),
		(SELECT d.hold_until FROM domains d WHERE d.status IN `+pendingSQL+` AND d.hold_since IS NOT NULL AND d.hold_until IS NOT NULL
			ORDER BY d.hold_until LIMIT 1))`, q.clock().Unix()).Scan(&t)
	if err != nil {
		return time.Time{}, false, q.dbError("read queue", err)
	}
	if t == nil {
		return time.Time{}, false, nil
	}
	return fromUnix(*t), true, nil
}

// Changed returns a channel that receives a value when a change to the
// queue has been committed (by any process on any machine): it listens for
// the NOTIFY every write sends at commit, on a connection of its own, and
// looks again every interval in case that connection was lost. The channel
// holds at most one signal; it is closed when ctx ends. The LISTEN is in
// place before Changed returns, so that a change committed at any time after
// it is told (begun in the watching goroutine, a LISTEN that came after a
// change missed it, and an idle server slept through it); after a lost
// connection, a signal follows each new LISTEN for the same reason.
func (q *Queue) Changed(ctx context.Context, interval time.Duration) <-chan struct{} {
	if interval < 10*time.Millisecond {
		interval = 10 * time.Millisecond
	}
	ch := make(chan struct{}, 1)
	signal := func() {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
	conn := q.startListening(ctx)
	go func() {
		defer close(ch)
		for ctx.Err() == nil {
			if conn != nil {
				q.listen(ctx, conn, signal)
			}
			select { // the connection failed: try again shortly
			case <-ctx.Done():
				return
			case <-time.After(interval):
				signal() // something may have changed meanwhile
			}
			if conn = q.startListening(ctx); conn != nil {
				signal() // or before this LISTEN
			}
		}
	}()
	return ch
}

// startListening takes a connection and LISTENs on changedChannel on it;
// nil when either fails.
func (q *Queue) startListening(ctx context.Context) *pgxpool.Conn {
	conn, err := q.pool.Acquire(ctx)
	if err != nil {
		return nil
	}
	if _, err := conn.Exec(ctx, "LISTEN "+changedChannel); err != nil {
		stopListening(conn)
		return nil
	}
	return conn
}

// stopListening closes a connection that listened: a connection left
// listening is not handed to anyone else.
func stopListening(conn *pgxpool.Conn) {
	conn.Conn().Close(context.Background())
	conn.Release()
}

// listen calls signal for each notification on conn, a connection that
// LISTENs on changedChannel, until ctx ends or the connection fails; then it
// closes the connection.
func (q *Queue) listen(ctx context.Context, conn *pgxpool.Conn, signal func()) {
	defer stopListening(conn)
	for {
		if _, err := conn.Conn().WaitForNotification(ctx); err != nil {
			return
		}
		signal()
	}
}
