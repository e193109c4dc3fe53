package pgqueue_test

import (
	"context"
	"os"
	"testing"
	"time"

	"mqsh/internal/pgtest"
	"mqsh/pgqueue"
	"mqsh/queue"
)

// A queue of schema step 1 whose arrival policy held a message (the
// per-message flag) is brought to step 2 with each pending domain of that
// message held by "policy" since it arrived; the other message is not held,
// and only it is claimed.
func TestMigrateHeldToHolds(t *testing.T) {
	ctx := context.Background()
	url := pgtest.URL(t)
	step1, err := os.ReadFile("migrations/0001_queue.sql")
	if err != nil {
		t.Fatal(err)
	}
	exec(t, url, string(step1)+`;
		CREATE TABLE mqsh_schema(version integer PRIMARY KEY, applied bigint NOT NULL);
		INSERT INTO mqsh_schema VALUES(1, 0);
		INSERT INTO messages(id, rp_lc, rp_domain, created, size, due, held, client_ip, client_user) VALUES(1, 'a@b.example', 'b.example', 1700000000, 10, 1700000000, true, '192.0.2.7', 'Ann'), (2, 'a@b.example', 'b.example', 1700000000, 10, 1700000000, false, 'not an address', NULL);
		INSERT INTO bodies(msg_id, raw) VALUES(1, convert_to(E'Subject: =?utf-8?q?Rechnung_f=C3=BCr_M=C3=A4rz?=\r\nMessage-ID: <x1@b.example>\r\n\r\nhi\r\n', 'UTF8'));
		INSERT INTO domains(msg_id, idx, name, status, due, expires) VALUES(1, 0, 'd.example', 0, 1700000000, 1800000000), (1, 1, 'e.example', 1, 1700000000, 1800000000), (2, 0, 'd.example', 0, 1700000000, 1800000000);
		INSERT INTO recipients(msg_id, idx, domain_idx, address_lc, status) VALUES(1, 0, 0, 'c@d.example', 0), (1, 1, 1, 'c@e.example', 1), (2, 0, 0, 'c@d.example', 0)`)
	now := func() time.Time { return time.Unix(1700000100, 0).UTC() }
	q, err := pgqueue.Open(ctx, url, pgqueue.Options{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	m, err := q.Get(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	h := m.Domains[0].Hold
	if !m.Held || h == nil || h.By != "policy" || h.Since.Unix() != 1700000000 || !h.Until.IsZero() || m.Domains[1].Hold != nil {
		t.Errorf("held message after the migration: held %v, domains %+v", m.Held, m.Domains)
	}
	if n, err := q.Get(ctx, 2); err != nil || n.Held {
		t.Errorf("the message that was not held: %+v %v", n, err)
	}
	// The filters on the text and the client find what was queued before
	// the step; the shape grid counts each domain by its message's age.
	for _, f := range []queue.Filter{{Subject: []string{"rechnung für*"}}, {MessageID: []string{"<x1@b.example>"}}, {ClientIP: []string{"192.0.2.0/24"}}, {User: []string{"ann"}}} {
		if ids, err := q.List(ctx, f, queue.Page{}); err != nil || len(ids) != 1 || ids[0].ID != 1 {
			t.Errorf("%s after the migration: %v %v, want message 1", f.String(), ids, err)
		}
	}
	if g, err := q.Shape(ctx, queue.Filter{}, queue.ShapeDomain); err != nil || g.Total.Count != 3 || g.Total.Size != 30 || g.Total.Counts[0] != 3 {
		t.Errorf("shape after the migration: %+v %v", g, err)
	}
	jobs, err := q.Claim(ctx, queue.ClaimRequest{Worker: "w", Max: 10})
	if err != nil || len(jobs) != 1 || jobs[0].Message != 2 {
		t.Errorf("claimed %+v %v, want message 2 only", jobs, err)
	}
}

// Holds and rules are shared by the nodes: a rule made through one node's
// handle holds a message that arrives through another's (serve's batch),
// a third node's claims skip the held domain, and a release on the first
// hands it to the third.
func TestHoldSharedByNodes(t *testing.T) {
	ctx := context.Background()
	url := pgtest.URL(t)
	now := func() time.Time { return time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC) }
	var nodes [3]*pgqueue.Queue
	for i := range nodes {
		q, err := pgqueue.Open(ctx, url, pgqueue.Options{Now: now, User: "tester"})
		if err != nil {
			t.Fatal(err)
		}
		defer q.Close()
		nodes[i] = q
	}
	res, err := nodes[0].Hold(ctx, queue.HoldRequest{Filter: queue.Filter{Domain: []string{"slow.example"}}, Reason: "rate limited", Rule: true})
	if err != nil || res.Rule != 1 {
		t.Fatalf("hold --rule: %+v %v", res, err)
	}
	var m *queue.Message
	err = nodes[1].Run(ctx, queue.RunWrite, func(tx queue.Txn) error {
		out, errs, err := tx.(*pgqueue.Tx).EnqueueBatch([]queue.NewMessage{{
			Env: queue.Envelope{Sender: "s@a.example", Recipients: []queue.EnvelopeRecipient{{Address: "x@slow.example"}, {Address: "y@fast.example"}}},
			Raw: []byte("Subject: hi\r\n\r\nhi\r\n")}})
		if err == nil {
			err = errs[0]
		}
		m = out[0]
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	jobs, err := nodes[2].Claim(ctx, queue.ClaimRequest{Worker: "node3", Max: 10})
	if err != nil || len(jobs) != 1 || jobs[0].Domain != "fast.example" {
		t.Fatalf("node 3 claimed %+v %v, want fast.example only", jobs, err)
	}
	rules, err := nodes[2].HoldRules(ctx)
	if err != nil || len(rules) != 1 || rules[0].Hits != 1 {
		t.Errorf("rules as node 3 reads them: %+v %v", rules, err)
	}
	if r, err := nodes[0].ReleaseHold(ctx, queue.ReleaseRequest{Filter: queue.Filter{IDs: []queue.ID{m.ID}}}); err != nil || r.Count != 1 {
		t.Fatalf("release: %+v %v", r, err)
	}
	jobs, err = nodes[2].Claim(ctx, queue.ClaimRequest{Worker: "node3", Max: 10})
	if err != nil || len(jobs) != 1 || jobs[0].Domain != "slow.example" {
		t.Errorf("node 3 claimed %+v %v after the release, want slow.example", jobs, err)
	}
}
