package logstore

import (
	"os"
	"syscall"
)

// fdatasync flushes a file's data (and its size), not its timestamps.
func fdatasync(f *os.File) error { return syscall.Fdatasync(int(f.Fd())) }
