package queue_test

import (
	"path/filepath"
	"testing"
	"time"

	"mqsh/queue"
	"mqsh/queue/enginetest"
)

// TestEngine runs the shared engine suite on the SQLite engine.
func TestEngine(t *testing.T) {
	enginetest.Run(t, func(t *testing.T, now func() time.Time) queue.Backend {
		q, err := queue.Open(filepath.Join(t.TempDir(), "queue.db"), queue.Options{Now: now, User: "tester", Notices: enginetest.Notices})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { q.Close() })
		return q
	})
}
