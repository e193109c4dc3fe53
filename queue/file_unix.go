//go:build unix

package queue

import (
	"os"

	"golang.org/x/sys/unix"
)

// dirLock is a flock(2) lock on a queue's directory (see file.go).
type dirLock struct{ f *os.File }

// lockDir takes the shared lock on dir, waiting while a removal holds the
// exclusive one (a matter of milliseconds). A directory that cannot be
// opened or locked (no read permission, a file system without flock) gives
// no lock: the queue opens as before, and Discard never removes its file.
func lockDir(dir string) dirLock {
	f, err := os.Open(dir)
	if err != nil {
		return dirLock{}
	}
	for {
		err = unix.Flock(int(f.Fd()), unix.LOCK_SH)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		f.Close()
		return dirLock{}
	}
	return dirLock{f}
}

// exclusive trades the shared lock for the exclusive one, without waiting;
// false when another handle holds the shared lock (or there is no lock).
func (l dirLock) exclusive() bool {
	return l.f != nil && unix.Flock(int(l.f.Fd()), unix.LOCK_EX|unix.LOCK_NB) == nil
}

func (l dirLock) release() {
	if l.f != nil {
		l.f.Close() // closing the descriptor drops the lock
	}
}

// writable reports whether the file may be written: it needs a write
// permission bit (even for root, so that chmod a-w protects a queue) and
// access(2) consent. access opens nothing: opening and closing a descriptor
// of the file would drop the locks other connections of this process hold.
func writable(path string, st os.FileInfo) bool {
	return st.Mode().Perm()&0o222 != 0 && unix.Access(path, unix.W_OK) == nil
}
