package routetest_test

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// treeCost is the CPU time and context switches the test process and all
// its descendants (proxies, their actions, the agent) have used so far,
// read from /proc; ok is false where there is no /proc. The clock-tick
// resolution of the CPU time (10 ms) is fine over a benchmark's seconds.
type treeCost struct {
	cpu      time.Duration
	switches int64
	ok       bool
}

// readTreeCost sums treeCost over the process tree under this process.
func readTreeCost() treeCost {
	dirs, err := filepath.Glob("/proc/[0-9]*")
	if err != nil || len(dirs) == 0 {
		return treeCost{}
	}
	self := os.Getpid()
	parent := map[int]int{}
	for _, d := range dirs {
		pid, _ := strconv.Atoi(filepath.Base(d))
		if f := statFields(d); len(f) > 1 {
			parent[pid], _ = strconv.Atoi(f[1])
		}
	}
	c := treeCost{ok: true}
	for pid := range parent {
		if !descends(pid, self, parent) {
			continue
		}
		d := "/proc/" + strconv.Itoa(pid)
		if f := statFields(d); len(f) > 12 {
			ut, _ := strconv.ParseInt(f[11], 10, 64) // utime, field 14
			st, _ := strconv.ParseInt(f[12], 10, 64) // stime, field 15
			c.cpu += time.Duration(ut+st) * time.Second / 100
		}
		tasks, _ := filepath.Glob(d + "/task/[0-9]*")
		for _, t := range tasks {
			c.switches += taskSwitches(t + "/status")
		}
	}
	return c
}

// sub returns the cost from b to c.
func (c treeCost) sub(b treeCost) treeCost {
	return treeCost{cpu: c.cpu - b.cpu, switches: c.switches - b.switches, ok: c.ok && b.ok}
}

// statFields returns the fields of /proc/<pid>/stat after the command's
// name (state, ppid, ...), or nil.
func statFields(dir string) []string {
	b, err := os.ReadFile(dir + "/stat")
	if err != nil {
		return nil
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return nil
	}
	return strings.Fields(string(b[i+1:]))
}

// descends reports whether pid is root or one of its descendants.
func descends(pid, root int, parent map[int]int) bool {
	for n := 0; n < 64 && pid > 1; n++ {
		if pid == root {
			return true
		}
		pid = parent[pid]
	}
	return pid == root
}

// taskSwitches returns a thread's voluntary and involuntary context
// switches.
func taskSwitches(status string) int64 {
	f, err := os.Open(status)
	if err != nil {
		return 0
	}
	defer f.Close()
	var n int64
	s := bufio.NewScanner(f)
	for s.Scan() {
		k, v, ok := strings.Cut(s.Text(), ":")
		if ok && strings.HasSuffix(k, "voluntary_ctxt_switches") {
			x, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			n += x
		}
	}
	return n
}
