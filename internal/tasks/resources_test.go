package tasks

import (
	"slices"
	"testing"

	"github.com/minato-project/minato/internal/scheduler"
	"github.com/minato-project/minato/internal/state"
)

func TestRelease(t *testing.T) {
	used := state.Resources{CPU: 1024, MemoryMiB: 512, Ports: []int{80, 50001, 50002}, PortsUDP: []int{53}}
	got := Release(used, state.Resources{CPU: 256, MemoryMiB: 128, Ports: []int{50001}, PortsUDP: []int{53}})
	if got.CPU != 768 || got.MemoryMiB != 384 || !slices.Equal(got.Ports, []int{80, 50002}) || len(got.PortsUDP) != 0 {
		t.Fatalf("Release = %+v", got)
	}
	if got := Release(state.Resources{CPU: 100}, state.Resources{CPU: 200}); got.CPU != 0 {
		t.Fatalf("Release went negative: %+v", got)
	}
	if !slices.Equal(used.Ports, []int{80, 50001, 50002}) {
		t.Fatal("Release changed its input")
	}
}

func TestTakeAndMovePorts(t *testing.T) {
	used := state.Resources{CPU: 512, MemoryMiB: 256, Ports: []int{22}, PortsUDP: []int{}}
	got := Take(used, state.Resources{CPU: 256, MemoryMiB: 128, Ports: []int{32768}, PortsUDP: []int{53}})
	if got.CPU != 768 || got.MemoryMiB != 384 || !slices.Equal(got.Ports, []int{22, 32768}) || !slices.Equal(got.PortsUDP, []int{53}) {
		t.Fatalf("Take = %+v", got)
	}
	if !slices.Equal(used.Ports, []int{22}) {
		t.Fatal("Take changed its input")
	}
	// Taking and giving back is the identity.
	if back := Release(got, state.Resources{CPU: 256, MemoryMiB: 128, Ports: []int{32768}, PortsUDP: []int{53}}); back.CPU != used.CPU ||
		back.MemoryMiB != used.MemoryMiB || !slices.Equal(back.Ports, used.Ports) || len(back.PortsUDP) != 0 {
		t.Fatalf("Release(Take) = %+v", back)
	}
	moved := movePorts(got, scheduler.PortMove{FreedTCP: []int{32768}, TakenTCP: []int{32770}})
	if !slices.Equal(moved.Ports, []int{22, 32770}) || moved.CPU != 768 || !slices.Equal(got.Ports, []int{22, 32768}) {
		t.Fatalf("movePorts = %+v (input %+v)", moved, got)
	}
}
