package queue_test

import (
	"path/filepath"
	"testing"
	"time"

	"mqsh/queue"
	"mqsh/queue/enginetest"
)

// TestEngine runs the shared engine suite on the SQLite engine, then again
// with every removal filed and swept afterwards, as a bulk cancel's is
// (queue/removals.go): each verb and reader must skip the messages filed.
func TestEngine(t *testing.T) {
	for _, later := range []bool{false, true} {
		name := "removals now"
		if later {
			name = "removals later"
		}
		t.Run(name, func(t *testing.T) {
			enginetest.Run(t, func(t *testing.T, now func() time.Time) queue.Backend {
				q, err := queue.Open(filepath.Join(t.TempDir(), "queue.db"), queue.Options{Now: now, User: "tester", Notices: enginetest.Notices})
				if err != nil {
					t.Fatal(err)
				}
				if later {
					queue.FileEveryRemoval(q)
				}
				t.Cleanup(func() { q.Close() })
				return q
			})
		})
	}
}
