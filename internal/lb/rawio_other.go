//go:build !linux

package lb

import (
	"io"
	"net"
)

// fastRW is what the plane reads and writes c through.
func fastRW(c net.Conn) io.ReadWriter { return c }
