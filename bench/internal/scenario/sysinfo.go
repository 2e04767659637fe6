package scenario

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
)

// cpuModel is the first "model name" of /proc/cpuinfo, or GOARCH when unknown.
func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}

// readRSS returns a process's resident set size now (VmRSS) and its peak (VmHWM),
// in bytes, from /proc/<pid>/status.
func readRSS(pid int) (rss, hwm int64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok || (k != "VmRSS" && k != "VmHWM") {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("%s %q: %w", k, v, err)
		}
		if k == "VmRSS" {
			rss = n << 10
		} else {
			hwm = n << 10
		}
	}
	return rss, hwm, nil
}

type procs struct {
	names []string
	pids  []int
}

// pids are the processes whose memory the report shows: this one in-process (core,
// edges and generator share it), else those given with --pids.
func (r *runner) pids() procs {
	if r.dep != nil {
		return procs{[]string{"clickbench process (core + 2 edges + generator)"}, []int{os.Getpid()}}
	}
	var p procs
	for _, pid := range r.cfg.PIDs {
		p.names = append(p.names, fmt.Sprintf("pid %d", pid))
		p.pids = append(p.pids, pid)
	}
	return p
}

// loadAvg is the 1-minute load average, "" when unknown.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return ""
	}
	return f[0]
}
