package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/apache/openwhisk-client-go/whisk"

	"github.com/wsk-route/wsk-route/internal/consulstore"
	"github.com/wsk-route/wsk-route/internal/runevent"
	"github.com/wsk-route/wsk-route/internal/spec"
	owhisk "github.com/wsk-route/wsk-route/internal/whisk"
)

// Settings of invoke --watch.
const (
	// watchPoll is the longest one events request waits; between two, the
	// activation is looked at, so a run whose entry died is noticed.
	watchPoll = 2 * time.Second
	// watchGrace is added to the entry's time limit for the run's
	// deadline: the invoker may queue the activation or start a container.
	watchGrace = 30 * time.Second
	// watchDrain is how long the end event is waited for once the
	// activation has ended.
	watchDrain = 2 * time.Second
	// watchRecord is how long an activation's record is waited for after
	// the run's end (or its deadline).
	watchRecord = time.Minute
)

// eventSource reads the events of a run: the API host's wsk-route routes,
// or Consul KV with --consul.
type eventSource interface {
	events(ctx context.Context, namespace, run string, after uint64, wait time.Duration) ([]runevent.Event, uint64, error)
	close()
}

// errNoEvents is what a 404 from the API's run events means.
var errNoEvents = errors.New("this OpenWhisk serves no wsk-route run events: pass --consul ADDR, the Consul of your wsk-route agents")

// openEvents returns the event source the configuration names.
func openEvents(a *api) (eventSource, error) {
	if a.cfg.Consul == "" {
		return restEvents{a}, nil
	}
	s, err := consulstore.New(consulstore.Options{Address: a.cfg.Consul})
	if err != nil {
		return nil, fmt.Errorf("--consul %s: %w", a.cfg.Consul, err)
	}
	return consulEvents{s}, nil
}

type consulEvents struct{ s *consulstore.Store }

func (c consulEvents) events(ctx context.Context, ns, run string, after uint64, wait time.Duration) ([]runevent.Event, uint64, error) {
	return c.s.RunEvents(ctx, ns, run, after, wait)
}

func (c consulEvents) close() { c.s.Close() }

type restEvents struct{ a *api }

func (r restEvents) events(ctx context.Context, ns, run string, after uint64, wait time.Duration) ([]runevent.Event, uint64, error) {
	p := "/namespaces/" + url.PathEscape(ns) + "/wsk-route/runs/" + url.PathEscape(run) + "/events?after=" +
		strconv.FormatUint(after, 10) + "&wait=" + strconv.FormatFloat(wait.Seconds(), 'f', 3, 64)
	var page struct {
		Events []runevent.Event `json:"events"`
		Next   uint64           `json:"next"`
	}
	_, err := r.a.do(ctx, http.MethodGet, p, nil, &page)
	var ae *apiError
	if errors.As(err, &ae) && ae.Status == http.StatusNotFound {
		return nil, after, errNoEvents
	}
	if err != nil {
		return nil, after, fmt.Errorf("reading the events of run %s: %w", run, err)
	}
	return page.Events, max(page.Next, after), nil
}

func (restEvents) close() {}

// watcher follows one run of an entry and prints its events as they come.
type watcher struct {
	a        *api
	src      eventSource
	fqn      string // the entry action
	ns, run  string // the run's namespace, and its id: the activation id
	json     bool   // -o json: events as JSON lines on out
	out, log io.Writer
	// deadline is when the run must have ended: the entry's time limit
	// past the invoke, plus watchGrace.
	deadline time.Time

	// sp is the workflow's spec, which says what an event's branch
	// number means; nil when it could not be read (the number shows).
	sp *spec.Spec

	steps   int
	lastSeq uint64
	gaps    uint64 // events missing between those read
}

// follow prints the run's events until its end event, the end of its
// activation, or its deadline, then returns the ended activation (whose
// record it waits for). ended reports whether the end event came.
func (w *watcher) follow(ctx context.Context) (act *whisk.Activation, ended bool, err error) {
	var after uint64
	for {
		wait := min(watchPoll, time.Until(w.deadline))
		if wait <= 0 {
			fmt.Fprintf(w.log, "wsk-route: run %s: no end event by the run's deadline (the entry action's time limit); waiting for the activation's record\n", w.run)
			break
		}
		evs, next, err := w.src.events(ctx, w.ns, w.run, after, wait)
		switch {
		case err == nil:
		case errors.Is(err, errNoEvents) || ctx.Err() != nil:
			return nil, false, err
		default:
			fmt.Fprintf(w.log, "wsk-route: %v (retrying)\n", err)
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil, false, ctx.Err()
			case <-t.C:
			}
		}
		after = max(after, next)
		for i := range evs {
			if end := w.show(&evs[i]); end != nil {
				a, err := waitActivationFor(ctx, w.a, w.run, watchRecord)
				return a, true, err
			}
		}
		if len(evs) > 0 {
			continue
		}
		// Nothing new: has the activation ended without an end event (the
		// entry crashed, or it is not an entry)? Give the end event a
		// moment to arrive after the record.
		if a, ok, err := getActivation(ctx, w.a, w.run); err != nil {
			return nil, false, err
		} else if ok {
			evs, _, _ := w.src.events(ctx, w.ns, w.run, after, watchDrain)
			for i := range evs {
				if end := w.show(&evs[i]); end != nil {
					return a, true, nil
				}
			}
			fmt.Fprintf(w.log, "wsk-route: run %s: the activation ended, but its event stream ended without an end event\n", w.run)
			return a, false, nil
		}
	}
	a, err := waitActivationFor(ctx, w.a, w.run, watchRecord)
	return a, false, err
}

// show prints one event; it returns the event if it is the end.
func (w *watcher) show(ev *runevent.Event) *runevent.Event {
	if ev.Seq <= w.lastSeq {
		return nil // a repeat
	}
	w.gaps += ev.Seq - w.lastSeq - 1
	w.lastSeq = ev.Seq
	if ev.Kind == runevent.KindStep {
		w.steps++
	}
	if w.json {
		b, _ := json.Marshal(w.eventJSON(ev))
		fmt.Fprintf(w.out, "%s\n", unescapeHTML(b))
	} else {
		w.printText(ev)
	}
	if ev.Kind != runevent.KindEnd {
		return nil
	}
	if lost := max(ev.Dropped, w.gaps); lost > 0 {
		fmt.Fprintf(w.log, "wsk-route: %d event(s) of run %s were dropped on the way (a busy entry or agent); `wsk activation logs %s` has every step\n", lost, w.run, w.run)
	}
	return ev
}

func (w *watcher) printText(ev *runevent.Event) {
	var b strings.Builder
	switch ev.Kind {
	case runevent.KindStep:
		fmt.Fprintf(&b, "wsk-route: step %s", ev.Step)
		if where := w.place(ev); where != "" {
			fmt.Fprintf(&b, " (%s)", where)
		}
		fmt.Fprintf(&b, " ran on %s in %v\n", ev.Instance, ev.Duration().Round(time.Microsecond))
		for _, line := range strings.Split(strings.TrimRight(ev.Logs, "\n"), "\n") {
			if line != "" {
				fmt.Fprintf(&b, "    %s\n", owhisk.LogText(line))
			}
		}
		if ev.LogsCut > 0 {
			fmt.Fprintf(&b, "    (%d more bytes of logs cut; see the entry's activation logs)\n", ev.LogsCut)
		}
	case runevent.KindEnd:
		wf := w.fqn[strings.LastIndexByte(w.fqn, '/')+1:]
		if ev.Error != "" {
			fmt.Fprintf(&b, "wsk-route: workflow %s failed after %d step(s): %s\n", wf, w.steps, ev.Error)
		} else {
			fmt.Fprintf(&b, "wsk-route: workflow %s: %d step(s), run %s ended\n", wf, w.steps, w.run)
		}
	}
	io.WriteString(w.log, b.String())
}

// place describes where a step event's step ran: "element 3" of a map,
// "branch upper" of a parallel, from the spec; without the spec, the
// branch number's two parts.
func (w *watcher) place(ev *runevent.Event) string {
	if w.sp != nil {
		return w.sp.PlaceOf(ev.Step, ev.Branch).String()
	}
	if ev.Branch == 0 {
		return ""
	}
	slot, path := spec.SplitBranch(ev.Branch)
	return fmt.Sprintf("slot %d of its join, path %d", slot, path)
}

// watchEvent is an event as -o json prints it: the event, with its
// branch number decoded (see spec.Place) in place of the number.
type watchEvent struct {
	*runevent.Event
	// Branch is the name of the parallel's branch (object merges), or
	// "N of M" (array merges, and the result paths of a run that ends in
	// several); Element is the index of a map's element, from 0. They
	// hide the event's own branch number.
	Branch  string `json:"branch,omitempty"`
	Element *int   `json:"element,omitempty"`
	// Join is the join whose region the step is in.
	Join string `json:"join,omitempty"`
	// BranchID is the branch number as the route plane carries it, when
	// no spec says what it means.
	BranchID uint32 `json:"branch_id,omitempty"`
}

func (w *watcher) eventJSON(ev *runevent.Event) watchEvent {
	out := watchEvent{Event: ev}
	if ev.Kind != runevent.KindStep {
		return out
	}
	if w.sp == nil {
		out.BranchID = ev.Branch
		return out
	}
	p := w.sp.PlaceOf(ev.Step, ev.Branch)
	out.Join = p.Join
	switch {
	case p.Map:
		i := p.Index
		out.Element = &i
	default:
		out.Branch = strings.TrimPrefix(p.String(), "branch ")
	}
	return out
}

// entryTimeout is the entry action's time limit (OpenWhisk's default of a
// minute when it says none).
func entryTimeout(ctx context.Context, a *api, fqn string) time.Duration {
	p, err := actionPath(fqn)
	if err != nil {
		return time.Minute
	}
	var act whisk.Action
	if _, err := a.do(ctx, http.MethodGet, p+"?code=false", nil, &act); err != nil || act.Limits == nil || act.Limits.Timeout == nil || *act.Limits.Timeout <= 0 {
		return time.Minute
	}
	return time.Duration(*act.Limits.Timeout) * time.Millisecond
}

// getActivation returns the activation's record, ok false while there is
// none yet.
func getActivation(ctx context.Context, a *api, id string) (*whisk.Activation, bool, error) {
	var act whisk.Activation
	_, err := a.do(ctx, http.MethodGet, "/namespaces/_/activations/"+url.PathEscape(id), nil, &act)
	var ae *apiError
	switch {
	case err == nil && act.ActivationID != "":
		return &act, true, nil
	case err == nil || errors.As(err, &ae) && ae.Status == http.StatusNotFound:
		return nil, false, nil
	}
	return nil, false, fmt.Errorf("reading activation %s: %w", id, err)
}

// waitActivationFor polls until the activation's record exists, at most d.
func waitActivationFor(ctx context.Context, a *api, id string, d time.Duration) (*whisk.Activation, error) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		act, ok, err := getActivation(ctx, a, id)
		if err != nil && ctx.Err() == nil {
			return nil, err
		}
		if ok {
			return act, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for activation %s: no record within %v: %w", id, d, ctx.Err())
		case <-t.C:
		}
	}
}

// runActions picks the actions whose cold starts a watched run waits for:
// its entry fqn and the actions of its spec's steps (the entry's alone
// when sp is nil).
func runActions(fqn string, sp *spec.Spec) func(string) bool {
	acts := map[string]bool{fqn: true}
	if sp != nil {
		for _, st := range sp.Steps {
			if st.Action != "" {
				acts[st.Action] = true
			}
		}
	}
	return func(action string) bool { return acts[action] }
}

// coldStartEvent is a cold start as -o json prints it among the run's
// events: {"event":"coldStart","kind":"coldStart","run":...,"action":...,
// "phase":...,"elapsedMs":...}; kind is there for readers that switch on
// it as on the run's own events.
type coldStartEvent struct {
	Event     string `json:"event"`
	Kind      string `json:"kind"`
	Run       string `json:"run"`
	Action    string `json:"action"`
	Phase     string `json:"phase"`
	ElapsedMs int64  `json:"elapsedMs"`
}

// showColdStart prints a cold start that the run waits for: the line of
// a blocking invoke on the log, or with -o json an event on out.
func (w *watcher) showColdStart(c coldStart) {
	if w.json {
		b, _ := json.Marshal(coldStartEvent{Event: "coldStart", Kind: "coldStart", Run: w.run, Action: c.Action, Phase: c.Phase, ElapsedMs: c.ElapsedMs})
		fmt.Fprintf(w.out, "%s\n", b)
		return
	}
	fmt.Fprintln(w.log, coldStartLine(w.a.shortName(c.Action), c.Phase))
}

// lockedWriter serializes the writes of several goroutines to w.
type lockedWriter struct {
	mu *sync.Mutex // guards w
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
