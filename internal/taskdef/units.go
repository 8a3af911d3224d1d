package taskdef

import (
	"fmt"
	"strconv"
	"strings"
)

// ParseCPU reads a task-level cpu value: CPU units ("256") or vCPUs
// ("0.25 vCPU", "1 vcpu"). It returns CPU units (1 vCPU = 1024).
func ParseCPU(s string) (int, error) {
	return parseUnits(s, []string{"vcpu"}, 1024)
}

// ParseMemory reads a task-level memory value: MiB ("512") or GB ("1 GB",
// "0.5GB"). It returns MiB (1 GB = 1024 MiB).
func ParseMemory(s string) (int, error) {
	return parseUnits(s, []string{"gb", "gib"}, 1024)
}

func parseUnits(s string, suffixes []string, scale float64) (int, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	mult := 1.0
	for _, suf := range suffixes {
		if strings.HasSuffix(t, suf) {
			t = strings.TrimSpace(strings.TrimSuffix(t, suf))
			mult = scale
			break
		}
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || f <= 0 || f != f {
		return 0, fmt.Errorf("%q is not a valid value", s)
	}
	v := f * mult
	if v != float64(int(v)) || v > 1<<30 {
		return 0, fmt.Errorf("%q is not a whole number of units", s)
	}
	return int(v), nil
}

// fargateMemory lists, for each Fargate task cpu value, the memory values
// (MiB) it allows, as the AWS documentation tabulates them.
var fargateMemory = map[int][]int{
	256:   {512, 1024, 2048},
	512:   steps(1024, 4096, 1024),
	1024:  steps(2048, 8192, 1024),
	2048:  steps(4096, 16384, 1024),
	4096:  steps(8192, 30720, 1024),
	8192:  steps(16384, 61440, 4096),
	16384: steps(32768, 122880, 8192),
}

func steps(from, to, by int) []int {
	var out []int
	for v := from; v <= to; v += by {
		out = append(out, v)
	}
	return out
}

// FargateSupports reports whether Fargate offers the cpu/memory pair.
func FargateSupports(cpu, memory int) bool {
	for _, m := range fargateMemory[cpu] {
		if m == memory {
			return true
		}
	}
	return false
}
