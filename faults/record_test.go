package faults_test

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// recLine is one line of the recording action: the begin (B) or end (E)
// of one step execution.
type recLine struct {
	begin bool
	tag   string
	key   execKey
	pid   int
	act   string
	at    time.Time
}

func parseRecLine(s string) (recLine, error) {
	f := strings.Fields(s)
	if len(f) != 7 || (f[0] != "B" && f[0] != "E") {
		return recLine{}, fmt.Errorf("record line %q: want B|E tag step i pid activation ns", s)
	}
	i, err1 := strconv.Atoi(f[3])
	pid, err2 := strconv.Atoi(f[4])
	ns, err3 := strconv.ParseInt(f[6], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil {
		return recLine{}, fmt.Errorf("record line %q: bad number", s)
	}
	return recLine{begin: f[0] == "B", tag: f[1], key: execKey{f[2], i}, pid: pid, act: f[5], at: time.Unix(0, ns)}, nil
}

// recorder reads the file the recording action appends to, as it grows,
// and keeps what the fault injectors ask: which processes are running a
// step now, and which hold a join.
type recorder struct {
	path string

	mu      sync.Mutex // guards the fields below
	off     int64
	partial []byte
	lines   []recLine
	bad     []string
	open    map[int]int // pid -> begun but not ended executions
	// holds maps a run's tag to the pid that ended the fork step of a join
	// whose branches have not all ended yet (holdStep, branches).
	holdStep string
	branches map[string]bool
	holds    map[string]int
	ended    map[string]int // tag -> branch ends seen, for holds
}

func newRecorder(path, holdStep string, branches ...string) *recorder {
	r := &recorder{path: path, open: map[int]int{}, holdStep: holdStep, branches: map[string]bool{},
		holds: map[string]int{}, ended: map[string]int{}}
	for _, b := range branches {
		r.branches[b] = true
	}
	return r
}

// refresh reads what was appended since the last call.
func (r *recorder) refresh() {
	r.mu.Lock()
	defer r.mu.Unlock()
	f, err := os.Open(r.path)
	if err != nil {
		return
	}
	defer f.Close()
	if _, err := f.Seek(r.off, io.SeekStart); err != nil {
		return
	}
	b, _ := io.ReadAll(f)
	r.off += int64(len(b))
	b = append(r.partial, b...)
	for {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			break
		}
		l, err := parseRecLine(string(b[:i]))
		b = b[i+1:]
		if err != nil {
			r.bad = append(r.bad, err.Error())
			continue
		}
		r.addLocked(l)
	}
	r.partial = append([]byte(nil), b...)
}

func (r *recorder) addLocked(l recLine) {
	r.lines = append(r.lines, l)
	if l.begin {
		r.open[l.pid]++
		return
	}
	if r.open[l.pid]--; r.open[l.pid] <= 0 {
		delete(r.open, l.pid)
	}
	switch {
	case l.key.step == r.holdStep:
		r.holds[l.tag] = l.pid
	case r.branches[l.key.step]:
		if r.ended[l.tag]++; r.ended[l.tag] >= len(r.branches) {
			delete(r.holds, l.tag)
			delete(r.ended, l.tag)
		}
	}
}

// busy returns the first of pids that is running a step, or (withHolds)
// holds a join with a slot in it (a branch has ended) and another branch
// still running; 0 if none is.
func (r *recorder) busy(pids []int, withHolds bool) int {
	r.refresh()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range pids {
		if r.open[p] > 0 {
			return p
		}
	}
	if withHolds {
		for tag, p := range r.holds {
			for _, q := range pids {
				if e := r.ended[tag]; p == q && e >= 1 && e < len(r.branches) {
					return p
				}
			}
		}
	}
	return 0
}

// forget drops the open executions of pids (they were killed: their end
// lines never come).
func (r *recorder) forget(pids []int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range pids {
		delete(r.open, p)
	}
	for tag, p := range r.holds {
		for _, q := range pids {
			if p == q {
				delete(r.holds, tag)
				delete(r.ended, tag)
			}
		}
	}
}

// execCount is what the record says about one step execution of a run.
type execCount struct {
	begins, ends int
	pids         []int
}

// counts returns, per run tag, the executions of each step.
func (r *recorder) counts() (map[string]map[execKey]*execCount, []string) {
	r.refresh()
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]map[execKey]*execCount{}
	for _, l := range r.lines {
		m := out[l.tag]
		if m == nil {
			m = map[execKey]*execCount{}
			out[l.tag] = m
		}
		c := m[l.key]
		if c == nil {
			c = &execCount{}
			m[l.key] = c
		}
		if l.begin {
			c.begins++
			c.pids = append(c.pids, l.pid)
		} else {
			c.ends++
		}
	}
	return out, append([]string(nil), r.bad...)
}
