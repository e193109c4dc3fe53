package pgqueue

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"mqsh/queue"
)

// pageSize is how many messages Each and Batches read at a time.
const pageSize = 1000

// probeLimit is the size under which a due or created range is read whole
// and sorted for a page, rather than found by walking the ids.
const probeLimit = 4000

const msgCols = "m.id, m.rp_lc, m.rp, m.created, m.size, m.env_id, m.priority"

// scanMessage reads the msgCols of a row.
func scanMessage(row pgx.Row) (queue.Message, error) {
	var (
		m       queue.Message
		id      int64
		rp, env *string
		created int64
	)
	if err := row.Scan(&id, &m.ReturnPath, &rp, &created, &m.Size, &env, &m.Priority); err != nil {
		return m, err
	}
	m.ID, m.Created = queue.ID(id), fromUnix(created)
	if rp != nil {
		m.ReturnPath = *rp
	}
	if env != nil {
		m.EnvID = *env
	}
	return m, nil
}

// page reads one keyset page of whole messages: id > after, at most limit
// (0 = all), in id order.
func (tx *Tx) page(f queue.Filter, after queue.ID, limit int) ([]queue.Message, error) {
	if len(f.Header) > 0 && limit > 0 { // a page reads texts until it is full
		var err error
		if f, err = tx.resolveHeaders(f, after, tx.q.clock().Unix(), limit); err != nil {
			return nil, err
		}
	}
	var a args
	s, err := tx.compile(f, &a, after)
	if err != nil || s.empty {
		return nil, err
	}
	order := " ORDER BY m.id"
	var hours []int64
	few := false // a due range alone that holds few messages after the page's start
	if s.ranged && !s.keyed && limit > 0 {
		// A created range of a few hours or days is read hour by hour, a
		// page of each hour at most (messages_created_hour), whether it
		// holds few messages or many, near or far on in id order.
		if f.DueAfter.IsZero() && f.DueBefore.IsZero() {
			if hours, err = tx.createdHours(f); err != nil {
				return nil, err
			}
		}
		// Otherwise a range that holds few messages is read whole through
		// its index and sorted (id + 0 keeps the planner from walking the
		// ids instead, which finds a cluster of matches far on only late);
		// a created range that holds many is read hour by hour.
		if len(hours) == 0 {
			// A due range alone is counted in its index (message_due_due),
			// without visiting the messages.
			probe := "SELECT 1 FROM messages m" + s.where()
			if s.idsAlone() {
				probe = s.ids
			}
			var n int
			if err := tx.tx.QueryRow(tx.ctx, "SELECT count(*) FROM ("+probe+" LIMIT "+strconv.Itoa(probeLimit)+") x", a...).Scan(&n); err != nil {
				return nil, err
			}
			if n < probeLimit {
				order = " ORDER BY m.id + 0"
				few = s.idsAlone()
			} else if hours, err = tx.createdHours(f); err != nil {
				return nil, err
			}
		}
	}
	q := "SELECT " + msgCols + " FROM messages m" + s.where() + order
	if limit > 0 {
		lim := a.add(limit)
		q += " LIMIT " + lim
		if few {
			// The page's ids come from the range's index alone, and only
			// they are looked up (a join the planner would otherwise make
			// by walking the ids from the page's start).
			q = "SELECT " + msgCols + " FROM (" + s.ids + " ORDER BY 1 LIMIT " + lim + ") x JOIN messages m ON m.id = x.msg_id ORDER BY m.id"
		}
		if len(hours) > 0 {
			// Each hour's matches in id order (messages_created_hour),
			// merged: a page reads about a page of each hour.
			parts := make([]string, len(hours))
			for i, h := range hours {
				parts[i] = "(SELECT " + msgCols + " FROM messages m" + s.where("m.created / 3600 = "+strconv.FormatInt(h, 10)) + " ORDER BY m.id LIMIT " + lim + ")"
			}
			q = "SELECT * FROM (" + strings.Join(parts, " UNION ALL ") + ") m ORDER BY m.id LIMIT " + lim
		}
	}
	rows, err := tx.tx.Query(tx.ctx, q, a...)
	if err != nil {
		return nil, err
	}
	var out []queue.Message
	for rows.Next() {
		m, err := scanMessage(rows)
		if err != nil {
			rows.Close()
			return nil, err
		}
		out = append(out, m)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for i := 0; i < len(out); i += pageSize {
		if err := tx.loadParts(out[i:min(i+pageSize, len(out))]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// maxHours is how many hours of arrival a created range may span to be
// read hour by hour; a wider one walks the ids.
const maxHours = 48

// createdHours returns the hours of arrival (unix seconds / 3600, as
// messages_created_hour keys them) that f's created range spans, nil when
// it has none or spans more than maxHours. An open end is the queue's
// oldest or newest message.
func (tx *Tx) createdHours(f queue.Filter) ([]int64, error) {
	if f.CreatedAfter.IsZero() && f.CreatedBefore.IsZero() {
		return nil, nil
	}
	var lo, hi *int64
	if !f.CreatedAfter.IsZero() {
		v := queue.AfterSecond(f.CreatedAfter) + 1
		lo = &v
	} else if err := tx.tx.QueryRow(tx.ctx, "SELECT min(created) FROM messages").Scan(&lo); err != nil {
		return nil, err
	}
	if !f.CreatedBefore.IsZero() {
		v := queue.BeforeSecond(f.CreatedBefore) - 1
		hi = &v
	} else if err := tx.tx.QueryRow(tx.ctx, "SELECT max(created) FROM messages").Scan(&hi); err != nil {
		return nil, err
	}
	if lo == nil || hi == nil || *hi < *lo {
		return nil, nil
	}
	// Go's division truncates as PostgreSQL's does, so these are the keys
	// the index holds for the range's ends, whatever their sign.
	first, last := *lo/3600, *hi/3600
	if last-first >= maxHours {
		return nil, nil
	}
	var out []int64
	for h := first; h <= last; h++ {
		out = append(out, h)
	}
	return out, nil
}

// loadParts fills in the domains and recipients of msgs (ascending ids).
func (tx *Tx) loadParts(msgs []queue.Message) error {
	ptrs := make([]*queue.Message, len(msgs))
	for i := range msgs {
		ptrs[i] = &msgs[i]
	}
	return tx.readParts(tx.tx, ptrs, nil)
}

// readParts fills in the domains and recipients of msgs (ascending ids),
// with each domain's hold as it stands now: from the live tables, or, when
// seqs is given (each message's trash seq), from the trash's (whose
// recipients also keep their NOTIFY flags).
func (tx *Tx) readParts(db pgx.Tx, msgs []*queue.Message, seqs []int64) error {
	if len(msgs) == 0 {
		return nil
	}
	ids := make([]int64, len(msgs))
	at := make(map[int64]int, len(msgs))
	for i, m := range msgs {
		ids[i] = int64(m.ID)
		at[ids[i]] = i
		m.Domains, m.Held = nil, false
	}
	domains, rcpts, where, notify, args := "domains", "recipients", "x.msg_id = ANY($1)", "", []any{ids}
	if seqs != nil {
		domains, rcpts, notify = "trash_domains", "trash_recipients", ", x.notify"
		where, args = "(x.trash_seq, x.msg_id) IN (SELECT * FROM unnest($2::bigint[], $1::bigint[]))", append(args, seqs)
	}
	now := tx.q.clock().Unix()
	type key struct {
		msg int64
		idx int32
	}
	dom := map[key]int{} // a domain's index in its message's Domains
	rows, err := db.Query(tx.ctx, "SELECT x.msg_id, x.idx, x.name, x.status, x.details, x.retry_num, x.due, x.notify, x.expires, "+strings.ReplaceAll(holdCols, "d.", "x.")+" FROM "+domains+" x WHERE "+where+" ORDER BY x.msg_id, x.idx", args...)
	if err != nil {
		return err
	}
	for rows.Next() {
		var (
			mid          int64
			idx          int32
			d            queue.Domain
			status       int16
			details      *string
			due, expires int64
			notify       *int64
			since, until *int64
			by, reason   *string
			rule         *int64
		)
		if err := rows.Scan(&mid, &idx, &d.Name, &status, &details, &d.RetryNum, &due, &notify, &expires, &since, &until, &by, &reason, &rule); err != nil {
			rows.Close()
			return err
		}
		d.Status, d.Due, d.Expires, d.Details = queue.Status(status), fromUnix(due), fromUnix(expires), orString(details, "")
		if notify != nil {
			d.NotifyAt = fromUnix(*notify)
		}
		m := msgs[at[mid]]
		if d.Hold = holdNow(d.Status, since, until, by, reason, rule, now); d.Hold != nil {
			m.Held = true
		}
		dom[key{mid, idx}] = len(m.Domains)
		m.Domains = append(m.Domains, d)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	rows, err = db.Query(tx.ctx, "SELECT x.msg_id, x.domain_idx, x.address_lc, x.address, x.status, x.code, x.enhanced, x.message, x.orcpt"+notify+" FROM "+rcpts+" x WHERE "+where+" ORDER BY x.msg_id, x.idx", args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			mid                       int64
			didx                      int32
			r                         queue.Recipient
			addr, enh, message, orcpt *string
			status, flags             int16
		)
		dst := []any{&mid, &didx, &r.Address, &addr, &status, &r.Code, &enh, &message, &orcpt}
		if notify != "" {
			dst = append(dst, &flags)
		}
		if err := rows.Scan(dst...); err != nil {
			return err
		}
		r.Status, r.Notify = queue.Status(status), queue.Notify(flags)
		r.Address = orString(addr, r.Address)
		r.Enhanced, r.Message, r.ORCPT = orString(enh, ""), orString(message, ""), orString(orcpt, "")
		k, ok := dom[key{mid, didx}]
		if !ok {
			return fmt.Errorf("message %s: recipient %s belongs to a missing domain", queue.ID(mid), r.Address)
		}
		m := msgs[at[mid]]
		m.Domains[k].Recipients = append(m.Domains[k].Recipients, r)
	}
	return rows.Err()
}

func orString(p *string, def string) string {
	if p == nil {
		return def
	}
	return *p
}

// List returns the messages matching f with id > p.After, in ascending id
// order, at most p.Limit (0 = all).
func (tx *Tx) List(f queue.Filter, p queue.Page) ([]queue.Message, error) {
	if err := tx.check(); err != nil {
		return nil, err
	}
	if err := f.Validate(); err != nil {
		return nil, fmt.Errorf("list: %w", err)
	}
	out, err := tx.page(f, p.After, p.Limit)
	if err != nil {
		return nil, tx.q.dbError("list", err)
	}
	return out, nil
}

// Each calls fn for every message matching f in ascending id order, a page
// at a time; fn may call the transaction's other verbs.
func (tx *Tx) Each(f queue.Filter, fn func(m *queue.Message) error) error {
	if err := tx.check(); err != nil {
		return err
	}
	if err := f.Validate(); err != nil {
		return fmt.Errorf("each: %w", err)
	}
	return tx.batches(f, "each", func(msgs []queue.Message) error {
		for i := range msgs {
			if err := fn(&msgs[i]); err != nil {
				return err
			}
		}
		return nil
	})
}

// batches calls fn with the messages matching f, a page at a time.
func (tx *Tx) batches(f queue.Filter, verb string, fn func(msgs []queue.Message) error) error {
	var after queue.ID
	for {
		if err := tx.ctx.Err(); err != nil {
			return err
		}
		msgs, err := tx.page(f, after, pageSize)
		if err != nil {
			return tx.q.dbError(verb, err)
		}
		if len(msgs) > 0 {
			if err := fn(msgs); err != nil {
				return err
			}
		}
		if len(msgs) < pageSize {
			return nil
		}
		after = msgs[len(msgs)-1].ID
	}
}

// Batches calls fn with every message matching f, in ascending id order, a
// thousand at a time, all read from one snapshot.
func (q *Queue) Batches(ctx context.Context, f queue.Filter, fn func(msgs []queue.Message) error) error {
	return q.view(ctx, func(tx *Tx) error {
		if err := f.Validate(); err != nil {
			return fmt.Errorf("list: %w", err)
		}
		return tx.batches(f, "list", fn)
	})
}

// Count returns how many messages match f.
func (tx *Tx) Count(f queue.Filter) (int, error) {
	if err := tx.check(); err != nil {
		return 0, err
	}
	var a args
	s, err := tx.compile(f, &a, 0)
	if err != nil {
		return 0, fmt.Errorf("count: %w", err)
	}
	if s.empty {
		return 0, nil
	}
	q := "SELECT count(*) FROM messages m" + s.where()
	if s.idsAlone() {
		q = "SELECT count(*) FROM (" + s.ids + ") x" // the index alone
	}
	var n int
	if err := tx.tx.QueryRow(tx.ctx, q, a...).Scan(&n); err != nil {
		return 0, tx.q.dbError("count", err)
	}
	return n, nil
}

// Get returns one message with what its arrival recorded; queue.ErrNotFound
// when no message has that id.
func (tx *Tx) Get(id queue.ID) (*queue.Message, error) {
	if err := tx.check(); err != nil {
		return nil, err
	}
	if uint64(id) > math.MaxInt64 {
		return nil, queue.NotFoundError(id)
	}
	var ret, ip, user, helo *string
	row := tx.tx.QueryRow(tx.ctx, "SELECT "+msgCols+", m.ret, m.client_ip, m.client_user, m.client_helo FROM messages m WHERE m.id = $1", int64(id))
	var m queue.Message
	var mid, created int64
	var rp, env *string
	err := row.Scan(&mid, &m.ReturnPath, &rp, &created, &m.Size, &env, &m.Priority, &ret, &ip, &user, &helo)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, queue.NotFoundError(id)
	}
	if err != nil {
		return nil, tx.q.dbError("get", err)
	}
	m.ID, m.Created, m.ReturnPath, m.EnvID = queue.ID(mid), fromUnix(created), orString(rp, m.ReturnPath), orString(env, "")
	m.Ret = orString(ret, "")
	m.Client = queue.Client{IP: orString(ip, ""), User: orString(user, ""), Helo: orString(helo, "")}
	msgs := []queue.Message{m}
	if err := tx.loadParts(msgs); err != nil {
		return nil, tx.q.dbError("get", err)
	}
	rows, err := tx.tx.Query(tx.ctx, "SELECT address_lc, notify FROM recipients WHERE msg_id = $1 AND notify != 0", mid)
	if err != nil {
		return nil, tx.q.dbError("get", err)
	}
	notify := map[string]queue.Notify{}
	for rows.Next() {
		var a string
		var n int16
		if err := rows.Scan(&a, &n); err != nil {
			rows.Close()
			return nil, tx.q.dbError("get", err)
		}
		notify[a] = queue.Notify(n)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, tx.q.dbError("get", err)
	}
	for d := range msgs[0].Domains {
		for r := range msgs[0].Domains[d].Recipients {
			rc := &msgs[0].Domains[d].Recipients[r]
			rc.Notify = notify[strings.ToLower(rc.Address)]
		}
	}
	return &msgs[0], nil
}

// Raw returns the text of a message, nil when it was not kept;
// queue.ErrNotFound when no message has that id.
func (tx *Tx) Raw(id queue.ID) ([]byte, error) {
	if err := tx.check(); err != nil {
		return nil, err
	}
	if uint64(id) > math.MaxInt64 {
		return nil, queue.NotFoundError(id)
	}
	var raw []byte
	err := tx.tx.QueryRow(tx.ctx, "SELECT b.raw FROM messages m LEFT JOIN bodies b ON b.msg_id = m.id WHERE m.id = $1", int64(id)).Scan(&raw)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, queue.NotFoundError(id)
	}
	if err != nil {
		return nil, tx.q.dbError("raw", err)
	}
	return raw, nil
}

// Summary groups the messages matching f (see queue.Tx.Summary).
func (tx *Tx) Summary(f queue.Filter, by string) ([]queue.SummaryRow, error) {
	if err := tx.check(); err != nil {
		return nil, err
	}
	var a args
	s, err := tx.compile(f, &a, 0)
	if err != nil {
		return nil, fmt.Errorf("summary: %w", err)
	}
	if err := queue.CheckSummaryBy(by); err != nil {
		return nil, err
	}
	agg := "count(*), coalesce(sum(m.size), 0)::bigint, min(m.created), max(m.created)"
	var q string
	switch by {
	case "domain":
		q = "SELECT d.name, " + agg + " FROM messages m JOIN domains d ON d.msg_id = m.id" + s.where() + " GROUP BY d.name ORDER BY 2 DESC, 1"
	case "sender":
		q = "SELECT m.rp_lc, " + agg + " FROM messages m" + s.where() + " GROUP BY m.rp_lc ORDER BY 2 DESC, 1"
	case "status":
		q = "SELECT x.status::text, " + agg + " FROM (SELECT DISTINCT r.msg_id, r.status FROM recipients r WHERE r.msg_id IN (SELECT m.id FROM messages m" + s.where() +
			")) x JOIN messages m ON m.id = x.msg_id GROUP BY x.status ORDER BY x.status"
	case "age":
		var b strings.Builder
		b.WriteString("CASE")
		now := a.add(tx.q.clock().Unix())
		for i, d := range queue.AgeBuckets {
			fmt.Fprintf(&b, " WHEN %s - m.created < %d THEN %d", now, int64(d.Seconds()), i)
		}
		fmt.Fprintf(&b, " ELSE %d END", len(queue.AgeBuckets))
		q = "SELECT (" + b.String() + ")::text, " + agg + " FROM messages m" + s.where() + " GROUP BY 1 ORDER BY 1"
	}
	var out []queue.SummaryRow
	if !s.empty {
		rows, err := tx.tx.Query(tx.ctx, q, a...)
		if err != nil {
			return nil, tx.q.dbError("summary", err)
		}
		for rows.Next() {
			var (
				key            string
				r              queue.SummaryRow
				oldest, newest *int64
			)
			if err := rows.Scan(&key, &r.Count, &r.Size, &oldest, &newest); err != nil {
				rows.Close()
				return nil, tx.q.dbError("summary", err)
			}
			if oldest != nil {
				r.Oldest, r.Newest = fromUnix(*oldest), fromUnix(*newest)
			}
			r.Key = summaryKey(by, key)
			out = append(out, r)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, tx.q.dbError("summary", err)
		}
	}
	if by == "age" {
		full := make([]queue.SummaryRow, len(queue.AgeBuckets)+1)
		for i := range full {
			full[i].Key = queue.AgeLabel(i)
		}
		for _, r := range out {
			for i := range full {
				if full[i].Key == r.Key {
					full[i] = r
				}
			}
		}
		out = full
	}
	return out, nil
}

// summaryKey turns a group's key as read into what Summary shows.
func summaryKey(by, key string) string {
	var n int
	fmt.Sscan(key, &n)
	switch by {
	case "status":
		return queue.Status(n).Short()
	case "age":
		return queue.AgeLabel(n)
	case "sender":
		if key == "" {
			return "<>"
		}
	}
	return key
}

// Suggest returns up to limit (default 20) distinct values of a kind
// starting with prefix, sorted (see queue.Tx.Suggest). Each kind is a skip
// scan of an index: one seek per value.
func (tx *Tx) Suggest(kind, prefix string, limit int) ([]string, error) {
	if err := tx.check(); err != nil {
		return nil, err
	}
	if err := queue.CheckSuggestKind(kind); err != nil {
		return nil, err
	}
	if limit <= 0 {
		limit = 20
	}
	var out []string
	var err error
	p := strings.ToLower(prefix)
	switch kind {
	case queue.SuggestID:
		out, err = tx.suggestIDs(prefix, limit)
	case queue.SuggestSender:
		if strings.HasPrefix("<>", p) {
			var one bool
			if err = tx.tx.QueryRow(tx.ctx, "SELECT EXISTS (SELECT 1 FROM messages WHERE rp_lc = '')").Scan(&one); err == nil && one {
				out = append(out, "<>")
				limit--
			}
		}
		if err == nil {
			var more []string
			more, err = tx.skipScan("messages", "rp_lc", p, limit, "rp_lc <> ''")
			out = append(out, more...)
		}
	case queue.SuggestRecipient:
		if rest, ok := strings.CutPrefix(p, "@"); ok {
			var doms []string
			doms, err = tx.skipScan("domains", "name", rest, limit, "")
			for _, d := range doms {
				out = append(out, "@"+d)
			}
		} else {
			out, err = tx.skipScan("recipients", "address_lc", p, limit, "")
		}
	case queue.SuggestDomain:
		out, err = tx.skipScan("domains", "name", strings.ToLower(strings.TrimPrefix(prefix, "@")), limit, "")
	}
	if err != nil {
		return nil, tx.q.dbError("suggest", err)
	}
	sort.Strings(out)
	return out, nil
}

// skipScan returns up to limit distinct values of an indexed column that
// start with prefix, in one recursive query that seeks once per value.
func (tx *Tx) skipScan(table, col, prefix string, limit int, extra string) ([]string, error) {
	if limit <= 0 {
		return nil, nil
	}
	var a args
	lo := a.add(prefix)
	bound := ""
	if upper, ok := queue.PrefixUpper(prefix); ok {
		bound = " AND " + col + " < " + a.add(upper)
	}
	if extra != "" {
		bound += " AND " + extra
	}
	q := "WITH RECURSIVE s(v) AS ((SELECT " + col + " FROM " + table + " WHERE " + col + " >= " + lo + bound + " ORDER BY " + col + " LIMIT 1)" +
		" UNION ALL SELECT (SELECT " + col + " FROM " + table + " WHERE " + col + " > s.v" + bound + " ORDER BY " + col + " LIMIT 1) FROM s WHERE s.v IS NOT NULL)" +
		" SELECT v FROM s WHERE v IS NOT NULL LIMIT " + a.add(limit)
	rows, err := tx.tx.Query(tx.ctx, q, a...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// suggestIDs reads ids in the ranges that print with the prefix.
func (tx *Tx) suggestIDs(prefix string, limit int) ([]string, error) {
	var out []string
	for _, r := range queue.IDPrefixRanges(prefix) {
		if len(out) >= limit {
			break
		}
		rows, err := tx.tx.Query(tx.ctx, "SELECT id FROM messages WHERE id BETWEEN $1 AND $2 ORDER BY id LIMIT $3", r[0], r[1], limit-len(out))
		if err != nil {
			return nil, err
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		if err != nil {
			return nil, err
		}
		for _, id := range ids {
			out = append(out, queue.ID(id).String())
		}
	}
	return out, nil
}

// Audit returns audit entries, newest first.
func (tx *Tx) Audit(aq queue.AuditQuery) ([]queue.AuditEntry, error) {
	if err := tx.check(); err != nil {
		return nil, err
	}
	if err := queue.CheckTime("audit since", aq.Since); err != nil {
		return nil, err
	}
	var a args
	var w []string
	if !aq.Since.IsZero() {
		w = append(w, "at >= "+a.add(aq.Since.UnixMilli()))
	}
	if aq.Verb != "" {
		w = append(w, "verb = "+a.add(aq.Verb))
	}
	q := "SELECT seq, at, username, source, verb, filter, count, ids FROM audit"
	if len(w) > 0 {
		q += " WHERE " + strings.Join(w, " AND ")
	}
	q += " ORDER BY seq DESC"
	if aq.Limit > 0 {
		q += " LIMIT " + a.add(aq.Limit)
	}
	rows, err := tx.tx.Query(tx.ctx, q, a...)
	if err != nil {
		return nil, tx.q.dbError("audit", err)
	}
	defer rows.Close()
	var out []queue.AuditEntry
	for rows.Next() {
		var e queue.AuditEntry
		var at int64
		var ids []int64
		if err := rows.Scan(&e.Seq, &at, &e.User, &e.Source, &e.Verb, &e.Filter, &e.Count, &ids); err != nil {
			return nil, tx.q.dbError("audit", err)
		}
		e.At = fromUnixMilli(at)
		for _, id := range ids {
			e.IDs = append(e.IDs, queue.ID(id))
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, tx.q.dbError("audit", err)
	}
	return out, nil
}
