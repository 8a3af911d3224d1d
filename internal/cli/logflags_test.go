package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
)

func TestLogFormat(t *testing.T) {
	var b bytes.Buffer
	log, err := (&opsFlags{logLevel: "info", logFormat: "json"}).logger(&b)
	if err != nil {
		t.Fatal(err)
	}
	log.Info("ready", "cluster", "default")
	var m map[string]any
	if err := json.Unmarshal(b.Bytes(), &m); err != nil || m["msg"] != "ready" || m["cluster"] != "default" || m["level"] != "INFO" {
		t.Fatalf("json log line %q: %v %v", b.String(), m, err)
	}
	b.Reset()
	log, _ = (&opsFlags{logLevel: "warn", logFormat: "text"}).logger(&b)
	log.Info("hidden")
	log.Warn("shown", "cluster", "default")
	if got := b.String(); strings.Contains(got, "hidden") || !strings.Contains(got, `msg=shown cluster=default`) {
		t.Fatalf("text log: %q", got)
	}
	if _, err := (&opsFlags{logLevel: "info", logFormat: "xml"}).logger(&b); err == nil {
		t.Fatal("--log-format xml accepted")
	}
}

func TestPprofLoopbackOnly(t *testing.T) {
	for addr, ok := range map[string]bool{"127.0.0.1:6060": true, "[::1]:6060": true, "localhost:6060": true,
		"0.0.0.0:6060": false, ":6060": false, "10.0.0.1:6060": false, "example.com:6060": false} {
		if err := checkLoopback(addr); (err == nil) != ok {
			t.Errorf("checkLoopback(%q) = %v", addr, err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var logs bytes.Buffer
	o := &opsFlags{pprofAddr: "127.0.0.1:0"}
	if err := o.startPprof(ctx, slog.New(slog.NewTextHandler(&logs, nil))); err != nil {
		t.Fatal(err)
	}
	_, url, _ := strings.Cut(logs.String(), "url=")
	url = strings.TrimSpace(url)
	resp, err := http.Get(url + "cmdline")
	if err != nil {
		t.Fatalf("GET %scmdline: %v (log %q)", url, err, logs.String())
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || len(body) == 0 {
		t.Fatalf("pprof cmdline: %s %q", resp.Status, body)
	}
	if err := (&opsFlags{pprofAddr: "0.0.0.0:0"}).startPprof(ctx, slog.New(slog.DiscardHandler)); err == nil {
		t.Fatal("a pprof address that is not loopback was accepted")
	}
}
