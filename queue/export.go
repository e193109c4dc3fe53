package queue

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
)

// queue export: every selected message as a JSON line that ImportJSON reads
// back whole: the message as MarshalJSON writes it (statuses, due times,
// retry counts, notices, RET, client, hold, NOTIFY) and its RFC 5322 text,
// base64, in the field "message" (absent when no text was kept).

// Exporter is implemented by a queue engine that can write messages with
// their texts (the SQLite engine); callers find it by type assertion.
type Exporter interface {
	Export(ctx context.Context, f Filter, w io.Writer) (int, error)
}

var _ Exporter = (*Queue)(nil)

// Export writes the messages f selects to w, one JSON line each in
// ascending id order, read from one snapshot, and returns how many.
func (q *Queue) Export(ctx context.Context, f Filter, w io.Writer) (int, error) {
	n := 0
	err := q.View(ctx, func(tx *Tx) error {
		var buf []byte
		var after ID
		for {
			msgs, err := tx.List(f, Page{After: after, Limit: eachPage})
			if err != nil || len(msgs) == 0 {
				return err
			}
			for i := range msgs { // with what a listing leaves out: RET, client, NOTIFY
				full, err := tx.Get(msgs[i].ID)
				if err != nil {
					return err
				}
				msgs[i] = *full
			}
			buf = buf[:0]
			for i := range msgs {
				raw, err := tx.Raw(msgs[i].ID)
				if err != nil {
					return err
				}
				if buf, err = msgs[i].AppendExportJSON(buf, raw); err != nil {
					return fmt.Errorf("encode message %s: %w", msgs[i].ID, err)
				}
				buf = append(buf, '\n')
			}
			n += len(msgs)
			if _, err := w.Write(buf); err != nil {
				return err
			}
			if len(msgs) < eachPage {
				return nil
			}
			after = msgs[len(msgs)-1].ID
		}
	})
	if err != nil {
		return n, fmt.Errorf("export: %w", err)
	}
	return n, nil
}

// AppendExportJSON appends the message as MarshalJSON writes it, with its
// text (raw, base64) in the field "message" when raw is not nil.
func (m *Message) AppendExportJSON(dst, raw []byte) ([]byte, error) {
	dst, err := m.AppendJSON(dst)
	if err != nil || raw == nil {
		return dst, err
	}
	dst = append(dst[:len(dst)-1], `,"message":"`...) // over the closing brace
	dst = base64.StdEncoding.AppendEncode(dst, raw)
	return append(dst, `"}`...), nil
}
