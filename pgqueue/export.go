package pgqueue

import (
	"context"
	"fmt"
	"io"

	"github.com/jackc/pgx/v5"

	"mqsh/queue"
)

// queue export on PostgreSQL: every selected message as the JSON line
// queue.Message.AppendExportJSON writes (the message as Get reads it, with
// its text), read from one snapshot, so that `queue export` of a file
// imported here exports again byte for byte.

var _ queue.Exporter = (*Queue)(nil)

// Export writes the messages f selects to w, one JSON line each in
// ascending id order, read from one snapshot, and returns how many.
func (q *Queue) Export(ctx context.Context, f queue.Filter, w io.Writer) (int, error) {
	n := 0
	err := q.view(ctx, func(tx *Tx) error {
		var buf []byte
		var after queue.ID
		for {
			msgs, err := tx.List(f, queue.Page{After: after, Limit: pageSize})
			if err != nil || len(msgs) == 0 {
				return err
			}
			ids := make([]int64, len(msgs))
			for i := range msgs { // with what a listing leaves out: RET, client, NOTIFY, holds
				full, err := tx.Get(msgs[i].ID)
				if err != nil {
					return err
				}
				msgs[i], ids[i] = *full, int64(msgs[i].ID)
			}
			raws, err := tx.bodies(ids)
			if err != nil {
				return err
			}
			buf = buf[:0]
			for i := range msgs {
				if buf, err = msgs[i].AppendExportJSON(buf, raws[ids[i]]); err != nil {
					return fmt.Errorf("encode message %s: %w", msgs[i].ID, err)
				}
				buf = append(buf, '\n')
			}
			n += len(msgs)
			if _, err := w.Write(buf); err != nil {
				return err
			}
			if len(msgs) < pageSize {
				return nil
			}
			after = msgs[len(msgs)-1].ID
		}
	})
	if err != nil {
		return n, fmt.Errorf("export: %w", q.scrub(err))
	}
	return n, nil
}

// bodies reads the texts of messages ids that have one.
func (tx *Tx) bodies(ids []int64) (map[int64][]byte, error) {
	rows, err := tx.tx.Query(tx.ctx, "SELECT msg_id, raw FROM bodies WHERE "+idSet("msg_id", "$1"), ids)
	if err != nil {
		return nil, err
	}
	out := make(map[int64][]byte, len(ids))
	var id int64
	var raw []byte
	_, err = pgx.ForEachRow(rows, []any{&id, &raw}, func() error {
		out[id] = raw
		raw = nil
		return nil
	})
	return out, err
}
