//go:build !unix

package queue

import "os"

// dirLock is a no-op where flock(2) is missing: Discard never removes a file.
type dirLock struct{}

func lockDir(string) dirLock    { return dirLock{} }
func (dirLock) exclusive() bool { return false }
func (dirLock) release()        {}

// writable reports whether the file has a write permission bit.
func writable(path string, st os.FileInfo) bool { return st.Mode().Perm()&0o222 != 0 }
