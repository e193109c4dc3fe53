package pgqueue

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"mqsh/internal/pgtest"
	"mqsh/queue"
)

// A header filter reads the texts a batch at a time: pages stop reading
// once full, and every page, count and bulk selection agrees, whatever the
// batch size.
func TestHeaderFilterBatches(t *testing.T) {
	ctx := context.Background()
	now := func() time.Time { return time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC) }
	q, err := Open(ctx, pgtest.URL(t), Options{Now: now, User: "tester"})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	var want []queue.ID
	for i := range 11 {
		mailer := "Thunderbird"
		if i%3 != 1 {
			mailer = "BulkBlaster"
		}
		env := queue.Envelope{Sender: "s@a.example", Recipients: []queue.EnvelopeRecipient{{Address: fmt.Sprintf("x%d@b.example", i)}}}
		m, err := q.Enqueue(ctx, env, fmt.Appendf(nil, "Subject: %d\r\nX-Mailer: %s\r\n\r\nhi\r\n", i, mailer))
		if err != nil {
			t.Fatal(err)
		}
		if mailer == "BulkBlaster" {
			want = append(want, m.ID)
		}
	}
	f := queue.Filter{Header: []string{"x-mailer:bulk*"}}
	defer func() { headerBatch = 500 }()
	for _, batch := range []int{1, 2, 3, 500} {
		headerBatch = batch
		for _, page := range []int{1, 2, 3, 100} {
			var got []queue.ID
			var after queue.ID
			for {
				msgs, err := q.List(ctx, f, queue.Page{After: after, Limit: page})
				if err != nil {
					t.Fatal(err)
				}
				for _, m := range msgs {
					got = append(got, m.ID)
				}
				if len(msgs) < page {
					break
				}
				after = msgs[len(msgs)-1].ID
			}
			if !slices.Equal(got, want) {
				t.Errorf("batch %d, pages of %d: %v, want %v", batch, page, got, want)
			}
		}
		if n, err := q.Count(ctx, f); err != nil || n != len(want) {
			t.Errorf("batch %d: count %d %v, want %d", batch, n, err, len(want))
		}
		res, err := q.Cancel(ctx, queue.CancelRequest{Filter: f, DryRun: true})
		if err != nil || !slices.Equal(res.IDs, want) {
			t.Errorf("batch %d: cancel dry run %v %v, want %v", batch, res.IDs, err, want)
		}
	}
}
