package lb

import (
	"bytes"
	"io"
	"net"
	"testing"
)

// A Read and a Write of one connection run at the same time, as they may
// on any net.Conn: an echo server sends back what one goroutine writes
// while another reads it.
func TestRawIOConcurrentReadWrite(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		io.Copy(c, c)
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	rw := newRawIO(c)
	if rw == nil {
		t.Fatal("a TCP connection has a raw socket")
	}
	want := bytes.Repeat([]byte("0123456789abcdef"), 1<<18) // 4 MiB: more than the socket buffers hold
	werr := make(chan error, 1)
	go func() {
		_, err := rw.Write(want)
		werr <- err
	}()
	got := make([]byte, len(want))
	if _, err := io.ReadFull(rw, got); err != nil {
		t.Fatal(err)
	}
	if err := <-werr; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("the echo differs from what was written")
	}
}
