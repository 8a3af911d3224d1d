package lb

import (
	"io"
	"net"
	"syscall"
	"unsafe"
)

// rawIO reads and writes a TCP connection's non-blocking socket with
// RawSyscall: no entersyscall/exitsyscall around each call. A socket
// write on loopback runs the receiver's TCP path inline and often lasts
// longer than the runtime's 20 µs syscall tick, so with the usual
// syscall wrapper the runtime's monitor takes the goroutine's P away
// mid-write and wakes another thread to run it: context switches on
// every request. The socket is non-blocking, so neither call can block:
// when there is nothing to read or no room to write it returns EAGAIN and
// the goroutine waits in the netpoller as usual (deadlines included).
//
// A Read and a Write may run at the same time (as on any net.Conn), so
// each keeps its own buffer, count and error.
type rawIO struct {
	rc     syscall.RawConn
	nc     net.Conn
	rp, wp []byte
	rn, wn int
	rerr   error
	werr   error
	rf, wf func(uintptr) bool // method values, made once
}

// newRawIO returns an io.ReadWriter over c, or nil when c is not a socket
// it can do this for.
func newRawIO(c net.Conn) *rawIO {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	r := &rawIO{rc: rc, nc: c}
	r.rf, r.wf = r.read, r.write
	return r
}

func (r *rawIO) read(fd uintptr) bool {
	n, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(unsafe.SliceData(r.rp))), uintptr(len(r.rp)))
	switch e {
	case 0:
		r.rn, r.rerr = int(n), nil
	case syscall.EAGAIN:
		return false
	case syscall.EINTR:
		return r.read(fd)
	default:
		r.rn, r.rerr = 0, e
	}
	return true
}

func (r *rawIO) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	r.rp = p
	err := r.rc.Read(r.rf)
	r.rp = nil
	if err != nil {
		return 0, &net.OpError{Op: "read", Net: "tcp", Source: r.nc.LocalAddr(), Addr: r.nc.RemoteAddr(), Err: err}
	}
	if r.rerr != nil {
		return 0, &net.OpError{Op: "read", Net: "tcp", Source: r.nc.LocalAddr(), Addr: r.nc.RemoteAddr(), Err: r.rerr}
	}
	if r.rn == 0 {
		return 0, io.EOF
	}
	return r.rn, nil
}

func (r *rawIO) write(fd uintptr) bool {
	for len(r.wp) > 0 {
		n, _, e := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(unsafe.SliceData(r.wp))), uintptr(len(r.wp)))
		switch e {
		case 0:
			r.wn += int(n)
			r.wp = r.wp[n:]
		case syscall.EAGAIN:
			return false
		case syscall.EINTR:
		default:
			r.werr = e
			return true
		}
	}
	return true
}

func (r *rawIO) Write(p []byte) (int, error) {
	r.wp, r.wn, r.werr = p, 0, nil
	err := r.rc.Write(r.wf)
	r.wp = nil
	if err == nil {
		err = r.werr
	}
	if err != nil {
		return r.wn, &net.OpError{Op: "write", Net: "tcp", Source: r.nc.LocalAddr(), Addr: r.nc.RemoteAddr(), Err: err}
	}
	return r.wn, nil
}

// fastRW is what the plane reads and writes c through: rawIO when it can.
func fastRW(c net.Conn) io.ReadWriter {
	if r := newRawIO(c); r != nil {
		return r
	}
	return c
}
