package lua

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"mqsh/queue"
)

// A script that reads holds up no writer: another handle's retry completes
// while it runs. When the script then changes the queue, what it read may be
// stale, so it runs again from the start under the write lock, and says so.
func TestReadingScriptDoesNotBlockWriters(t *testing.T) {
	q := openQueue(t)
	loadFixtures(t, q)
	other, err := queue.Open(q.Path(), queue.Options{Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()

	var stderr bytes.Buffer
	done := make(chan error, 1)
	go func() {
		_, err := Run(context.Background(), q, Options{Name: "slow-report", Stderr: &stderr, Now: clock, Code: `
			local n = queue.count{all = true}
			local t = os.clock()
			while os.clock() - t < 1.5 do end -- a long report
			if select("#", ...) == 0 then queue.cancel{ids = {"400"}} end
			return n`})
		done <- err
	}()
	time.Sleep(200 * time.Millisecond) // the script has read
	start := time.Now()
	if _, err := other.Retry(context.Background(), queue.RetryRequest{Filter: queue.Filter{All: true}}); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		t.Fatalf("the retry waited for the script to end (%s): %v", time.Since(start), err)
	default:
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stderr.String(), "slow-report: the queue changed while the script was reading it; running it again") {
		t.Errorf("stderr: %q", stderr.String())
	}
	if n, _ := q.Count(context.Background(), queue.Filter{IDs: []queue.ID{0x400}}); n != 0 {
		t.Error("the script's cancel was not applied on its second run")
	}
	a, _ := q.Audit(context.Background(), queue.AuditQuery{Verb: "cancel"})
	if len(a) != 1 {
		t.Errorf("%d cancels audited, want 1", len(a))
	}
}
