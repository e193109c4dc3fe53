package remote

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"mqsh/queue"
)

// script is what a Lua policy does through a Txn: read, retry, cancel.
func script(t *testing.T, sent func() int, fail error) func(tx queue.Txn) error {
	return func(tx queue.Txn) error {
		n, err := tx.Count(queue.Filter{Domain: []string{"example.org"}})
		if err != nil || n != 3 {
			t.Fatalf("count = %d, %v", n, err)
		}
		res, err := tx.Retry(queue.RetryRequest{Filter: queue.Filter{Sender: []string{"bill1@example.net"}}, At: demoNow.Add(time.Hour)})
		if err != nil || res.Count != 1 {
			t.Fatalf("retry = %+v, %v", res, err)
		}
		res, err = tx.Cancel(queue.CancelRequest{Filter: queue.Filter{Domain: []string{"example.org"}}})
		if err != nil || res.Count != 3 {
			t.Fatalf("cancel = %+v, %v", res, err)
		}
		if res.DryRun != tx.DryRun() {
			t.Errorf("Result.DryRun %v in a run with DryRun %v", res.DryRun, tx.DryRun())
		}
		// The collected changes are not sent yet, nor seen by reads.
		if n := sent(); n != 0 {
			t.Errorf("%d changes sent while the script runs", n)
		}
		if n, _ := tx.Count(queue.Filter{Domain: []string{"example.org"}}); n != 3 {
			t.Errorf("count after the cancel = %d: reads see the server", n)
		}
		var seen []queue.ID
		if err := tx.Each(queue.Filter{Sender: []string{"bill*"}}, func(m *queue.Message) error { seen = append(seen, m.ID); return nil }); err != nil || len(seen) != 5 {
			t.Errorf("each: %v, %v", seen, err)
		}
		return fail
	}
}

func TestRun(t *testing.T) {
	boom := errors.New("the policy gave up")
	for _, c := range []struct {
		name     string
		mode     queue.RunMode
		fail     error
		wantLeft int
		wantReqs int
	}{
		{"write", queue.RunWrite, nil, 3, 4},
		{"write, script fails", queue.RunWrite, boom, 6, 0},
		{"dry run", queue.RunDryRun, nil, 6, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := newPair(t, v015, 0, Options{})
			sent := func() int { return changes(p.fake.log()) }
			err := p.client.Run(ctx, c.mode, script(t, sent, c.fail))
			if !errors.Is(err, c.fail) || (err == nil) != (c.fail == nil) {
				t.Fatalf("Run: %v, want %v", err, c.fail)
			}
			if n := sent(); n != c.wantReqs {
				t.Errorf("%d changes sent, want %d: %q", n, c.wantReqs, p.fake.log())
			}
			if n := len(p.fake.ids()); n != c.wantLeft {
				t.Errorf("%d messages left, want %d", n, c.wantLeft)
			}
		})
	}
	t.Run("read", func(t *testing.T) {
		p := newPair(t, v015, 0, Options{})
		err := p.client.Run(ctx, queue.RunRead, func(tx queue.Txn) error {
			_, err := tx.Cancel(queue.CancelRequest{Filter: queue.Filter{All: true}})
			return err
		})
		if err == nil || !strings.Contains(err.Error(), "read-only") {
			t.Errorf("cancel in a read run: %v", err)
		}
		if changes(p.fake.log()) != 0 {
			t.Error("a read run sent changes")
		}
	})
	t.Run("the same as a local script", func(t *testing.T) {
		p := newPair(t, v012, 30, Options{})
		do := func(tx queue.Txn) error {
			if _, err := tx.Cancel(queue.CancelRequest{Filter: queue.Filter{Recipient: []string{"@domain2.test"}}}); err != nil {
				return err
			}
			_, err := tx.Retry(queue.RetryRequest{Filter: queue.Filter{Status: []queue.Status{queue.TempFail}}, At: demoNow.Add(2 * time.Hour)})
			return err
		}
		if err := p.local.Run(ctx, queue.RunWrite, do); err != nil {
			t.Fatal(err)
		}
		if err := p.client.Run(ctx, queue.RunWrite, do); err != nil {
			t.Fatal(err)
		}
		if l, r := state(t, p.local), state(t, p.client); !reflect.DeepEqual(r, l) {
			t.Errorf("the queues differ:\nremote %v\n local %v", r, l)
		}
	})
}

// TestRunSendFails: a refused change after the script says how far the
// sending got, as a 403.
func TestRunSendFails(t *testing.T) {
	p := newPair(t, v015, 0, Options{Credentials: "viewer:look"})
	err := p.client.Run(ctx, queue.RunWrite, func(tx queue.Txn) error {
		_, err := tx.Retry(queue.RetryRequest{Filter: queue.Filter{All: true}})
		return err
	})
	if !errors.Is(err, ErrForbidden) || !strings.Contains(err.Error(), "0 of 1 collected changes were sent") {
		t.Errorf("Run: %v", err)
	}
}
