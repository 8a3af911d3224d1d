package docker

import (
	"context"
	"fmt"
	"maps"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/volume"

	"github.com/minato-project/minato/internal/model/ecstypes"
	"github.com/minato-project/minato/internal/runtime"
)

// labelVolumeScope marks the Docker volumes minato creates: "task" ones are
// removed with the last container of their task, "shared" ones stay.
const labelVolumeScope = "minato.volume-scope"

// resolveVolumes decides what backs each task volume the container mounts,
// creating Docker volumes as needed:
//
//   - host.sourcePath: a bind mount of that path;
//   - dockerVolumeConfiguration, scope "shared": the Docker volume named
//     like the task volume, created when autoprovision is true;
//   - dockerVolumeConfiguration, scope "task" (the default), or no host
//     and no configuration: a Docker volume of this task, named
//     minato-<task>-<volume>, removed with the task's last container.
func (r *Runtime) resolveVolumes(ctx context.Context, spec runtime.ContainerSpec) (map[string]volumeSource, error) {
	if len(spec.Def.MountPoints) == 0 {
		return nil, nil
	}
	needed := map[string]bool{}
	for _, mp := range spec.Def.MountPoints {
		needed[mp.SourceVolume] = true
	}
	out := map[string]volumeSource{}
	for _, v := range spec.Volumes {
		if !needed[v.Name] {
			continue
		}
		switch {
		case v.EfsVolumeConfiguration != nil, v.FsxWindowsFileServerVolumeConfiguration != nil, v.S3filesVolumeConfiguration != nil:
			return nil, fmt.Errorf("volume %q: only host and Docker volumes are supported", v.Name)
		case v.Host != nil && v.Host.SourcePath != "":
			out[v.Name] = volumeSource{hostPath: v.Host.SourcePath}
		case v.DockerVolumeConfiguration != nil && v.DockerVolumeConfiguration.Scope == ecstypes.ScopeShared:
			name, err := r.sharedVolume(ctx, v.Name, v.DockerVolumeConfiguration)
			if err != nil {
				return nil, err
			}
			out[v.Name] = volumeSource{volume: name}
		default:
			name, err := r.taskVolume(ctx, spec, v)
			if err != nil {
				return nil, err
			}
			out[v.Name] = volumeSource{volume: name}
		}
	}
	return out, nil
}

func volumeLabels(user map[string]string, extra map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range user {
		out[k] = v
	}
	for k, v := range extra {
		out[k] = v
	}
	return out
}

func (r *Runtime) sharedVolume(ctx context.Context, name string, c *ecstypes.DockerVolumeConfiguration) (string, error) {
	_, err := r.cli.VolumeInspect(ctx, name)
	if err == nil {
		return name, nil
	}
	if !cerrdefs.IsNotFound(err) {
		return "", fmt.Errorf("volume %q: %w", name, err)
	}
	if !isTrue(c.Autoprovision) {
		return "", fmt.Errorf("volume %q: no such Docker volume, and autoprovision is false", name)
	}
	_, err = r.cli.VolumeCreate(ctx, volume.CreateOptions{
		Name:       name,
		Driver:     c.Driver,
		DriverOpts: c.DriverOpts,
		Labels:     volumeLabels(c.Labels, map[string]string{runtime.LabelManaged: "true", labelVolumeScope: "shared"}),
	})
	if err != nil {
		return "", fmt.Errorf("create volume %q: %w", name, err)
	}
	return name, nil
}

// taskVolume creates (idempotently: Docker returns an existing volume of
// the same name) the task's own Docker volume.
func (r *Runtime) taskVolume(ctx context.Context, spec runtime.ContainerSpec, v ecstypes.Volume) (string, error) {
	task := spec.Labels[runtime.LabelTask]
	if task == "" {
		task = spec.Name
	}
	name := "minato-" + sanitize(task) + "-" + sanitize(v.Name)
	// The volume carries the task's labels (not the container's name: it
	// belongs to the whole task), so what finds the task's containers finds
	// its volumes too.
	extra := maps.Clone(spec.Labels)
	if extra == nil {
		extra = map[string]string{}
	}
	delete(extra, runtime.LabelContainer)
	extra[runtime.LabelManaged], extra[labelVolumeScope], extra[runtime.LabelTask] = "true", "task", task
	opts := volume.CreateOptions{Name: name, Labels: extra}
	if c := v.DockerVolumeConfiguration; c != nil {
		opts.Driver, opts.DriverOpts = c.Driver, c.DriverOpts
		opts.Labels = volumeLabels(c.Labels, extra)
	}
	if _, err := r.cli.VolumeCreate(ctx, opts); err != nil {
		return "", fmt.Errorf("create volume %q: %w", name, err)
	}
	return name, nil
}

// sanitize keeps what Docker allows in a volume name.
func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '.', r == '-':
			return r
		}
		return '-'
	}, s)
}

// removeTaskVolumes removes the task-scoped volumes among a removed
// container's mounts. One still used by another container of the task is
// refused by Docker and stays until that one goes.
func (r *Runtime) removeTaskVolumes(ctx context.Context, mounts []container.MountPoint) {
	for _, m := range mounts {
		if m.Type != mount.TypeVolume || m.Name == "" {
			continue
		}
		v, err := r.cli.VolumeInspect(ctx, m.Name)
		if err != nil || v.Labels[labelVolumeScope] != "task" {
			continue
		}
		if err := r.cli.VolumeRemove(ctx, m.Name, false); err != nil && !cerrdefs.IsNotFound(err) {
			r.log.Debug("task volume kept", "volume", m.Name, "err", err)
		}
	}
}
