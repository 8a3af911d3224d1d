package docker_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/mount"

	"github.com/minato-project/minato/internal/model/ecstypes"
	"github.com/minato-project/minato/internal/runtime"
	"github.com/minato-project/minato/internal/runtime/docker"
	"github.com/minato-project/minato/internal/runtime/runtimetest"
	"github.com/minato-project/minato/internal/testutil/testimage"
)

func i32(v int32) *int32 { return &v }
func yes() *bool         { b := true; return &b }

func (e *env) spec(task, name string, args ...string) runtime.ContainerSpec {
	return runtime.ContainerSpec{
		Name: e.run + "-" + task + "-" + name,
		Labels: map[string]string{
			runtime.LabelTask: e.run + "-" + task, runtime.LabelContainer: name,
			runtimetest.LabelRun: runtimetest.RunID,
		},
		Def: ecstypes.ContainerDefinition{Name: name, Image: e.image, Command: args},
	}
}

// start creates and starts a container and returns its ID and the host port
// bound to its 8080.
func start(t *testing.T, rt *docker.Runtime, spec runtime.ContainerSpec) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	id, err := rt.CreateContainer(ctx, spec)
	if err != nil {
		t.Fatalf("CreateContainer(%s): %v", spec.Name, err)
	}
	if err := rt.StartContainer(ctx, id); err != nil {
		t.Fatalf("StartContainer(%s): %v", spec.Name, err)
	}
	st, err := rt.Inspect(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range st.Ports {
		if p.ContainerPort == 8080 && !strings.Contains(p.HostIP, ":") {
			return id, p.HostPort
		}
	}
	return id, 0
}

func httpDo(t *testing.T, method string, port int, path, body string) (int, string) {
	t.Helper()
	url := fmt.Sprintf("http://127.0.0.1:%d%s", port, path)
	deadline := time.Now().Add(10 * time.Second)
	for {
		req, _ := http.NewRequest(method, url, strings.NewReader(body))
		resp, err := (&http.Client{Timeout: 2 * time.Second}).Do(req)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			return resp.StatusCode, string(b)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s %s: %v", method, url, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

var webPort = []ecstypes.PortMapping{{ContainerPort: i32(8080)}}

// TestFieldMapping creates a container from a definition that sets every
// mapped field, reads back what Docker stored, and runs it.
func TestFieldMapping(t *testing.T) {
	e := newEnv(t)
	e.image = testimage.Build(t, "")
	rt := e.runtime(t)
	spec := e.spec("map", "web", "serve")
	d := &spec.Def
	d.Cpu, d.Memory, d.MemoryReservation = 128, i32(64), i32(32)
	d.PortMappings = webPort
	d.Environment = []ecstypes.KeyValuePair{{Name: "A", Value: "1"}, {Name: "B", Value: "2"}}
	spec.ExtraEnv = []ecstypes.KeyValuePair{{Name: "B", Value: "from-secret"}}
	d.WorkingDirectory, d.User, d.Hostname = "/", "1000:1000", "mapped-host"
	d.DockerLabels = map[string]string{"team": "web"}
	d.Ulimits = []ecstypes.Ulimit{{Name: "nofile", SoftLimit: 1024, HardLimit: 2048}}
	d.LinuxParameters = &ecstypes.LinuxParameters{
		InitProcessEnabled: yes(),
		Capabilities:       &ecstypes.KernelCapabilities{Add: []string{"NET_ADMIN"}, Drop: []string{"MKNOD"}},
		SharedMemorySize:   i32(32),
		Tmpfs:              []ecstypes.Tmpfs{{ContainerPath: "/scratch", Size: 8, MountOptions: []string{"noexec"}}},
		Devices:            []ecstypes.Device{{HostPath: "/dev/null", ContainerPath: "/dev/mynull", Permissions: []ecstypes.DeviceCgroupPermission{"read", "write"}}},
	}
	d.ReadonlyRootFilesystem = yes()
	d.ExtraHosts = []ecstypes.HostEntry{{Hostname: "db.internal", IpAddress: "10.9.8.7"}}
	d.DnsServers, d.DnsSearchDomains = []string{"127.0.0.11"}, []string{"svc.local"}
	d.DockerSecurityOptions = []string{"no-new-privileges"}
	d.SystemControls = []ecstypes.SystemControl{{Namespace: "net.core.somaxconn", Value: "511"}}
	d.Interactive, d.PseudoTerminal = yes(), yes()
	d.StopTimeout = i32(7)
	d.LogConfiguration = &ecstypes.LogConfiguration{LogDriver: ecstypes.LogDriverAwslogs, Options: map[string]string{"awslogs-group": "/ecs/web"}}
	d.HealthCheck = &ecstypes.HealthCheck{Command: []string{"CMD", "/testapp", "health", "http://127.0.0.1:8080/health"}, Interval: i32(2), Retries: i32(4), StartPeriod: i32(1)}
	spec.TaskCPU = 512

	id, port := start(t, rt, spec)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := e.cli.ContainerInspect(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	cfg, hc := c.Config, c.HostConfig
	check := func(field string, got, want any) {
		t.Helper()
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s = %#v, want %#v", field, got, want)
		}
	}
	check("Cmd", []string(cfg.Cmd), []string{"serve"})
	check("Entrypoint (the image's)", []string(cfg.Entrypoint), []string{"/testapp"})
	check("Env has A", slices.Contains(cfg.Env, "A=1"), true)
	check("Env B overridden", slices.Contains(cfg.Env, "B=from-secret") && !slices.Contains(cfg.Env, "B=2"), true)
	check("WorkingDir", cfg.WorkingDir, "/")
	check("User", cfg.User, "1000:1000")
	check("Hostname", cfg.Hostname, "mapped-host")
	check("Labels team", cfg.Labels["team"], "web")
	check("Labels managed", cfg.Labels[runtime.LabelManaged], "true")
	check("Tty", cfg.Tty, true)
	check("OpenStdin", cfg.OpenStdin, true)
	check("StopTimeout", *cfg.StopTimeout, 7)
	check("Healthcheck.Test", cfg.Healthcheck.Test, []string{"CMD", "/testapp", "health", "http://127.0.0.1:8080/health"})
	check("Healthcheck.Interval", cfg.Healthcheck.Interval, 2*time.Second)
	check("Healthcheck.Timeout (ECS default)", cfg.Healthcheck.Timeout, 5*time.Second)
	check("Healthcheck.Retries", cfg.Healthcheck.Retries, 4)
	check("Healthcheck.StartPeriod", cfg.Healthcheck.StartPeriod, time.Second)
	check("CPUShares", hc.CPUShares, int64(128))
	check("Memory", hc.Memory, int64(64<<20))
	check("MemoryReservation", hc.MemoryReservation, int64(32<<20))
	check("NanoCPUs (task cpu 512)", hc.NanoCPUs, int64(5e8))
	check("Ulimits", *hc.Ulimits[0], container.Ulimit{Name: "nofile", Soft: 1024, Hard: 2048})
	check("Init", *hc.Init, true)
	check("CapAdd (Docker adds CAP_)", []string(hc.CapAdd), []string{"CAP_NET_ADMIN"})
	check("CapDrop", []string(hc.CapDrop), []string{"CAP_MKNOD"})
	check("ShmSize", hc.ShmSize, int64(32<<20))
	check("Tmpfs", hc.Tmpfs, map[string]string{"/scratch": "size=8m,noexec"})
	check("Devices", hc.Devices, []container.DeviceMapping{{PathOnHost: "/dev/null", PathInContainer: "/dev/mynull", CgroupPermissions: "rw"}})
	check("ReadonlyRootfs", hc.ReadonlyRootfs, true)
	check("Privileged", hc.Privileged, false)
	check("ExtraHosts", hc.ExtraHosts, []string{"db.internal:10.9.8.7"})
	check("DNS", hc.DNS, []string{"127.0.0.11"})
	check("DNSSearch", hc.DNSSearch, []string{"svc.local"})
	check("SecurityOpt", hc.SecurityOpt, []string{"no-new-privileges"})
	check("Sysctls", hc.Sysctls, map[string]string{"net.core.somaxconn": "511"})
	check("LogConfig (awslogs never reaches Docker)", hc.LogConfig.Type, "json-file")
	check("NetworkMode", string(hc.NetworkMode), "bridge")

	// And it runs as mapped: the process sees the environment and hostname.
	if port == 0 {
		t.Fatal("no host port for 8080")
	}
	code, body := httpDo(t, http.MethodGet, port, "/env", "")
	var env map[string]string
	if code != 200 || json.Unmarshal([]byte(body), &env) != nil || env["A"] != "1" || env["B"] != "from-secret" {
		t.Fatalf("GET /env: %d %s", code, body)
	}
	if _, body := httpDo(t, http.MethodGet, port, "/", ""); !strings.Contains(body, `"hostname": "mapped-host"`) {
		t.Fatalf("GET /: %s", body)
	}
	// The read-only root refuses a write; the tmpfs takes one.
	if code, _ := httpDo(t, http.MethodPost, port, "/file?path=/x", "no"); code != 500 {
		t.Errorf("write to a read-only root: %d", code)
	}
	if code, body := httpDo(t, http.MethodPost, port, "/file?path=/scratch/x", "yes"); code != 200 {
		t.Errorf("write to tmpfs: %d %s", code, body)
	}
	st, err := rt.Inspect(ctx, id)
	if err != nil || !st.Running {
		t.Fatalf("inspect: %+v %v", st, err)
	}
}

// TestVolumes mounts a task volume, a host path and a shared Docker volume,
// shares them by volumesFrom read-only, and removes the task volume with
// the task's last container.
func TestVolumes(t *testing.T) {
	e := newEnv(t)
	e.image = testimage.Build(t, "")
	rt := e.runtime(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	hostDir := t.TempDir()
	shared := "minato-test-shared-" + strings.ReplaceAll(e.run, ".", "-")
	t.Cleanup(func() { _ = e.cli.VolumeRemove(context.Background(), shared, true) })
	vols := []ecstypes.Volume{
		{Name: "scratch"},
		{Name: "hostdir", Host: &ecstypes.HostVolumeProperties{SourcePath: hostDir}},
		{Name: shared, DockerVolumeConfiguration: &ecstypes.DockerVolumeConfiguration{
			Scope: ecstypes.ScopeShared, Autoprovision: yes(), Driver: "local",
			Labels: map[string]string{"purpose": "cache", "minato.test": runtimetest.RunID},
		}},
	}
	writer := e.spec("vol", "writer", "serve")
	writer.Volumes = vols
	writer.Def.PortMappings = webPort
	writer.Def.MountPoints = []ecstypes.MountPoint{
		{SourceVolume: "scratch", ContainerPath: "/data"},
		{SourceVolume: "hostdir", ContainerPath: "/host"},
		{SourceVolume: shared, ContainerPath: "/cache"},
	}
	wID, wPort := start(t, rt, writer)

	reader := e.spec("vol", "reader", "serve")
	reader.Volumes = vols
	reader.Def.PortMappings = webPort
	reader.Def.VolumesFrom = []ecstypes.VolumeFrom{{SourceContainer: "writer", ReadOnly: yes()}}
	reader.VolumesFrom = map[string]string{"writer": wID}
	rID, rPort := start(t, rt, reader)

	for _, p := range []string{"/data/f", "/host/f", "/cache/f"} {
		if code, body := httpDo(t, http.MethodPost, wPort, "/file?path="+p, "hello "+p); code != 200 {
			t.Fatalf("write %s: %d %s", p, code, body)
		}
		if code, body := httpDo(t, http.MethodGet, rPort, "/file?path="+p, ""); code != 200 || body != "hello "+p {
			t.Fatalf("read %s through volumesFrom: %d %q", p, code, body)
		}
		if code, _ := httpDo(t, http.MethodPost, rPort, "/file?path="+p+"2", "x"); code != 500 {
			t.Fatalf("volumesFrom read-only: writing %s2 gave %d", p, code)
		}
	}
	if b, err := os.ReadFile(filepath.Join(hostDir, "f")); err != nil || string(b) != "hello /host/f" {
		t.Fatalf("host path: %q %v", b, err)
	}
	v, err := e.cli.VolumeInspect(ctx, shared)
	if err != nil || v.Labels["purpose"] != "cache" || v.Labels[runtime.LabelManaged] != "true" || v.Driver != "local" {
		t.Fatalf("shared volume: %+v %v", v, err)
	}
	c, err := e.cli.ContainerInspect(ctx, wID)
	if err != nil {
		t.Fatal(err)
	}
	taskVol := ""
	for _, m := range c.Mounts {
		if m.Destination == "/data" && m.Type == mount.TypeVolume {
			taskVol = m.Name
		}
	}
	if !strings.HasPrefix(taskVol, "minato-") {
		t.Fatalf("task volume mount: %+v", c.Mounts)
	}

	// Removing one container keeps the task volume the other still uses.
	if err := rt.RemoveContainer(ctx, wID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.cli.VolumeInspect(ctx, taskVol); err != nil {
		t.Fatalf("task volume gone while the reader uses it: %v", err)
	}
	if err := rt.RemoveContainer(ctx, rID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.cli.VolumeInspect(ctx, taskVol); !cerrdefs.IsNotFound(err) {
		t.Fatalf("task volume after the task's last container: %v", err)
	}
	if _, err := e.cli.VolumeInspect(ctx, shared); err != nil {
		t.Fatalf("the shared volume must stay: %v", err)
	}

	// A shared volume that does not exist and may not be made.
	bad := e.spec("vol", "bad", "serve")
	bad.Volumes = []ecstypes.Volume{{Name: "nope-" + strings.ReplaceAll(e.run, ".", "-"), DockerVolumeConfiguration: &ecstypes.DockerVolumeConfiguration{Scope: ecstypes.ScopeShared}}}
	bad.Def.MountPoints = []ecstypes.MountPoint{{SourceVolume: bad.Volumes[0].Name, ContainerPath: "/x"}}
	if _, err := rt.CreateContainer(ctx, bad); err == nil || !strings.Contains(err.Error(), "autoprovision") {
		t.Fatalf("missing shared volume without autoprovision: %v", err)
	}
}

// TestImages: a local image is ensured without a pull; ListImages shows the
// images minato uses; RemoveImage refuses an image in use, removes it once
// unused, and ignores a missing one.
func TestImages(t *testing.T) {
	e := newEnv(t)
	img := testimage.Build(t, "")
	e.image = img
	rt := e.runtime(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := rt.EnsureImage(ctx, img, nil); err != nil {
		t.Fatal(err)
	}
	// A throwaway image: the test image's content under another tag.
	tmp := "minato-test/throwaway:" + strings.ReplaceAll(e.run, ".", "-")
	if err := e.cli.ImageTag(ctx, img, tmp); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = e.cli.ImageRemove(context.Background(), tmp, image.RemoveOptions{}) })
	images, err := rt.ListImages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// A local image that EnsureImage found (not pulled) is never listed for
	// cleanup: only images minato pulled are its to remove.
	for _, im := range images {
		if slices.Contains(im.Tags, img) {
			t.Fatalf("ListImages lists the local image %s, which minato did not pull: %+v", img, im)
		}
	}

	spec := e.spec("img", "user", "serve")
	spec.Def.Image = tmp
	id, err := rt.CreateContainer(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	// By ID, Docker refuses while a container uses it (a tag would merely
	// be untagged).
	im, err := e.cli.ImageInspect(ctx, tmp)
	if err != nil {
		t.Fatal(err)
	}
	if err := rt.RemoveImage(ctx, im.ID); err == nil {
		t.Fatal("RemoveImage of an image in use must fail")
	}
	if err := rt.RemoveContainer(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := rt.RemoveImage(ctx, tmp); err != nil {
		t.Fatalf("RemoveImage: %v", err)
	}
	if _, err := e.cli.ImageInspect(ctx, tmp); !cerrdefs.IsNotFound(err) {
		t.Fatalf("image still there: %v", err)
	}
	if err := rt.RemoveImage(ctx, tmp); err != nil {
		t.Fatalf("RemoveImage of a missing image: %v", err)
	}
	if err := rt.EnsureImage(ctx, runtimetest.MissingImage, nil); !errors.Is(err, runtime.ErrImageNotFound) || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Fatalf("EnsureImage of a missing image: %v", err)
	}
}
