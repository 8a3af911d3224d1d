package docker

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/go-connections/nat"

	"github.com/minato-project/minato/internal/model/ecstypes"
	"github.com/minato-project/minato/internal/runtime"
)

const mib = 1 << 20

// ECS's health-check defaults (seconds); Docker's own differ (its timeout
// is 30s), so they are always sent explicitly.
const (
	healthIntervalDefault = 30
	healthTimeoutDefault  = 5
	healthRetriesDefault  = 3
)

// minCPUShares is what the ECS agent gives a container whose cpu is 0 or 1:
// Docker would turn 0 into 1024 shares, and the kernel refuses 1.
const minCPUShares = 2

// volumeSource says what backs one task volume: a host path (bind mount)
// or a Docker volume, by name.
type volumeSource struct {
	hostPath string
	volume   string
}

// dockerConfig is what ContainerCreate takes.
type dockerConfig struct {
	config  *container.Config
	host    *container.HostConfig
	network *network.NetworkingConfig
}

// buildConfig maps a container spec to Docker's create request. It is pure:
// volumes were already resolved (vols, by task volume name) and hostCPUs is
// the engine's CPU count (0: unknown), which bounds a task-level CPU limit.
func buildConfig(spec runtime.ContainerSpec, vols map[string]volumeSource, hostCPUs int) (dockerConfig, error) {
	def := spec.Def
	mode := spec.NetworkMode
	if mode == "" {
		mode = ecstypes.NetworkModeBridge
	}
	cfg := &container.Config{
		Image:           def.Image,
		Cmd:             def.Command,
		Entrypoint:      def.EntryPoint,
		Env:             envList(def.Environment, spec.ExtraEnv),
		WorkingDir:      def.WorkingDirectory,
		User:            def.User,
		Labels:          labels(def.DockerLabels, spec.Labels),
		NetworkDisabled: isTrue(def.DisableNetworking),
		OpenStdin:       isTrue(def.Interactive),
		Tty:             isTrue(def.PseudoTerminal),
		Healthcheck:     healthConfig(def.HealthCheck),
	}
	if def.StopTimeout != nil {
		s := int(*def.StopTimeout)
		cfg.StopTimeout = &s
	}
	hc := &container.HostConfig{
		Privileged:     isTrue(def.Privileged),
		ReadonlyRootfs: isTrue(def.ReadonlyRootFilesystem),
		SecurityOpt:    def.DockerSecurityOptions,
		LogConfig:      logConfig(def.LogConfiguration, spec.LogDriver),
		Resources:      resources(def, spec, hostCPUs),
	}
	for _, sc := range def.SystemControls {
		if hc.Sysctls == nil {
			hc.Sysctls = map[string]string{}
		}
		hc.Sysctls[sc.Namespace] = sc.Value
	}
	if err := linuxParameters(def.LinuxParameters, hc); err != nil {
		return dockerConfig{}, err
	}

	// Network mode. Docker refuses a hostname, DNS settings, extra hosts and
	// ports on a container that joins another's network namespace; ECS
	// documents those fields as unsupported with awsvpc, so they are
	// dropped there (the pause container carries the task's hostname).
	switch mode {
	case ecstypes.NetworkModeBridge:
		hc.NetworkMode = network.NetworkBridge
		exposed, bindings, err := portBindings(def.PortMappings, spec.PortBindings)
		if err != nil {
			return dockerConfig{}, err
		}
		cfg.ExposedPorts, hc.PortBindings = exposed, bindings
	case ecstypes.NetworkModeHost:
		hc.NetworkMode = network.NetworkHost
	case ecstypes.NetworkModeNone:
		hc.NetworkMode = network.NetworkNone
	case ecstypes.NetworkModeAwsvpc:
		if spec.NetworkContainerID == "" {
			return dockerConfig{}, fmt.Errorf("container %q: awsvpc network mode needs the task's network container", spec.Name)
		}
		hc.NetworkMode = container.NetworkMode("container:" + spec.NetworkContainerID)
	default:
		return dockerConfig{}, fmt.Errorf("container %q: unsupported network mode %q", spec.Name, mode)
	}
	if mode != ecstypes.NetworkModeAwsvpc {
		cfg.Hostname = def.Hostname
		hc.DNS = def.DnsServers
		hc.DNSSearch = def.DnsSearchDomains
		for _, h := range def.ExtraHosts {
			hc.ExtraHosts = append(hc.ExtraHosts, h.Hostname+":"+h.IpAddress)
		}
	}

	for i, mp := range def.MountPoints {
		src, ok := vols[mp.SourceVolume]
		if !ok {
			return dockerConfig{}, fmt.Errorf("container %q: mountPoints[%d]: no task volume named %q", spec.Name, i, mp.SourceVolume)
		}
		if mp.ContainerPath == "" {
			return dockerConfig{}, fmt.Errorf("container %q: mountPoints[%d]: containerPath is empty", spec.Name, i)
		}
		from := src.volume
		if src.hostPath != "" {
			from = src.hostPath
		}
		bind := from + ":" + mp.ContainerPath
		if isTrue(mp.ReadOnly) {
			bind += ":ro"
		}
		hc.Binds = append(hc.Binds, bind)
	}
	for i, vf := range def.VolumesFrom {
		id, ok := spec.VolumesFrom[vf.SourceContainer]
		if !ok || id == "" {
			return dockerConfig{}, fmt.Errorf("container %q: volumesFrom[%d]: container %q of the task has no engine container", spec.Name, i, vf.SourceContainer)
		}
		if isTrue(vf.ReadOnly) {
			id += ":ro"
		}
		hc.VolumesFrom = append(hc.VolumesFrom, id)
	}
	return dockerConfig{config: cfg, host: hc}, nil
}

func isTrue(b *bool) bool { return b != nil && *b }

// envList joins the definition's environment with the extra variables; an
// extra variable replaces one of the same name in place.
func envList(env, extra []ecstypes.KeyValuePair) []string {
	var out []string
	at := map[string]int{}
	for _, kvs := range [][]ecstypes.KeyValuePair{env, extra} {
		for _, kv := range kvs {
			s := kv.Name + "=" + kv.Value
			if i, ok := at[kv.Name]; ok {
				out[i] = s
				continue
			}
			at[kv.Name] = len(out)
			out = append(out, s)
		}
	}
	return out
}

// labels are the definition's dockerLabels, then minato's, which win.
func labels(docker, minato map[string]string) map[string]string {
	out := make(map[string]string, len(docker)+len(minato)+1)
	for k, v := range docker {
		out[k] = v
	}
	for k, v := range minato {
		out[k] = v
	}
	out[runtime.LabelManaged] = "true"
	return out
}

func seconds(p *int32, def int32) time.Duration {
	if p != nil {
		def = *p
	}
	return time.Duration(def) * time.Second
}

// healthConfig maps an ECS health check: ["CMD", args...] and
// ["CMD-SHELL", "cmd"] pass through as Docker's test; a command with
// neither prefix runs through the shell, as ECS documents.
func healthConfig(h *ecstypes.HealthCheck) *container.HealthConfig {
	if h == nil || len(h.Command) == 0 {
		return nil
	}
	test := h.Command
	switch test[0] {
	case "CMD", "CMD-SHELL", "NONE":
	default:
		test = []string{"CMD-SHELL", strings.Join(test, " ")}
	}
	retries := int32(healthRetriesDefault)
	if h.Retries != nil {
		retries = *h.Retries
	}
	return &container.HealthConfig{
		Test:        test,
		Interval:    seconds(h.Interval, healthIntervalDefault),
		Timeout:     seconds(h.Timeout, healthTimeoutDefault),
		StartPeriod: seconds(h.StartPeriod, 0),
		Retries:     int(retries),
	}
}

// The json-file log of an awslogs container: up to AwslogsBufferFiles
// files of AwslogsBufferFileSize.
const (
	AwslogsBufferFileSize = "100m"
	AwslogsBufferFiles    = "10"
)

// logConfig picks the engine's log driver. The agent reads awslogs (and
// awsfirelens) output itself, so those never reach Docker: the container
// logs to json-file instead. Other drivers pass through unchanged.
func logConfig(def, override *ecstypes.LogConfiguration) container.LogConfig {
	lc := def
	if override != nil {
		lc = override
	}
	if lc == nil || lc.LogDriver == "" {
		return container.LogConfig{}
	}
	switch lc.LogDriver {
	case ecstypes.LogDriverAwslogs, ecstypes.LogDriverAwsfirelens:
		// Docker's own delivery mode still applies in front of the file:
		// non-blocking drops lines past max-buffer-size rather than
		// block the container.
		// The file is the agent's buffer while it cannot ship: bounded
		// (1 GB), and rotated rarely, whatever the daemon's default
		// log-opts say (Docker 20.10 can stop following a file that
		// rotates under it).
		cfg := map[string]string{"max-size": AwslogsBufferFileSize, "max-file": AwslogsBufferFiles}
		for _, k := range []string{"mode", "max-buffer-size"} {
			if v, ok := lc.Options[k]; ok {
				cfg[k] = v
			}
		}
		return container.LogConfig{Type: "json-file", Config: cfg}
	}
	return container.LogConfig{Type: string(lc.LogDriver), Config: lc.Options}
}

// resources maps cpu, memory, ulimits and the task-level limits. Without a
// task cgroup, a task's cpu and memory bound each of its containers: a
// container can never use more than its task may.
func resources(def ecstypes.ContainerDefinition, spec runtime.ContainerSpec, hostCPUs int) container.Resources {
	r := container.Resources{CPUShares: int64(def.Cpu)}
	if r.CPUShares < minCPUShares {
		r.CPUShares = minCPUShares
	}
	if def.Memory != nil && *def.Memory > 0 {
		r.Memory = int64(*def.Memory) * mib
	}
	if def.MemoryReservation != nil && *def.MemoryReservation > 0 {
		r.MemoryReservation = int64(*def.MemoryReservation) * mib
	}
	if r.Memory == 0 && spec.TaskMemoryMiB > 0 && r.MemoryReservation < int64(spec.TaskMemoryMiB)*mib {
		r.Memory = int64(spec.TaskMemoryMiB) * mib
	}
	if spec.TaskCPU > 0 {
		nano := int64(spec.TaskCPU) * 1e9 / 1024
		if hostCPUs > 0 && nano > int64(hostCPUs)*1e9 {
			nano = int64(hostCPUs) * 1e9
		}
		r.NanoCPUs = max(nano, 1e7) // Docker's floor: 0.01 CPU
	}
	if lp := def.LinuxParameters; lp != nil {
		if lp.MaxSwap != nil && r.Memory > 0 {
			// Docker's MemorySwap is memory plus swap; maxSwap 0 means none.
			r.MemorySwap = r.Memory + int64(*lp.MaxSwap)*mib
		}
		if lp.Swappiness != nil {
			s := int64(*lp.Swappiness)
			r.MemorySwappiness = &s
		}
		for _, d := range lp.Devices {
			r.Devices = append(r.Devices, device(d))
		}
	}
	for _, u := range def.Ulimits {
		r.Ulimits = append(r.Ulimits, &container.Ulimit{Name: string(u.Name), Soft: int64(u.SoftLimit), Hard: int64(u.HardLimit)})
	}
	return r
}

func device(d ecstypes.Device) container.DeviceMapping {
	perms := ""
	for _, p := range d.Permissions {
		switch p {
		case ecstypes.DeviceCgroupPermissionRead:
			perms += "r"
		case ecstypes.DeviceCgroupPermissionWrite:
			perms += "w"
		case ecstypes.DeviceCgroupPermissionMknod:
			perms += "m"
		}
	}
	if perms == "" {
		perms = "rwm" // Docker's default for --device
	}
	to := d.ContainerPath
	if to == "" {
		to = d.HostPath
	}
	return container.DeviceMapping{PathOnHost: d.HostPath, PathInContainer: to, CgroupPermissions: perms}
}

// linuxParameters maps init, capabilities, shared memory and tmpfs mounts
// (devices, swap and swappiness are resources).
func linuxParameters(lp *ecstypes.LinuxParameters, hc *container.HostConfig) error {
	if lp == nil {
		return nil
	}
	if isTrue(lp.InitProcessEnabled) {
		t := true
		hc.Init = &t
	}
	if c := lp.Capabilities; c != nil {
		hc.CapAdd, hc.CapDrop = c.Add, c.Drop
	}
	if lp.SharedMemorySize != nil && *lp.SharedMemorySize > 0 {
		hc.ShmSize = int64(*lp.SharedMemorySize) * mib
	}
	for i, t := range lp.Tmpfs {
		if t.ContainerPath == "" {
			return fmt.Errorf("linuxParameters.tmpfs[%d]: containerPath is empty", i)
		}
		if hc.Tmpfs == nil {
			hc.Tmpfs = map[string]string{}
		}
		opts := append([]string{}, t.MountOptions...)
		if t.Size > 0 {
			opts = append([]string{"size=" + strconv.Itoa(int(t.Size)) + "m"}, opts...)
		}
		hc.Tmpfs[t.ContainerPath] = strings.Join(opts, ",")
	}
	return nil
}

// portBindings exposes the definition's container ports and publishes them
// on the host: the agent's chosen bindings when given, else the mappings'
// hostPort (absent or 0: the engine picks one).
func portBindings(mappings []ecstypes.PortMapping, chosen []runtime.PortBinding) (nat.PortSet, nat.PortMap, error) {
	exposed := nat.PortSet{}
	bindings := nat.PortMap{}
	add := func(containerPort int, proto string, hostIP string, hostPort int) {
		if proto == "" {
			proto = "tcp"
		}
		p := nat.Port(strconv.Itoa(containerPort) + "/" + proto)
		exposed[p] = struct{}{}
		hp := ""
		if hostPort > 0 {
			hp = strconv.Itoa(hostPort)
		}
		bindings[p] = append(bindings[p], nat.PortBinding{HostIP: hostIP, HostPort: hp})
	}
	if len(chosen) > 0 {
		for _, b := range chosen {
			add(b.ContainerPort, b.Protocol, b.HostIP, b.HostPort)
		}
	} else {
		for i, m := range mappings {
			proto := string(m.Protocol)
			switch {
			case m.ContainerPort != nil:
				hp := 0
				if m.HostPort != nil {
					hp = int(*m.HostPort)
				}
				add(int(*m.ContainerPort), proto, "", hp)
			case m.ContainerPortRange != "":
				lo, hi, err := nat.ParsePortRange(m.ContainerPortRange)
				if err != nil {
					return nil, nil, fmt.Errorf("portMappings[%d].containerPortRange: %w", i, err)
				}
				for p := lo; p <= hi; p++ {
					add(int(p), proto, "", 0)
				}
			}
		}
	}
	if len(exposed) == 0 {
		return nil, nil, nil
	}
	return exposed, bindings, nil
}

// sortedPorts returns the bound ports of a container, IPv4 first.
func sortedPorts(pm nat.PortMap) []runtime.PortBinding {
	var out []runtime.PortBinding
	for p, bs := range pm {
		for _, b := range bs {
			hp, err := strconv.Atoi(b.HostPort)
			if err != nil {
				continue
			}
			out = append(out, runtime.PortBinding{ContainerPort: p.Int(), Protocol: p.Proto(), HostIP: b.HostIP, HostPort: hp})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.ContainerPort != b.ContainerPort {
			return a.ContainerPort < b.ContainerPort
		}
		if a.Protocol != b.Protocol {
			return a.Protocol < b.Protocol
		}
		if v4a, v4b := !strings.Contains(a.HostIP, ":"), !strings.Contains(b.HostIP, ":"); v4a != v4b {
			return v4a
		}
		return a.HostIP < b.HostIP
	})
	return out
}
