package cli_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/openwhisk-client-go/whisk"

	"github.com/wsk-route/wsk-route/cmd/wsk-route/cli"
	"github.com/wsk-route/wsk-route/internal/consulstore"
	"github.com/wsk-route/wsk-route/internal/runevent"
)

// liveRun is a CLI run whose stderr the test reads line by line while it
// runs.
type liveRun struct {
	lines chan string // stderr, a line at a time; closed at the end
	done  chan int    // the exit code
	mu    sync.Mutex
	out   bytes.Buffer
}

func (l *liveRun) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.out.Write(p)
}

func (l *liveRun) stdout() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.out.String()
}

// startLive runs the CLI in process with stderr through a pipe.
func startLive(t *testing.T, args ...string) *liveRun {
	t.Helper()
	pr, pw := io.Pipe()
	l := &liveRun{lines: make(chan string, 256), done: make(chan int, 1)}
	go func() {
		code := cli.Run(args, strings.NewReader(""), l, pw)
		pw.Close()
		l.done <- code
	}()
	go func() {
		defer close(l.lines)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			l.lines <- sc.Text()
		}
	}()
	return l
}

// next returns the next stderr line, failing the test after within.
func (l *liveRun) next(t *testing.T, within time.Duration) (string, bool) {
	t.Helper()
	select {
	case line, ok := <-l.lines:
		return line, ok
	case <-time.After(within):
		t.Fatalf("no stderr line within %v", within)
	}
	return "", false
}

// wait drains stderr and returns the rest of it and the exit code.
func (l *liveRun) wait(t *testing.T) (rest []string, code int) {
	t.Helper()
	for {
		line, ok := l.next(t, 30*time.Second)
		if !ok {
			break
		}
		rest = append(rest, line)
	}
	select {
	case code = <-l.done:
	case <-time.After(30 * time.Second):
		t.Fatal("the CLI did not return within 30 s of closing stderr")
	}
	return rest, code
}

// activationID takes the id from invoke --watch's first stderr line.
func activationID(t *testing.T, line string) string {
	t.Helper()
	_, rest, ok := strings.Cut(line, " with id ")
	id, _, ok2 := strings.Cut(rest, ";")
	if !ok || !ok2 || runevent.CheckRun(id) != nil || !strings.Contains(line, "following its run") {
		t.Fatalf("first stderr line %q does not name the activation it follows", line)
	}
	return id
}

// deployWatchFlow deploys a workflow whose middle step sleeps 1.5 s in the
// test action's own code: wl-upper, then a constant that sets the sleep,
// then wl-sleep. It runs it once (cold) and waits for the sandbox to idle.
func deployWatchFlow(t *testing.T) {
	t.Helper()
	createActs(t, "wl-upper", "wl-sleep")
	flow := writeFile(t, "watch.yaml", "name: wlflow\nsteps:\n  - wl-upper\n  - value: {mode: sleep, ms: 1500, name: watcher}\n  - wl-sleep\n")
	t.Cleanup(func() { run(t, "delete", "wlflow") })
	mustRun(t, "compose", flow)
	mustRun(t, "invoke", "wlflow", "-p", "text", "warm up", "-r")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := sb.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestWatchLive proves that invoke --watch streams: the first step's
// line reaches the CLI's stderr while the entry's activation is still
// running (its record does not exist yet), followed by the step's logs,
// indented; the slow step's line comes later, then the end, then the
// activation on stdout.
func TestWatchLive(t *testing.T) {
	useSandbox(t)
	deployWatchFlow(t)

	l := startLive(t, "invoke", "wlflow", "-p", "text", "hello", "--watch")
	first, _ := l.next(t, 30*time.Second)
	id := activationID(t, first)
	step, _ := l.next(t, 30*time.Second)
	// The activation must still be running now: its record is written
	// when the entry answers, after the 1.5 s step.
	_, _, err := wskClient(t).Activations.Get(id)
	var we *whisk.WskError
	if !errors.As(err, &we) || we.ExitCode != 148 && !strings.Contains(strings.ToLower(err.Error()), "not exist") && !strings.Contains(err.Error(), "404") {
		t.Errorf("when the first step line arrived, activation %s: err %v; want no record yet (the run still going)", id, err)
	}
	if !strings.HasPrefix(step, "wsk-route: step ") || !strings.Contains(step, " ran on ") {
		t.Fatalf("second stderr line %q, want the first step's line", step)
	}
	// The step's two log lines, indented, its stderr one marked; in
	// either order: they cross two pipes.
	log1, _ := l.next(t, 30*time.Second)
	log2, _ := l.next(t, 30*time.Second)
	got := []string{log1, log2}
	slices.Sort(got)
	if want := []string{`    stderr: step upper on stderr`, `    step upper: "hello"`}; !slices.Equal(got, want) {
		t.Errorf("lines after the step's %q, want its log lines indented: %q", got, want)
	}
	rest, code := l.wait(t)
	all := strings.Join(rest, "\n")
	if code != 0 {
		t.Fatalf("exit %d, stderr after the first step:\n%s\nstdout: %s", code, all, l.stdout())
	}
	for _, w := range []string{"    hello from stdout, watcher", "    stderr: hello from stderr, watcher", "wsk-route: workflow wlflow: 2 step(s), run " + id + " ended"} {
		if !strings.Contains(all, w) {
			t.Errorf("stderr lacks %q:\n%s", w, all)
		}
	}
	if strings.Contains(all, "without an end event") {
		t.Errorf("the stream fell back:\n%s", all)
	}
	_, js, _ := strings.Cut(l.stdout(), "\n")
	var act whisk.Activation
	if err := json.Unmarshal([]byte(js), &act); err != nil || act.ActivationID != id || !act.Response.Success {
		t.Fatalf("stdout %q (%v), want ok: and activation %s", l.stdout(), err, id)
	}
	if m, _ := act.Response.Result.(map[string]any); m["greeting"] != "Hello, watcher!" {
		t.Errorf("result %v, want the sleeping step's greeting", act.Response.Result)
	}

	t.Run("-o json and -r", func(t *testing.T) {
		out, errs := mustRun(t, "invoke", "wlflow", "-p", "text", "json", "--watch", "-o", "json", "-r")
		dec := json.NewDecoder(strings.NewReader(out))
		var kinds []string
		var result map[string]any
		for dec.More() {
			var v map[string]any
			if err := dec.Decode(&v); err != nil {
				t.Fatalf("stdout is not a stream of JSON values: %v\n%s", err, out)
			}
			if k, ok := v["kind"].(string); ok {
				kinds = append(kinds, k)
				continue
			}
			result = v
		}
		if strings.Join(kinds, ",") != "step,step,end" || result["greeting"] != "Hello, watcher!" {
			t.Errorf("stdout events %v and result %v, want step,step,end and the result\n%s", kinds, result, out)
		}
		if lines := strings.Split(strings.TrimSpace(out), "\n"); !strings.HasPrefix(lines[0], `{"run":`) {
			t.Errorf("the first event is not one JSON line: %q", lines[0])
		}
		if strings.Contains(errs, "wsk-route: step") {
			t.Errorf("-o json printed the text lines too: %q", errs)
		}
	})
}

// TestWatchNoEndEvent follows an action that is not an entry: no event
// ever comes, so --watch must notice the activation ended, say the
// stream ended without an end event, and show its logs and result.
func TestWatchNoEndEvent(t *testing.T) {
	useSandbox(t)
	createActs(t, "wn-plain")
	start := time.Now()
	out, errs := mustRun(t, "invoke", "wn-plain", "-p", "mode", "sleep", "-p", "ms", "300", "-p", "name", "plain", "--watch")
	if !strings.Contains(errs, "its event stream ended without an end event") {
		t.Errorf("stderr %q does not say the stream ended without an end event", errs)
	}
	if !strings.Contains(errs, "hello from stdout, plain") {
		t.Errorf("stderr %q lacks the activation's logs (the fallback)", errs)
	}
	if !strings.Contains(out, `"Hello, plain!"`) {
		t.Errorf("stdout %q lacks the result", out)
	}
	if took := time.Since(start); took > 25*time.Second {
		t.Errorf("--watch took %v: it waited for the deadline instead of the activation's end", took)
	}
}

// TestWatchConsul follows a run with --consul: the events come straight
// from Consul KV, where the sandbox's agent wrote them, one key per event.
func TestWatchConsul(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts Consul and a second sandbox")
	}
	addr := startConsulSandbox(t)
	createActs(t, "wc-upper", "wc-reverse")
	flow := writeFile(t, "wc.yaml", "name: wcflow\nsteps:\n  - wc-upper\n  - wc-reverse\n")
	mustRun(t, "compose", flow, "--consul", addr)
	t.Cleanup(func() { run(t, "delete", "wcflow", "--consul", addr) })

	// The events come from Consul, the activation from the API host.
	out, errs := mustRun(t, "invoke", "wcflow", "-p", "text", "abc", "--watch", "--consul", addr, "-r")
	id := activationID(t, strings.SplitN(errs, "\n", 2)[0])
	// A cold run: each step ran through the OpenWhisk API, and its log
	// line, indented, names that activation.
	if strings.Count(errs, "wsk-route: step ") != 2 || strings.Count(errs, "\n    (ran through the OpenWhisk API as activation ") != 2 || !strings.Contains(errs, "wsk-route: workflow wcflow: 2 step(s), run "+id+" ended") {
		t.Errorf("--watch --consul stderr:\n%s", errs)
	}
	if !strings.Contains(out, `"CBA"`) {
		t.Errorf("result %q, want CBA", out)
	}
	store, err := consulstore.New(consulstore.Options{Address: addr})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	evs, next, err := store.RunEvents(context.Background(), "guest", id, 0, 0)
	if err != nil || len(evs) != 3 || next != 3 || evs[2].Kind != runevent.KindEnd {
		t.Errorf("Consul holds %+v (next %d, %v) for run %s; want two steps and the end", evs, next, err, id)
	}
}

// TestWatchBranches: --watch names a parallel's branches and a map's
// elements, not the route plane's branch numbers, in text and in -o json.
func TestWatchBranches(t *testing.T) {
	useSandbox(t)
	createActs(t, "wb-upper", "wb-reverse", "wbm-upper")
	par := writeFile(t, "wbpar.yaml", "name: wbpar\nsteps:\n  - parallel:\n      branches: {up: wb-upper, rev: wb-reverse}\n      merge: object\n")
	mp := writeFile(t, "wbmap.yaml", "name: wbmap\nsteps:\n  - value: {items: [{text: a}, {text: b}, {text: c}]}\n  - map: {over: items, do: wbm-upper}\n")
	t.Cleanup(func() { run(t, "delete", "wbpar"); run(t, "delete", "wbmap") })
	mustRun(t, "compose", par)
	mustRun(t, "compose", mp)

	_, errs := mustRun(t, "invoke", "wbpar", "-p", "text", "abc", "--watch")
	for _, w := range []string{"wsk-route: step s1.up-wb-upper (branch up) ran on ", "wsk-route: step s1.rev-wb-reverse (branch rev) ran on "} {
		if !strings.Contains(errs, w) {
			t.Errorf("--watch of a parallel lacks %q:\n%s", w, errs)
		}
	}
	_, errs = mustRun(t, "invoke", "wbmap", "--watch")
	for i := range 3 {
		if w := fmt.Sprintf("wsk-route: step s2.do-wbm-upper (element %d) ran on ", i); !strings.Contains(errs, w) {
			t.Errorf("--watch of a map lacks %q:\n%s", w, errs)
		}
	}
	if strings.Contains(errs, "048576") {
		t.Errorf("--watch shows a raw branch number:\n%s", errs)
	}

	out, _ := mustRun(t, "invoke", "wbmap", "--watch", "-o", "json", "-r")
	dec := json.NewDecoder(strings.NewReader(out))
	elements := map[float64]bool{}
	for dec.More() {
		var raw any
		if err := dec.Decode(&raw); err != nil {
			t.Fatalf("stdout: %v\n%s", err, out)
		}
		v, _ := raw.(map[string]any) // the result is an array
		if v["kind"] != "step" {
			continue
		}
		if _, raw := v["branch"].(float64); raw {
			t.Errorf("event %v has a numeric branch", v)
		}
		e, ok := v["element"].(float64)
		if !ok || v["join"] == nil {
			t.Errorf("event %v has no element and join", v)
		}
		elements[e] = true
	}
	if len(elements) != 3 || !elements[0] || !elements[1] || !elements[2] {
		t.Errorf("-o json events name elements %v, want 0, 1 and 2\n%s", elements, out)
	}
	out, _ = mustRun(t, "invoke", "wbpar", "-p", "text", "abc", "--watch", "-o", "json", "-r")
	if !strings.Contains(out, `"branch":"up"`) || !strings.Contains(out, `"branch":"rev"`) {
		t.Errorf("-o json of a parallel does not name its branches:\n%s", out)
	}
}
