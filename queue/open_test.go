package queue

import (
	"path/filepath"
	"testing"
	"time"
)

// Opening a queue and reading it never waits for another connection's write
// transaction: the schema check takes no write lock when the schema is current.
func TestOpenAndReadWhileAnotherWrites(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	w, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	ctx := t.Context()
	if _, err := w.LoadDemo(ctx, 0, 1); err != nil {
		t.Fatal(err)
	}
	holding, release, done := make(chan struct{}), make(chan struct{}), make(chan error)
	go func() {
		done <- w.Update(ctx, func(tx *Tx) error {
			if _, err := tx.Cancel(CancelRequest{Filter: Filter{IDs: []ID{0x2B91F716}}}); err != nil {
				return err
			}
			close(holding)
			<-release // keep the write lock until the reader is done
			return nil
		})
	}()
	<-holding
	// Open, count and close while the write lock is held. Were any of them to
	// wait for the lock, they would sit out the 60 s busy timeout: a reader
	// that is not back long before that has waited for the writer.
	type answer struct {
		n   int
		err error
	}
	read := make(chan answer, 1)
	go func() {
		r, err := Open(path, Options{})
		if err != nil {
			read <- answer{err: err}
			return
		}
		n, err := r.Count(ctx, Filter{})
		r.Close()
		read <- answer{n, err}
	}()
	select {
	case a := <-read:
		if a.err != nil || a.n != 6 {
			t.Errorf("open, count, close while another connection writes: %d, %v (want the 6 committed messages)", a.n, a.err)
		}
	case <-time.After(20 * time.Second):
		t.Errorf("open, count and close waited for another connection's write lock")
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
