package queue

import (
	"os"

	"golang.org/x/sys/unix"
)

// datasync flushes f's data to disk, and of its metadata what reading the
// data back needs (its size): fdatasync, as SQLite's own flush.
func datasync(f *os.File) error { return unix.Fdatasync(int(f.Fd())) }

// syncDir flushes the directory dir, so that a file created in it is found
// after a crash.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
