package queue

import (
	"os"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// writebackAfter is how long a commit (or the close of the writer) runs
// before whileWriting starts the kernel writing the queue's files out; 0
// starts it with the commit (tests).
var writebackAfter = 10 * time.Millisecond

// writebackEvery is how often, from then on, the dirty pages written since
// are handed to the disk.
const writebackEvery = 5 * time.Millisecond

// writebacks counts the sync_file_range calls made (tests read it).
var writebacks atomic.Int64

// whileWriting runs fn: a commit, or the close of the writer, in which
// SQLite writes the changed pages to the WAL and, checkpointing, into the
// file, then waits with fsync for each to reach the disk. Once fn has run
// writebackAfter, a goroutine asks the kernel every writebackEvery to start
// writing out what is dirty of the two files (sync_file_range with
// SYNC_FILE_RANGE_WRITE starts the writes and waits for nothing), so the
// disk works while SQLite still copies pages and its fsyncs find most of it
// done: a bulk cancel of 25,000 waited 0.11 to 0.19 s in fsync before, 0.01
// to 0.04 s after (BENCHMARKS.md). SQLite's fsyncs are unchanged, and so is
// what a crash can lose. A short commit is over before the timer fires.
func (q *Queue) whileWriting(fn func() error) error {
	finished := make(chan struct{})
	stopped := make(chan struct{})
	start := func() {
		defer close(stopped)
		q.writeback(finished)
	}
	var t *time.Timer
	if writebackAfter > 0 {
		t = time.AfterFunc(writebackAfter, start)
	} else {
		go start() // from the start: at least one round, whatever fn takes
	}
	defer func() { // also when fn panics: the goroutine never outlives fn
		close(finished)
		if t == nil || !t.Stop() {
			<-stopped
		}
	}()
	return fn()
}

// writeback starts the disk writing the dirty pages of the WAL and the
// file, every writebackEvery until finished is closed. A file that cannot
// be opened (no -wal yet) is tried again at the next round.
func (q *Queue) writeback(finished <-chan struct{}) {
	names := [2]string{q.abs + "-wal", q.abs}
	var files [2]*os.File
	defer func() {
		for _, f := range files {
			if f != nil {
				f.Close()
			}
		}
	}()
	tick := time.NewTicker(writebackEvery)
	defer tick.Stop()
	for {
		for i, name := range names {
			if files[i] == nil {
				f, err := os.Open(name)
				if err != nil {
					continue
				}
				files[i] = f
			}
			if unix.SyncFileRange(int(files[i].Fd()), 0, 0, unix.SYNC_FILE_RANGE_WRITE) == nil {
				writebacks.Add(1)
			}
		}
		select {
		case <-finished:
			return
		case <-tick.C:
		}
	}
}
