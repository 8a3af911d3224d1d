package harness

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
)

// ProcStat is what /proc says of a process.
type ProcStat struct {
	// RSSMiB is the resident set size now; HWMMiB its peak.
	RSSMiB float64 `json:"rssMiB"`
	HWMMiB float64 `json:"hwmMiB"`
	// AnonMiB is the anonymous part of RSS (heap, stacks); FileMiB the
	// file-backed part (the binary, and bbolt's memory-mapped file).
	AnonMiB float64 `json:"anonMiB"`
	FileMiB float64 `json:"fileMiB"`
	// CPUSeconds is user plus system CPU time used so far.
	CPUSeconds float64 `json:"cpuSeconds"`
	Threads    int     `json:"threads"`
}

// clockTicks is USER_HZ, 100 on every Linux this runs on.
const clockTicks = 100

// ReadProc reads the statistics of process pid.
func ReadProc(pid int) (ProcStat, error) {
	var s ProcStat
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		fields := strings.Fields(v)
		if len(fields) == 0 {
			continue
		}
		n, _ := strconv.ParseFloat(fields[0], 64)
		switch k {
		case "VmRSS":
			s.RSSMiB = n / 1024
		case "VmHWM":
			s.HWMMiB = n / 1024
		case "RssAnon":
			s.AnonMiB = n / 1024
		case "RssFile":
			s.FileMiB = n / 1024
		case "Threads":
			s.Threads = int(n)
		}
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return s, err
	}
	// The command name may hold spaces; fields are counted after its ')'.
	rest := string(b)
	if i := strings.LastIndexByte(rest, ')'); i >= 0 {
		rest = rest[i+1:]
	}
	fields := strings.Fields(rest)
	if len(fields) > 12 {
		ut, _ := strconv.ParseFloat(fields[11], 64)
		st, _ := strconv.ParseFloat(fields[12], 64)
		s.CPUSeconds = (ut + st) / clockTicks
	}
	return s, nil
}

// Self reads this process's statistics.
func Self() ProcStat { s, _ := ReadProc(os.Getpid()); return s }

// Machine describes where a benchmark ran.
type Machine struct {
	CPUs       int     `json:"cpus"`
	GOMAXPROCS int     `json:"gomaxprocs"`
	CPUModel   string  `json:"cpuModel"`
	MemoryGiB  float64 `json:"memoryGiB"`
	Kernel     string  `json:"kernel"`
	GoVersion  string  `json:"goVersion"`
	NoFile     uint64  `json:"nofile"`
}

// ThisMachine describes the machine this process runs on.
func ThisMachine() Machine {
	m := Machine{CPUs: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0), GoVersion: runtime.Version(), NoFile: NoFile()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "MemTotal:") {
				f := strings.Fields(l)
				if len(f) > 1 {
					n, _ := strconv.ParseFloat(f[1], 64)
					m.MemoryGiB = n / 1024 / 1024
				}
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	return m
}
