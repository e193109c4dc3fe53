package queue

import (
	"os"
	"strconv"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// writebackAfter is how long a commit (or the close of the writer) runs
// before whileWriting starts the kernel writing the queue's files out, in
// nanoseconds; 0 starts it with the commit (tests).
var writebackAfter atomic.Int64

func init() { writebackAfter.Store(int64(10 * time.Millisecond)) }

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
// done: a bulk cancel of 25,000 waited 0.11 to 0.32 s in fsync before, 0.02
// to 0.08 s after (BENCHMARKS.md). SQLite's fsyncs are unchanged, and so is
// what a crash can lose. A short commit is over before the timer fires.
func (q *Queue) whileWriting(fn func() error) error {
	finished := make(chan struct{})
	stopped := make(chan struct{})
	start := func() {
		defer close(stopped)
		q.writeback(finished)
	}
	var t *time.Timer
	if after := time.Duration(writebackAfter.Load()); after > 0 {
		t = time.AfterFunc(after, start)
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
// file, every writebackEvery until finished is closed, through SQLite's own
// descriptors of them (queueFDs).
func (q *Queue) writeback(finished <-chan struct{}) {
	tick := time.NewTicker(writebackEvery)
	defer tick.Stop()
	path := q.realPath()
	var fds []int
	for {
		if len(fds) < 2 { // the -wal may be opened later
			fds = queueFDs(path)
		}
		for _, fd := range fds {
			// A descriptor closed and reused since the scan is harmless:
			// starting the writes of another file changes nothing in it.
			if unix.SyncFileRange(fd, 0, 0, unix.SYNC_FILE_RANGE_WRITE) == nil {
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

// queueFDs returns one descriptor this process has open on the queue's
// file (at path, links resolved) and one on its WAL, if any, read from
// /proc/self/fd: SQLite's own.
// The writeback opens none of its own, because closing a descriptor of the
// database file drops every POSIX lock the process holds on it, SQLite's
// included, and another process could then take the file for unused and
// checkpoint and delete the WAL under this one.
func queueFDs(path string) []int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return nil
	}
	var db, wal = -1, -1
	for _, e := range ents {
		fd, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		switch link, _ := os.Readlink("/proc/self/fd/" + e.Name()); link {
		case path:
			db = fd
		case path + "-wal":
			wal = fd
		}
	}
	var out []int
	for _, fd := range []int{wal, db} {
		if fd >= 0 {
			out = append(out, fd)
		}
	}
	return out
}
