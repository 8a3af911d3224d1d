package scheduler

import (
	"maps"
	"slices"
)

// Reserve returns inst with p's resources taken: CPU, memory and host
// ports, and p's task added to Tasks. inst is not modified. Apply every
// placement Place returns (and only those the caller commits) to keep
// instance snapshots exact.
func Reserve(inst Instance, p Placement) Instance {
	inst.CPU -= p.CPU
	inst.Memory -= p.Memory
	if len(p.TCPPorts) > 0 {
		inst.UsedTCP = union(inst.UsedTCP, p.TCPPorts)
	}
	if len(p.UDPPorts) > 0 {
		inst.UsedUDP = union(inst.UsedUDP, p.UDPPorts)
	}
	inst.Tasks = append(slices.Clip(inst.Tasks), Task{Group: p.Group, Family: p.Family})
	if inst.GroupCounts != nil {
		inst.GroupCounts = maps.Clone(inst.GroupCounts)
		inst.GroupCounts[p.Group]++
	}
	return inst
}

// Release is the inverse of Reserve, for a task that stopped: its CPU,
// memory and host ports come back, and one task of its group and family
// leaves Tasks. inst is not modified.
func Release(inst Instance, p Placement) Instance {
	inst.CPU += p.CPU
	inst.Memory += p.Memory
	if len(p.TCPPorts) > 0 {
		inst.UsedTCP = without(inst.UsedTCP, p.TCPPorts)
	}
	if len(p.UDPPorts) > 0 {
		inst.UsedUDP = without(inst.UsedUDP, p.UDPPorts)
	}
	if i := slices.Index(inst.Tasks, Task{Group: p.Group, Family: p.Family}); i >= 0 {
		inst.Tasks = slices.Delete(slices.Clone(inst.Tasks), i, i+1)
		if inst.GroupCounts != nil {
			inst.GroupCounts = maps.Clone(inst.GroupCounts)
			if inst.GroupCounts[p.Group]--; inst.GroupCounts[p.Group] <= 0 {
				delete(inst.GroupCounts, p.Group)
			}
		}
	}
	return inst
}
