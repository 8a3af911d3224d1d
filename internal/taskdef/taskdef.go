// Package taskdef checks a RegisterTaskDefinition request the way Amazon ECS
// does and turns it into the task definition minato stores: defaults filled
// in, units normalised, compatibilities and required attributes derived.
// It is pure: no I/O, no clock, no store.
package taskdef

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/minato-project/minato/internal/core"
	"github.com/minato-project/minato/internal/model/ecstypes"
)

// Limits ECS enforces on a task definition.
const (
	MaxContainers     = 10
	minContainerMiB   = 6
	maxTaskCPUUnitsEC = 196608
)

var nameRE = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,255}$`)

// ValidName reports whether s is a valid family or container name: up to 255
// letters, numbers, underscores and hyphens.
func ValidName(s string) bool { return nameRE.MatchString(s) }

// SplitFamilyRevision splits "family:3" (revision 3) or "family" (revision
// 0); ok is false when s is neither.
func SplitFamilyRevision(s string) (family string, rev int32, ok bool) {
	family, r, has := strings.Cut(s, ":")
	if !has {
		return family, 0, ValidName(family)
	}
	n, err := strconv.ParseInt(r, 10, 32)
	if err != nil || n < 1 || !ValidName(family) {
		return "", 0, false
	}
	return family, int32(n), true
}

func clientErr(format string, args ...any) error {
	return core.Errorf(core.KindInvalid, ecstypes.ErrCodeClientException, format, args...)
}

// Build validates in and returns the task definition to store. Family,
// revision, ARN, status and registration fields are left for the caller.
func Build(in *ecstypes.RegisterTaskDefinitionRequest) (ecstypes.TaskDefinition, error) {
	if err := in.Validate(); err != nil {
		return ecstypes.TaskDefinition{}, clientErr("%v", err)
	}
	if !ValidName(in.Family) {
		return ecstypes.TaskDefinition{}, clientErr("Family name %q is invalid. Up to 255 letters (uppercase and lowercase), numbers, underscores, and hyphens are allowed.", in.Family)
	}
	b := builder{in: in}
	if err := b.build(); err != nil {
		return ecstypes.TaskDefinition{}, err
	}
	return b.out, nil
}

type builder struct {
	in       *ecstypes.RegisterTaskDefinitionRequest
	out      ecstypes.TaskDefinition
	mode     ecstypes.NetworkMode
	fargate  bool // FARGATE is among requiresCompatibilities
	taskCPU  int  // 0 when not set
	taskMem  int  // 0 when not set
	byName   map[string]*ecstypes.ContainerDefinition
	volNames map[string]bool
}

func (b *builder) build() error {
	in := b.in
	b.fargate = slices.Contains(in.RequiresCompatibilities, ecstypes.CompatibilityFargate)
	b.mode = in.NetworkMode
	if b.mode == "" && b.fargate {
		return clientErr("Fargate only supports network mode 'awsvpc'.")
	}
	if b.fargate && b.mode != ecstypes.NetworkModeAwsvpc {
		return clientErr("Fargate only supports network mode 'awsvpc'.")
	}
	if err := b.taskResources(); err != nil {
		return err
	}
	if err := b.volumes(); err != nil {
		return err
	}
	if n := len(in.ContainerDefinitions); n == 0 || n > MaxContainers {
		return clientErr("A task definition must have between 1 and %d container definitions; it has %d.", MaxContainers, n)
	}
	b.byName = make(map[string]*ecstypes.ContainerDefinition, len(in.ContainerDefinitions))
	containers := slices.Clone(in.ContainerDefinitions)
	for i := range containers {
		c := &containers[i]
		if !ValidName(c.Name) {
			return clientErr("Container name %q is invalid. Up to 255 letters (uppercase and lowercase), numbers, underscores, and hyphens are allowed.", c.Name)
		}
		if b.byName[c.Name] != nil {
			return clientErr("Container names must be unique within a task definition; %q appears more than once.", c.Name)
		}
		b.byName[c.Name] = c
	}
	essential := 0
	var cpuSum, memSum int
	for i := range containers {
		c := &containers[i]
		if err := b.container(c); err != nil {
			return err
		}
		if *c.Essential {
			essential++
		}
		cpuSum += int(c.Cpu)
		switch {
		case c.Memory != nil:
			memSum += int(*c.Memory)
		case c.MemoryReservation != nil:
			memSum += int(*c.MemoryReservation)
		}
	}
	if essential == 0 {
		return clientErr("Task definition must have at least one essential container.")
	}
	if b.taskCPU > 0 && cpuSum > b.taskCPU {
		return clientErr("The sum of the 'cpu' settings of the containers (%d) is greater than the task's cpu (%d).", cpuSum, b.taskCPU)
	}
	if b.taskMem > 0 && memSum > b.taskMem {
		return clientErr("The sum of the memory settings of the containers (%d MiB) is greater than the task's memory (%d MiB).", memSum, b.taskMem)
	}
	if err := checkDependencies(containers, b.byName); err != nil {
		return err
	}
	if err := b.taskLevelModes(); err != nil {
		return err
	}

	b.out = ecstypes.TaskDefinition{
		ContainerDefinitions:    containers,
		Family:                  in.Family,
		TaskRoleArn:             in.TaskRoleArn,
		ExecutionRoleArn:        in.ExecutionRoleArn,
		NetworkMode:             in.NetworkMode,
		Volumes:                 nonNil(in.Volumes),
		PlacementConstraints:    nonNil(in.PlacementConstraints),
		RequiresCompatibilities: in.RequiresCompatibilities,
		RuntimePlatform:         in.RuntimePlatform,
		PidMode:                 in.PidMode,
		IpcMode:                 in.IpcMode,
		ProxyConfiguration:      in.ProxyConfiguration,
		InferenceAccelerators:   in.InferenceAccelerators,
		EphemeralStorage:        in.EphemeralStorage,
		EnableFaultInjection:    in.EnableFaultInjection,
	}
	if b.taskCPU > 0 {
		b.out.Cpu = strconv.Itoa(b.taskCPU)
	}
	if b.taskMem > 0 {
		b.out.Memory = strconv.Itoa(b.taskMem)
	}
	b.out.Compatibilities = b.compatibilities()
	b.out.RequiresAttributes = requiredAttributes(&b.out)
	return nil
}

func (b *builder) taskResources() error {
	in := b.in
	if in.Cpu != "" {
		v, err := ParseCPU(in.Cpu)
		if err != nil {
			return clientErr("Invalid 'cpu' setting for task: %v.", err)
		}
		if !b.fargate && (v < 128 || v > maxTaskCPUUnitsEC) {
			return clientErr("Invalid 'cpu' setting for task: %d CPU units; it must be between 128 and %d.", v, maxTaskCPUUnitsEC)
		}
		b.taskCPU = v
	}
	if in.Memory != "" {
		v, err := ParseMemory(in.Memory)
		if err != nil {
			return clientErr("Invalid 'memory' setting for task: %v.", err)
		}
		if v < minContainerMiB {
			return clientErr("Invalid 'memory' setting for task: %d MiB is below the minimum of %d MiB.", v, minContainerMiB)
		}
		b.taskMem = v
	}
	if !b.fargate {
		return nil
	}
	if b.taskCPU == 0 || b.taskMem == 0 {
		return clientErr("Fargate requires that 'cpu' and 'memory' be defined at the task level.")
	}
	if _, ok := fargateMemory[b.taskCPU]; !ok {
		return clientErr("Fargate does not support a task cpu of %d. Valid values: 256, 512, 1024, 2048, 4096, 8192, 16384.", b.taskCPU)
	}
	if !FargateSupports(b.taskCPU, b.taskMem) {
		return clientErr("No Fargate configuration exists for given values: %d CPU, %d memory. See the Amazon ECS documentation for the valid combinations.", b.taskCPU, b.taskMem)
	}
	return nil
}

func (b *builder) volumes() error {
	b.volNames = make(map[string]bool, len(b.in.Volumes))
	for _, v := range b.in.Volumes {
		if !ValidName(v.Name) {
			return clientErr("Volume name %q is invalid. Up to 255 letters (uppercase and lowercase), numbers, underscores, and hyphens are allowed.", v.Name)
		}
		if b.volNames[v.Name] {
			return clientErr("Volume names must be unique within a task definition; %q appears more than once.", v.Name)
		}
		b.volNames[v.Name] = true
		if b.fargate && v.Host != nil && v.Host.SourcePath != "" {
			return clientErr("Fargate does not support host volumes with a sourcePath (volume %q).", v.Name)
		}
		if v.Host != nil && v.DockerVolumeConfiguration != nil {
			return clientErr("Volume %q cannot have both 'host' and 'dockerVolumeConfiguration'.", v.Name)
		}
	}
	return nil
}

func (b *builder) taskLevelModes() error {
	if b.fargate {
		if b.in.IpcMode != "" {
			return clientErr("Fargate does not support 'ipcMode'.")
		}
		if b.in.PidMode != "" && b.in.PidMode != ecstypes.PidModeTask {
			return clientErr("Fargate only supports 'pidMode' 'task'.")
		}
	}
	return nil
}

// container checks one container definition and fills in ECS's defaults.
func (b *builder) container(c *ecstypes.ContainerDefinition) error {
	if strings.TrimSpace(c.Image) == "" {
		return clientErr("Container.image should not be null or empty (container %q).", c.Name)
	}
	if c.Essential == nil {
		t := true
		c.Essential = &t
	}
	if c.Cpu < 0 {
		return clientErr("Invalid 'cpu' setting for container %q.", c.Name)
	}
	if c.Memory != nil && *c.Memory < minContainerMiB {
		return clientErr("Invalid 'memory' setting for container %q: the minimum is %d MiB.", c.Name, minContainerMiB)
	}
	if c.MemoryReservation != nil && *c.MemoryReservation < minContainerMiB {
		return clientErr("Invalid 'memoryReservation' setting for container %q: the minimum is %d MiB.", c.Name, minContainerMiB)
	}
	if c.Memory != nil && c.MemoryReservation != nil && *c.MemoryReservation > *c.Memory {
		return clientErr("Invalid setting for container %q: 'memoryReservation' must be less than or equal to 'memory'.", c.Name)
	}
	if b.taskMem == 0 && c.Memory == nil && c.MemoryReservation == nil {
		return clientErr("Invalid setting for container '%s'. At least one of 'memory' or 'memoryReservation' must be specified.", c.Name)
	}
	if b.taskMem > 0 && c.Memory != nil && int(*c.Memory) > b.taskMem {
		return clientErr("The 'memory' setting for container '%s' is greater than for the task.", c.Name)
	}
	if b.taskCPU > 0 && int(c.Cpu) > b.taskCPU {
		return clientErr("The 'cpu' setting for container '%s' is greater than for the task.", c.Name)
	}
	if b.fargate {
		if c.Privileged != nil && *c.Privileged {
			return clientErr("Fargate does not support privileged containers (container %q).", c.Name)
		}
		if c.LinuxParameters != nil && len(c.LinuxParameters.Devices) > 0 {
			return clientErr("Fargate does not support devices (container %q).", c.Name)
		}
	}
	if len(c.Links) > 0 && b.mode != "" && b.mode != ecstypes.NetworkModeBridge {
		return clientErr("Links are not supported when networkMode=%s (container %q).", b.mode, c.Name)
	}
	for _, l := range c.Links {
		target, _, _ := strings.Cut(l, ":")
		if b.byName[target] == nil || target == c.Name {
			return clientErr("Container %q links to %q, which is not another container of this task definition.", c.Name, target)
		}
	}
	if err := b.portMappings(c); err != nil {
		return err
	}
	for _, m := range c.MountPoints {
		if m.SourceVolume == "" || m.ContainerPath == "" {
			return clientErr("Mount points of container %q need both 'sourceVolume' and 'containerPath'.", c.Name)
		}
		if !b.volNames[m.SourceVolume] {
			return clientErr("Invalid 'mountPoints' setting for container %q: unknown volume %q.", c.Name, m.SourceVolume)
		}
	}
	for _, v := range c.VolumesFrom {
		if src := b.byName[v.SourceContainer]; src == nil || v.SourceContainer == c.Name {
			return clientErr("Invalid 'volumesFrom' setting for container %q: %q is not another container of this task definition.", c.Name, v.SourceContainer)
		}
	}
	if c.HealthCheck != nil {
		if err := healthCheck(c.Name, c.HealthCheck); err != nil {
			return err
		}
	}
	if c.StartTimeout != nil && *c.StartTimeout < 2 {
		return clientErr("Invalid 'startTimeout' for container %q: the minimum is 2 seconds.", c.Name)
	}
	if c.StopTimeout != nil && (*c.StopTimeout < 2 || (b.fargate && *c.StopTimeout > 120)) {
		return clientErr("Invalid 'stopTimeout' for container %q: it must be at least 2 seconds (at most 120 on Fargate).", c.Name)
	}
	c.Environment = nonNil(c.Environment)
	c.MountPoints = nonNil(c.MountPoints)
	c.VolumesFrom = nonNil(c.VolumesFrom)
	c.PortMappings = nonNil(c.PortMappings)
	return nil
}

func (b *builder) portMappings(c *ecstypes.ContainerDefinition) error {
	if len(c.PortMappings) > 0 && b.mode == ecstypes.NetworkModeNone {
		return clientErr("Port mappings are not allowed when networkMode=none (container %q).", c.Name)
	}
	pms := slices.Clone(c.PortMappings)
	seen := map[string]bool{}
	names := map[string]bool{}
	for i := range pms {
		pm := &pms[i]
		if pm.Protocol == "" {
			pm.Protocol = ecstypes.TransportProtocolTcp
		}
		if pm.ContainerPortRange != "" {
			if pm.ContainerPort != nil || pm.HostPort != nil {
				return clientErr("Invalid port mapping for container %q: 'containerPortRange' excludes 'containerPort' and 'hostPort'.", c.Name)
			}
			if err := checkPortRange(pm.ContainerPortRange); err != nil {
				return clientErr("Invalid 'containerPortRange' for container %q: %v.", c.Name, err)
			}
			continue
		}
		if pm.ContainerPort == nil || *pm.ContainerPort < 1 || *pm.ContainerPort > 65535 {
			return clientErr("Invalid port mapping for container %q: 'containerPort' must be between 1 and 65535.", c.Name)
		}
		if pm.HostPort != nil && (*pm.HostPort < 0 || *pm.HostPort > 65535) {
			return clientErr("Invalid port mapping for container %q: 'hostPort' must be between 0 and 65535.", c.Name)
		}
		if b.mode == ecstypes.NetworkModeAwsvpc || b.mode == ecstypes.NetworkModeHost {
			if pm.HostPort != nil && *pm.HostPort != 0 && *pm.HostPort != *pm.ContainerPort {
				return clientErr("When networkMode=%s, the host ports and container ports in port mappings must match.", b.mode)
			}
			hp := *pm.ContainerPort
			pm.HostPort = &hp
		}
		k := fmt.Sprintf("%d/%s", *pm.ContainerPort, pm.Protocol)
		if seen[k] {
			return clientErr("Container %q maps container port %s more than once.", c.Name, k)
		}
		seen[k] = true
		if pm.Name != "" {
			if names[pm.Name] {
				return clientErr("Port mapping names must be unique; %q is used twice in container %q.", pm.Name, c.Name)
			}
			names[pm.Name] = true
		}
	}
	c.PortMappings = pms
	return nil
}

func checkPortRange(r string) error {
	lo, hi, ok := strings.Cut(r, "-")
	a, err1 := strconv.Atoi(lo)
	z, err2 := strconv.Atoi(hi)
	if !ok || err1 != nil || err2 != nil || a < 1 || z > 65535 || a >= z {
		return fmt.Errorf("%q is not a range like 8000-8010", r)
	}
	return nil
}

// healthCheck checks the command and bounds, and fills in ECS's defaults
// (interval 30 s, timeout 5 s, retries 3, startPeriod 0).
func healthCheck(name string, hc *ecstypes.HealthCheck) error {
	if len(hc.Command) == 0 || !slices.Contains([]string{"CMD", "CMD-SHELL", "NONE"}, hc.Command[0]) {
		return clientErr("Invalid 'healthCheck' for container %q: the command must start with CMD, CMD-SHELL or NONE.", name)
	}
	bounds := []struct {
		field    string
		v        **int32
		def      int32
		min, max int32
	}{
		{"interval", &hc.Interval, 30, 5, 300},
		{"timeout", &hc.Timeout, 5, 2, 60},
		{"retries", &hc.Retries, 3, 1, 10},
		{"startPeriod", &hc.StartPeriod, 0, 0, 300},
	}
	for _, f := range bounds {
		if *f.v == nil {
			d := f.def
			*f.v = &d
			continue
		}
		if **f.v < f.min || **f.v > f.max {
			return clientErr("Invalid 'healthCheck.%s' for container %q: it must be between %d and %d.", f.field, name, f.min, f.max)
		}
	}
	return nil
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
