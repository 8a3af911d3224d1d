package lb

import (
	"bufio"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// A minimal RFC 6455 server and client, enough for a handshake and an echo
// of text frames.

const wsGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

func wsAccept(key string) string {
	h := sha1.Sum([]byte(key + wsGUID))
	return base64.StdEncoding.EncodeToString(h[:])
}

func wsWriteFrame(w io.Writer, payload []byte, mask bool) error {
	hdr := []byte{0x81} // FIN, text
	n := len(payload)
	var mbit byte
	if mask {
		mbit = 0x80
	}
	switch {
	case n < 126:
		hdr = append(hdr, mbit|byte(n))
	case n < 1<<16:
		hdr = append(hdr, mbit|126, byte(n>>8), byte(n))
	default:
		hdr = append(hdr, mbit|127)
		hdr = binary.BigEndian.AppendUint64(hdr, uint64(n))
	}
	data := payload
	if mask {
		var key [4]byte
		rand.Read(key[:])
		hdr = append(hdr, key[:]...)
		data = make([]byte, n)
		for i := range payload {
			data[i] = payload[i] ^ key[i%4]
		}
	}
	if _, err := w.Write(hdr); err != nil {
		return err
	}
	_, err := w.Write(data)
	return err
}

func wsReadFrame(r io.Reader) ([]byte, error) {
	var h [2]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return nil, err
	}
	if h[0]&0x0f != 1 {
		return nil, errors.New("not a text frame")
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var b [2]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return nil, err
		}
		n = uint64(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return nil, err
		}
		n = binary.BigEndian.Uint64(b[:])
	}
	var key [4]byte
	masked := h[1]&0x80 != 0
	if masked {
		if _, err := io.ReadFull(r, key[:]); err != nil {
			return nil, err
		}
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(r, p); err != nil {
		return nil, err
	}
	if masked {
		for i := range p {
			p[i] ^= key[i%4]
		}
	}
	return p, nil
}

// wsEchoServer upgrades /ws and echoes every text frame, prefixed.
func wsEchoServer(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/health" {
			return
		}
		if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") || r.Header.Get("Sec-WebSocket-Key") == "" {
			http.Error(w, "not a websocket request", http.StatusBadRequest)
			return
		}
		conn, rw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		rw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
			"Sec-WebSocket-Accept: " + wsAccept(r.Header.Get("Sec-WebSocket-Key")) + "\r\n" +
			"X-Forwarded-For-Seen: " + r.Header.Get("X-Forwarded-For") + "\r\n\r\n")
		rw.Flush()
		for {
			msg, err := wsReadFrame(rw)
			if err != nil {
				return
			}
			if err := wsWriteFrame(conn, append([]byte("echo: "), msg...), false); err != nil {
				return
			}
		}
	}))
	t.Cleanup(func() { srv.CloseClientConnections(); srv.Close() })
	return srv
}

func TestWebSocketUpgrade(t *testing.T) {
	ws := wsEchoServer(t)
	p := newPlane(t, Options{})
	tg := group("tg")
	addr := ws.Listener.Addr().String()
	tg.Targets = []Target{{ID: "ws", Port: 1, Addr: addr}}
	tg.HealthCheck.Port = addr[strings.LastIndexByte(addr, ':')+1:]
	mustUpdate(t, p, oneListener(tg))
	waitFor(t, "healthy", allIn(p, "tg", StateHealthy))

	conn, err := net.DialTimeout("tcp", p.ListenerAddr("l1").String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(15 * time.Second))
	var keyb [16]byte
	rand.Read(keyb[:])
	key := base64.StdEncoding.EncodeToString(keyb[:])
	io.WriteString(conn, "GET /ws HTTP/1.1\r\nHost: chat.example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: "+key+"\r\nSec-WebSocket-Version: 13\r\n\r\n")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols || resp.Header.Get("Sec-WebSocket-Accept") != wsAccept(key) {
		t.Fatalf("handshake: %s %v", resp.Status, resp.Header)
	}
	if got := resp.Header.Get("X-Forwarded-For-Seen"); got != "127.0.0.1" {
		t.Errorf("backend saw X-Forwarded-For %q", got)
	}
	for _, msg := range []string{"hello", strings.Repeat("x", 300), "bye"} {
		if err := wsWriteFrame(conn, []byte(msg), true); err != nil {
			t.Fatal(err)
		}
		got, err := wsReadFrame(br)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != "echo: "+msg {
			t.Fatalf("echo %q, want %q", got, "echo: "+msg)
		}
	}
}
