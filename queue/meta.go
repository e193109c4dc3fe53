package queue

import (
	"database/sql"
	"errors"
)

// The meta table's values (key, integer value): the schema's settings and
// marks, such as the trash and audit retentions, the paused flag and the
// housekeeping's cursors.

// metaValue reads a meta value, 0 when unset.
func (tx *Tx) metaValue(key string) (int64, error) {
	var v int64
	err := tx.tx.QueryRowContext(tx.ctx, "SELECT value FROM meta WHERE key = ?", key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return v, err
}

// setMeta sets a meta value.
func (tx *Tx) setMeta(key string, v int64) error {
	_, err := tx.tx.ExecContext(tx.ctx, "INSERT INTO meta(key, value) VALUES(?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value", key, v)
	return err
}
