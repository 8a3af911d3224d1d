//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package testutil

import (
	"errors"
	"os"
	"syscall"
)

// LockFile takes an exclusive lock on the file at path (created if need
// be), waiting for it, and returns the function that releases it. The
// lock is an flock(2): it also ends with the process, so a test binary
// that dies holds nothing. Test binaries of one `go test ./...` (and of
// other worktrees on the machine) use it to share work across processes.
func LockFile(path string) (unlock func(), err error) {
	return lockFile(path, true)
}

// TryLockFile is LockFile without the wait: ok is false when another
// holder has the lock.
func TryLockFile(path string) (unlock func(), ok bool, err error) {
	unlock, err = lockFile(path, false)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return nil, false, nil
	}
	return unlock, err == nil, err
}

func lockFile(path string, wait bool) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		return nil, err
	}
	how := syscall.LOCK_EX
	if !wait {
		how |= syscall.LOCK_NB
	}
	for {
		err = syscall.Flock(int(f.Fd()), how)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return func() { f.Close() }, nil // closing the last descriptor releases the lock
}
