package lb

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkProxy sends GET requests through a listener to a loopback
// backend, keep-alive on both sides, from b.N sequential calls of
// GOMAXPROCS parallel clients.
func BenchmarkProxy(b *testing.B) {
	body := []byte("hello from the backend\n")
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Write(body)
	}))
	defer backend.Close()
	p := New(Options{})
	defer p.Close()
	tg := &TargetGroup{ARN: "tg", InUse: true, HealthCheck: HealthCheck{Enabled: false},
		Targets: []Target{{ID: "b", Port: 80, Addr: backend.Listener.Addr().String()}}}
	if errs := p.Update(oneListener(tg)); errs != nil {
		b.Fatal(errs)
	}
	url := "http://" + p.ListenerAddr("l1").String() + "/"
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
}
