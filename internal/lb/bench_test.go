package lb

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
)

// BenchmarkProxy sends GET requests through a listener to a loopback
// backend, keep-alive on both sides, from GOMAXPROCS parallel clients.
//
//   - raw: the client writes canned requests on its own connection and
//     the backend answers canned responses, so that allocs/op are the
//     plane's alone;
//   - nethttp: net/http's client and an httptest backend (allocs/op count
//     all three).
func BenchmarkProxy(b *testing.B) {
	b.Run("raw", func(b *testing.B) {
		backend := rawBackend(b)
		url := benchPlane(b, backend)
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			c, err := net.Dial("tcp", url)
			if err != nil {
				b.Error(err)
				return
			}
			defer c.Close()
			br := bufio.NewReader(c)
			req := []byte("GET /health HTTP/1.1\r\nHost: bench\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n")
			for pb.Next() {
				if _, err := c.Write(req); err != nil {
					b.Error(err)
					return
				}
				if err := readCanned(br); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	b.Run("nethttp", func(b *testing.B) {
		body := []byte("hello from the backend\n")
		backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			w.Write(body)
		}))
		defer backend.Close()
		url := "http://" + benchPlane(b, backend.Listener.Addr().String()) + "/"
		client := &http.Client{Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 256}}
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				resp, err := client.Get(url)
				if err != nil {
					b.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					b.Errorf("status %d", resp.StatusCode)
					return
				}
			}
		})
	})
}

func benchPlane(b *testing.B, backend string) string {
	p := New(Options{})
	b.Cleanup(func() { p.Close() })
	tg := &TargetGroup{ARN: "tg", InUse: true, HealthCheck: HealthCheck{Enabled: false},
		Targets: []Target{{ID: "b", Port: 80, Addr: backend}}}
	if errs := p.Update(oneListener(tg)); errs != nil {
		b.Fatal(errs)
	}
	return p.ListenerAddr("l1").String()
}

const cannedBody = "hello from the backend\n"

var cannedResponse = []byte("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " +
	strconv.Itoa(len(cannedBody)) + "\r\n\r\n" + cannedBody)

// rawBackend answers every request on a connection with a canned response.
func rawBackend(b *testing.B) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					// Read one request head (the plane sends no bodies here).
					for {
						line, err := br.ReadSlice('\n')
						if err != nil {
							return
						}
						if len(line) <= 2 {
							break
						}
					}
					if _, err := c.Write(cannedResponse); err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// readCanned reads one response with a Content-Length.
func readCanned(br *bufio.Reader) error {
	n := -1
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return err
		}
		if len(line) <= 2 {
			break
		}
		if v, ok := bytes.CutPrefix(line, []byte("Content-Length: ")); ok {
			n, _ = strconv.Atoi(string(bytes.TrimSpace(v)))
		}
	}
	if n < 0 {
		return io.ErrUnexpectedEOF
	}
	_, err := br.Discard(n)
	return err
}
