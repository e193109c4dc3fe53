package pgqueue

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"mqsh/internal/pgtest"
	"mqsh/queue"
)

// A created range whose many matches lie far on in id order (messages
// arrive in id order, so the last hours come last) gives its first page
// without walking the ids before it: the page reads the range hour by hour
// (messages_created_hour), each hour's messages in id order.
func TestCreatedRangeFirstPageReadsFewRows(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 1, 15, 12, 0, 0, 0, time.UTC)
	src := filepath.Join(t.TempDir(), "q.jsonl")
	if err := queue.WriteDemoJSON(src, 30_000, 42, now); err != nil {
		t.Fatal(err)
	}
	q, err := Open(ctx, pgtest.URL(t), Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	f, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := q.ImportJSON(ctx, f); err != nil {
		t.Fatal(err)
	}
	conn, err := q.pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "ANALYZE"); err != nil {
		t.Fatal(err)
	}
	conn.Release()

	var oldest, newest int64
	if err := q.pool.QueryRow(ctx, "SELECT min(created), max(created) FROM messages").Scan(&oldest, &newest); err != nil {
		t.Fatal(err)
	}
	// The last fifth of the queue's time: thousands of matches, all late.
	from := time.Unix(newest-(newest-oldest)/5, 0)
	filter := queue.Filter{CreatedAfter: from, CreatedBefore: time.Unix(newest+1, 0)}
	all, err := q.List(ctx, filter, queue.Page{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) < probeLimit {
		t.Fatalf("the range holds %d messages, want at least %d for the test", len(all), probeLimit)
	}
	err = q.view(ctx, func(tx *Tx) error {
		var after queue.ID
		for _, want := range [][]queue.Message{all[:20], all[len(all)/2 : len(all)/2+20]} {
			var before int64
			if err := tx.tx.QueryRow(ctx, "SELECT coalesce(sum(idx_tup_fetch + seq_tup_read), 0) FROM pg_stat_xact_user_tables WHERE relname = 'messages'").Scan(&before); err != nil {
				return err
			}
			if want[0].ID != all[0].ID {
				after = all[len(all)/2-1].ID
			}
			got, err := tx.page(filter, after, 20)
			if err != nil {
				return err
			}
			var read int64
			if err := tx.tx.QueryRow(ctx, "SELECT coalesce(sum(idx_tup_fetch + seq_tup_read), 0) FROM pg_stat_xact_user_tables WHERE relname = 'messages'").Scan(&read); err != nil {
				return err
			}
			read -= before
			if len(got) != 20 {
				t.Fatalf("page after %s: %d messages, want 20", after, len(got))
			}
			for i := range got {
				if got[i].ID != want[i].ID {
					t.Fatalf("page after %s: message %d is %s, want %s", after, i, got[i].ID, want[i].ID)
				}
			}
			// The probe reads up to probeLimit rows; a walk of the ids
			// would read the ~24,000 messages before the range.
			if read > 2*probeLimit {
				t.Errorf("page after %s read %d rows of messages, want at most %d", after, read, 2*probeLimit)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
