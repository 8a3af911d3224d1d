package docker

import (
	"context"
	"fmt"
	"time"

	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/container"

	"github.com/minato-project/minato/internal/runtime"
)

var _ runtime.Execer = (*Runtime)(nil)

// Exec runs a command in a running container with a TTY, through Docker's
// exec API.
func (r *Runtime) Exec(ctx context.Context, id string, spec runtime.ExecSpec) (runtime.Exec, error) {
	opts := container.ExecOptions{Cmd: spec.Cmd, Tty: true, AttachStdin: true, AttachStdout: true, AttachStderr: true}
	if spec.Cols > 0 && spec.Rows > 0 {
		opts.ConsoleSize = &[2]uint{spec.Rows, spec.Cols}
	}
	created, err := r.cli.ContainerExecCreate(ctx, id, opts)
	if err != nil {
		return nil, containerErr("exec in", id, err)
	}
	hj, err := r.cli.ContainerExecAttach(ctx, created.ID, container.ExecAttachOptions{Tty: true, ConsoleSize: opts.ConsoleSize})
	if err != nil {
		return nil, fmt.Errorf("attach to exec in container %s: %w", id, err)
	}
	return &dockerExec{r: r, id: created.ID, hj: hj}, nil
}

type dockerExec struct {
	r  *Runtime
	id string
	hj types.HijackedResponse
}

func (e *dockerExec) Read(p []byte) (int, error)  { return e.hj.Reader.Read(p) }
func (e *dockerExec) Write(p []byte) (int, error) { return e.hj.Conn.Write(p) }
func (e *dockerExec) Close() error                { e.hj.Close(); return nil }

func (e *dockerExec) Resize(ctx context.Context, cols, rows uint) error {
	return e.r.cli.ContainerExecResize(ctx, e.id, container.ResizeOptions{Height: rows, Width: cols})
}

// Wait polls the exec until it is no longer running: its output has ended
// by then, so this is brief.
func (e *dockerExec) Wait(ctx context.Context) (int, error) {
	delay := 10 * time.Millisecond
	for {
		in, err := e.r.cli.ContainerExecInspect(ctx, e.id)
		if err != nil {
			return -1, err
		}
		if !in.Running {
			return in.ExitCode, nil
		}
		select {
		case <-ctx.Done():
			return -1, ctx.Err()
		case <-time.After(delay):
		}
		delay = min(2*delay, 500*time.Millisecond)
	}
}
