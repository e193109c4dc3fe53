//go:build !unix

package queue

// processAlive cannot tell here: a record is trusted.
func processAlive(pid int) bool { return true }
