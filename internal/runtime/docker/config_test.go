package docker

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/go-connections/nat"

	"github.com/minato-project/minato/internal/model/ecstypes"
	"github.com/minato-project/minato/internal/runtime"
)

func i32(v int32) *int32 { return &v }
func yes() *bool         { b := true; return &b }

func baseSpec() runtime.ContainerSpec {
	return runtime.ContainerSpec{
		Name:   "t-web",
		Labels: map[string]string{runtime.LabelTask: "t1", runtime.LabelContainer: "web"},
		Def:    ecstypes.ContainerDefinition{Name: "web", Image: "app:1"},
	}
}

func mustBuild(t *testing.T, spec runtime.ContainerSpec, vols map[string]volumeSource, cpus int) dockerConfig {
	t.Helper()
	dc, err := buildConfig(spec, vols, cpus)
	if err != nil {
		t.Fatalf("buildConfig: %v", err)
	}
	return dc
}

func TestCPUShares(t *testing.T) {
	tests := []struct {
		name string
		cpu  int32
		want int64
	}{
		{"zero becomes the ECS agent's minimum", 0, 2},
		{"one is refused by the kernel, so 2", 1, 2},
		{"two", 2, 2},
		{"a quarter vCPU", 256, 256},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			spec := baseSpec()
			spec.Def.Cpu = tc.cpu
			if got := mustBuild(t, spec, nil, 2).host.CPUShares; got != tc.want {
				t.Fatalf("CPUShares = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestMemoryAndTaskLimits(t *testing.T) {
	tests := []struct {
		name                string
		memory, reservation *int32
		taskMem, taskCPU    int
		cpus                int
		wantMem, wantRes    int64
		wantNano            int64
	}{
		{name: "hard and soft", memory: i32(512), reservation: i32(128), wantMem: 512 * mib, wantRes: 128 * mib},
		{name: "soft only: no hard limit", reservation: i32(128), wantRes: 128 * mib},
		{name: "task memory bounds a container without its own", reservation: i32(128), taskMem: 1024, wantMem: 1024 * mib, wantRes: 128 * mib},
		{name: "the container's own limit wins", memory: i32(256), taskMem: 1024, wantMem: 256 * mib},
		{name: "task memory not below the reservation", reservation: i32(1024), taskMem: 1024, wantRes: 1024 * mib},
		{name: "task cpu as a CPU cap", taskCPU: 512, cpus: 2, wantNano: 5e8},
		{name: "task cpu above the host is clamped", taskCPU: 4096, cpus: 2, wantNano: 2e9},
		{name: "task cpu with an unknown host", taskCPU: 4096, wantNano: 4e9},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			spec := baseSpec()
			spec.Def.Memory, spec.Def.MemoryReservation = tc.memory, tc.reservation
			spec.TaskMemoryMiB, spec.TaskCPU = tc.taskMem, tc.taskCPU
			r := mustBuild(t, spec, nil, tc.cpus).host.Resources
			if r.Memory != tc.wantMem || r.MemoryReservation != tc.wantRes || r.NanoCPUs != tc.wantNano {
				t.Fatalf("memory %d reservation %d nanoCPUs %d, want %d %d %d", r.Memory, r.MemoryReservation, r.NanoCPUs, tc.wantMem, tc.wantRes, tc.wantNano)
			}
		})
	}
}

func TestLogConfig(t *testing.T) {
	syslog := &ecstypes.LogConfiguration{LogDriver: ecstypes.LogDriverSyslog, Options: map[string]string{"tag": "x"}}
	awslogs := &ecstypes.LogConfiguration{LogDriver: ecstypes.LogDriverAwslogs, Options: map[string]string{"awslogs-group": "/ecs/app"}}
	buffer := map[string]string{"max-size": AwslogsBufferFileSize, "max-file": AwslogsBufferFiles}
	nonBlocking := &ecstypes.LogConfiguration{LogDriver: ecstypes.LogDriverAwslogs, Options: map[string]string{"awslogs-group": "/ecs/app",
		"mode": "non-blocking", "max-buffer-size": "4m"}}
	tests := []struct {
		name          string
		def, override *ecstypes.LogConfiguration
		want          container.LogConfig
	}{
		{"none: the engine's default", nil, nil, container.LogConfig{}},
		{"other drivers pass unchanged", syslog, nil, container.LogConfig{Type: "syslog", Config: map[string]string{"tag": "x"}}},
		{"awslogs never reaches Docker", awslogs, nil, container.LogConfig{Type: "json-file", Config: buffer}},
		{"firelens neither", &ecstypes.LogConfiguration{LogDriver: ecstypes.LogDriverAwsfirelens}, nil, container.LogConfig{Type: "json-file", Config: buffer}},
		{"awslogs mode and max-buffer-size go to Docker", nonBlocking, nil, container.LogConfig{Type: "json-file",
			Config: map[string]string{"max-size": AwslogsBufferFileSize, "max-file": AwslogsBufferFiles, "mode": "non-blocking", "max-buffer-size": "4m"}}},
		{"the agent's override wins", awslogs, &ecstypes.LogConfiguration{LogDriver: "local", Options: map[string]string{"max-size": "10m"}}, container.LogConfig{Type: "local", Config: map[string]string{"max-size": "10m"}}},
		{"an awslogs override is json-file too", nil, awslogs, container.LogConfig{Type: "json-file", Config: buffer}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := logConfig(tc.def, tc.override); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("logConfig = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestHealthConfig(t *testing.T) {
	got := healthConfig(&ecstypes.HealthCheck{Command: []string{"CMD-SHELL", "curl -f http://localhost/ || exit 1"}})
	want := &container.HealthConfig{Test: []string{"CMD-SHELL", "curl -f http://localhost/ || exit 1"}, Interval: 30 * time.Second, Timeout: 5 * time.Second, Retries: 3}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("ECS defaults: %+v, want %+v", got, want)
	}
	got = healthConfig(&ecstypes.HealthCheck{Command: []string{"CMD", "/bin/check"}, Interval: i32(5), Timeout: i32(2), Retries: i32(10), StartPeriod: i32(60)})
	want = &container.HealthConfig{Test: []string{"CMD", "/bin/check"}, Interval: 5 * time.Second, Timeout: 2 * time.Second, Retries: 10, StartPeriod: time.Minute}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("explicit: %+v, want %+v", got, want)
	}
	if got := healthConfig(&ecstypes.HealthCheck{Command: []string{"check", "--fast"}}); !reflect.DeepEqual(got.Test, []string{"CMD-SHELL", "check --fast"}) {
		t.Fatalf("no prefix: %q", got.Test)
	}
	if healthConfig(nil) != nil || healthConfig(&ecstypes.HealthCheck{}) != nil {
		t.Fatal("no health check must leave the image's")
	}
}

func TestEnvAndLabels(t *testing.T) {
	spec := baseSpec()
	spec.Def.Environment = []ecstypes.KeyValuePair{{Name: "A", Value: "1"}, {Name: "B", Value: "2"}}
	spec.ExtraEnv = []ecstypes.KeyValuePair{{Name: "B", Value: "secret"}, {Name: "ECS_CONTAINER_METADATA_URI_V4", Value: "http://x"}}
	spec.Def.DockerLabels = map[string]string{"team": "web", runtime.LabelTask: "spoofed"}
	dc := mustBuild(t, spec, nil, 0)
	if want := []string{"A=1", "B=secret", "ECS_CONTAINER_METADATA_URI_V4=http://x"}; !reflect.DeepEqual(dc.config.Env, want) {
		t.Fatalf("Env = %q, want %q", dc.config.Env, want)
	}
	if l := dc.config.Labels; l["team"] != "web" || l[runtime.LabelTask] != "t1" || l[runtime.LabelManaged] != "true" {
		t.Fatalf("Labels = %v", l)
	}
}

func TestNetworkModes(t *testing.T) {
	port := ecstypes.PortMapping{ContainerPort: i32(8080), HostPort: i32(0), Protocol: ecstypes.TransportProtocolTcp}
	fixed := ecstypes.PortMapping{ContainerPort: i32(53), HostPort: i32(5353), Protocol: ecstypes.TransportProtocolUdp}
	withNet := func(mode ecstypes.NetworkMode) runtime.ContainerSpec {
		s := baseSpec()
		s.NetworkMode = mode
		s.Def.Hostname = "web"
		s.Def.DnsServers = []string{"10.0.0.2"}
		s.Def.DnsSearchDomains = []string{"svc.local"}
		s.Def.ExtraHosts = []ecstypes.HostEntry{{Hostname: "db", IpAddress: "10.0.0.9"}}
		s.Def.PortMappings = []ecstypes.PortMapping{port, fixed}
		return s
	}

	dc := mustBuild(t, withNet(""), nil, 0)
	if dc.host.NetworkMode != "bridge" || dc.config.Hostname != "web" || len(dc.host.DNS) != 1 || dc.host.ExtraHosts[0] != "db:10.0.0.9" {
		t.Fatalf("bridge: %+v %+v", dc.config, dc.host)
	}
	wantPorts := nat.PortMap{"8080/tcp": {{HostPort: ""}}, "53/udp": {{HostPort: "5353"}}}
	if !reflect.DeepEqual(dc.host.PortBindings, wantPorts) || len(dc.config.ExposedPorts) != 2 {
		t.Fatalf("bridge ports from mappings: %v", dc.host.PortBindings)
	}

	s := withNet(ecstypes.NetworkModeBridge)
	s.PortBindings = []runtime.PortBinding{{ContainerPort: 8080, HostPort: 32801, Protocol: "tcp"}}
	if got := mustBuild(t, s, nil, 0).host.PortBindings; !reflect.DeepEqual(got, nat.PortMap{"8080/tcp": {{HostPort: "32801"}}}) {
		t.Fatalf("the agent's bindings win: %v", got)
	}

	dc = mustBuild(t, withNet(ecstypes.NetworkModeHost), nil, 0)
	if dc.host.NetworkMode != "host" || dc.host.PortBindings != nil {
		t.Fatalf("host: %+v", dc.host)
	}
	dc = mustBuild(t, withNet(ecstypes.NetworkModeNone), nil, 0)
	if dc.host.NetworkMode != "none" || dc.host.PortBindings != nil {
		t.Fatalf("none: %+v", dc.host)
	}

	s = withNet(ecstypes.NetworkModeAwsvpc)
	if _, err := buildConfig(s, nil, 0); err == nil {
		t.Fatal("awsvpc without a network container must fail")
	}
	s.NetworkContainerID = "abc123"
	dc = mustBuild(t, s, nil, 0)
	if dc.host.NetworkMode != "container:abc123" || dc.config.Hostname != "" || dc.host.DNS != nil || dc.host.DNSSearch != nil ||
		dc.host.ExtraHosts != nil || dc.host.PortBindings != nil || dc.config.ExposedPorts != nil {
		t.Fatalf("awsvpc must drop what Docker refuses in a shared namespace: %+v %+v", dc.config, dc.host)
	}

	s = baseSpec()
	s.Def.PortMappings = []ecstypes.PortMapping{{ContainerPortRange: "9000-9002"}}
	if got := mustBuild(t, s, nil, 0).host.PortBindings; len(got) != 3 {
		t.Fatalf("port range: %v", got)
	}
}

func TestMountsAndVolumesFrom(t *testing.T) {
	spec := baseSpec()
	spec.Def.MountPoints = []ecstypes.MountPoint{
		{SourceVolume: "data", ContainerPath: "/data"},
		{SourceVolume: "conf", ContainerPath: "/etc/app", ReadOnly: yes()},
	}
	spec.Def.VolumesFrom = []ecstypes.VolumeFrom{{SourceContainer: "init", ReadOnly: yes()}, {SourceContainer: "side"}}
	spec.VolumesFrom = map[string]string{"init": "id-init", "side": "id-side"}
	vols := map[string]volumeSource{"data": {volume: "minato-t1-data"}, "conf": {hostPath: "/srv/conf"}}
	dc := mustBuild(t, spec, vols, 0)
	if want := []string{"minato-t1-data:/data", "/srv/conf:/etc/app:ro"}; !reflect.DeepEqual(dc.host.Binds, want) {
		t.Fatalf("Binds = %q, want %q", dc.host.Binds, want)
	}
	if want := []string{"id-init:ro", "id-side"}; !reflect.DeepEqual(dc.host.VolumesFrom, want) {
		t.Fatalf("VolumesFrom = %q, want %q", dc.host.VolumesFrom, want)
	}
	delete(vols, "conf")
	if _, err := buildConfig(spec, vols, 0); err == nil || !strings.Contains(err.Error(), "conf") {
		t.Fatalf("unknown volume: %v", err)
	}
	vols["conf"] = volumeSource{hostPath: "/srv/conf"}
	delete(spec.VolumesFrom, "side")
	if _, err := buildConfig(spec, vols, 0); err == nil || !strings.Contains(err.Error(), "side") {
		t.Fatalf("unknown volumesFrom container: %v", err)
	}
}

func TestLinuxParameters(t *testing.T) {
	spec := baseSpec()
	spec.Def.Memory = i32(256)
	spec.Def.LinuxParameters = &ecstypes.LinuxParameters{
		InitProcessEnabled: yes(),
		Capabilities:       &ecstypes.KernelCapabilities{Add: []string{"NET_ADMIN"}, Drop: []string{"MKNOD"}},
		SharedMemorySize:   i32(64),
		Tmpfs:              []ecstypes.Tmpfs{{ContainerPath: "/run", Size: 16, MountOptions: []string{"noexec", "nosuid"}}},
		Devices: []ecstypes.Device{
			{HostPath: "/dev/null"},
			{HostPath: "/dev/zero", ContainerPath: "/dev/z", Permissions: []ecstypes.DeviceCgroupPermission{"read"}},
		},
		MaxSwap:    i32(0),
		Swappiness: i32(10),
	}
	hc := mustBuild(t, spec, nil, 0).host
	if hc.Init == nil || !*hc.Init || hc.CapAdd[0] != "NET_ADMIN" || hc.CapDrop[0] != "MKNOD" || hc.ShmSize != 64*mib {
		t.Fatalf("init/caps/shm: %+v", hc)
	}
	if hc.Tmpfs["/run"] != "size=16m,noexec,nosuid" {
		t.Fatalf("tmpfs = %v", hc.Tmpfs)
	}
	want := []container.DeviceMapping{
		{PathOnHost: "/dev/null", PathInContainer: "/dev/null", CgroupPermissions: "rwm"},
		{PathOnHost: "/dev/zero", PathInContainer: "/dev/z", CgroupPermissions: "r"},
	}
	if !reflect.DeepEqual(hc.Devices, want) {
		t.Fatalf("devices = %+v", hc.Devices)
	}
	if hc.MemorySwap != 256*mib || hc.MemorySwappiness == nil || *hc.MemorySwappiness != 10 {
		t.Fatalf("maxSwap 0 means no swap: MemorySwap %d swappiness %v", hc.MemorySwap, hc.MemorySwappiness)
	}
}

func TestStateOf(t *testing.T) {
	c := container.InspectResponse{
		ContainerJSONBase: &container.ContainerJSONBase{
			ID: "abc", Name: "/t-web", Image: "sha256:1",
			State: &container.State{
				Status: container.StateExited, ExitCode: 137, OOMKilled: true,
				StartedAt: "2026-01-02T03:04:05.123456789Z", FinishedAt: "2026-01-02T03:05:00Z",
				Health: &container.Health{Status: container.Unhealthy},
			},
		},
		Config: &container.Config{Image: "app:1", Labels: map[string]string{"a": "b"}},
		NetworkSettings: &container.NetworkSettings{
			Networks: map[string]*network.EndpointSettings{
				"other":  {IPAddress: "10.0.0.9"},
				"bridge": {IPAddress: "172.17.0.5"},
			},
		},
	}
	c.NetworkSettings.Ports = nat.PortMap{
		"8080/tcp": {{HostIP: "::", HostPort: "32768"}, {HostIP: "0.0.0.0", HostPort: "32768"}},
		"53/udp":   {{HostIP: "0.0.0.0", HostPort: "5353"}},
		"9000/tcp": nil, // exposed, not published
	}
	st := stateOf(c)
	if st.ID != "abc" || st.Name != "t-web" || st.Image != "app:1" || st.ImageID != "sha256:1" || st.Running || st.Created {
		t.Fatalf("identity: %+v", st)
	}
	if st.ExitCode == nil || *st.ExitCode != 137 || !st.OOMKilled || st.Health != runtime.HealthUnhealthy || st.IPv4 != "172.17.0.5" {
		t.Fatalf("state: %+v", st)
	}
	if st.StartedAt.Nanosecond() != 123456789 || st.FinishedAt.Minute() != 5 {
		t.Fatalf("times: %v %v", st.StartedAt, st.FinishedAt)
	}
	want := []runtime.PortBinding{
		{ContainerPort: 53, HostPort: 5353, Protocol: "udp", HostIP: "0.0.0.0"},
		{ContainerPort: 8080, HostPort: 32768, Protocol: "tcp", HostIP: "0.0.0.0"},
		{ContainerPort: 8080, HostPort: 32768, Protocol: "tcp", HostIP: "::"},
	}
	if !reflect.DeepEqual(st.Ports, want) {
		t.Fatalf("ports = %+v", st.Ports)
	}

	c.State = &container.State{Status: container.StateCreated, StartedAt: "0001-01-01T00:00:00Z", Health: &container.Health{Status: container.Starting}}
	st = stateOf(c)
	if !st.Created || st.ExitCode != nil || !st.StartedAt.IsZero() || st.Health != runtime.HealthUnknown {
		t.Fatalf("created: %+v", st)
	}
	// Off the default bridge: the address on the first network by name.
	delete(c.NetworkSettings.Networks, "bridge")
	c.NetworkSettings.Networks["a-net"] = &network.EndpointSettings{}
	if st := stateOf(c); st.IPv4 != "10.0.0.9" {
		t.Fatalf("IPv4 off the bridge: %q", st.IPv4)
	}
}

func TestEventOf(t *testing.T) {
	tests := []struct {
		action events.Action
		want   runtime.EventType
		ok     bool
	}{
		{"start", runtime.EventStart, true},
		{"die", runtime.EventDie, true},
		{"health_status: healthy", runtime.EventHealth, true},
		{"health_status: unhealthy", runtime.EventHealth, true},
		{"oom", runtime.EventOOM, true},
		{"destroy", runtime.EventRemove, true},
		{"create", "", false},
	}
	for _, tc := range tests {
		ev, ok := eventOf(events.Message{Action: tc.action, TimeNano: 1e9, Actor: events.Actor{ID: "abc", Attributes: map[string]string{
			"name": "t-web", "image": "app:1", "exitCode": "0", runtime.LabelTask: "t1",
		}}})
		if ok != tc.ok || ev.Type != tc.want {
			t.Fatalf("%s: %v %v", tc.action, ev.Type, ok)
		}
		if ok && (ev.ContainerID != "abc" || !reflect.DeepEqual(ev.Labels, map[string]string{runtime.LabelTask: "t1"}) || ev.Time.Unix() != 1) {
			t.Fatalf("%s: %+v", tc.action, ev)
		}
	}
}

func TestOtherFields(t *testing.T) {
	spec := baseSpec()
	d := &spec.Def
	d.Command, d.EntryPoint = []string{"serve"}, []string{"/testapp"}
	d.WorkingDirectory, d.User = "/srv", "1000:1000"
	d.Privileged, d.ReadonlyRootFilesystem, d.DisableNetworking = yes(), yes(), yes()
	d.Interactive, d.PseudoTerminal = yes(), yes()
	d.DockerSecurityOptions = []string{"no-new-privileges"}
	d.SystemControls = []ecstypes.SystemControl{{Namespace: "net.core.somaxconn", Value: "1024"}}
	d.Ulimits = []ecstypes.Ulimit{{Name: "nofile", SoftLimit: 1024, HardLimit: 4096}}
	d.StopTimeout = i32(45)
	dc := mustBuild(t, spec, nil, 0)
	cfg, hc := dc.config, dc.host
	if cfg.Cmd[0] != "serve" || cfg.Entrypoint[0] != "/testapp" || cfg.WorkingDir != "/srv" || cfg.User != "1000:1000" {
		t.Fatalf("config: %+v", cfg)
	}
	if !hc.Privileged || !hc.ReadonlyRootfs || !cfg.NetworkDisabled || !cfg.OpenStdin || !cfg.Tty || hc.SecurityOpt[0] != "no-new-privileges" {
		t.Fatalf("flags: %+v %+v", cfg, hc)
	}
	if hc.Sysctls["net.core.somaxconn"] != "1024" || hc.Ulimits[0].Name != "nofile" || hc.Ulimits[0].Soft != 1024 || hc.Ulimits[0].Hard != 4096 {
		t.Fatalf("sysctls/ulimits: %v %v", hc.Sysctls, hc.Ulimits[0])
	}
	if cfg.StopTimeout == nil || *cfg.StopTimeout != 45 || cfg.Image != "app:1" {
		t.Fatalf("stop timeout: %v", cfg.StopTimeout)
	}
}
