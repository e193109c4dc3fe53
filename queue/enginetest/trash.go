package enginetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"mqsh/queue"
)

// The trash: cancel moves messages there whole, restore and purge, the
// retention and its lazy purge, and ids queued again.

// trashQueue is a queue of n enqueued messages with bodies and arrival
// details, every third from bulk@spam.example, every fifth held on arrival,
// each to two domains.
func (s *suite) trashQueue(t *testing.T, n int) (queue.Backend, queue.Trasher, *Clock, []queue.ID) {
	t.Helper()
	q, c := s.queue(t)
	tr, ok := q.(queue.Trasher)
	if !ok {
		t.Fatalf("%T is not a queue.Trasher", q)
	}
	var out []queue.ID
	for i := range n {
		sender := fmt.Sprintf("user%d@ok.example", i)
		if i%3 == 0 {
			sender = "bulk@spam.example"
		}
		env := queue.Envelope{Sender: sender, Ret: "HDRS", Client: queue.Client{IP: "192.0.2.9", User: "u", Helo: "h.example"}, Held: i%5 == 0,
			Recipients: []queue.EnvelopeRecipient{{Address: fmt.Sprintf("a%d@gmail.com", i), Notify: queue.NotifyFailure}, {Address: "b@example.org"}}}
		m, err := q.Enqueue(context.Background(), env, []byte(fmt.Sprintf("Subject: message %d\r\n\r\n%s\r\n", i, strings.Repeat("x", i))))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m.ID)
	}
	return q, tr, c, out
}

// fullState is everything a message is, for every queued message: its
// listing, its domains' holds, what Get adds (arrival details, NOTIFY), its
// text.
func fullState(t *testing.T, q queue.Backend) string {
	t.Helper()
	var b strings.Builder
	for _, m := range snapshot(t, q) {
		got := mustGet(t, q, m.ID)
		raw, err := q.Raw(context.Background(), m.ID)
		if err != nil {
			t.Fatal(err)
		}
		doms := m.Domains
		m.Domains = nil
		fmt.Fprintf(&b, "%s due %s %+v %q\n", m.ID, m.Due(), m, raw)
		for _, d := range doms {
			h := d.Hold
			d.Hold = nil
			fmt.Fprintf(&b, "  %+v\n", d)
			if h != nil {
				fmt.Fprintf(&b, "  %s held %+v\n", d.Name, *h)
			}
		}
		for _, d := range got.Domains {
			for _, r := range d.Recipients {
				fmt.Fprintf(&b, "  %s notify %d\n", r.Address, r.Notify)
			}
		}
		fmt.Fprintf(&b, "  ret %q client %+v\n", got.Ret, got.Client)
	}
	return b.String()
}

func lastSeq(t *testing.T, q queue.Backend) int64 {
	t.Helper()
	a, err := q.Audit(context.Background(), queue.AuditQuery{Limit: 1})
	if err != nil || len(a) != 1 {
		t.Fatalf("audit: %v %v", a, err)
	}
	return a[0].Seq
}

func trashIDs(t *testing.T, tr queue.Trasher, f queue.Filter) []queue.ID {
	t.Helper()
	tm, err := tr.TrashList(context.Background(), f, queue.Page{})
	if err != nil {
		t.Fatal(err)
	}
	out := []queue.ID{}
	for _, m := range tm {
		out = append(out, m.ID)
	}
	return out
}

func (s *suite) trashCancelRestore(t *testing.T) {
	ctx := context.Background()
	q, tr, c, all := s.trashQueue(t, 12)
	before := fullState(t, q)
	c.Set(Now.Add(time.Minute))
	res, err := q.Cancel(ctx, queue.CancelRequest{Filter: queue.Filter{Sender: []string{"bulk@spam.example"}}})
	if err != nil || res.Count != 4 {
		t.Fatalf("cancel: %+v %v", res, err)
	}
	seq := lastSeq(t, q)
	if _, err := q.Raw(ctx, all[0]); !errors.Is(err, queue.ErrNotFound) {
		t.Errorf("a cancelled message is still readable: %v", err)
	}
	tm, err := tr.TrashList(ctx, queue.Filter{}, queue.Page{})
	if err != nil {
		t.Fatal(err)
	}
	if len(tm) != 4 {
		t.Fatalf("trash holds %d messages, want 4", len(tm))
	}
	for i, m := range tm {
		if m.ID != all[i*3] || m.Verb != "cancel" || m.Seq != seq || !m.TrashedAt.Equal(Now.Add(time.Minute)) {
			t.Errorf("trashed %d: %s %s #%d at %s", i, m.ID, m.Verb, m.Seq, m.TrashedAt)
		}
		if m.ReturnPath != "bulk@spam.example" || len(m.Domains) != 2 || m.Client.IP != "192.0.2.9" || m.Ret != "HDRS" ||
			m.Domains[0].Recipients[0].Notify != queue.NotifyFailure {
			t.Errorf("trashed %s read back as %+v", m.ID, m.Message)
		}
		// Every fifth message was held on arrival: the trash lists its hold.
		if held := i*3%5 == 0; m.Held != held || (m.Domains[0].Hold != nil) != held {
			t.Errorf("trashed %s listed held %v (domain hold %+v), want %v", m.ID, m.Held, m.Domains[0].Hold, held)
		}
	}
	// The trash is filtered and paged like the queue.
	if got := trashIDs(t, tr, queue.Filter{IDs: []queue.ID{all[3], all[1]}}); !slices.Equal(got, []queue.ID{all[3]}) {
		t.Errorf("trash list by id: %v", got)
	}
	if got := trashIDs(t, tr, queue.Filter{Sender: []string{"user1@ok.example"}}); len(got) != 0 {
		t.Errorf("trash list of a live sender: %v", got)
	}
	if page, err := tr.TrashList(ctx, queue.Filter{}, queue.Page{After: all[3], Limit: 2}); err != nil || len(page) != 2 || page[0].ID != all[6] || page[1].ID != all[9] {
		t.Errorf("trash page after %s: %v %v", all[3], page, err)
	}

	// A dry run restores nothing.
	res, err = tr.TrashRestore(ctx, queue.TrashRequest{Filter: queue.Filter{Sender: []string{"bulk@spam.example"}}, DryRun: true})
	if err != nil || res.Count != 4 || !res.DryRun || mustCount(t, q, queue.Filter{}) != 8 {
		t.Fatalf("dry run restore: %+v %v", res, err)
	}
	if _, err := tr.TrashRestore(ctx, queue.TrashRequest{}); !errors.Is(err, queue.ErrEmptyFilter) {
		t.Errorf("restore without a filter: %v", err)
	}
	res, err = tr.TrashRestore(ctx, queue.TrashRequest{Filter: queue.Filter{Sender: []string{"bulk@spam.example"}}})
	if err != nil || res.Count != 4 || res.Domains["gmail.com"] != 4 {
		t.Fatalf("restore: %+v %v", res, err)
	}
	if after := fullState(t, q); after != before {
		t.Errorf("restored queue differs:\nbefore\n%s\nafter\n%s", before, after)
	}
	if got := trashIDs(t, tr, queue.Filter{}); len(got) != 0 {
		t.Errorf("trash after restore: %v", got)
	}
	checkDue(t, q)
	if a := auditRows(t, q); a[0].Verb != "restore" || a[0].Count != 4 {
		t.Errorf("audit of restore: %+v", a[0])
	}
}

func (s *suite) trashCancelAll(t *testing.T) {
	ctx := context.Background()
	q, tr, _, all := s.trashQueue(t, 20)
	before := fullState(t, q)
	res, err := q.Cancel(ctx, queue.CancelRequest{Filter: queue.Filter{All: true}})
	if err != nil || res.Count != 20 || mustCount(t, q, queue.Filter{}) != 0 {
		t.Fatalf("cancel --all: %+v %v", res, err)
	}
	if !slices.Equal(res.IDs, all) || len(res.Domains) != 2 || res.Domains["gmail.com"] != 20 || res.Domains["example.org"] != 20 {
		t.Errorf("cancel --all reported %v, per domain %v", res.IDs, res.Domains)
	}
	if a := auditRows(t, q); a[0].Verb != "cancel" || a[0].Count != 20 || !slices.Equal(a[0].IDs, all) {
		t.Errorf("audit of cancel --all: %+v", a[0])
	}
	if got := trashIDs(t, tr, queue.Filter{}); !slices.Equal(got, all) {
		t.Fatalf("trash holds %v", got)
	}
	if _, err := tr.TrashRestore(ctx, queue.TrashRequest{Filter: queue.Filter{All: true}}); err != nil {
		t.Fatal(err)
	}
	if after := fullState(t, q); after != before {
		t.Errorf("restored queue differs:\nbefore\n%s\nafter\n%s", before, after)
	}
}

// A recipient cancel that empties a message trashes it in its cancelled
// state; one that leaves a message queued trashes nothing.
func (s *suite) trashRecipientCancel(t *testing.T) {
	ctx := context.Background()
	q, tr, _, all := s.trashQueue(t, 3)
	if _, err := q.Cancel(ctx, queue.CancelRequest{Filter: queue.Filter{IDs: all[:1], Recipient: []string{"*"}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Cancel(ctx, queue.CancelRequest{Filter: queue.Filter{IDs: all[1:2], Recipient: []string{"@gmail.com"}}}); err != nil {
		t.Fatal(err)
	}
	tm, err := tr.TrashList(ctx, queue.Filter{}, queue.Page{})
	if err != nil || len(tm) != 1 || tm[0].ID != all[0] {
		t.Fatalf("trash: %+v %v", tm, err)
	}
	if d := tm[0].Domains[0]; d.Status != queue.PermFail || d.Details != "Delivery canceled." {
		t.Errorf("the emptied message is trashed as %+v", d)
	}
}

// Nothing of a purged message is left: its id imported again without a
// text has none.
func checkPurged(t *testing.T, q queue.Backend, id queue.ID) {
	t.Helper()
	put(t, q, msg(id, "again@x.example", Now, "r@y.example"))
	if raw, err := q.Raw(context.Background(), id); err != nil || raw != nil {
		t.Errorf("message %s imported again after its purge has the old text %q (%v)", id, raw, err)
	}
}

func (s *suite) trashRetention(t *testing.T) {
	ctx := context.Background()
	q, tr, c, all := s.trashQueue(t, 6)
	if d, err := tr.TrashRetention(ctx); err != nil || d != queue.DefaultTrashRetention {
		t.Fatalf("default retention %s %v", d, err)
	}
	if _, err := q.Cancel(ctx, queue.CancelRequest{Filter: queue.Filter{IDs: all[:2]}}); err != nil {
		t.Fatal(err)
	}
	// Six days later nothing has expired; eight days later a write purges
	// the first two.
	c.Set(Now.Add(6 * 24 * time.Hour))
	if _, err := q.Cancel(ctx, queue.CancelRequest{Filter: queue.Filter{IDs: all[2:3]}}); err != nil {
		t.Fatal(err)
	}
	if got := trashIDs(t, tr, queue.Filter{}); len(got) != 3 {
		t.Fatalf("after 6 days the trash holds %v", got)
	}
	c.Set(Now.Add(8 * 24 * time.Hour))
	if _, err := q.Cancel(ctx, queue.CancelRequest{Filter: queue.Filter{IDs: all[3:4]}}); err != nil {
		t.Fatal(err)
	}
	if got := trashIDs(t, tr, queue.Filter{}); !slices.Equal(got, all[2:4]) {
		t.Fatalf("after 8 days the trash holds %v, want %v", got, all[2:4])
	}
	// purge without a filter takes the expired ones only.
	c.Set(Now.Add(13*24*time.Hour + time.Hour))
	res, err := tr.TrashPurge(ctx, queue.TrashRequest{})
	if err != nil || !slices.Equal(res.IDs, all[2:3]) || res.Domains["gmail.com"] != 1 {
		t.Fatalf("purge of the expired: %+v %v", res, err)
	}
	if a := auditRows(t, q); a[0].Verb != "purge" || a[0].Filter != "expired" {
		t.Errorf("audit of the purge: %+v", a[0])
	}
	// With a filter, the matching ones; with All, everything.
	if res, err = tr.TrashPurge(ctx, queue.TrashRequest{Filter: queue.Filter{Sender: []string{"nobody@x.example"}}}); err != nil || res.Count != 0 {
		t.Fatalf("purge by sender: %+v %v", res, err)
	}
	if res, err = tr.TrashPurge(ctx, queue.TrashRequest{Filter: queue.Filter{All: true}, DryRun: true}); err != nil || res.Count != 1 || len(trashIDs(t, tr, queue.Filter{})) != 1 {
		t.Fatalf("dry run purge: %+v %v", res, err)
	}
	if res, err = tr.TrashPurge(ctx, queue.TrashRequest{Filter: queue.Filter{All: true}}); err != nil || res.Count != 1 {
		t.Fatalf("purge all: %+v %v", res, err)
	}
	if got := trashIDs(t, tr, queue.Filter{}); len(got) != 0 {
		t.Errorf("after purge --all the trash holds %v", got)
	}
	for _, id := range all[:4] {
		checkPurged(t, q, id)
	}

	// Retention 0: no trash, and the text is gone with the message.
	if err := tr.SetTrashRetention(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if d, err := tr.TrashRetention(ctx); err != nil || d != 0 {
		t.Errorf("retention after setting 0: %s %v", d, err)
	}
	if a := auditRows(t, q); a[0].Verb != "trash-retention" || a[0].Filter != "retention=0s" {
		t.Errorf("audit of the retention: %+v", a[0])
	}
	if _, err := q.Cancel(ctx, queue.CancelRequest{Filter: queue.Filter{IDs: all[4:5]}}); err != nil {
		t.Fatal(err)
	}
	if got := trashIDs(t, tr, queue.Filter{}); len(got) != 0 {
		t.Errorf("with retention 0 the trash keeps %v", got)
	}
	checkPurged(t, q, all[4])
	if err := tr.SetTrashRetention(ctx, -time.Second); err == nil {
		t.Error("a negative retention is taken")
	}
}

// An id queued again (an import that keeps ids) replaces its trashed copy,
// text included; new ids never take a trashed message's.
func (s *suite) trashImportAgain(t *testing.T) {
	ctx := context.Background()
	q, tr, _, all := s.trashQueue(t, 2)
	if _, err := q.Cancel(ctx, queue.CancelRequest{Filter: queue.Filter{All: true}}); err != nil {
		t.Fatal(err)
	}
	checkPurged(t, q, all[0])
	if got := trashIDs(t, tr, queue.Filter{}); !slices.Equal(got, all[1:]) {
		t.Errorf("after importing a trashed id again: trash %v", got)
	}
	if res, err := tr.TrashRestore(ctx, queue.TrashRequest{Filter: queue.Filter{All: true}}); err != nil || res.Count != 1 {
		t.Errorf("restore of the rest: %+v %v", res, err)
	}
	// The demo's documented messages can be loaded again after a cancel.
	for range 2 {
		if _, err := q.LoadDemo(ctx, 0, 1); err != nil {
			t.Fatalf("loading the demo: %v", err)
		}
		if _, err := q.Cancel(ctx, queue.CancelRequest{Filter: queue.Filter{All: true}}); err != nil {
			t.Fatal(err)
		}
	}
	if got := trashIDs(t, tr, queue.Filter{IDs: queue.DocumentedIDs}); len(got) != len(queue.DocumentedIDs) {
		t.Errorf("the demo's documented messages in the trash: %v", got)
	}
	n := enqueue(t, q, envTo("a@b.example", "c@d.example"))
	if slices.Contains(trashIDs(t, tr, queue.Filter{}), n.ID) {
		t.Errorf("new message %s took a trashed id", n.ID)
	}
}
