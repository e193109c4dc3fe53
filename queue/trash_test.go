package queue

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// trashQueue is a queue of n enqueued messages with bodies and arrival
// details, every third from bulk@spam.example, each to two domains.
func trashQueue(t *testing.T, n int) (*Queue, *clock, []ID) {
	t.Helper()
	q, c := openTest(t)
	var out []ID
	for i := range n {
		sender := fmt.Sprintf("user%d@ok.example", i)
		if i%3 == 0 {
			sender = "bulk@spam.example"
		}
		env := Envelope{Sender: sender, Ret: "HDRS", Client: Client{IP: "192.0.2.9", User: "u", Helo: "h.example"}, Held: i%5 == 0,
			Recipients: []EnvelopeRecipient{{Address: fmt.Sprintf("a%d@gmail.com", i), Notify: NotifyFailure}, {Address: "b@example.org"}}}
		m, err := q.Enqueue(t.Context(), env, []byte(fmt.Sprintf("Subject: message %d\r\n\r\n%s\r\n", i, strings.Repeat("x", i))))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m.ID)
	}
	return q, c, out
}

// fullState is everything a message is: its JSON, its arrival details, its
// body, the due column, for every queued message.
func fullState(t *testing.T, q *Queue) string {
	t.Helper()
	var b strings.Builder
	b.WriteString(snapshot(t, q))
	msgs, err := q.List(t.Context(), Filter{}, Page{})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		got := mustGet(t, q, m.ID)
		raw, err := q.Raw(t.Context(), m.ID)
		if err != nil {
			t.Fatal(err)
		}
		doms := got.Domains
		got.Domains = nil
		fmt.Fprintf(&b, "%s %+v %q\n", m.ID, *got, raw)
		got.Domains = doms
		for _, d := range doms {
			h := d.Hold
			d.Hold = nil
			fmt.Fprintf(&b, "  %+v\n", d)
			if h != nil {
				fmt.Fprintf(&b, "  %s held %+v\n", d.Name, *h)
			}
		}
	}
	return b.String()
}

func lastAuditSeq(t *testing.T, q *Queue) int64 {
	t.Helper()
	a, err := q.Audit(t.Context(), AuditQuery{Limit: 1})
	if err != nil || len(a) != 1 {
		t.Fatalf("audit: %v %v", a, err)
	}
	return a[0].Seq
}

func trashIDs(t *testing.T, q *Queue, f Filter) []ID {
	t.Helper()
	tm, err := q.TrashList(t.Context(), f, Page{})
	if err != nil {
		t.Fatal(err)
	}
	out := []ID{}
	for _, m := range tm {
		out = append(out, m.ID)
	}
	return out
}

func TestCancelMovesToTrashAndRestoreBringsBack(t *testing.T) {
	q, c, all := trashQueue(t, 12)
	before := fullState(t, q)
	c.Set(testNow.Add(time.Minute))
	res, err := q.Cancel(t.Context(), CancelRequest{Filter: Filter{Sender: []string{"bulk@spam.example"}}})
	if err != nil || res.Count != 4 {
		t.Fatalf("cancel: %+v %v", res, err)
	}
	seq := lastAuditSeq(t, q)
	if _, err := q.Raw(t.Context(), all[0]); !errors.Is(err, ErrNotFound) {
		t.Errorf("a cancelled message is still readable: %v", err)
	}
	tm, err := q.TrashList(t.Context(), Filter{}, Page{})
	if err != nil {
		t.Fatal(err)
	}
	if len(tm) != 4 {
		t.Fatalf("trash holds %d messages, want 4", len(tm))
	}
	for i, m := range tm {
		if m.ID != all[i*3] || m.Verb != "cancel" || m.Seq != seq || !m.TrashedAt.Equal(testNow.Add(time.Minute)) {
			t.Errorf("trashed %d: %s %s #%d at %s", i, m.ID, m.Verb, m.Seq, m.TrashedAt)
		}
		if m.ReturnPath != "bulk@spam.example" || len(m.Domains) != 2 || m.Client.IP != "192.0.2.9" || m.Ret != "HDRS" ||
			m.Domains[0].Recipients[0].Notify != NotifyFailure || m.Held != (i*3%5 == 0) {
			t.Errorf("trashed %s read back as %+v", m.ID, m.Message)
		}
	}
	// The trash is filtered like the queue.
	if got := trashIDs(t, q, Filter{IDs: []ID{all[3], all[1]}}); !slices.Equal(got, []ID{all[3]}) {
		t.Errorf("trash list by id: %v", got)
	}
	if got := trashIDs(t, q, Filter{Sender: []string{"user1@ok.example"}}); len(got) != 0 {
		t.Errorf("trash list of a live sender: %v", got)
	}

	// A dry run restores nothing.
	res, err = q.TrashRestore(t.Context(), TrashRequest{Filter: Filter{Sender: []string{"bulk@spam.example"}}, DryRun: true})
	if err != nil || res.Count != 4 || !res.DryRun || mustCount(t, q, Filter{}) != 8 {
		t.Fatalf("dry run restore: %+v %v", res, err)
	}
	if _, err := q.TrashRestore(t.Context(), TrashRequest{}); !errors.Is(err, ErrEmptyFilter) {
		t.Errorf("restore without a filter: %v", err)
	}
	res, err = q.TrashRestore(t.Context(), TrashRequest{Filter: Filter{Sender: []string{"bulk@spam.example"}}})
	if err != nil || res.Count != 4 || res.Domains["gmail.com"] != 4 {
		t.Fatalf("restore: %+v %v", res, err)
	}
	if after := fullState(t, q); after != before {
		t.Errorf("restored queue differs:\nbefore\n%s\nafter\n%s", before, after)
	}
	if got := trashIDs(t, q, Filter{}); len(got) != 0 {
		t.Errorf("trash after restore: %v", got)
	}
	checkNoOrphans(t, q, "restore")
	checkDue(t, q)
	if a, _ := q.Audit(t.Context(), AuditQuery{Limit: 1}); a[0].Verb != "restore" || a[0].Count != 4 {
		t.Errorf("audit of restore: %+v", a[0])
	}
}

func TestCancelAllGoesToTrash(t *testing.T) {
	q, _, all := trashQueue(t, 20)
	before := fullState(t, q)
	res, err := q.Cancel(t.Context(), CancelRequest{Filter: Filter{All: true}})
	if err != nil || res.Count != 20 || mustCount(t, q, Filter{}) != 0 {
		t.Fatalf("cancel --all: %+v %v", res, err)
	}
	if !slices.Equal(res.IDs, all) || len(res.Domains) != 2 || res.Domains["gmail.com"] != 20 || res.Domains["example.org"] != 20 {
		t.Errorf("cancel --all reported %v, per domain %v", res.IDs, res.Domains)
	}
	if a, _ := q.Audit(t.Context(), AuditQuery{Limit: 1}); a[0].Verb != "cancel" || a[0].Count != 20 || !slices.Equal(a[0].IDs, all) {
		t.Errorf("audit of cancel --all: %+v", a[0])
	}
	if got := trashIDs(t, q, Filter{}); !slices.Equal(got, all) {
		t.Fatalf("trash holds %v", got)
	}
	checkNoOrphans(t, q, "cancel --all")
	if _, err := q.TrashRestore(t.Context(), TrashRequest{Filter: Filter{All: true}}); err != nil {
		t.Fatal(err)
	}
	if after := fullState(t, q); after != before {
		t.Errorf("restored queue differs")
	}
}

// A recipient cancel that empties a message trashes it in its cancelled
// state; one that leaves a message queued trashes nothing.
func TestCancelRecipientsTrashesEmptiedMessages(t *testing.T) {
	q, _, all := trashQueue(t, 3)
	if _, err := q.Cancel(t.Context(), CancelRequest{Filter: Filter{IDs: all[:1], Recipient: []string{"*"}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Cancel(t.Context(), CancelRequest{Filter: Filter{IDs: all[1:2], Recipient: []string{"@gmail.com"}}}); err != nil {
		t.Fatal(err)
	}
	tm, err := q.TrashList(t.Context(), Filter{}, Page{})
	if err != nil || len(tm) != 1 || tm[0].ID != all[0] {
		t.Fatalf("trash: %+v %v", tm, err)
	}
	if d := tm[0].Domains[0]; d.Status != PermFail || d.Details != "Delivery canceled." {
		t.Errorf("the emptied message is trashed as %+v", d)
	}
	checkNoOrphans(t, q, "recipient cancels")
}

func TestTrashRetention(t *testing.T) {
	q, c, all := trashQueue(t, 6)
	if d, err := q.TrashRetention(t.Context()); err != nil || d != DefaultTrashRetention {
		t.Fatalf("default retention %s %v", d, err)
	}
	var bodies func() int = func() int {
		var n int
		q.reader.QueryRow("SELECT count(*) FROM bodies").Scan(&n)
		return n
	}
	if _, err := q.Cancel(t.Context(), CancelRequest{Filter: Filter{IDs: all[:2]}}); err != nil {
		t.Fatal(err)
	}
	if bodies() != 6 {
		t.Fatalf("bodies of trashed messages: %d rows, want 6", bodies())
	}
	// Six days later nothing has expired; eight days later a write purges
	// the first two.
	c.Set(testNow.Add(6 * 24 * time.Hour))
	if _, err := q.Cancel(t.Context(), CancelRequest{Filter: Filter{IDs: all[2:3]}}); err != nil {
		t.Fatal(err)
	}
	if got := trashIDs(t, q, Filter{}); len(got) != 3 {
		t.Fatalf("after 6 days the trash holds %v", got)
	}
	c.Set(testNow.Add(8 * 24 * time.Hour))
	if _, err := q.Cancel(t.Context(), CancelRequest{Filter: Filter{IDs: all[3:4]}}); err != nil {
		t.Fatal(err)
	}
	if got := trashIDs(t, q, Filter{}); !slices.Equal(got, all[2:4]) {
		t.Fatalf("after 8 days the trash holds %v, want %v", got, all[2:4])
	}
	if bodies() != 4 {
		t.Errorf("bodies after the purge: %d rows, want 4", bodies())
	}
	// purge without a filter takes the expired ones only.
	c.Set(testNow.Add(13*24*time.Hour + time.Hour))
	res, err := q.TrashPurge(t.Context(), TrashRequest{})
	if err != nil || !slices.Equal(res.IDs, all[2:3]) {
		t.Fatalf("purge of the expired: %+v %v", res, err)
	}
	// With a filter, the matching ones; with All, everything.
	if res, err = q.TrashPurge(t.Context(), TrashRequest{Filter: Filter{Sender: []string{"nobody@x.example"}}}); err != nil || res.Count != 0 {
		t.Fatalf("purge by sender: %+v %v", res, err)
	}
	if res, err = q.TrashPurge(t.Context(), TrashRequest{Filter: Filter{All: true}, DryRun: true}); err != nil || res.Count != 1 || len(trashIDs(t, q, Filter{})) != 1 {
		t.Fatalf("dry run purge: %+v %v", res, err)
	}
	if res, err = q.TrashPurge(t.Context(), TrashRequest{Filter: Filter{All: true}}); err != nil || res.Count != 1 {
		t.Fatalf("purge all: %+v %v", res, err)
	}
	if bodies() != 2 || len(trashIDs(t, q, Filter{})) != 0 {
		t.Errorf("after purge --all: %d bodies, trash %v", bodies(), trashIDs(t, q, Filter{}))
	}
	checkNoOrphans(t, q, "purges")

	// Retention 0: no trash.
	if err := q.SetTrashRetention(t.Context(), 0); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Cancel(t.Context(), CancelRequest{Filter: Filter{IDs: all[4:5]}}); err != nil {
		t.Fatal(err)
	}
	if len(trashIDs(t, q, Filter{})) != 0 || bodies() != 1 {
		t.Errorf("with retention 0 the trash keeps something: %d bodies", bodies())
	}
	if err := q.SetTrashRetention(t.Context(), -time.Second); err == nil {
		t.Error("a negative retention is taken")
	}
}

// An id queued again (an import that keeps ids) replaces its trashed copy,
// body included; the demo's documented messages can be loaded again.
func TestImportReplacesTrashedCopy(t *testing.T) {
	q, _ := openTest(t)
	if _, err := q.LoadDemo(t.Context(), 0, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Cancel(t.Context(), CancelRequest{Filter: Filter{All: true}}); err != nil {
		t.Fatal(err)
	}
	if len(trashIDs(t, q, Filter{})) != 6 {
		t.Fatal("the demo's six are not in the trash")
	}
	if _, err := q.LoadDemo(t.Context(), 0, 1); err != nil {
		t.Fatalf("loading the demo again: %v", err)
	}
	if got := trashIDs(t, q, Filter{}); len(got) != 0 {
		t.Errorf("trash after loading again: %v", got)
	}
	checkNoOrphans(t, q, "loading again")
	m := msg(0x77, "a@b.example", testNow, "c@d.example")
	put(t, q, m)
	q.Cancel(t.Context(), CancelRequest{Filter: Filter{IDs: []ID{0x77}}})
	put(t, q, m)
	if got := trashIDs(t, q, Filter{}); len(got) != 0 || mustCount(t, q, Filter{IDs: []ID{0x77}}) != 1 {
		t.Errorf("after importing a trashed id again: trash %v", got)
	}
	// New ids never take a trashed message's.
	q.Cancel(t.Context(), CancelRequest{Filter: Filter{All: true}})
	var raw bytes.Buffer
	raw.WriteString("Subject: new\r\n\r\nx\r\n")
	n, err := q.Enqueue(t.Context(), Envelope{Sender: "a@b.example", Recipients: []EnvelopeRecipient{{Address: "c@d.example"}}}, raw.Bytes())
	if err != nil || slices.Contains(trashIDs(t, q, Filter{}), n.ID) {
		t.Errorf("new message %v took a trashed id: %v", n, err)
	}
}

// A column a later schema step adds to a live table follows into the trash.
func TestTrashFollowsNewColumns(t *testing.T) {
	q, _, all := trashQueue(t, 2)
	if _, err := q.writer.Exec("ALTER TABLE domains ADD COLUMN extra TEXT; UPDATE domains SET extra = 'kept'"); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Cancel(t.Context(), CancelRequest{Filter: Filter{IDs: all[:1]}}); err != nil {
		t.Fatal(err)
	}
	if _, err := q.TrashRestore(t.Context(), TrashRequest{Filter: Filter{All: true}}); err != nil {
		t.Fatal(err)
	}
	var n int
	q.reader.QueryRow("SELECT count(*) FROM domains WHERE msg_id = ? AND extra = 'kept'", int64(all[0])).Scan(&n)
	if n != 2 {
		t.Errorf("the new column came back on %d domains, want 2", n)
	}
}

// A cancel that fails half-way, alone in its transaction (it takes no
// savepoint there) or inside a longer one (it does), leaves the queue and
// the trash as they were.
func TestFailedCancelChangesNothing(t *testing.T) {
	q, _, _ := trashQueue(t, 12)
	// The trash refuses recipients: the messages and domains are already
	// copied and nothing deleted yet when the cancel fails.
	if _, err := q.writer.Exec("CREATE TRIGGER refuse AFTER INSERT ON trash_recipients BEGIN SELECT RAISE(ABORT, 'disk says no'); END"); err != nil {
		t.Fatal(err)
	}
	before := fullState(t, q)
	seq := lastAuditSeq(t, q)
	check := func(how string, err error) {
		t.Helper()
		if err == nil || !strings.Contains(err.Error(), "disk says no") {
			t.Fatalf("%s: the cancel did not fail: %v", how, err)
		}
		if after := fullState(t, q); after != before {
			t.Errorf("%s: the failed cancel changed the queue:\nbefore\n%s\nafter\n%s", how, before, after)
		}
		if got := trashIDs(t, q, Filter{}); len(got) != 0 {
			t.Errorf("%s: the failed cancel left %v in the trash", how, got)
		}
		if s := lastAuditSeq(t, q); s != seq {
			t.Errorf("%s: the failed cancel was audited (#%d)", how, s)
		}
	}
	_, err := q.Cancel(t.Context(), CancelRequest{Filter: Filter{Sender: []string{"bulk@spam.example"}}})
	check("alone", err)
	_, err = q.Cancel(t.Context(), CancelRequest{Filter: Filter{All: true}})
	check("--all alone", err)
	// Inside a longer transaction that goes on and commits after the
	// failure, the savepoint takes the cancel back.
	var inner error
	err = q.Update(t.Context(), func(tx *Tx) error {
		_, inner = tx.Cancel(CancelRequest{Filter: Filter{Sender: []string{"bulk@spam.example"}}})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	check("inside a transaction that commits", inner)
}

// A bounce of the whole queue moves the bounced messages to the trash and
// leaves the failure notices it queued in the same change in the queue.
func TestBounceAllKeepsItsNotices(t *testing.T) {
	c := &clock{t: testNow}
	notice := func(n Notice, raw []byte) ([]byte, error) {
		return []byte("From: MAILER-DAEMON@mx.test\r\nSubject: failure notice about " + n.Message.String() + "\r\n\r\nnot delivered\r\n"), nil
	}
	q, err := Open(t.TempDir()+"/queue.db", Options{Now: c.Now, User: "tester", Notices: notice})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	var sent []ID
	for i := range 3 {
		m, err := q.Enqueue(t.Context(), Envelope{Sender: fmt.Sprintf("s%d@example.org", i), Recipients: []EnvelopeRecipient{{Address: "x@gmx.de"}}}, []byte("Subject: hi\r\n\r\nhello\r\n"))
		if err != nil {
			t.Fatal(err)
		}
		sent = append(sent, m.ID)
	}
	res, err := q.Bounce(t.Context(), BounceRequest{Filter: Filter{All: true}, Reason: "Not wanted here."})
	if err != nil {
		t.Fatal(err)
	}
	if res.Count != 3 || !slices.Equal(res.IDs, sent) || len(res.Notices) != 3 || res.Domains["gmx.de"] != 3 {
		t.Errorf("bounce --all: %+v", res)
	}
	msgs, err := q.List(t.Context(), Filter{}, Page{})
	if err != nil {
		t.Fatal(err)
	}
	var queued []ID
	for _, m := range msgs {
		queued = append(queued, m.ID)
	}
	if !slices.Equal(queued, res.Notices) {
		t.Errorf("queued after bounce --all: %v, want its notices %v", queued, res.Notices)
	}
	if got := trashIDs(t, q, Filter{}); !slices.Equal(got, sent) {
		t.Errorf("trash after bounce --all: %v, want %v", got, sent)
	}
	checkNoOrphans(t, q, "bounce --all")
}
