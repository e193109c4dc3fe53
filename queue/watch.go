package queue

import (
	"context"
	"database/sql"
	"time"
)

// Watcher is implemented by a backend that can give `queue top` a cheap
// picture of the queue and its delivery rates (the SQLite engine). A backend
// without it (a remote Stalwart server) cannot; callers say so.
type Watcher interface {
	Snapshot(ctx context.Context, top int, window time.Duration) (*Snapshot, error)
}

var _ Watcher = (*Queue)(nil)

// Snapshot is the queue at one moment, for a live view: its size, its
// largest domains, its domains by state, and what arrived and what the
// delivery engine did in the last window.
type Snapshot struct {
	At       time.Time `json:"at"`
	Paused   bool      `json:"paused"`
	Messages int       `json:"messages"` // queued
	Held     int       `json:"held"`     // of them, held
	// Domains counts the recipient domains of the queued messages by state
	// word (scheduled, delivered, tempfail, permfail).
	Domains map[string]int `json:"domains"`
	// Top are the recipient domains with the most queued messages, most
	// first.
	Top   []DomainCount `json:"top"`
	Rates Rates         `json:"rates"`
}

// DomainCount is one domain of Snapshot.Top.
type DomainCount struct {
	Name     string `json:"name"`
	Messages int    `json:"messages"`
}

// Rates counts what happened in the window (Since, Until]: messages that
// arrived (queued by SMTP, add or the API: the audit's enqueue entries) and
// delivery attempts of a domain, by their reply: Delivered a 2xx, Bounced a
// 5xx, Deferred anything else (a 4xx, a timeout, a refused connection).
type Rates struct {
	Since     time.Time `json:"since"`
	Until     time.Time `json:"until"`
	Arrived   int       `json:"arrived"`
	Delivered int       `json:"delivered"`
	Deferred  int       `json:"deferred"`
	Bounced   int       `json:"bounced"`
}

// PerMinute is n over the window, per minute.
func (r Rates) PerMinute(n int) float64 {
	w := r.Until.Sub(r.Since)
	if w <= 0 {
		return 0
	}
	return float64(n) / w.Minutes()
}

// Snapshot reads the queue for `queue top`: top (at least 1) domains, rates
// over the window before now (a minute when 0). Every part is an index
// scan or reads only the window's rows of the attempts and audit tables
// (both are written in time order), so it can be asked every few seconds.
func (q *Queue) Snapshot(ctx context.Context, top int, window time.Duration) (*Snapshot, error) {
	if window <= 0 {
		window = time.Minute
	}
	top = max(top, 1)
	s := &Snapshot{Domains: map[string]int{}}
	err := q.View(ctx, func(tx *Tx) error {
		now := tx.q.now().UTC()
		s.At = now
		s.Rates = Rates{Since: now.Add(-window), Until: now}
		db := tx.tx
		// Messages filed for removal (removals.go) are counted only while
		// they wait to be swept: then each count skips them.
		filed, err := tx.hasRemovals()
		if err != nil {
			return err
		}
		live, dlive, dwhere, domains := "", "", "", "domains INDEXED BY domains_name"
		if filed {
			live, dlive, dwhere = " WHERE "+liveCond("id"), " AND "+liveCond("d.msg_id"), " WHERE "+liveCond("d.msg_id")
			domains = "domains d" + dwhere
		}
		if err := db.QueryRowContext(ctx, "SELECT (SELECT count(*) FROM messages"+live+"), (SELECT count(DISTINCT d.msg_id) FROM domains d WHERE "+activeHold+dlive+")", now.Unix()).Scan(&s.Messages, &s.Held); err != nil {
			return err
		}
		rows, err := db.QueryContext(ctx, "SELECT status, count(*) FROM domains d"+dwhere+" GROUP BY status")
		if err != nil {
			return err
		}
		for rows.Next() {
			var st Status
			var n int
			if err := rows.Scan(&st, &n); err != nil {
				rows.Close()
				return err
			}
			s.Domains[st.Short()] += n
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		rows, err = db.QueryContext(ctx, "SELECT name, count(*) FROM "+domains+" GROUP BY name ORDER BY 2 DESC, 1 LIMIT ?", top)
		if err != nil {
			return err
		}
		for rows.Next() {
			var d DomainCount
			if err := rows.Scan(&d.Name, &d.Messages); err != nil {
				rows.Close()
				return err
			}
			s.Top = append(s.Top, d)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		since := s.Rates.Since.UnixMilli()
		if err := db.QueryRowContext(ctx, "SELECT coalesce(sum(count), 0) FROM audit WHERE verb = 'enqueue' AND at > ? AND at <= ?", since, now.UnixMilli()).Scan(&s.Rates.Arrived); err != nil {
			return err
		}
		// The attempts, newest first, until the window's start.
		rows, err = db.QueryContext(ctx, "SELECT at, reply FROM attempts ORDER BY seq DESC")
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var at int64
			var reply sql.NullString
			if err := rows.Scan(&at, &reply); err != nil {
				return err
			}
			if at <= since {
				break
			}
			if at > now.UnixMilli() {
				continue
			}
			switch replyClass(reply.String) {
			case '2':
				s.Rates.Delivered++
			case '5':
				s.Rates.Bounced++
			default:
				s.Rates.Deferred++
			}
		}
		return rows.Err()
	})
	if err != nil {
		return nil, q.fileError("snapshot", err)
	}
	if s.Paused, err = q.Paused(ctx); err != nil {
		return nil, err
	}
	return s, nil
}
