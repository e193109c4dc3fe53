package queue

// What SMTP ingest records about a message besides its envelope: the DSN
// parameters (RET per message, NOTIFY per recipient), the client it came
// from, a FUTURERELEASE hold and an arrival policy's hold. They live in the
// columns of schema step 2 and are written after the message's rows, in the
// same savepoint as Enqueue's, so a message is stored whole or not at all.

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// Notify holds the DSN NOTIFY flags of a recipient (RFC 3461). The zero
// value means the client gave none (Stalwart then reports failures and
// delays).
type Notify uint8

// The NOTIFY keywords. Never excludes the others.
const (
	NotifySuccess Notify = 1 << iota
	NotifyFailure
	NotifyDelay
	NotifyNever
)

var notifyWords = [...]struct {
	bit  Notify
	word string
}{{NotifySuccess, "SUCCESS"}, {NotifyFailure, "FAILURE"}, {NotifyDelay, "DELAY"}, {NotifyNever, "NEVER"}}

// String gives the flags as in RCPT TO: SUCCESS,FAILURE or NEVER; "" for none.
func (n Notify) String() string {
	var words []string
	for _, w := range notifyWords {
		if n&w.bit != 0 {
			words = append(words, w.word)
		}
	}
	return strings.Join(words, ",")
}

// ParseNotify reads a NOTIFY value such as "SUCCESS,DELAY" or "never", in
// any case. NEVER may not be combined with another keyword.
func ParseNotify(s string) (Notify, error) {
	var n Notify
	for _, part := range strings.Split(s, ",") {
		found := false
		for _, w := range notifyWords {
			if strings.EqualFold(strings.TrimSpace(part), w.word) {
				n |= w.bit
				found = true
			}
		}
		if !found {
			return 0, fmt.Errorf("invalid NOTIFY %q: want NEVER, or any of SUCCESS, FAILURE and DELAY separated by commas", s)
		}
	}
	if n&NotifyNever != 0 && n != NotifyNever {
		return 0, fmt.Errorf("invalid NOTIFY %q: NEVER cannot be combined with other keywords", s)
	}
	return n, nil
}

// Client says where a message came from, for later filters and for the
// Received header's reader.
type Client struct {
	IP   string `json:"ip,omitempty"`   // the client's address, e.g. 192.0.2.7 or 2001:db8::1
	User string `json:"user,omitempty"` // the user it authenticated as; empty when it did not
	Helo string `json:"helo,omitempty"` // the name it gave in HELO/EHLO
}

// IsZero reports whether nothing is recorded.
func (c Client) IsZero() bool { return c == Client{} }

// hasArrival reports whether env carries anything storeArrival writes.
func (env *Envelope) hasArrival() bool {
	if env.Ret != "" || !env.Client.IsZero() || !env.HoldUntil.IsZero() || env.Held {
		return true
	}
	for _, r := range env.Recipients {
		if r.Notify != 0 {
			return true
		}
	}
	return false
}

// checkArrival checks the fields of env that storeArrival writes.
func checkArrival(env *Envelope) error {
	switch env.Ret {
	case "", "FULL", "HDRS":
	default:
		return fmt.Errorf("invalid RET %q: want FULL or HDRS", env.Ret)
	}
	for _, r := range env.Recipients {
		if r.Notify&NotifyNever != 0 && r.Notify != NotifyNever {
			return fmt.Errorf("recipient %s: NOTIFY=NEVER cannot be combined with other keywords", r.Address)
		}
	}
	for _, s := range []string{env.Client.IP, env.Client.User, env.Client.Helo} {
		if err := checkPrintable(s); err != nil {
			return fmt.Errorf("client %q: %w", s, err)
		}
	}
	return nil
}

// storeArrival writes what env carries besides the envelope into the rows of
// the new message m, and sets the same fields in m: the message's RET,
// client and hold, the recipients' NOTIFY, and a FUTURERELEASE hold, which
// moves the domains' due, notice and expiry times by the time held.
func (tx *Tx) storeArrival(m *Message, env *Envelope) error {
	if !env.hasArrival() {
		return nil
	}
	if err := checkArrival(env); err != nil {
		return err
	}
	shift := applyArrival(m, env)
	ctx, id := tx.ctx, int64(m.ID)
	held := 0
	if env.Held {
		held = 1
	}
	if _, err := tx.tx.ExecContext(ctx, "UPDATE messages SET ret = ?, client_ip = ?, client_user = ?, client_helo = ?, held = ? WHERE id = ?",
		nullable(env.Ret), nullable(env.Client.IP), nullable(env.Client.User), nullable(env.Client.Helo), held, id); err != nil {
		return err
	}
	for i := range m.Domains {
		for _, r := range m.Domains[i].Recipients {
			if r.Notify == 0 {
				continue
			}
			if _, err := tx.tx.ExecContext(ctx, "UPDATE recipients SET notify = ? WHERE msg_id = ? AND address_lc = ?", int(r.Notify), id, strings.ToLower(r.Address)); err != nil {
				return err
			}
		}
	}
	if shift > 0 { // applyArrival moved the times in m: the rows too
		secs := int64(shift / time.Second)
		if _, err := tx.tx.ExecContext(ctx, "UPDATE domains SET due = due + ?1, notify = notify + ?1, expires = expires + ?1 WHERE msg_id = ?2", secs, id); err != nil {
			return err
		}
		if _, err := tx.tx.ExecContext(ctx, "UPDATE messages SET due = due + ? WHERE id = ?", secs, id); err != nil {
			return err
		}
	}
	return nil
}

// loadArrival fills in the fields of schema step 2 of the messages msgs (read
// by Get; List leaves them zero).
func (tx *Tx) loadArrival(msgs []Message) error {
	for i := range msgs {
		m := &msgs[i]
		var ret, ip, user, helo sql.NullString
		var held int
		err := tx.tx.QueryRowContext(tx.ctx, "SELECT ret, client_ip, client_user, client_helo, held FROM messages WHERE id = ?", int64(m.ID)).Scan(&ret, &ip, &user, &helo, &held)
		if err != nil {
			return err
		}
		m.Ret, m.Client, m.Held = ret.String, Client{IP: ip.String, User: user.String, Helo: helo.String}, held != 0
		rows, err := tx.tx.QueryContext(tx.ctx, "SELECT address_lc, notify FROM recipients WHERE msg_id = ? AND notify != 0", int64(m.ID))
		if err != nil {
			return err
		}
		notify := map[string]Notify{}
		for rows.Next() {
			var a string
			var n int
			if err := rows.Scan(&a, &n); err != nil {
				rows.Close()
				return err
			}
			notify[a] = Notify(n)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for d := range m.Domains {
			for r := range m.Domains[d].Recipients {
				rc := &m.Domains[d].Recipients[r]
				rc.Notify = notify[strings.ToLower(rc.Address)]
			}
		}
	}
	return nil
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// SetDurable switches the queue's commits between synchronous (on: every
// commit is written through to the disk before it returns, so that what an
// SMTP server acknowledged survives a power loss) and the default (off: a
// commit survives a crash of the program but may be lost with the power),
// for Update's write connection and Run's (UpdateDeferred's) alike.
// The setting belongs to the write connection, which database/sql replaces
// when a cancelled transaction leaves it in doubt, and SQLite refuses to
// change it inside a transaction: a server that must stay durable calls
// SetDurable before each of its write transactions (it is cheap).
func (q *Queue) SetDurable(ctx context.Context, on bool) error {
	if q.readOnly {
		return q.readOnlyError("change queue")
	}
	mode := "NORMAL"
	if on {
		mode = "FULL"
	}
	q.syncMode.Store(&mode) // for the deferred connections (UpdateDeferred)
	if _, err := q.writer.ExecContext(ctx, "PRAGMA synchronous = "+mode); err != nil {
		return q.fileError("set durable", err)
	}
	return nil
}
