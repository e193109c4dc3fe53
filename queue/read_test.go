package queue

import (
	"context"
	"database/sql"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

// Recipients whose domains interleave (x, y, x, z, y) come back grouped by
// domain in first-seen order, alike through Get, a filtered List (ids looked
// up) and Each over everything (a range scan), and the slices of one message
// never share room with the next one's.
func TestReadsGroupInterleavedRecipients(t *testing.T) {
	q, _ := openTest(t)
	env := Envelope{Sender: "s@a.example", Recipients: []EnvelopeRecipient{
		{Address: "a@x.org"}, {Address: "b@y.org"}, {Address: "c@x.org"}, {Address: "d@z.org"}, {Address: "e@y.org", ORCPT: "rfc822;e@y.org"},
	}}
	var want []ID
	for range 3 {
		m, err := q.Enqueue(t.Context(), env, nil)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, m.ID)
	}
	// Store the recipients in envelope order, so that their domains interleave.
	err := q.Update(t.Context(), func(tx *Tx) error {
		for _, id := range want {
			if _, err := tx.tx.Exec("UPDATE recipients SET idx = idx + 100 WHERE msg_id = ?", int64(id)); err != nil {
				return err
			}
			if _, err := tx.tx.Exec("UPDATE recipients SET idx = unicode(address_lc) - unicode('a') WHERE msg_id = ?", int64(id)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := q.Enqueue(t.Context(), Envelope{Sender: "other@b.example", Recipients: []EnvelopeRecipient{{Address: "q@y.org"}}}, nil); err != nil {
		t.Fatal(err)
	}
	shape := func(m *Message) [][]string {
		var out [][]string
		for _, d := range m.Domains {
			row := []string{d.Name}
			for _, r := range d.Recipients {
				row = append(row, r.Address+" "+r.ORCPT)
			}
			out = append(out, row)
		}
		return out
	}
	wantShape := [][]string{{"x.org", "a@x.org ", "c@x.org "}, {"y.org", "b@y.org ", "e@y.org rfc822;e@y.org"}, {"z.org", "d@z.org "}}

	var listed, walked []Message
	err = q.View(t.Context(), func(tx *Tx) error {
		var err error
		if listed, err = tx.List(Filter{Sender: []string{"s@a.example"}}, Page{}); err != nil {
			return err
		}
		return tx.Each(Filter{}, func(m *Message) error {
			walked = append(walked, *m)
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(listed) != 3 || len(walked) != 4 {
		t.Fatalf("listed %d, walked %d; want 3 and 4", len(listed), len(walked))
	}
	for i, id := range want {
		got := mustGet(t, q, id)
		for _, m := range []*Message{got, &listed[i], &walked[i]} {
			if m.ID != id || !reflect.DeepEqual(shape(m), wantShape) {
				t.Errorf("message %s: %q, want %q", m.ID, shape(m), wantShape)
			}
		}
		if !reflect.DeepEqual(got, &listed[i]) || !reflect.DeepEqual(got, &walked[i]) {
			t.Errorf("message %s differs between Get, List and Each:\n%+v\n%+v\n%+v", id, got, listed[i], walked[i])
		}
	}
	// Appending to one message's slices leaves the next message alone.
	walked[0].Domains = append(walked[0].Domains, Domain{Name: "extra.org"})
	walked[0].Domains[0].Recipients = append(walked[0].Domains[0].Recipients, Recipient{Address: "extra@x.org"})
	if !reflect.DeepEqual(shape(&walked[1]), wantShape) || walked[0].Domains[1].Recipients[0].Address != "b@y.org" {
		t.Errorf("an append to message 1 changed another: %q / %q", shape(&walked[1]), shape(&walked[0]))
	}
}

// Batches gives every matching message once, in id order and whole, as List
// does, reading ahead; an error from fn, or a cancelled context, stops it.
func TestBatches(t *testing.T) {
	q, _ := openTest(t)
	if _, err := q.LoadDemo(t.Context(), 2*eachPage+300, 5); err != nil {
		t.Fatal(err)
	}
	// Holds on some domains, so the walk reads their hold columns too.
	if _, err := q.Hold(t.Context(), HoldRequest{Filter: Filter{Domain: []string{"gmail.com"}}, Reason: "spam run", Until: testNow.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	held := 0
	defer func(n int64) { twoReadersFrom = n }(twoReadersFrom)
	for i, f := range []Filter{{}, {Domain: []string{"gmail.com"}}, {Status: []Status{TempFail}}, {}, {Domain: []string{"gmail.com"}}} {
		// On one connection, then on two (walkReaders).
		twoReadersFrom = 0
		if i < 3 {
			twoReadersFrom = 1 << 62
		}
		var got []Message
		sizes := 0
		err := q.Batches(t.Context(), f, func(msgs []Message) error {
			got = append(got, msgs...)
			sizes++
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		want, err := q.List(t.Context(), f, Page{})
		if err != nil {
			t.Fatal(err)
		}
		if len(want) == 0 || !reflect.DeepEqual(got, want) {
			t.Errorf("%v: %d messages in %d batches, want the %d of List", f, len(got), sizes, len(want))
		}
		for i := range got {
			if got[i].Held {
				held++
			}
		}
	}
	if held == 0 {
		t.Error("no held message was listed")
	}
	stop := errors.New("enough")
	calls := 0
	err := q.Batches(t.Context(), Filter{}, func([]Message) error { calls++; return stop })
	if err != stop || calls != 1 {
		t.Errorf("fn's error: got %v after %d calls", err, calls)
	}
	ctx, cancel := context.WithCancel(t.Context())
	calls = 0
	err = q.Batches(ctx, Filter{}, func([]Message) error { calls++; cancel(); return nil })
	if !errors.Is(err, context.Canceled) || calls > 2 {
		t.Errorf("cancelled: got %v after %d calls", err, calls)
	}
}

// The readers of a walk all read one snapshot: a change committed while
// they begin, to every message at once, is in no batch or in all; and when
// another connection holds the write lock, the walk reads on one connection,
// without waiting.
func TestBatchesOneSnapshot(t *testing.T) {
	defer func(n int64) { twoReadersFrom = n }(twoReadersFrom)
	twoReadersFrom = 0 // two readers on a small queue too
	q, _ := openTest(t)
	if _, err := q.LoadDemo(t.Context(), 4*eachPage+1, 5); err != nil {
		t.Fatal(err)
	}
	want, err := q.List(t.Context(), Filter{}, Page{})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	hook := func() {
		// Change every message at once (one statement), while the walk's
		// readers take their snapshots: it waits for the walk's brief
		// lock, or, without it, is committed in between.
		go func() {
			_, err := q.writer.Exec("UPDATE domains SET retry_num = retry_num + 1000")
			done <- err
		}()
		select {
		case err := <-done:
			done <- err
		case <-time.After(2 * time.Second):
		}
	}
	walk := func() []Message {
		t.Helper()
		var got []Message
		if err := q.Batches(t.Context(), Filter{}, func(msgs []Message) error {
			got = append(got, msgs...)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return got
	}
	walkSnapshotHook = hook
	got := walk()
	walkSnapshotHook = nil
	if !reflect.DeepEqual(got, want) {
		changed := 0
		for i := range got {
			if got[i].Domains[0].RetryNum >= 1000 {
				changed++
			}
		}
		t.Errorf("a change committed as the walk began: %d of %d messages listed changed, want none (the walk's snapshot)", changed, len(got))
	}
	// The change was committed (after the walk's brief lock).
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if after := walk(); len(after) != len(want) || after[0].Domains[0].RetryNum < 1000 || after[len(after)-1].Domains[0].RetryNum < 1000 {
		t.Fatalf("after the walk: the change did not take (%d messages)", len(after))
	}

	// Another connection holds the write lock: the walk neither waits for
	// it nor fails.
	other, err := sql.Open(driverName, "file:"+q.abs+"?_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	lock, err := other.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Rollback()
	want, err = q.List(t.Context(), Filter{}, Page{})
	if err != nil {
		t.Fatal(err)
	}
	if got := walk(); !reflect.DeepEqual(got, want) || len(got) <= 4*eachPage {
		t.Errorf("with the lock held elsewhere: %d messages, want the %d of List", len(got), len(want))

	}
}

// A row the walk cannot read (a status that is not a number, as a queue
// edited by hand may hold) stops Batches with an error; it neither crashes
// nor hangs on the connection it reads below database/sql.
func TestBatchesBadRow(t *testing.T) {
	q, _ := openTest(t)
	enqueueTest(t, q, envTo("s@a.example", "x@b.example"))
	if _, err := q.writer.Exec("UPDATE domains SET status = 'odd'"); err != nil {
		t.Fatal(err)
	}
	err := q.Batches(t.Context(), Filter{}, func([]Message) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "could not be read") {
		t.Fatalf("got %v, want an error saying a row could not be read", err)
	}
	// The connection went back to the pool whole: a walk works again.
	if _, err := q.writer.Exec("UPDATE domains SET status = 0"); err != nil {
		t.Fatal(err)
	}
	n := 0
	if err := q.Batches(t.Context(), Filter{}, func(m []Message) error { n += len(m); return nil }); err != nil || n != 1 {
		t.Fatalf("after the repair: %d messages, %v", n, err)
	}
}
