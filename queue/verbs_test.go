package queue

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestUpdateRollsBackWithAudit(t *testing.T) {
	q := filterFixture(t)
	before, audits := snapshot(t, q), auditCount(t, q)
	boom := errors.New("boom")
	err := q.Update(t.Context(), func(tx *Tx) error {
		if _, err := tx.Retry(RetryRequest{Filter: Filter{All: true}}); err != nil {
			return err
		}
		if _, err := tx.Cancel(CancelRequest{Filter: Filter{Sender: []string{"<>"}}}); err != nil {
			return err
		}
		if _, err := tx.Enqueue(Envelope{Sender: "a@b.c", Recipients: []EnvelopeRecipient{{Address: "d@e.f"}}}, []byte("x")); err != nil {
			return err
		}
		// Inside the transaction the changes are visible.
		if n, _ := tx.Count(Filter{Sender: []string{"<>"}}); n != 0 {
			t.Errorf("cancel not visible inside the transaction")
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("update: %v", err)
	}
	if snapshot(t, q) != before || auditCount(t, q) != audits {
		t.Error("a rolled-back update left changes or audit rows")
	}
	// A committed update keeps all its changes and their audit rows.
	err = q.Update(t.Context(), func(tx *Tx) error {
		tx.Retry(RetryRequest{Filter: Filter{All: true}})
		_, err := tx.Cancel(CancelRequest{Filter: Filter{Sender: []string{"<>"}}})
		return err
	})
	if err != nil || auditCount(t, q) != audits+2 || mustCount(t, q, Filter{Sender: []string{"<>"}}) != 0 {
		t.Errorf("committed update: %v, %d audit rows", err, auditCount(t, q))
	}
	// A dry run inside an Update is undone alone.
	q.Update(t.Context(), func(tx *Tx) error {
		res, err := tx.Cancel(CancelRequest{Filter: Filter{All: true}, DryRun: true})
		if err != nil || !res.DryRun || res.Count != 4 {
			t.Errorf("dry run in update: %+v %v", res, err)
		}
		if n, _ := tx.Count(Filter{}); n != 4 {
			t.Errorf("dry run inside update removed messages: %d left", n)
		}
		return nil
	})
}

func TestContextCancelRollsBack(t *testing.T) {
	q, _ := openTest(t)
	if _, err := q.LoadDemo(t.Context(), 3000, 7); err != nil {
		t.Fatal(err)
	}
	before, audits := snapshot(t, q), auditCount(t, q)
	ctx, cancel := context.WithCancel(t.Context())
	n := 0
	err := q.Update(ctx, func(tx *Tx) error {
		return tx.Each(Filter{}, func(m *Message) error {
			if _, err := tx.Cancel(CancelRequest{Filter: Filter{IDs: []ID{m.ID}}}); err != nil {
				return err
			}
			n++
			if n == 1500 {
				cancel() // Ctrl-C in the middle of a long script
			}
			return nil
		})
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("update after cancel: %v", err)
	}
	if snapshot(t, q) != before || auditCount(t, q) != audits {
		t.Error("a cancelled update left changes")
	}
	// A verb with an ended context changes nothing either.
	ctx, cancel = context.WithCancel(t.Context())
	cancel()
	if _, err := q.Cancel(ctx, CancelRequest{Filter: Filter{All: true}}); err == nil {
		t.Error("cancel under an ended context succeeded")
	}
	if _, err := q.ImportJSON(ctx, strings.NewReader("")); err == nil {
		t.Error("import under an ended context succeeded")
	}
	if snapshot(t, q) != before {
		t.Error("verbs under an ended context changed the queue")
	}
}

func TestEachStreamsWhileChanging(t *testing.T) {
	q, _ := openTest(t)
	q.LoadDemo(t.Context(), 2500, 3)
	total := mustCount(t, q, Filter{})
	seen := 0
	var last ID
	err := q.Update(t.Context(), func(tx *Tx) error {
		return tx.Each(Filter{}, func(m *Message) error {
			if m.ID <= last {
				t.Fatalf("each went backwards: %s after %s", m.ID, last)
			}
			last = m.ID
			seen++
			if seen%2 == 0 {
				_, err := tx.Cancel(CancelRequest{Filter: Filter{IDs: []ID{m.ID}}})
				return err
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	if seen != total || mustCount(t, q, Filter{}) != total-total/2 {
		t.Errorf("seen %d of %d, %d left", seen, total, mustCount(t, q, Filter{}))
	}
	stop := errors.New("stop")
	n := 0
	err = q.View(t.Context(), func(tx *Tx) error {
		return tx.Each(Filter{}, func(m *Message) error {
			if n++; n == 10 {
				return stop
			}
			return nil
		})
	})
	if !errors.Is(err, stop) || n != 10 {
		t.Errorf("each did not stop: %v after %d", err, n)
	}
	// A Tx is dead after its function returns.
	var saved *Tx
	q.View(t.Context(), func(tx *Tx) error { saved = tx; return nil })
	if _, err := saved.Count(Filter{}); err == nil {
		t.Error("a Tx worked after its transaction ended")
	}
}

func TestDocumentedDemo(t *testing.T) {
	q, _ := openTest(t)
	res, err := q.LoadDemo(t.Context(), 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.IDs, DocumentedIDs) {
		t.Fatalf("ids %v", res.IDs)
	}
	list, _ := q.List(t.Context(), Filter{}, Page{})
	type row struct {
		id      string
		due     string
		sender  string
		rcpts   string
		size    int64
		created string
	}
	var got []row
	for _, m := range list {
		var rs []string
		for _, r := range m.Recipients() {
			rs = append(rs, r.Address+" ("+r.Status.Short()+")")
		}
		s := m.ReturnPath
		if s == "" {
			s = "<>"
		}
		got = append(got, row{m.ID.String(), m.Due().Format("Mon, 2 Jan 2006 15:04:05 -0700"), s, strings.Join(rs, ", "), m.Size, m.Created.Format(time.RFC3339)})
	}
	c := "2023-03-01T11:44:22Z"
	want := []row{
		{"2B91F716", "Wed, 1 Mar 2023 11:46:01 +0000", "bill1@example.net", "rcpt1@domain1.test (scheduled), rcpt1@domain2.test (scheduled)", 1141, c},
		{"12B91F716", "Wed, 1 Mar 2023 11:47:41 +0000", "bill2@example.net", "rcpt3@domain1.test (scheduled), rcpt4@domain1.test (scheduled)", 1142, c},
		{"22B91F716", "Wed, 1 Mar 2023 11:49:21 +0000", "bill3@example.net", "rcpt5@domain1.test (scheduled), rcpt6@domain2.test (scheduled), rcpt7@domain2.test (scheduled), rcpt8@domain3.test (scheduled), rcpt9@domain4.test (scheduled)", 1142, c},
		{"32B91F716", "Wed, 1 Mar 2023 11:51:01 +0000", "bill4@example.net", "delay@example.org (scheduled)", 1142, c},
		{"42B91F716", "Wed, 1 Mar 2023 11:52:41 +0000", "bill5@example.net", "john@example.org (scheduled)", 1142, c},
		{"52B91F716", "Wed, 1 Mar 2023 12:01:01 +0000", "<>", "delay@example.org (tempfail), success@example.org (delivered)", 1127, c},
	}
	if !slices.Equal(got, want) {
		t.Errorf("documented list:\n got %+v\nwant %+v", got, want)
	}
	// The documented `queue status 52B91F716`.
	m := mustGet(t, q, 0x52B91F716)
	f := func(t time.Time) string { return t.Format("Mon, 2 Jan 2006 15:04:05 -0700") }
	if m.EnvID != "f" || f(m.Created) != "Wed, 1 Mar 2023 11:44:22 +0000" || len(m.Domains) != 1 {
		t.Fatalf("52B91F716 = %+v", m)
	}
	d := m.Domains[0]
	if d.Name != "example.org" || d.Status.DomainLong() != "Scheduled" || d.Details != "" || d.RetryNum != 1 ||
		f(d.Due) != "Wed, 1 Mar 2023 12:01:01 +0000" || f(d.NotifyAt) != "Wed, 1 Mar 2023 12:17:41 +0000" || f(d.Expires) != "Wed, 1 Mar 2023 12:34:21 +0000" {
		t.Errorf("domain %+v", d)
	}
	if r := d.Recipients; len(r) != 2 || r[0].Address != "delay@example.org" || r[0].Status.Long() != "Temporary Failure" ||
		r[0].Details() != "Code: 451, Enhanced code: 4.5.3, Message: Try again later." ||
		r[1].Address != "success@example.org" || r[1].Status.Long() != "Delivered" || r[1].Details() != "Code: 250, Enhanced code: 2.1.5, Message: OK" {
		t.Errorf("recipients %+v", r)
	}
	// The documented ids encode their creation second (≤v0.6 ids).
	for _, id := range DocumentedIDs {
		secs := int64(uint64(id) & 0xFFFFFFFF)
		if !time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(secs) * time.Second).Equal(mustGet(t, q, id).Created) {
			t.Errorf("%s: created does not match the id", id)
		}
		raw, _ := q.Raw(t.Context(), id)
		if int64(len(raw)) != mustGet(t, q, id).Size {
			t.Errorf("%s: raw is %d bytes, size %d", id, len(raw), mustGet(t, q, id).Size)
		}
	}
	// Loading again resets the six to their documented state.
	q.Cancel(t.Context(), CancelRequest{Filter: Filter{Recipient: []string{"delay@example.org"}}})
	if _, err := q.LoadDemo(t.Context(), 0, 1); err != nil {
		t.Fatal(err)
	}
	if mustCount(t, q, Filter{}) != 6 || mustGet(t, q, 0x52B91F716).Domains[0].Recipients[0].Status != TempFail {
		t.Error("demo not reset")
	}
}

func TestGeneratedDemo(t *testing.T) {
	q, _ := openTest(t)
	res, err := q.LoadDemo(t.Context(), 2000, 11)
	if err != nil {
		t.Fatal(err)
	}
	if res.Count != 2006 || mustCount(t, q, Filter{}) != 2006 {
		t.Fatalf("count %d", res.Count)
	}
	// Deterministic for a seed and clock.
	q2, _ := openTest(t)
	q2.LoadDemo(t.Context(), 2000, 11)
	if snapshot(t, q) != snapshot(t, q2) {
		t.Error("same seed, different messages")
	}
	q3, _ := openTest(t)
	q3.LoadDemo(t.Context(), 2000, 12)
	if snapshot(t, q) == snapshot(t, q3) {
		t.Error("different seeds, same messages")
	}
	// Realistic spread.
	bounces := mustCount(t, q, Filter{Sender: []string{"<>"}})
	gmail := mustCount(t, q, Filter{Domain: []string{"gmail.com"}})
	multi := 0
	var minSize, maxSize int64 = 1 << 62, 0
	senders, domains := map[string]bool{}, map[string]bool{}
	statuses := map[Status]bool{}
	var oldest, newest time.Time
	q.View(t.Context(), func(tx *Tx) error {
		return tx.Each(Filter{CreatedAfter: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)}, func(m *Message) error {
			if len(m.Domains) > 1 {
				multi++
			}
			minSize, maxSize = min(minSize, m.Size), max(maxSize, m.Size)
			senders[m.ReturnPath] = true
			if oldest.IsZero() || m.Created.Before(oldest) {
				oldest = m.Created
			}
			if m.Created.After(newest) {
				newest = m.Created
			}
			if !m.Pending() {
				t.Errorf("%s has nothing pending", m.ID)
			}
			for _, d := range m.Domains {
				domains[d.Name] = true
				if !d.Expires.Equal(m.Created.Add(5*24*time.Hour)) || d.Due.Before(m.Created) {
					t.Errorf("%s %s: schedule %+v", m.ID, d.Name, d)
				}
				for _, r := range d.Recipients {
					statuses[r.Status] = true
					if r.Status != Scheduled && (r.Code < 200 || r.Enhanced == "") {
						t.Errorf("%s %s: reply %+v", m.ID, r.Address, r)
					}
				}
			}
			return nil
		})
	})
	if bounces < 50 || bounces > 160 || gmail < 400 || gmail > 650 || multi < 100 || len(senders) < 300 || len(domains) < 100 ||
		len(statuses) != 4 || minSize < 1024 || maxSize > 10<<20 || maxSize < 1<<20 || newest.Sub(oldest) < 3*24*time.Hour {
		t.Errorf("bounces %d gmail %d multi %d senders %d domains %d statuses %v size %d..%d span %v",
			bounces, gmail, multi, len(senders), len(domains), statuses, minSize, maxSize, newest.Sub(oldest))
	}
	checkDue(t, q)
}
