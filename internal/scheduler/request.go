package scheduler

import (
	"slices"
	"strconv"
	"strings"

	"github.com/minato-project/minato/internal/model/ecstypes"
	"github.com/minato-project/minato/internal/taskdef"
)

// RequestFor computes what one task of td needs, with RunTask's or a
// service's overrides applied (ov may be nil). group is the task group;
// "" means ECS's default, "family:" + the family.
//
// CPU is the task-level cpu (the override's, else the task definition's)
// when set, else the sum of the containers' cpu (each container's override
// first). Memory is the task-level memory when set, else the sum over the
// containers of memoryReservation when a container sets it, else its
// memory: ECS subtracts the soft limit from the instance when there is one.
//
// Host ports depend on the network mode: bridge (the default) reserves
// each mapping's hostPort, 0 or absent meaning a dynamic port; host
// reserves the container ports themselves; awsvpc and none reserve none,
// since the task has its own network namespace. A containerPortRange
// becomes one mapping per port.
//
// RequiredAttributes are td.requiresAttributes plus, from runtimePlatform,
// ecs.cpu-architecture (x86_64 or arm64) and ecs.os-type (linux or
// windows), the attributes the ECS agent registers.
func RequestFor(td *ecstypes.TaskDefinition, ov *ecstypes.TaskOverride, group string, launchType ecstypes.LaunchType) (Request, error) {
	req := Request{
		NetworkMode: td.NetworkMode,
		Group:       group,
		Family:      td.Family,
		LaunchType:  launchType,
	}
	if req.NetworkMode == "" {
		req.NetworkMode = ecstypes.NetworkModeBridge
	}
	if req.Group == "" {
		req.Group = "family:" + td.Family
	}
	if ov == nil {
		ov = &ecstypes.TaskOverride{}
	}

	overrides := map[string]*ecstypes.ContainerOverride{}
	for i := range ov.ContainerOverrides {
		co := &ov.ContainerOverrides[i]
		if !slices.ContainsFunc(td.ContainerDefinitions, func(c ecstypes.ContainerDefinition) bool { return c.Name == co.Name }) {
			return Request{}, invalid("Override for container named %s is not a container in the TaskDefinition.", co.Name)
		}
		overrides[co.Name] = co
	}

	cpuSum, memSum := 0, 0
	for _, c := range td.ContainerDefinitions {
		cpu, mem, res := c.Cpu, c.Memory, c.MemoryReservation
		if co := overrides[c.Name]; co != nil {
			if co.Cpu != nil {
				cpu = *co.Cpu
			}
			if co.Memory != nil {
				mem = co.Memory
			}
			if co.MemoryReservation != nil {
				res = co.MemoryReservation
			}
		}
		cpuSum += int(cpu)
		switch {
		case res != nil && *res > 0:
			memSum += int(*res)
		case mem != nil:
			memSum += int(*mem)
		}
		ports, err := hostPorts(c, req.NetworkMode)
		if err != nil {
			return Request{}, err
		}
		req.Ports = append(req.Ports, ports...)
	}
	req.CPU, req.Memory = cpuSum, memSum

	if s := firstNonEmpty(ov.Cpu, td.Cpu); s != "" {
		v, err := taskdef.ParseCPU(s)
		if err != nil {
			return Request{}, invalid("Invalid 'cpu' setting for task: %v.", err)
		}
		req.CPU = v
	}
	if s := firstNonEmpty(ov.Memory, td.Memory); s != "" {
		v, err := taskdef.ParseMemory(s)
		if err != nil {
			return Request{}, invalid("Invalid 'memory' setting for task: %v.", err)
		}
		req.Memory = v
	}

	req.RequiredAttributes = slices.Clone(td.RequiresAttributes)
	if rp := td.RuntimePlatform; rp != nil {
		switch rp.CpuArchitecture {
		case ecstypes.CPUArchitectureX8664:
			req.RequiredAttributes = append(req.RequiredAttributes, ecstypes.Attribute{Name: AttrCPUArchitecture, Value: "x86_64"})
		case ecstypes.CPUArchitectureArm64:
			req.RequiredAttributes = append(req.RequiredAttributes, ecstypes.Attribute{Name: AttrCPUArchitecture, Value: "arm64"})
		}
		switch {
		case rp.OperatingSystemFamily == ecstypes.OSFamilyLinux:
			req.RequiredAttributes = append(req.RequiredAttributes, ecstypes.Attribute{Name: AttrOSType, Value: "linux"})
		case strings.HasPrefix(string(rp.OperatingSystemFamily), "WINDOWS"):
			req.RequiredAttributes = append(req.RequiredAttributes, ecstypes.Attribute{Name: AttrOSType, Value: "windows"})
		}
	}
	return req, nil
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func hostPorts(c ecstypes.ContainerDefinition, mode ecstypes.NetworkMode) ([]PortMapping, error) {
	if mode != ecstypes.NetworkModeBridge && mode != ecstypes.NetworkModeHost {
		return nil, nil
	}
	var out []PortMapping
	for _, pm := range c.PortMappings {
		proto := pm.Protocol
		if proto == "" {
			proto = ecstypes.TransportProtocolTcp
		}
		add := func(cp, hp int) {
			if mode == ecstypes.NetworkModeHost {
				hp = cp
			}
			out = append(out, PortMapping{Container: c.Name, ContainerPort: cp, HostPort: hp, Protocol: proto})
		}
		if pm.ContainerPortRange != "" {
			lo, hi, ok := parseRange(pm.ContainerPortRange)
			if !ok {
				return nil, invalid("Invalid containerPortRange %q for container %s.", pm.ContainerPortRange, c.Name)
			}
			for p := lo; p <= hi; p++ {
				add(p, 0)
			}
			continue
		}
		if pm.ContainerPort == nil {
			continue
		}
		hp := 0
		if pm.HostPort != nil {
			hp = int(*pm.HostPort)
		}
		add(int(*pm.ContainerPort), hp)
	}
	return out, nil
}

func parseRange(r string) (int, int, bool) {
	a, b, ok := strings.Cut(r, "-")
	lo, err1 := strconv.Atoi(strings.TrimSpace(a))
	hi, err2 := strconv.Atoi(strings.TrimSpace(b))
	if !ok || err1 != nil || err2 != nil || lo < 1 || hi > 65535 || lo > hi {
		return 0, 0, false
	}
	return lo, hi, true
}

// AttributesMap turns ECS attributes into the map Instance.Attributes
// holds.
func AttributesMap(attrs []ecstypes.Attribute) map[string]string {
	m := make(map[string]string, len(attrs))
	for _, a := range attrs {
		m[a.Name] = a.Value
	}
	return m
}
