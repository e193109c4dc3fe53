//go:build unix

package queue

import "golang.org/x/sys/unix"

// processAlive reports whether a process with that id exists.
func processAlive(pid int) bool {
	err := unix.Kill(pid, 0)
	return err == nil || err == unix.EPERM
}
