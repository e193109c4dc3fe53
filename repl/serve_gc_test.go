package repl

import (
	"context"
	"runtime/metrics"
	"strings"
	"testing"
	"time"
)

// gcPercent is the garbage collector's target now (GOGC).
func gcPercent() uint64 {
	s := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// serveGC runs serve until it announces its SMTP address and returns the
// garbage collector's target then, and after serve has stopped.
func serveGC(t *testing.T) (during, after uint64) {
	c := newCLI(t, 0)
	var stderr syncBuffer
	c.env.Stderr = &stderr
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, c.env, []string{"serve", "--smtp", "127.0.0.1:0", "--relay", "127.0.0.1:1", "--paused"})
	}()
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(stderr.String(), "Accepting mail"); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("serve did not start:\n%s", stderr.String())
		}
	}
	during = gcPercent()
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	return during, gcPercent()
}

// serve collects garbage a quarter as often as the default while it runs,
// and puts the setting back when it stops; with GOGC set, it keeps the
// user's setting.
func TestServeGCPercent(t *testing.T) {
	before := gcPercent()
	if during, after := serveGC(t); during != serveGCPercent || after != before {
		t.Errorf("GOGC unset: target %d while serving, %d after; want %d, then %d again", during, after, serveGCPercent, before)
	}
	t.Setenv("GOGC", "150") // read by the runtime at start-up only: the target stays as it is
	if during, after := serveGC(t); during != before || after != before {
		t.Errorf("GOGC set: target %d while serving, %d after; want %d (left alone)", during, after, before)
	}
}
