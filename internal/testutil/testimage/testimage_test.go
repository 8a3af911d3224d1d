package testimage_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"

	"github.com/minato-project/minato/internal/testutil/testimage"
)

// TestBuildAndRun builds the test image and runs its exit mode once.
func TestBuildAndRun(t *testing.T) {
	cli := testimage.RequireDocker(t)
	ref := testimage.Build(t, "")
	if !strings.HasPrefix(ref, testimage.Repository+":") || len(ref) != len(testimage.Repository)+1+16 {
		t.Fatalf("Build returned %q, want %s:<16 hex digits>", ref, testimage.Repository)
	}
	if again := testimage.Build(t, ""); again != ref {
		t.Fatalf("second Build returned %q", again)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	img, err := cli.ImageInspect(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	if got := img.Config.Entrypoint; len(got) != 1 || got[0] != "/testapp" {
		t.Fatalf("entrypoint = %q", got)
	}
	if len(img.Config.Labels[testimage.LabelBinary]) != 64 || !strings.HasPrefix(img.Config.Labels[testimage.LabelSource], strings.TrimPrefix(ref, testimage.Repository+":")) {
		t.Fatalf("labels = %v", img.Config.Labels)
	}

	run := "testimage-" + strings.ReplaceAll(t.Name(), "/", "-")
	t.Cleanup(func() { _ = testimage.RemoveLabelled(context.Background(), cli, testimage.LabelTest, run) })
	c, err := cli.ContainerCreate(ctx, &container.Config{
		Image:  ref,
		Cmd:    []string{"exit", "7"},
		Labels: map[string]string{testimage.LabelTest: run},
	}, nil, nil, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := cli.ContainerStart(ctx, c.ID, container.StartOptions{}); err != nil {
		t.Fatal(err)
	}
	waitC, errC := cli.ContainerWait(ctx, c.ID, container.WaitConditionNotRunning)
	select {
	case w := <-waitC:
		if w.StatusCode != 7 {
			t.Fatalf("exit code %d, want 7", w.StatusCode)
		}
	case err := <-errC:
		t.Fatal(err)
	}
}
