package faults_test

import (
	"bufio"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
)

// procStat is one process's resources at one moment.
type procStat struct {
	label      string
	pid        int
	fds        int
	rssKB      int64
	goroutines int // -1: the process does not say
}

// snapshot is the resources of an environment at one moment: its
// processes, and what is left in its shm and run directories.
type snapshot struct {
	procs   []procStat
	shm     int // files under the shm directories
	sockets int // sockets under the run directories
	// components is how many proxies (and entries) live, when the
	// environment knows; -1 if not. The sockets after a scenario should be
	// those before, plus one per component more (the run directory's
	// layout is the components' business, not the suite's).
	components int
	// strayDirs are run directories of components that are gone (the
	// sandbox's, after a kill -9).
	strayDirs int
}

func statProc(label string, pid, goroutines int) procStat {
	s := procStat{label: label, pid: pid, goroutines: goroutines, fds: -1, rssKB: -1}
	if fds, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/fd"); err == nil {
		s.fds = len(fds)
	}
	if f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
				kb := strings.Fields(v)
				if len(kb) > 0 {
					s.rssKB, _ = strconv.ParseInt(kb[0], 10, 64)
				}
			}
		}
		f.Close()
	}
	return s
}

// self is the test process: the entry's route plane runs in it.
func self() procStat {
	return statProc("test process (entry)", os.Getpid(), runtime.NumGoroutine())
}

// countFiles counts the regular files (sockets: the sockets) under dir.
func countFiles(dir string, sockets bool) int {
	n := 0
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return nil
		}
		if sockets && fi.Mode()&fs.ModeSocket != 0 || !sockets && fi.Mode().IsRegular() {
			n++
		}
		return nil
	})
	return n
}

func (s snapshot) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "shm files %d, sockets %d", s.shm, s.sockets)
	if s.components >= 0 {
		fmt.Fprintf(&b, ", %d components (proxies, entry)", s.components)
	}
	if s.strayDirs > 0 {
		fmt.Fprintf(&b, ", stray run dirs %d", s.strayDirs)
	}
	return b.String()
}

// Leak bounds of the soak form: growth beyond them, between the end of the
// middle cycle and the end of the last, is a leak.
const (
	fdSlack        = 10   // descriptors, or fdGrowthPct of the start, whichever is more
	fdGrowthPct    = 20   //
	goroutineSlack = 20   // goroutines, or goroutineGrowthPct
	goroutinePct   = 25   //
	rssSlackKB     = 30e3 // 30 MB, or rssGrowthPct
	rssGrowthPct   = 50   //
)

func grew(before, after, slack int64, pct int64) bool {
	return after-before > max(slack, before*pct/100)
}

// compare reports the processes alive (same pid) in busy0 and busy1, and
// the directories in quiet0 and quiet1, and says which growth is a leak.
// A proxy keeps one connection (and a goroutine or two) to each instance
// it sends to, opened when it first sends there: so descriptors and
// goroutines may grow by a few per component without leaking, and the
// slack grows with the number of components.
func compare(busy0, busy1, quiet0, quiet1 snapshot) (report, leaks []string) {
	fdSlack, goroutineSlack := int64(fdSlack), int64(goroutineSlack)
	if busy1.components > 0 {
		fdSlack += 2 * int64(busy1.components)
		goroutineSlack += 2 * int64(busy1.components)
	}
	old := map[string]procStat{}
	for _, p := range busy0.procs {
		old[p.label] = p
	}
	// Proxies and action processes are many: one line for each kind.
	type group struct {
		n                 int
		fdMax, rssMaxKB   int64
		fdWorst, rssWorst string
	}
	groups := map[string]*group{}
	var kinds []string
	for _, a := range busy1.procs {
		b, ok := old[a.label]
		if !ok || b.pid != a.pid {
			continue // restarted or new: nothing to compare
		}
		kind := ""
		switch {
		case strings.HasPrefix(a.label, "proxy "):
			kind = "proxies"
		case strings.HasPrefix(a.label, "action of "):
			kind = "action processes"
		}
		if kind != "" {
			g := groups[kind]
			if g == nil {
				g = &group{fdMax: -1 << 62, rssMaxKB: -1 << 62}
				groups[kind] = g
				kinds = append(kinds, kind)
			}
			g.n++
			if d := int64(a.fds - b.fds); d > g.fdMax {
				g.fdMax, g.fdWorst = d, fmt.Sprintf("%s %d->%d", a.label, b.fds, a.fds)
			}
			if d := a.rssKB - b.rssKB; d > g.rssMaxKB {
				g.rssMaxKB, g.rssWorst = d, fmt.Sprintf("%s %d->%d MB", a.label, b.rssKB/1000, a.rssKB/1000)
			}
		}
		line := fmt.Sprintf("%s: fds %d->%d, rss %d->%d MB", a.label, b.fds, a.fds, b.rssKB/1000, a.rssKB/1000)
		if b.goroutines >= 0 && a.goroutines >= 0 {
			line += fmt.Sprintf(", goroutines %d->%d", b.goroutines, a.goroutines)
			if grew(int64(b.goroutines), int64(a.goroutines), goroutineSlack, goroutinePct) {
				leaks = append(leaks, fmt.Sprintf("goroutines of %s grew %d -> %d", a.label, b.goroutines, a.goroutines))
			}
		}
		if kind == "" {
			report = append(report, line)
		}
		if b.fds >= 0 && a.fds >= 0 && grew(int64(b.fds), int64(a.fds), fdSlack, fdGrowthPct) {
			leaks = append(leaks, fmt.Sprintf("fds of %s grew %d -> %d", a.label, b.fds, a.fds))
		}
		if b.rssKB > 0 && a.rssKB > 0 && grew(b.rssKB, a.rssKB, rssSlackKB, rssGrowthPct) {
			leaks = append(leaks, fmt.Sprintf("RSS of %s grew %d -> %d MB", a.label, b.rssKB/1000, a.rssKB/1000))
		}
	}
	for _, k := range kinds {
		g := groups[k]
		report = append(report, fmt.Sprintf("%d %s: most fds growth %+d (%s), most RSS growth %+d MB (%s)",
			g.n, k, g.fdMax, g.fdWorst, g.rssMaxKB/1000, g.rssWorst))
	}
	report = append(report, "quiet before: "+quiet0.String(), "quiet after: "+quiet1.String())
	if quiet1.shm > quiet0.shm {
		leaks = append(leaks, fmt.Sprintf("%d shm file(s) left (before %d)", quiet1.shm-quiet0.shm, quiet0.shm))
	}
	if quiet0.components >= 0 && quiet1.components >= 0 {
		if want := quiet0.sockets + quiet1.components - quiet0.components; quiet1.sockets > want {
			leaks = append(leaks, fmt.Sprintf("%d stale socket(s) in the run directories (%d, want %d)", quiet1.sockets-want, quiet1.sockets, want))
		}
	}
	if quiet1.strayDirs > quiet0.strayDirs {
		leaks = append(leaks, fmt.Sprintf("%d run directorie(s) of stopped components left", quiet1.strayDirs-quiet0.strayDirs))
	}
	return report, leaks
}
