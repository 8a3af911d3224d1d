package awsproto

import (
	"net"
	"net/http"
	"sync"
	"time"
)

// DefaultMaxNewConnsPerIP bounds, per client address, the connections that
// have not yet delivered the headers of their first request. Each costs a
// goroutine, buffers and up to MaxHeaderBytes of headers (about 80 KiB at
// most), so one address can hold at most about 40 MiB this way. It is
// generous because many hosts may share an address (NAT, or the simulated
// fleets of bench/, which register hundreds of agents at once over loopback).
const DefaultMaxNewConnsPerIP = 512

// NewHTTPServer returns an http.Server for h with limits that keep slow or
// huge requests from tying the server up. Against slow headers
// (slowloris): a connection has ReadHeaderTimeout to deliver a request's
// headers, of at most MaxHeaderBytes, and one client address may have at
// most DefaultMaxNewConnsPerIP connections that have not yet delivered
// their first request's headers; a connection beyond them is closed as soon
// as it is accepted. Slow bodies are the Server's to bound (preauth.go),
// since only it knows when a request has proven who sent it; ReadTimeout is
// the bound for handlers other than the Server's.
func NewHTTPServer(addr string, h http.Handler) *http.Server {
	hs, _ := newHTTPServer(addr, h, DefaultMaxNewConnsPerIP)
	return hs
}

func newHTTPServer(addr string, h http.Handler, maxNewPerIP int) (*http.Server, *newConnGuard) {
	g := &newConnGuard{max: maxNewPerIP, perIP: map[string]int{}, fresh: map[net.Conn]string{}}
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      90 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ConnState:         g.connState,
	}, g
}

// newConnGuard counts, per client address, the connections in
// http.StateNew: accepted, but the headers of their first request not yet
// read (the http.Server moves a connection to StateActive once it has read
// them).
type newConnGuard struct {
	max   int
	mu    sync.Mutex
	perIP map[string]int
	fresh map[net.Conn]string // the counted connections, to their address
}

func (g *newConnGuard) connState(c net.Conn, st http.ConnState) {
	if st != http.StateNew {
		g.mu.Lock()
		if ip, ok := g.fresh[c]; ok {
			delete(g.fresh, c)
			if g.perIP[ip]--; g.perIP[ip] <= 0 {
				delete(g.perIP, ip)
			}
		}
		g.mu.Unlock()
		return
	}
	ip := clientIP(c.RemoteAddr().String())
	g.mu.Lock()
	admit := g.perIP[ip] < g.max
	if admit {
		g.perIP[ip]++
		g.fresh[c] = ip
	}
	g.mu.Unlock()
	if !admit {
		_ = c.Close() // the server's read fails and it drops the connection
	}
}

// count returns how many new connections ip has.
func (g *newConnGuard) count(ip string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.perIP[ip]
}
