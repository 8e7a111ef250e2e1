package faults_test

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// phase is where in a fault cycle a run started.
type phase int

const (
	phaseBefore   phase = iota // before the fault
	phaseDuring                // while the fault lasts
	phaseAfter                 // after the heal, while the system settles
	phaseRecovery              // after the settle time: every run must complete
)

func (p phase) String() string {
	return [...]string{"before", "during", "after", "recovery"}[p]
}

// outcome is what a client saw of one run.
type outcome struct {
	shape    *shape
	tag      string
	phase    phase
	start    time.Time
	end      time.Time
	deadline time.Time
	value    []byte // the result, when err is empty
	err      string
	// clear: the error names a step or a reason (not "the deadline passed").
	clear bool
}

// class is the verdict on one run.
type class int

const (
	classOK     class = iota // completed with the right result
	classFailed              // failed with a clear error, within the bound after the fault
	classLate                // failed with a clear error, but later than the bound
	classLost                // no answer by the deadline, or an error only at the deadline
	classWrong               // completed with a wrong result
)

func (c class) String() string {
	return [...]string{"ok", "failed", "late", "lost", "wrong"}[c]
}

// deadlineSlack: an error this close to the run's deadline (or later) was
// reported at the deadline, not because of what failed.
const deadlineSlack = 300 * time.Millisecond

// classify judges o. faultAt is the last fault injected before o ended
// (zero if none); within bounds the time from the fault (or from the
// run's start, if it started later) to a failure.
func classify(o outcome, faultAt time.Time, within time.Duration) (c class, latency time.Duration, why string) {
	if o.err == "" {
		if err := o.shape.check(o.tag, o.value); err != nil {
			return classWrong, 0, err.Error()
		}
		return classOK, 0, ""
	}
	if !o.end.Before(o.deadline.Add(-deadlineSlack)) {
		return classLost, 0, "reported at the deadline: " + o.err
	}
	if !o.clear {
		return classLost, 0, "no step or reason named: " + o.err
	}
	from := o.start
	if faultAt.After(from) {
		from = faultAt
	}
	latency = o.end.Sub(from)
	if latency > within {
		return classLate, latency, fmt.Sprintf("%v after the fault: %s", latency.Round(time.Millisecond), o.err)
	}
	return classFailed, latency, o.err
}

// result is the tally of one scenario.
type result struct {
	scenario string
	env      string
	shapes   string
	runs     int
	count    [5]int // by class
	dup      int    // runs with a step executed more than once
	extra    int    // executions beyond one per (run, step, element)
	phaseOK  [4][2]int
	latency  []time.Duration // of the failures (failed and late)
	examples map[string][]string
	// noFail: the scenario's fault must fail no run (agent restart).
	noFail bool
	// soak: resource checks, when the soak form ran.
	resources []string
	leaks     []string
	skipped   string
	// within is the bound a failure had to be reported in.
	within time.Duration
}

func newResult(scenario, env, shapes string, noFail bool) *result {
	return &result{scenario: scenario, env: env, shapes: shapes, noFail: noFail, examples: map[string][]string{}}
}

// example keeps a few runs of each kind and phase, for the log.
func (r *result) example(kind string, p phase, s string) {
	kind += " (" + p.String() + ")"
	if len(r.examples[kind]) < 2 {
		if len(s) > 400 {
			s = s[:400] + "..."
		}
		r.examples[kind] = append(r.examples[kind], s)
	}
}

// add tallies one run, with its executions from the record.
func (r *result) add(o outcome, faultAt time.Time, within time.Duration, execs map[execKey]*execCount) {
	r.within = within
	c, lat, why := classify(o, faultAt, within)
	if c == classOK {
		for _, k := range o.shape.execs {
			if e := execs[k]; e == nil || e.ends == 0 {
				c, why = classWrong, fmt.Sprintf("completed, but the record has no finished execution of %s", k)
				break
			}
		}
	}
	r.runs++
	r.count[c]++
	r.phaseOK[o.phase][1]++
	if c == classOK {
		r.phaseOK[o.phase][0]++
	}
	if c == classFailed || c == classLate {
		r.latency = append(r.latency, lat)
	}
	if c != classOK {
		r.example(c.String(), o.phase, fmt.Sprintf("%s run %s (%s, started %s): %s", o.shape.name, o.tag, o.phase, o.start.Format("15:04:05.000"), why))
	}
	var dups []string
	for k, e := range execs {
		if e.begins > 1 {
			r.extra += e.begins - 1
			dups = append(dups, fmt.Sprintf("%s x%d (pids %v)", k, e.begins, e.pids))
		}
	}
	if len(dups) > 0 {
		sort.Strings(dups)
		r.dup++
		r.example("dup", o.phase, fmt.Sprintf("%s run %s (%s, %s): %s", o.shape.name, o.tag, o.phase, c, strings.Join(dups, ", ")))
	}
}

// recovered says whether every run of the recovery phase completed.
func (r *result) recovered() string {
	ok, n := r.phaseOK[phaseRecovery][0], r.phaseOK[phaseRecovery][1]
	switch {
	case n == 0:
		return "no runs (0/0)"
	case ok == n:
		return "yes"
	default:
		return fmt.Sprintf("no (%d/%d)", ok, n)
	}
}

func (r *result) maxLatency() time.Duration {
	var m time.Duration
	for _, l := range r.latency {
		m = max(m, l)
	}
	return m
}

// violations are the acceptance criteria r breaks.
func (r *result) violations() []string {
	var v []string
	if n := r.count[classLost]; n > 0 {
		v = append(v, fmt.Sprintf("%d lost", n))
	}
	if n := r.count[classWrong]; n > 0 {
		v = append(v, fmt.Sprintf("%d wrong", n))
	}
	if r.dup > 0 {
		v = append(v, fmt.Sprintf("%d run(s) with a step executed more than once (%d extra executions)", r.dup, r.extra))
	}
	if n := r.count[classLate]; n > 0 {
		v = append(v, fmt.Sprintf("%d failure(s) reported later than %v after the fault", n, r.within))
	}
	if rec := r.recovered(); rec != "yes" {
		v = append(v, "not recovered: "+rec+" of the runs after the heal and settle completed")
	}
	if f := r.count[classFailed] + r.count[classLate]; r.noFail && f > 0 {
		v = append(v, fmt.Sprintf("%d failed run(s), where the fault must fail none", f))
	}
	v = append(v, r.leaks...)
	return v
}

// tableHeader and row print the results as a markdown table.
const tableHeader = "| scenario | env | shapes | runs | ok | failed (max after fault) | late | lost | wrong | dup (extra) | recovered |\n" +
	"|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|\n"

func (r *result) row() string {
	if r.skipped != "" {
		return fmt.Sprintf("| %s | %s | %s | skipped: %s |||||||\n", r.scenario, r.env, r.shapes, r.skipped)
	}
	failed := fmt.Sprint(r.count[classFailed])
	if len(r.latency) > 0 {
		failed += fmt.Sprintf(" (%v)", r.maxLatency().Round(time.Millisecond))
	}
	return fmt.Sprintf("| %s | %s | %s | %d | %d | %s | %d | %d | %d | %d (%d) | %s |\n", r.scenario, r.env, r.shapes, r.runs,
		r.count[classOK], failed, r.count[classLate], r.count[classLost], r.count[classWrong], r.dup, r.extra, r.recovered())
}

// summary is the one line per scenario.
func (r *result) summary() string {
	if r.skipped != "" {
		return fmt.Sprintf("faults: %s: skipped: %s", r.scenario, r.skipped)
	}
	verdict := "PASS"
	if v := r.violations(); len(v) > 0 {
		verdict = "FAIL: " + strings.Join(v, "; ")
	}
	return fmt.Sprintf("faults: %s: %d runs: %d ok, %d failed (max %v after the fault), %d late, %d lost, %d wrong, %d dup; recovered %s; %s",
		r.scenario, r.runs, r.count[classOK], r.count[classFailed], r.maxLatency().Round(time.Millisecond), r.count[classLate],
		r.count[classLost], r.count[classWrong], r.dup, r.recovered(), verdict)
}

// details are the phases, examples and resource checks, for the log.
func (r *result) details() string {
	var b strings.Builder
	for p := phaseBefore; p <= phaseRecovery; p++ {
		fmt.Fprintf(&b, "  %-8s %d/%d ok\n", p, r.phaseOK[p][0], r.phaseOK[p][1])
	}
	kinds := make([]string, 0, len(r.examples))
	for k := range r.examples {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	for _, k := range kinds {
		for _, e := range r.examples[k] {
			fmt.Fprintf(&b, "  %s: %s\n", k, e)
		}
	}
	for _, s := range r.resources {
		fmt.Fprintf(&b, "  resources: %s\n", s)
	}
	return b.String()
}
