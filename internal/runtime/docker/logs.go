package docker

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"

	"github.com/minato-project/minato/internal/runtime"
)

var _ runtime.LogReader = (*Runtime)(nil)

// FollowLogs reads a container's log from Docker (the json-file driver
// the agent gives awslogs containers) with timestamps, following it until
// the container stops.
func (r *Runtime) FollowLogs(ctx context.Context, id string, since time.Time, fn func(runtime.LogLine) error) error {
	info, err := r.cli.ContainerInspect(ctx, id)
	if cerrdefs.IsNotFound(err) {
		return runtime.ErrNotFound
	}
	if err != nil {
		return err
	}
	opts := container.LogsOptions{ShowStdout: true, ShowStderr: true, Follow: true, Timestamps: true}
	if !since.IsZero() {
		opts.Since = fmt.Sprintf("%d.%09d", since.Unix(), since.Nanosecond())
	}
	rc, err := r.cli.ContainerLogs(ctx, id, opts)
	if cerrdefs.IsNotFound(err) {
		return runtime.ErrNotFound
	}
	if err != nil {
		return err
	}
	defer rc.Close()
	br := bufio.NewReaderSize(rc, 256<<10)
	if info.Config != nil && info.Config.Tty {
		return readRawLog(br, fn)
	}
	return readMuxLog(br, fn)
}

// readMuxLog reads Docker's multiplexed stream: frames of an 8-byte
// header (stream type, 3 zero bytes, big-endian length) and one log
// message each, "<RFC 3339 nano timestamp> <text>", ending in a newline
// unless Docker split a long line.
func readMuxLog(br *bufio.Reader, fn func(runtime.LogLine) error) error {
	var hdr [8]byte
	buf := make([]byte, 0, 64<<10)
	for {
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		n := int(binary.BigEndian.Uint32(hdr[4:]))
		if cap(buf) < n {
			buf = make([]byte, n)
		}
		buf = buf[:n]
		if _, err := io.ReadFull(br, buf); err != nil {
			return err
		}
		line, err := parseLogMessage(buf)
		if err != nil {
			return err
		}
		line.Stderr = hdr[0] == 2
		if err := fn(line); err != nil {
			return err
		}
	}
}

// readRawLog reads the log of a container with a TTY: plain
// timestamped lines.
func readRawLog(br *bufio.Reader, fn func(runtime.LogLine) error) error {
	for {
		b, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			// A very long line: pass the rest on as its own line.
			err = nil
		}
		if len(b) > 0 {
			line, perr := parseLogMessage(b)
			if perr != nil {
				return perr
			}
			if err := fn(line); err != nil {
				return err
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

func parseLogMessage(b []byte) (runtime.LogLine, error) {
	sp := strings.IndexByte(string(b[:min(len(b), 64)]), ' ')
	if sp < 0 {
		return runtime.LogLine{}, fmt.Errorf("docker log: no timestamp in %q", b[:min(len(b), 64)])
	}
	t, err := time.Parse(time.RFC3339Nano, string(b[:sp]))
	if err != nil {
		return runtime.LogLine{}, fmt.Errorf("docker log: %w", err)
	}
	text := b[sp+1:]
	partial := true
	if len(text) > 0 && text[len(text)-1] == '\n' {
		text, partial = text[:len(text)-1], false
		if len(text) > 0 && text[len(text)-1] == '\r' {
			text = text[:len(text)-1]
		}
	}
	return runtime.LogLine{Time: t, Text: string(text), Partial: partial}, nil
}
