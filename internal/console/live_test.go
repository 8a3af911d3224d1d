package console

import (
	"bufio"
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/minato-project/minato/internal/store"
	"github.com/minato-project/minato/internal/store/bolt"
)

// TestLiveOutlastsServerTimeouts: a live stream on a server whose read
// and write timeouts are short (the API listener's are made for API
// calls) still delivers a change made after them, and its goroutines end
// with the request.
func TestLiveOutlastsServerTimeouts(t *testing.T) {
	st, err := bolt.Open(filepath.Join(t.TempDir(), "state.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	c, err := New(Config{Store: st, AccessKeyID: "AKIA", SecretAccessKey: "secret", Token: "tok"})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(c.Handler())
	srv.Config.ReadTimeout, srv.Config.WriteTimeout = 300*time.Millisecond, 300*time.Millisecond
	srv.Start()
	defer srv.Close()
	before := runtime.NumGoroutine()

	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/console/live", nil)
	req.AddCookie(c.newCookie(req))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		t.Fatalf("live: %s", resp.Status)
	}
	got := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "event: change") {
				got <- sc.Text()
				return
			}
		}
		got <- "ended: " + sc.Err().Error()
	}()
	time.Sleep(time.Second) // past both server timeouts (what this test is about)
	if _, err := st.Txn(context.Background(), nil, []store.Op{store.Put("ecs/services/default/web", []byte(`{}`))}); err != nil {
		t.Fatal(err)
	}
	select {
	case s := <-got:
		if !strings.HasPrefix(s, "event: change") {
			t.Fatalf("the stream ended before the change: %s", s)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no change event")
	}
	cancel()
	resp.Body.Close()
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > before+1 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before+1 {
		t.Fatalf("%d goroutines after the stream closed, %d before", n, before)
	}
	if len(c.streams) != 0 {
		t.Fatalf("%d stream slots still held", len(c.streams))
	}
}
