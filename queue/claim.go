package queue

// The delivery engine's side of the queue: workers claim due domains under a
// lease, deliver them, and record what happened (attempt.go). The verbs are
// declared by DeliveryStore, so that another engine (PostgreSQL) can serve a
// delivery worker too; the SQLite engine (*Queue) implements them here.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// DeliveryStore is what a delivery worker (package delivery) needs of a
// queue engine.
type DeliveryStore interface {
	// Claim leases due pending domains that are not held, in one write
	// transaction; none when delivery is paused.
	Claim(ctx context.Context, r ClaimRequest) ([]Job, error)
	// Record stores the outcomes of delivery attempts in one write
	// transaction, releases their leases, and returns the notices due.
	Record(ctx context.Context, attempts []Attempt) ([]Notice, error)
	// Renew extends every lease worker holds to lease from now (a worker
	// whose deliveries take long keeps what it has claimed).
	Renew(ctx context.Context, worker string, lease time.Duration) error
	// Release hands leases back untried, so that another worker may take
	// them at once (a worker that stops).
	Release(ctx context.Context, leases []Lease) error
	// NextDue returns the earliest due of the pending domains not leased;
	// ok is false when there is none.
	NextDue(ctx context.Context) (t time.Time, ok bool, err error)
	// Changed signals (at most one pending signal) when another process or
	// handle has changed the queue, checked every interval: every change
	// committed after Changed returns, so that a caller that looks for work
	// after calling it misses none.
	Changed(ctx context.Context, interval time.Duration) <-chan struct{}
	// Now is the engine's clock.
	Now() time.Time
}

var _ DeliveryStore = (*Queue)(nil)

// DefaultLease is how long a claimed domain stays leased to its worker when
// ClaimRequest.Lease is zero (Stalwart's LOCK_EXPIRY).
const DefaultLease = 10 * time.Minute

// ClaimRequest says which worker claims, and how much.
type ClaimRequest struct {
	Worker string        // who claims: stored in locked_by; required
	Max    int           // domains to claim at most; 0 = 1
	Lease  time.Duration // how long the lease lasts; 0 = DefaultLease
	// PerDomain caps the domains of one name claimed at once, counting
	// Busy; 0 = no cap.
	PerDomain int
	Busy      map[string]int // domains of each name the worker has in flight
}

// claimable reports, from reads, whether a claim could lease anything now:
// delivery is not paused, and NextDue has come (a domain due, or a hold at
// its end). Delivery asks after every change to the queue (each group
// commit of an SMTP ingest among them); without this look a paused or idle
// server took the write lock each time, in the way of the ingest. The
// claim checks again under the write lock.
func (q *Queue) claimable(ctx context.Context) (bool, error) {
	if paused, err := q.Paused(ctx); err != nil || paused {
		return false, err
	}
	t, ok, err := q.NextDue(ctx)
	return ok && t.Unix() <= q.clock().Unix(), err
}

// Lease names one claimed domain of one message and its holder.
type Lease struct {
	Message   ID
	DomainIdx int
	Domain    string // lower case
	Worker    string
}

// Job is one claimed domain of one message: everything needed to deliver it.
type Job struct {
	Lease
	ReturnPath string // empty for a bounce
	EnvID      string
	Ret        string
	Created    time.Time
	RetryNum   int       // attempts made so far
	Expires    time.Time // when the domain gives up
	// Expired is set when the domain is past its expiry: record an Attempt
	// with Skipped set, without trying, and it fails permanently.
	Expired    bool
	Recipients []Recipient // the domain's pending recipients
	Raw        []byte      // the message; nil when not kept
	Size       int64
}

// Claim leases up to r.Max due pending domains (due now or earlier, not
// leased or with a lease run out (a lease holds for the whole second it
// ends in, so that a lease of a second is never shorter) and not held,
// earliest due first, to r.Worker for r.Lease, in one write transaction, so
// that two workers (or two processes) never hold the same domain. Holds
// whose end has come are cleared first. Nothing is claimed while delivery
// is paused.
func (q *Queue) Claim(ctx context.Context, r ClaimRequest) ([]Job, error) {
	if err := r.Check(); err != nil {
		return nil, err
	}
	if ok, err := q.claimable(ctx); err != nil || !ok {
		return nil, err
	}
	var jobs []Job
	err := q.Update(ctx, func(tx *Tx) error {
		if err := tx.needWrite("claim"); err != nil {
			return err
		}
		var paused int64
		err := tx.drow("SELECT value FROM meta WHERE key = 'paused'").Scan(&paused)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if paused != 0 {
			return nil
		}
		now := q.clock()
		if err := tx.clearEndedHolds(now); err != nil {
			return err
		}
		rows, err := tx.dquery(`SELECT d.msg_id, d.idx, d.name, d.retry_num, d.expires
			FROM domains d
			WHERE d.status IN `+pendingSQL+` AND d.hold_since IS NULL AND d.due <= ?1 AND (d.locked_until IS NULL OR d.locked_until < ?1)
			AND `+liveCond("d.msg_id")+`
			ORDER BY d.due LIMIT ?2`, now.Unix(), r.Candidates())
		if err != nil {
			return err
		}
		var cands []Job
		for rows.Next() {
			var j Job
			var id, exp int64
			if err := rows.Scan(&id, &j.DomainIdx, &j.Domain, &j.RetryNum, &exp); err != nil {
				rows.Close()
				return err
			}
			j.Message, j.Expires = ID(id), fromUnix(exp)
			cands = append(cands, j)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if jobs = r.Pick(cands, now); len(jobs) == 0 {
			return nil
		}
		// One statement leases them all: [[msg_id, idx], ...].
		keys := []byte{'['}
		for i, j := range jobs {
			if i > 0 {
				keys = append(keys, ',')
			}
			keys = append(keys, '[')
			keys = strconv.AppendInt(keys, int64(j.Message), 10)
			keys = append(keys, ',')
			keys = strconv.AppendInt(keys, int64(j.DomainIdx), 10)
			keys = append(keys, ']')
		}
		keys = append(keys, ']')
		if _, err := tx.dexec("UPDATE domains SET locked_until = ?, locked_by = ? WHERE (msg_id, idx) IN (SELECT value->>0, value->>1 FROM json_each(?))",
			now.Add(r.Lease).Unix(), r.Worker, keys); err != nil {
			return err
		}
		return tx.loadJobs(jobs, keys)
	})
	if err != nil {
		return nil, fmt.Errorf("claim: %w", err)
	}
	return jobs, nil
}

// Check checks a claim and fills in its defaults: a worker is required; Max
// 0 is 1, Lease 0 is DefaultLease.
func (r *ClaimRequest) Check() error {
	if strings.TrimSpace(r.Worker) == "" {
		return errors.New("claim: no worker name given")
	}
	if r.Max <= 0 {
		r.Max = 1
	}
	if r.Lease <= 0 {
		r.Lease = DefaultLease
	}
	return nil
}

// Candidates is how many due domains a claim reads to pick from: Max, or
// more with a PerDomain cap (room to skip domains at their cap).
func (r ClaimRequest) Candidates() int {
	if r.PerDomain > 0 {
		return r.Max * 4
	}
	return r.Max
}

// Pick chooses what a claim takes of candidates (due domains, earliest
// first, with Message, DomainIdx, Domain, RetryNum and Expires read): at
// most Max, and at most PerDomain of one name counting Busy. It fills in
// Worker and Expired.
func (r ClaimRequest) Pick(cands []Job, now time.Time) []Job {
	count := map[string]int{}
	for k, v := range r.Busy {
		count[k] = v
	}
	var jobs []Job
	for _, j := range cands {
		if len(jobs) >= r.Max {
			break
		}
		if r.PerDomain > 0 && count[j.Domain] >= r.PerDomain {
			continue
		}
		count[j.Domain]++
		j.Worker, j.Expired = r.Worker, !now.Before(j.Expires)
		jobs = append(jobs, j)
	}
	return jobs
}

// loadJobs reads the rest of the jobs, whose keys are given as a JSON array
// of [msg_id, idx]: two statements for the whole claim, not two a job.
func (tx *Tx) loadJobs(jobs []Job, keys []byte) error {
	byMsg := make(map[int64][]int, len(jobs)) // message id -> its jobs
	byDomain := make(map[[2]int64]int, len(jobs))
	for i, j := range jobs {
		byMsg[int64(j.Message)] = append(byMsg[int64(j.Message)], i)
		byDomain[[2]int64{int64(j.Message), int64(j.DomainIdx)}] = i
	}
	rows, err := tx.dquery(`SELECT m.id, m.rp_lc, m.rp, m.env_id, m.ret, m.created, m.size, b.raw
		FROM messages m LEFT JOIN bodies b ON b.msg_id = m.id
		WHERE m.id IN (SELECT value->>0 FROM json_each(?))`, keys)
	if err != nil {
		return err
	}
	loaded := 0
	for rows.Next() {
		var id, created, size int64
		var rpLC string
		var rp, env, ret sql.NullString
		var raw []byte
		if err := rows.Scan(&id, &rpLC, &rp, &env, &ret, &created, &size, &raw); err != nil {
			rows.Close()
			return err
		}
		if rp.Valid {
			rpLC = rp.String
		}
		for _, i := range byMsg[id] {
			j := &jobs[i]
			j.ReturnPath, j.EnvID, j.Ret, j.Created = rpLC, env.String, ret.String, time.Unix(created, 0).UTC()
			j.Size, j.Raw = size, raw
			loaded++
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	if loaded != len(jobs) {
		return fmt.Errorf("%d of %d claimed messages not found", len(jobs)-loaded, len(jobs))
	}
	rows, err = tx.dquery(`SELECT r.msg_id, r.domain_idx, r.address_lc, r.address, r.status, r.code, r.enhanced, r.message, r.orcpt, r.notify
		FROM recipients r WHERE r.msg_id IN (SELECT value->>0 FROM json_each(?1))
		AND r.status IN `+pendingSQL+` ORDER BY r.msg_id, r.idx`, keys)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id, dom int64
		var lc string
		var r Recipient
		var addr, enh, msg, orcpt sql.NullString
		var notify int
		if err := rows.Scan(&id, &dom, &lc, &addr, &r.Status, &r.Code, &enh, &msg, &orcpt, &notify); err != nil {
			return err
		}
		i, ok := byDomain[[2]int64{id, dom}]
		if !ok {
			continue // a domain of the message not claimed now
		}
		r.Address, r.Enhanced, r.Message, r.ORCPT, r.Notify = lc, enh.String, msg.String, orcpt.String, Notify(notify)
		if addr.Valid {
			r.Address = addr.String
		}
		jobs[i].Recipients = append(jobs[i].Recipients, r)
	}
	return rows.Err()
}

// rcptRow is a recipient row with its index.
type rcptRow struct {
	Recipient
	idx int
}

// domainRecipients reads the recipients of one domain of a message.
func (tx *Tx) domainRecipients(id int64, domainIdx int) ([]rcptRow, error) {
	rows, err := tx.dquery("SELECT idx, address_lc, address, status, code, enhanced, message, orcpt, notify FROM recipients WHERE msg_id = ? AND domain_idx = ? ORDER BY idx", id, domainIdx)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []rcptRow
	for rows.Next() {
		var r rcptRow
		var lc string
		var addr, enh, msg, orcpt sql.NullString
		var notify int
		if err := rows.Scan(&r.idx, &lc, &addr, &r.Status, &r.Code, &enh, &msg, &orcpt, &notify); err != nil {
			return nil, err
		}
		r.Address = lc
		if addr.Valid {
			r.Address = addr.String
		}
		r.Enhanced, r.Message, r.ORCPT, r.Notify = enh.String, msg.String, orcpt.String, Notify(notify)
		out = append(out, r)
	}
	return out, rows.Err()
}

// Release hands the leases back (only those still held by their worker):
// the domains become claimable again at once, their schedule untouched.
func (q *Queue) Release(ctx context.Context, leases []Lease) error {
	if len(leases) == 0 {
		return nil
	}
	err := q.Update(ctx, func(tx *Tx) error {
		if err := tx.needWrite("release"); err != nil {
			return err
		}
		for _, l := range leases {
			if _, err := tx.dexec("UPDATE domains SET locked_until = NULL, locked_by = NULL WHERE msg_id = ? AND idx = ? AND locked_by = ?", int64(l.Message), l.DomainIdx, l.Worker); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("release: %w", err)
	}
	return nil
}

// Renew extends the leases held by worker to lease (DefaultLease when 0)
// from now, in one statement.
func (q *Queue) Renew(ctx context.Context, worker string, lease time.Duration) error {
	if lease <= 0 {
		lease = DefaultLease
	}
	err := q.Update(ctx, func(tx *Tx) error {
		if err := tx.needWrite("renew"); err != nil {
			return err
		}
		_, err := tx.dexec("UPDATE domains SET locked_until = ? WHERE locked_by = ? AND status IN "+pendingSQL, q.clock().Add(lease).Unix(), worker)
		return err
	})
	if err != nil {
		return fmt.Errorf("renew leases: %w", err)
	}
	return nil
}

// NextDue returns the earliest due of the pending domains that are not
// leased (or whose lease has run out) and not held, or the earliest end of a
// hold when that comes first (Claim then clears the hold, and NextDue
// answers the domain's own due). A domain leased now becomes claimable when
// its lease runs out: a worker finds it by claiming now and then
// (Deliverer.Run does at least every second). It reads two indexes, never
// the whole queue.
func (q *Queue) NextDue(ctx context.Context) (time.Time, bool, error) {
	var t sql.NullInt64
	err := q.reader.QueryRowContext(ctx, `SELECT min(t) FROM (
		SELECT * FROM (SELECT d.due AS t FROM domains d
			WHERE d.status IN `+pendingSQL+` AND d.hold_since IS NULL AND (d.locked_until IS NULL OR d.locked_until < ?)
			AND `+liveCond("d.msg_id")+`
			ORDER BY d.due LIMIT 1)
		UNION ALL
		SELECT * FROM (SELECT d.hold_until AS t FROM domains d
			WHERE d.status IN `+pendingSQL+` AND d.hold_since IS NOT NULL AND d.hold_until IS NOT NULL
			AND `+liveCond("d.msg_id")+`
			ORDER BY d.hold_until LIMIT 1))`, q.clock().Unix()).Scan(&t)
	if err != nil {
		return time.Time{}, false, q.fileError("read queue", err)
	}
	if !t.Valid {
		return time.Time{}, false, nil
	}
	return time.Unix(t.Int64, 0).UTC(), true, nil
}

// Changed returns a channel that receives a value when the queue file has
// been changed by another connection (another process, or another handle in
// this one) since the last check: it watches SQLite's data_version on one
// read connection every interval (at least 10ms), which costs a few
// microseconds and never scans the queue. The channel holds at most one
// signal; it is closed when ctx ends. The first reading is taken before
// Changed returns, so that a change committed at any time after it is told
// (read in the watching goroutine, a change made before that goroutine ran
// was missed, and an idle server slept through it).
func (q *Queue) Changed(ctx context.Context, interval time.Duration) <-chan struct{} {
	if interval < 10*time.Millisecond {
		interval = 10 * time.Millisecond
	}
	ch := make(chan struct{}, 1)
	conn, err := q.reader.Conn(ctx)
	version := func() int64 {
		var v int64
		if err := conn.QueryRowContext(ctx, "PRAGMA data_version").Scan(&v); err != nil {
			return -1
		}
		return v
	}
	var last int64
	if err == nil {
		last = version()
	}
	go func() {
		defer close(ch)
		if err != nil {
			return
		}
		defer conn.Close()
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			if v := version(); v != last {
				last = v
				select {
				case ch <- struct{}{}:
				default:
				}
			}
		}
	}()
	return ch
}

// The delivery verbs run the same few statements many times in one
// transaction: they are prepared once per transaction (Tx.stmt).

func (tx *Tx) dexec(q string, args ...any) (sql.Result, error) {
	s, err := tx.stmt(q)
	if err != nil {
		return nil, err
	}
	return s.ExecContext(tx.ctx, args...)
}

func (tx *Tx) dquery(q string, args ...any) (*sql.Rows, error) {
	s, err := tx.stmt(q)
	if err != nil {
		return nil, err
	}
	return s.QueryContext(tx.ctx, args...)
}

// stmtRow is a row of drow, or the error of preparing its statement.
type stmtRow struct {
	row *sql.Row
	err error
}

func (r stmtRow) Scan(dest ...any) error {
	if r.err != nil {
		return r.err
	}
	return r.row.Scan(dest...)
}

func (tx *Tx) drow(q string, args ...any) stmtRow {
	s, err := tx.stmt(q)
	if err != nil {
		return stmtRow{err: err}
	}
	return stmtRow{row: s.QueryRowContext(tx.ctx, args...)}
}
