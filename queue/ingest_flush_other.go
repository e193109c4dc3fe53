//go:build !linux

package queue

import "os"

// datasync flushes f to disk (fsync, or what the system has for it).
func datasync(f *os.File) error { return f.Sync() }

// syncDir flushes the directory dir where the system can: not every system
// flushes a directory through a descriptor of it (Windows refuses), and
// there SQLite does not either.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return nil
	}
	defer d.Close()
	d.Sync()
	return nil
}
