// Package loadavg reads the machine's load averages, which every figure
// the benchmarks report is printed beside.
package loadavg

import (
	"os"
	"strings"
)

// String returns the 1, 5 and 15-minute load averages as /proc/loadavg
// has them ("0.52 0.61 0.70"), or "?" where there is no /proc/loadavg.
func String() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
