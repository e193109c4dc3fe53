package queue

import (
	"cmp"
	"database/sql"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// What the bulk write verbs (Retry, Cancel) share: the matched ids
// collected in a temporary table, their per-domain counts, and the due
// recomputed after a change.

// selTable is the temporary table the bulk verbs collect matched ids in (the
// writer has one connection, so it is private to the running transaction).
const selTable = "temp.mqsh_sel"

// selectInto fills selTable with the ids matching f.
func (tx *Tx) selectInto(f Filter) error {
	s, err := tx.compile(f, false)
	if err != nil {
		return err
	}
	if _, err := tx.tx.ExecContext(tx.ctx, "CREATE TEMP TABLE IF NOT EXISTS mqsh_sel(id INTEGER PRIMARY KEY)"); err != nil {
		return err
	}
	if _, err := tx.tx.ExecContext(tx.ctx, "DELETE FROM "+selTable); err != nil {
		return err
	}
	if s.empty {
		return nil
	}
	q, args := s.idsSQL()
	_, err = tx.tx.ExecContext(tx.ctx, "INSERT OR IGNORE INTO "+selTable+"(id) "+q, args...)
	return err
}

// selected returns the ids in selTable, ascending.
func (tx *Tx) selected() ([]ID, error) {
	return tx.tableIDs(selTable)
}

// tableIDs returns the ids of a table keyed by id INTEGER PRIMARY KEY
// (selTable, messages), ascending as SQLite orders them (as signed
// integers, like ORDER BY id). SQLite joins them into one text and Go
// splits it: a row at a time through database/sql, the 75,000 ids of a
// cancel --all took 30 to 85 ms to read, as one text 8 to 13 ms.
func (tx *Tx) tableIDs(table string) ([]ID, error) {
	var n int
	var text sql.NullString
	if err := tx.tx.QueryRowContext(tx.ctx, "SELECT count(*), group_concat(id) FROM "+table).Scan(&n, &text); err != nil {
		return nil, err
	}
	if !text.Valid {
		return nil, nil
	}
	out := make([]ID, 0, n)
	sorted := true
	for rest := text.String; rest != ""; {
		field := rest
		if i := strings.IndexByte(rest, ','); i >= 0 {
			field, rest = rest[:i], rest[i+1:]
		} else {
			rest = ""
		}
		id, err := strconv.ParseInt(field, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("read the ids of %s: %w", table, err)
		}
		if len(out) > 0 && int64(out[len(out)-1]) >= id {
			sorted = false
		}
		out = append(out, ID(id))
	}
	if !sorted { // a table scan runs in id order; should one not, sort
		slices.SortFunc(out, func(a, b ID) int { return cmp.Compare(int64(a), int64(b)) })
	}
	return out, nil
}

// queryIDs runs a query of one id column and returns the ids in its order.
func (tx *Tx) queryIDs(q string, args ...any) ([]ID, error) {
	rows, err := tx.tx.QueryContext(tx.ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []ID
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, ID(id))
	}
	return out, rows.Err()
}

// queryIDSet is queryIDs as a set.
func (tx *Tx) queryIDSet(q string, args ...any) (map[ID]bool, error) {
	ids, err := tx.queryIDs(q, args...)
	out := make(map[ID]bool, len(ids))
	for _, id := range ids {
		out[id] = true
	}
	return out, err
}

// selectedDomains counts the messages in selTable per domain name, from
// the domains table named (domains, or trash_domains for the trash).
func (tx *Tx) selectedDomains(table string) (map[string]int, error) {
	return tx.breakdown("SELECT d.name, count(*) FROM " + selTable + " s CROSS JOIN " + table + " d ON d.msg_id = s.id GROUP BY d.name")
}

// breakdown runs a "name, count" query into a map.
func (tx *Tx) breakdown(q string, args ...any) (map[string]int, error) {
	rows, err := tx.tx.QueryContext(tx.ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return ScanCounts(rows)
}

const pendingSQL = "(0,2)" // the pending states, Scheduled and TempFail

// refreshDue recomputes messages.due for the messages in selTable.
func (tx *Tx) refreshDue() error {
	_, err := tx.tx.ExecContext(tx.ctx, "UPDATE messages SET due = (SELECT min(d.due) FROM domains d WHERE d.msg_id = messages.id AND d.status IN "+pendingSQL+") WHERE id IN (SELECT id FROM "+selTable+")")
	return err
}

// verbError wraps an error of a write verb: a filter error as it is, SQLite
// errors in the words of fileError.
func (tx *Tx) verbError(verb string, err error) error {
	if ctxErr := tx.ctx.Err(); ctxErr != nil {
		return fmt.Errorf("%s: %w (nothing was changed)", verb, ctxErr)
	}
	return tx.q.fileError(verb, err)
}
