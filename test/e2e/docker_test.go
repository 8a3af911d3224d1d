package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"

	"github.com/minato-project/minato/internal/testutil/testimage"
)

// agentInstanceID reads the container instance ID an agent keeps in its
// data dir ("" if it never registered).
func agentInstanceID(agentDataDir string) string {
	b, err := os.ReadFile(filepath.Join(agentDataDir, "agent-state.json"))
	if err != nil {
		return ""
	}
	var s struct{ InstanceID string }
	json.Unmarshal(b, &s)
	return s.InstanceID
}

// removeContainersOf removes the containers the agent of a `minato up`
// data dir left behind (an agent leaves its containers running when it
// stops, by design).
func removeContainersOf(t *testing.T, dataDir string) {
	removeInstanceContainers(t, agentInstanceID(filepath.Join(dataDir, "agent")))
}

func removeInstanceContainers(t *testing.T, instanceID string) {
	if instanceID == "" {
		return
	}
	cli, err := dockerClient()
	if err != nil {
		return
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cs, err := cli.ContainerList(ctx, container.ListOptions{All: true,
		Filters: filters.NewArgs(filters.Arg("label", "minato.container-instance="+instanceID))})
	if err != nil {
		return
	}
	for _, c := range cs {
		cli.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true, RemoveVolumes: true})
	}
}

// containersOfTask lists the Docker containers of a task (the pause
// container of an awsvpc task among them).
func containersOfTask(t *testing.T, taskID string) []container.Summary {
	t.Helper()
	cli := testimage.RequireDocker(t)
	cs, err := cli.ContainerList(context.Background(), container.ListOptions{All: true,
		Filters: filters.NewArgs(filters.Arg("label", "minato.task="+taskID))})
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// waitFor polls cond until it holds or timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	last := ""
	for time.Now().Before(deadline) {
		ok, state := cond()
		if ok {
			return
		}
		last = state
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("timed out after %v waiting for %s; last state: %s", timeout, what, last)
}

// holdsFor checks a claim that something does not happen: cond must hold
// at every poll for d, and the test fails at the first poll where it does
// not. Unlike a wait, a slow machine cannot fail it; it can only make the
// claim weaker.
func holdsFor(t *testing.T, d time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	end := time.Now().Add(d)
	for {
		if ok, state := cond(); !ok {
			t.Fatalf("%s: %s", what, state)
		}
		if time.Now().After(end) {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func taskID(arn string) string { return arn[strings.LastIndex(arn, "/")+1:] }

func dockerClient() (*client.Client, error) {
	return client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
}

// getOK GETs url until it answers 200 and returns the body. A task is
// RUNNING once its containers have started, which can be a moment before
// their processes listen.
func getOK(t *testing.T, url string) []byte {
	t.Helper()
	var body []byte
	waitFor(t, 60*time.Second, "GET "+url+" to answer 200", func() (bool, string) {
		resp, err := (&http.Client{Timeout: 10 * time.Second}).Get(url)
		if err != nil {
			return false, err.Error()
		}
		defer resp.Body.Close()
		body, err = io.ReadAll(resp.Body)
		return err == nil && resp.StatusCode == http.StatusOK, fmt.Sprintf("%s %s", resp.Status, body)
	})
	return body
}

func httpGet(url string) (int, error) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}
