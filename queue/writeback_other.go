//go:build !linux

package queue

import "sync/atomic"

// writebackAfter and writebacks are as on Linux (writeback_linux.go), where
// whileWriting starts the disk writing during a long commit; elsewhere there
// is no sync_file_range and fn simply runs.
var writebackAfter atomic.Int64

var writebacks atomic.Int64

func (q *Queue) whileWriting(fn func() error) error { return fn() }
