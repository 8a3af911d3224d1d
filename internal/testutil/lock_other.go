//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package testutil

import "sync"

// Without flock(2) the locks hold within one process only.
var locks sync.Map // path -> *sync.Mutex

// LockFile takes an exclusive lock named by path and returns the function
// that releases it.
func LockFile(path string) (unlock func(), err error) {
	mu, _ := locks.LoadOrStore(path, &sync.Mutex{})
	mu.(*sync.Mutex).Lock()
	return mu.(*sync.Mutex).Unlock, nil
}

// TryLockFile is LockFile without the wait.
func TryLockFile(path string) (unlock func(), ok bool, err error) {
	mu, _ := locks.LoadOrStore(path, &sync.Mutex{})
	if !mu.(*sync.Mutex).TryLock() {
		return nil, false, nil
	}
	return mu.(*sync.Mutex).Unlock, true, nil
}
