package faults_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestClassify checks the verdicts on runs, without any process.
func TestClassify(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	sh := shapes["chain"]
	good := []byte(`{"tag":"r1","path":["fc1","fc2","fc3"]}`)
	tests := []struct {
		name    string
		o       outcome
		faultAt time.Time
		want    class
		latency time.Duration
	}{
		{"right result", outcome{value: good}, time.Time{}, classOK, 0},
		{"wrong path", outcome{value: []byte(`{"tag":"r1","path":["fc1","fc3"]}`)}, time.Time{}, classWrong, 0},
		{"another run's result", outcome{value: []byte(`{"tag":"r2","path":["fc1","fc2","fc3"]}`)}, time.Time{}, classWrong, 0},
		{"not json", outcome{value: []byte(`nope`)}, time.Time{}, classWrong, 0},
		{"clear, soon after the fault", outcome{err: "failed at step fc2", clear: true, start: at(0), end: at(3 * time.Second)}, at(2 * time.Second), classFailed, time.Second},
		{"clear, soon after a later start", outcome{err: "failed at step fc2", clear: true, start: at(5 * time.Second), end: at(6 * time.Second)}, at(2 * time.Second), classFailed, time.Second},
		{"clear, no fault yet", outcome{err: "busy", clear: true, start: at(0), end: at(100 * time.Millisecond)}, time.Time{}, classFailed, 100 * time.Millisecond},
		{"clear but late", outcome{err: "failed at step fc2", clear: true, start: at(0), end: at(6 * time.Second)}, at(time.Second), classLate, 5 * time.Second},
		{"at the deadline", outcome{err: "failed at step fc2", clear: true, start: at(0), end: at(7900 * time.Millisecond)}, at(time.Second), classLost, 0},
		{"after the deadline", outcome{err: "x", clear: true, start: at(0), end: at(9 * time.Second)}, at(time.Second), classLost, 0},
		{"no step named", outcome{err: "run r1: context deadline exceeded", start: at(0), end: at(2 * time.Second)}, at(time.Second), classLost, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := tt.o
			o.shape, o.tag = sh, "r1"
			if o.deadline.IsZero() {
				o.deadline = at(8 * time.Second)
			}
			c, lat, why := classify(o, tt.faultAt, clearWithin)
			if c != tt.want || lat != tt.latency {
				t.Errorf("got %s after %v (%s), want %s after %v", c, lat, why, tt.want, tt.latency)
			}
		})
	}
}

// TestTallyCountsDuplicates checks that a step begun twice in a run makes
// the run a duplicate, and that a completed run without a finished
// execution of each step is wrong.
func TestTallyCountsDuplicates(t *testing.T) {
	sh := shapes["chain"]
	o := outcome{shape: sh, tag: "r1", value: []byte(`{"tag":"r1","path":["fc1","fc2","fc3"]}`), deadline: time.Now().Add(time.Hour)}
	once := func() map[execKey]*execCount {
		return map[execKey]*execCount{{"fc1", -1}: {1, 1, nil}, {"fc2", -1}: {1, 1, nil}, {"fc3", -1}: {1, 1, nil}}
	}
	r := newResult("t", "host", "chain", false)
	o.phase = phaseRecovery
	r.add(o, time.Time{}, clearWithin, once())
	if r.count[classOK] != 1 || r.dup != 0 || len(r.violations()) != 0 {
		t.Fatalf("one clean run: %s", r.summary())
	}
	twice := once()
	twice[execKey{"fc2", -1}] = &execCount{begins: 2, ends: 1, pids: []int{10, 11}}
	r.add(o, time.Time{}, clearWithin, twice)
	if r.dup != 1 || r.extra != 1 || len(r.violations()) != 1 {
		t.Errorf("a step run twice: dup %d extra %d violations %v, want 1, 1, one violation", r.dup, r.extra, r.violations())
	}
	missing := once()
	delete(missing, execKey{"fc3", -1})
	r.add(o, time.Time{}, clearWithin, missing)
	if r.count[classWrong] != 1 {
		t.Errorf("a result without a recorded execution of fc3: %d wrong, want 1", r.count[classWrong])
	}
}

// TestRecLine checks the recording action's line format.
func TestRecLine(t *testing.T) {
	l, err := parseRecLine("B r12 m1 3 4242 0123abcd 1700000000000000000")
	if err != nil || !l.begin || l.tag != "r12" || l.key != (execKey{"m1", 3}) || l.pid != 4242 || l.act != "0123abcd" {
		t.Fatalf("got %+v, %v", l, err)
	}
	for _, bad := range []string{"", "X r1 s -1 1 a 1", "B r1 s x 1 a 1", "B r1 s -1 1 a"} {
		if _, err := parseRecLine(bad); err == nil {
			t.Errorf("%q parsed, want an error", bad)
		}
	}
}

// TestRecorderMoments checks what the injectors wait for: a process
// running a step, and a holder with one slot of two.
func TestRecorderMoments(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rec.log")
	r := newRecorder(path, "f0", "fl", "fr")
	write := func(lines ...string) {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range lines {
			fmt.Fprintln(f, l)
		}
		f.Close()
	}
	write("B r1 f0 -1 10 a 1")
	if p := r.busy([]int{10}, false); p != 10 {
		t.Fatalf("pid 10 began f0: busy %d, want 10", p)
	}
	write("E r1 f0 -1 10 a 2", "B r1 fl -1 20 b 3", "B r1 fr -1 30 c 4")
	if p := r.busy([]int{10}, true); p != 0 {
		t.Errorf("holder 10 with no slot yet: busy %d, want 0", p)
	}
	write("E r1 fl -1 20 b 5")
	if p := r.busy([]int{10}, true); p != 10 {
		t.Errorf("holder 10 with fl's slot, fr running: busy %d, want 10", p)
	}
	write("E r1 fr -1 30 c 6")
	if p := r.busy([]int{10, 20, 30}, true); p != 0 {
		t.Errorf("both slots in: busy %d, want 0", p)
	}
	counts, bad := r.counts()
	if len(bad) != 0 || counts["r1"][execKey{"fl", -1}].begins != 1 || counts["r1"][execKey{"f0", -1}].ends != 1 {
		t.Errorf("counts %v, bad %v", counts["r1"], bad)
	}
}
