package server_test

// Route mode: the server's side of the route plane (direct.go). A fake
// Router stands for the route plane and records what the server tells it.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/wsk-route/wsk-route/action-proxy/route"
	"github.com/wsk-route/wsk-route/action-proxy/server"
	"github.com/wsk-route/wsk-route/internal/whisk"
)

// fakeRouter records the calls of the server.
type fakeRouter struct {
	mu     sync.Mutex // guards the fields below
	claims []route.Identity
	ids    []route.Identity
	unregs []string
	runs   []fakeRun
	// fallbacks are the envelopes RunFallback got.
	fallbacks []string
	// result and err are what StartRun answers.
	result *route.Result
	err    error
	// slots is what Slots answers; 0: 1.
	slots int
}

func (r *fakeRouter) Slots() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return max(r.slots, 1)
}

func (r *fakeRouter) setSlots(n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.slots = n
}

// fakeRun is one StartRun call.
type fakeRun struct {
	workflow string
	input    string
	deadline time.Time
}

func (r *fakeRouter) StartRun(ctx context.Context, workflow string, input []byte, opts route.RunOptions) (*route.Result, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	d, _ := ctx.Deadline()
	r.runs = append(r.runs, fakeRun{workflow: workflow, input: string(input), deadline: d})
	return r.result, r.err
}

func (r *fakeRouter) RunFallback(ctx context.Context, value []byte, activationID string, call func(ctx context.Context, body io.Reader) ([]byte, error)) ([]byte, error) {
	r.mu.Lock()
	r.fallbacks = append(r.fallbacks, string(value))
	r.mu.Unlock()
	result, err := call(ctx, strings.NewReader(`{"value":{"from":"fallback"},"activation_id":"`+activationID+`"}`))
	if err != nil {
		return nil, err
	}
	return []byte(`{"fallback-result":` + string(result) + `}`), nil
}

func (r *fakeRouter) startedRuns() []fakeRun {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]fakeRun(nil), r.runs...)
}

var _ server.Router = (*fakeRouter)(nil)

func (r *fakeRouter) Claim(ctx context.Context, id route.Identity) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.claims = append(r.claims, id)
	return nil
}

func (r *fakeRouter) Identify(id route.Identity) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ids = append(r.ids, id)
}

func (r *fakeRouter) Unregister(reason string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.unregs = append(r.unregs, reason)
}

func (r *fakeRouter) identities() []route.Identity {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]route.Identity(nil), r.ids...)
}

func (r *fakeRouter) unregistered() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.unregs...)
}

// routeHarness is a harness whose Proxy runs in route mode.
func routeHarness(t *testing.T, edit func(*server.Config)) (*harness, *fakeRouter) {
	t.Helper()
	h := newHarness(t, edit)
	r := &fakeRouter{}
	if err := h.proxy.EnableRoute(r); err != nil {
		t.Fatalf("EnableRoute: %v", err)
	}
	return h, r
}

// Test actions, /bin/sh only. Each numbers its activations.
const (
	// printAction logs "stdout <n>" and "stderr <n>", returns {"n":<n>}.
	printAction = `#!/bin/sh
n=0
while read line; do
  n=$((n+1))
  echo "stdout $n"
  echo "stderr $n" >&2
  echo "{\"n\":$n}" >&3
done
`
	// blockAction prints "started <n>" and, when the request mentions
	// "block", waits for a line on the fifo $BLOCK_FIFO before answering.
	blockAction = `#!/bin/sh
n=0
while read line; do
  n=$((n+1))
  echo "started $n"
  case "$line" in
  *block*) read go < "$BLOCK_FIFO" ;;
  esac
  echo "{\"n\":$n}" >&3
done
`
	// silentAction logs its pid and never answers.
	silentAction = `#!/bin/sh
while read line; do
  echo "pid $$"
  echo "working" >&2
done
`
	// numberAction answers 42, which is not a dictionary.
	numberAction = `#!/bin/sh
while read line; do echo 42 >&3; done
`
	// exitAction exits during its first activation.
	exitAction = `#!/bin/sh
read line
echo "bye" >&2
exit 3
`
)

// initScript initialises h with a /bin/sh script and an init env.
func initScript(t *testing.T, h *harness, script string, env map[string]any) {
	t.Helper()
	h.mustInit(t, initPayload(script, "main", env, false))
}

// streamFile returns what the proxy wrote so far to f.
func streamFile(t *testing.T, f *os.File) string {
	t.Helper()
	return readFile(t, f.Name())
}

// reserve requires TryReserve to succeed.
func reserve(t *testing.T, h *harness) route.Reservation {
	t.Helper()
	res, ok := h.proxy.TryReserve(context.Background())
	if !ok || res == nil {
		t.Fatalf("TryReserve = %v, %v; want a reservation", res, ok)
	}
	return res
}

// directRun reserves the action and runs body on it, within a generous
// deadline.
func directRun(t *testing.T, h *harness, body string) (result, logs string, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), hangTimeout)
	defer cancel()
	r, logsOf, err := reserve(t, h).Run(ctx, strings.NewReader(body))
	return string(r), logText(t, logsOf()), err
}

// logText checks that a direct run's logs are OpenWhisk's log lines, and
// returns what they say (whisk.LogText: "stderr: " marks stderr), a line
// each.
func logText(t *testing.T, logs []byte) string {
	t.Helper()
	var b strings.Builder
	for _, line := range strings.SplitAfter(string(logs), "\n") {
		if line == "" {
			continue
		}
		if _, _, _, ok := whisk.ParseLogLine(strings.TrimSuffix(line, "\n")); !ok || !strings.HasSuffix(line, "\n") {
			t.Errorf("log line %q is not OpenWhisk's \"<time> <stream>: <text>\"", line)
		}
		b.WriteString(whisk.LogText(strings.TrimSuffix(line, "\n")) + "\n")
	}
	return b.String()
}

func TestRouteIdentifyFromInitEnv(t *testing.T) {
	h, r := routeHarness(t, nil)
	initScript(t, h, printAction, map[string]any{
		"__OW_NAMESPACE":      "guest",
		"__OW_ACTION_NAME":    "/guest/pkg/a",
		"__OW_ACTION_VERSION": "0.0.2",
		"__OW_API_KEY":        "uuid:key",
	})
	want := route.Identity{Namespace: "guest", Action: "/guest/pkg/a", Version: "0.0.2", APIKey: "uuid:key"}
	if got := r.identities(); len(got) != 1 || got[0] != want {
		t.Errorf("Identify calls after /init: %+v, want exactly [%+v]", got, want)
	}
	r.mu.Lock()
	claims := append([]route.Identity(nil), r.claims...)
	r.mu.Unlock()
	if len(claims) != 1 || claims[0] != want {
		t.Errorf("Claim calls during /init: %+v, want exactly [%+v] (before the action started)", claims, want)
	}
}

func TestRouteIdentifyFromRunFields(t *testing.T) {
	h, r := routeHarness(t, nil)
	initScript(t, h, printAction, nil)
	if got := r.identities(); len(got) != 0 {
		t.Errorf("Identify calls after an /init without identity: %+v, want none", got)
	}
	wantResult(t, "run", h.run(t, runPayload(map[string]any{}, map[string]string{
		"namespace": "guest", "action_name": "/guest/a", "action_version": "0.0.1", "api_key": "uuid:key",
		"activation_id": "0123", "deadline": strconv.FormatInt(time.Now().Add(time.Minute).UnixMilli(), 10),
	})), `{"n":1}`+"\n")
	want := route.Identity{Namespace: "guest", Action: "/guest/a", Version: "0.0.1", APIKey: "uuid:key"}
	if got := r.identities(); len(got) != 1 || got[0] != want {
		t.Errorf("Identify calls after /run: %+v, want exactly [%+v]", got, want)
	}
}

func TestRouteInvokerRunLogsBeforeSentinels(t *testing.T) {
	// The action's output crosses the log multiplexers' pipes; each /run
	// must drain them before writing its sentinels.
	h, _ := routeHarness(t, nil)
	initScript(t, h, printAction, nil)
	var wantOut, wantErr strings.Builder
	for i := 1; i <= 20; i++ {
		wantResult(t, fmt.Sprintf("run %d", i), h.run(t, runPayload(map[string]any{"i": i}, nil)), fmt.Sprintf(`{"n":%d}`+"\n", i))
		fmt.Fprintf(&wantOut, "stdout %d\n%s\n", i, sentinel)
		fmt.Fprintf(&wantErr, "stderr %d\n%s\n", i, sentinel)
		h.checkStreams(t, i)
		if got := streamFile(t, h.stdout); got != wantOut.String() {
			t.Fatalf("after run %d, stdout is\n%s\nwant\n%s", i, got, wantOut.String())
		}
		if got := streamFile(t, h.stderr); got != wantErr.String() {
			t.Fatalf("after run %d, stderr is\n%s\nwant\n%s", i, got, wantErr.String())
		}
	}
}

func TestRouteDirectRunCapturesLogs(t *testing.T) {
	h, r := routeHarness(t, nil)
	if res, ok := h.proxy.TryReserve(context.Background()); ok || res != nil {
		t.Errorf("TryReserve before /init = %v, %v; want nil, false", res, ok)
	}
	initScript(t, h, printAction, nil)
	n := 0
	var wantOut, wantErr strings.Builder
	invoker := func() {
		t.Helper()
		n++
		wantResult(t, fmt.Sprintf("invoker run %d", n), h.run(t, runPayload(map[string]any{}, nil)), fmt.Sprintf(`{"n":%d}`+"\n", n))
		fmt.Fprintf(&wantOut, "stdout %d\n%s\n", n, sentinel)
		fmt.Fprintf(&wantErr, "stderr %d\n%s\n", n, sentinel)
	}
	checkStreams := func(what string) {
		t.Helper()
		if got := streamFile(t, h.stdout); got != wantOut.String() {
			t.Fatalf("%s: stdout is\n%s\nwant\n%s", what, got, wantOut.String())
		}
		if got := streamFile(t, h.stderr); got != wantErr.String() {
			t.Fatalf("%s: stderr is\n%s\nwant\n%s", what, got, wantErr.String())
		}
	}

	invoker()
	for round := 0; round < 5; round++ {
		for direct := 0; direct < 2; direct++ {
			n++
			result, logs, err := directRun(t, h, `{"value":{},"activation_id":"d"}`)
			if err != nil {
				t.Fatalf("direct run %d: %v", n, err)
			}
			if want := fmt.Sprintf(`{"n":%d}`, n); result != want {
				t.Errorf("direct run %d: result %q, want %q", n, result, want)
			}
			// Both streams go to one buffer, in no fixed order, each
			// line named after its stream.
			outLine, errLine := fmt.Sprintf("stdout %d\n", n), fmt.Sprintf("stderr: stderr %d\n", n)
			if logs != outLine+errLine && logs != errLine+outLine {
				t.Errorf("direct run %d: logs %q, want %q and %q", n, logs, outLine, errLine)
			}
			// Nothing of a direct run reaches the invoker's streams, and
			// no sentinel is written for it.
			checkStreams(fmt.Sprintf("after direct run %d", n))
		}
		invoker()
		checkStreams(fmt.Sprintf("after invoker run %d", n))
	}
	h.checkStreams(t, 6)
	if got := r.unregistered(); len(got) != 0 {
		t.Errorf("Unregister calls: %q, want none", got)
	}
}

func TestRouteInvokerHasPriority(t *testing.T) {
	tests := []struct {
		name string
		edit func(*server.Config)
	}{
		{"one process", nil},
		// With room for a second process, only the invoker's priority
		// refuses the reservation.
		{"concurrent pool", func(c *server.Config) { c.AllowConcurrent = true; c.MaxConcurrent = 2 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, _ := routeHarness(t, tt.edit)
			fifo, release := blockFifo(t)
			initScript(t, h, blockAction, map[string]any{"BLOCK_FIFO": fifo})

			answered := make(chan response, 1)
			go func() {
				got, err := h.tryPost(context.Background(), t, "/run", runPayload(map[string]any{"block": true}, nil))
				if err != nil {
					t.Errorf("invoker run: %v", err)
				}
				answered <- got
			}()
			h.waitForStream(t, h.stdout, "started 1")
			if res, ok := h.proxy.TryReserve(context.Background()); ok || res != nil {
				t.Fatalf("TryReserve during an invoker /run = %v, %v; want nil, false", res, ok)
			}
			if _, err := release.WriteString("go\n"); err != nil {
				t.Fatal(err)
			}
			wantResult(t, "invoker run", <-answered, `{"n":1}`+"\n")

			var res route.Reservation
			poll(t, "a reservation after the invoker /run", func() bool {
				var ok bool
				res, ok = h.proxy.TryReserve(context.Background())
				return ok
			})
			ctx, cancel := context.WithTimeout(context.Background(), hangTimeout)
			defer cancel()
			result, logsOf, err := res.Run(ctx, strings.NewReader(`{"value":{}}`))
			logs := logsOf()
			if err != nil || string(result) != `{"n":2}` {
				t.Errorf("direct run after the invoker's: %q, %v; want {\"n\":2}", result, err)
			}
			if logText(t, logs) != "started 2\n" {
				t.Errorf("direct run logs %q, want %q", logs, "started 2\n")
			}
			if out, _ := h.checkStreams(t, 1); out != "started 1\n" {
				t.Errorf("stdout without sentinels: %q, want %q", out, "started 1\n")
			}
		})
	}
}

func TestRouteDirectRunDeadline(t *testing.T) {
	requireProc(t)
	h, r := routeHarness(t, nil)
	initScript(t, h, silentAction, nil)
	res := reserve(t, h)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	result, logsOf, err := res.Run(ctx, strings.NewReader(`{"value":{}}`))
	logs := logsOf()
	if err == nil || result != nil {
		t.Fatalf("Run past its deadline: %q, %v; want an error", result, err)
	}
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "deadline") {
		t.Errorf("Run past its deadline: error %q, want one wrapping context.DeadlineExceeded and naming the deadline", err)
	}
	// Both streams go to one buffer, in no fixed order.
	var pid int
	_, after, _ := strings.Cut(string(logs), "pid ")
	if _, scanErr := fmt.Sscanf(after, "%d\n", &pid); scanErr != nil || !strings.Contains(string(logs), "working\n") {
		t.Fatalf("logs %q, want the action's \"pid <n>\" and \"working\" (%v)", logs, scanErr)
	}
	poll(t, "the action to be killed", func() bool { return processGone(pid) })
	if got := r.unregistered(); len(got) != 1 {
		t.Errorf("Unregister calls: %q, want one (the action is gone)", got)
	}
	if res, ok := h.proxy.TryReserve(context.Background()); ok || res != nil {
		t.Errorf("TryReserve after the action was killed = %v, %v; want nil, false", res, ok)
	}
	h.checkStreams(t, 0)
}

func TestRouteDirectRunFailures(t *testing.T) {
	tests := []struct {
		name       string
		script     string
		wantErr    string
		wantLogs   string
		unregister bool
	}{
		{"not a dictionary", numberAction, "The action did not return a dictionary or array.", "", false},
		{"exits during the run", exitAction, "command exited", "stderr: bye\n", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, r := routeHarness(t, nil)
			initScript(t, h, tt.script, nil)
			result, logs, err := directRun(t, h, `{"value":{}}`)
			if err == nil || err.Error() != tt.wantErr || result != "" {
				t.Errorf("Run: %q, %v; want error %q", result, err, tt.wantErr)
			}
			if logs != tt.wantLogs {
				t.Errorf("Run logs %q, want %q", logs, tt.wantLogs)
			}
			if got := r.unregistered(); (len(got) == 1) != tt.unregister || len(got) > 1 {
				t.Errorf("Unregister calls: %q, want %d", got, map[bool]int{false: 0, true: 1}[tt.unregister])
			}
			h.checkStreams(t, 0)
		})
	}
}

func TestStockModeTryReserve(t *testing.T) {
	h := newHarness(t, nil)
	initScript(t, h, printAction, nil)
	if res, ok := h.proxy.TryReserve(context.Background()); ok || res != nil {
		t.Errorf("TryReserve without EnableRoute = %v, %v; want nil, false", res, ok)
	}
	wantResult(t, "run", h.run(t, runPayload(map[string]any{}, nil)), `{"n":1}`+"\n")
	if out, errs := h.checkStreams(t, 1); out != "stdout 1\n" || errs != "stderr 1\n" {
		t.Errorf("stock streams: %q, %q", out, errs)
	}
}

func TestRouteInvokerWaitingForDirectRunKeepsItsLogs(t *testing.T) {
	// An invoker /run that waited for a direct run gets the action the
	// moment the direct run releases it: the direct run's log capture
	// must have ended by then, or the invoker activation's first lines
	// land in the direct run's logs. With a pool of two processes the
	// invoker /run could have a process of its own at once; it waits for
	// the direct run all the same, since both share the log multiplexers.
	for _, size := range []int{1, 2} {
		t.Run(fmt.Sprintf("pool of %d", size), func(t *testing.T) {
			testInvokerWaitingForDirectRun(t, size)
		})
	}
}

func testInvokerWaitingForDirectRun(t *testing.T, poolSize int) {
	h, _ := routeHarness(t, func(c *server.Config) {
		if poolSize > 1 {
			c.AllowConcurrent, c.MaxConcurrent = true, poolSize
		}
	})
	fifo, release := blockFifo(t)
	initScript(t, h, blockAction, map[string]any{"BLOCK_FIFO": fifo})

	var wantOut strings.Builder
	for n := 1; n <= 40; n += 2 {
		res := reserve(t, h)
		type outcome struct {
			result, logs []byte
			err          error
		}
		direct := make(chan outcome, 1)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), hangTimeout)
			defer cancel()
			r, logs, err := res.Run(ctx, strings.NewReader(`{"value":{"block":true}}`))
			l := logs()
			direct <- outcome{r, l, err}
		}()
		answered := make(chan response, 1)
		go func() {
			got, err := h.tryPost(context.Background(), t, "/run", runPayload(map[string]any{}, nil))
			if err != nil {
				t.Errorf("invoker run: %v", err)
			}
			answered <- got
		}()
		poll(t, "the invoker /run to wait", func() bool { return h.proxy.InvokerWaiting() == 1 })
		if _, err := release.WriteString("go\n"); err != nil {
			t.Fatal(err)
		}
		d, got := <-direct, <-answered
		if d.err != nil || string(d.result) != fmt.Sprintf(`{"n":%d}`, n) {
			t.Errorf("direct run %d: %q, %v", n, d.result, d.err)
			break
		}
		if want := fmt.Sprintf("started %d\n", n); logText(t, d.logs) != want {
			t.Errorf("direct run %d: logs %q, want %q", n, d.logs, want)
			break
		}
		wantResult(t, "invoker run", got, fmt.Sprintf(`{"n":%d}`+"\n", n+1))
		fmt.Fprintf(&wantOut, "started %d\n%s\n", n+1, sentinel)
		if got := streamFile(t, h.stdout); got != wantOut.String() {
			t.Errorf("after invoker run %d, stdout is\n%s\nwant\n%s", n+1, got, wantOut.String())
			break
		}
	}
}

func TestRouteOverlappingDirectRunsKeepTheirLogs(t *testing.T) {
	// With a pool of two processes, both write to the same log
	// multiplexers: two direct runs at once must not take each other's
	// logs (the second may be refused instead). The agent has not said
	// that the action runs several at once (Slots is 1): a deployment
	// that allows concurrency gives every container a pool.
	h, _ := routeHarness(t, func(c *server.Config) { c.AllowConcurrent = true; c.MaxConcurrent = 2 })
	fifo, release := blockFifo(t)
	// The action logs after it was unblocked, while the other run may
	// still be in progress.
	initScript(t, h, pidAction, map[string]any{"BLOCK_FIFO": fifo})
	check := func(what string, o directOutcome) {
		t.Helper()
		var pid int
		if _, err := fmt.Sscanf(string(o.result), `{"pid":%d}`, &pid); o.err != nil || err != nil {
			t.Errorf("%s: %q, %v", what, o.result, o.err)
			return
		}
		if want := fmt.Sprintf("pid %d\n", pid); logText(t, o.logs) != want {
			t.Errorf("%s: logs %q, want its own %q", what, o.logs, want)
		}
	}
	for i := 0; i < 10; i++ {
		first := runReserved(reserve(t, h))
		second, ok := h.proxy.TryReserve(context.Background())
		var other <-chan directOutcome
		if ok {
			other = runReserved(second)
		}
		// Unblock both: they log at the same time.
		release.WriteString("go\n")
		if ok {
			release.WriteString("go\n")
		}
		check("first direct run", <-first)
		if ok {
			check("overlapping direct run", <-other)
		}
	}
	h.checkStreams(t, 0)
}

// pidAction waits for a line on the fifo $BLOCK_FIFO, then logs and
// returns its process id.
const pidAction = `#!/bin/sh
while read line; do
  read go < "$BLOCK_FIFO"
  echo "pid $$"
  echo "{\"pid\":$$}" >&3
done
`

// directOutcome is what a direct run gave: its result, logs and error.
type directOutcome struct {
	result, logs []byte
	err          error
}

// runReserved runs res in a goroutine and hands its outcome, logs
// included, to the channel it returns.
func runReserved(res route.Reservation) <-chan directOutcome {
	done := make(chan directOutcome, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), hangTimeout)
		defer cancel()
		r, logs, err := res.Run(ctx, strings.NewReader(`{"value":{}}`))
		done <- directOutcome{r, logs(), err}
	}()
	return done
}

// blockFifo makes a fifo for blockAction and holds it open read-write
// until the test ends: it keeps what is written to it (release) until the
// action opens and reads it, and opening it never blocks.
func blockFifo(t *testing.T) (path string, release *os.File) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
	release, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { release.Close() })
	return path, release
}

// An action that runs several activations at once (the agent's Slots, 2
// here, with a pool of 4 processes) takes as many direct runs at once as
// OpenWhisk would give it concurrent activations: each on a process of
// its own, a third refused while two run, none while an invoker /run
// waits for a slot (the invoker comes first, and the slots bound both
// together), and their logs say that the output of concurrent runs is
// not captured per run (it goes to the proxy's streams, as that of
// concurrent invoker activations does).
func TestRouteConcurrentDirectRuns(t *testing.T) {
	h, router := routeHarness(t, func(c *server.Config) { c.AllowConcurrent = true; c.MaxConcurrent = 4 })
	router.setSlots(2)
	fifo, release := blockFifo(t)
	initScript(t, h, pidAction, map[string]any{"BLOCK_FIFO": fifo})
	pidOf := func(what string, o directOutcome) int {
		t.Helper()
		var pid int
		if _, err := fmt.Sscanf(string(o.result), `{"pid":%d}`, &pid); o.err != nil || err != nil {
			t.Fatalf("%s: %q, %v", what, o.result, o.err)
		}
		if got := logText(t, o.logs); !strings.Contains(got, "logs are not captured per activation") {
			t.Errorf("%s: logs %q, want the note that they are not captured", what, got)
		}
		return pid
	}
	refused := func(when string) {
		t.Helper()
		if res, ok := h.proxy.TryReserve(context.Background()); ok || res != nil {
			res.Release()
			t.Fatalf("TryReserve %s = %v, %v; want nil, false", when, res, ok)
		}
	}

	first, second := runReserved(reserve(t, h)), runReserved(reserve(t, h))
	refused("with both slots taken by direct runs")
	// An invoker /run waits for a slot: no direct run takes the one that
	// frees first.
	answered := make(chan response, 1)
	go func() {
		got, err := h.tryPost(context.Background(), t, "/run", runPayload(map[string]any{}, nil))
		if err != nil {
			t.Errorf("invoker run: %v", err)
		}
		answered <- got
	}()
	poll(t, "the invoker /run to wait for a slot", func() bool { _, _, w := h.proxy.SlotCounts(); return w == 1 })
	release.WriteString("go\n")
	var done []directOutcome
	select {
	case o := <-first:
		done = append(done, o)
	case o := <-second:
		done = append(done, o)
	}
	poll(t, "the invoker /run to take the freed slot", func() bool { _, inv, w := h.proxy.SlotCounts(); return inv == 1 && w == 0 })
	refused("with a direct run and the invoker /run in the two slots")
	release.WriteString("go\n") // the other direct run, or the invoker's
	release.WriteString("go\n")
	for len(done) < 2 {
		select {
		case o := <-first:
			done = append(done, o)
		case o := <-second:
			done = append(done, o)
		}
	}
	if a, b := pidOf("a direct run", done[0]), pidOf("the other direct run", done[1]); a == b {
		t.Errorf("both direct runs ran on process %d, want one each", a)
	}
	if got := <-answered; got.status != 200 {
		t.Errorf("invoker run: %+v", got)
	}
	poll(t, "every slot to be free", func() bool { d, inv, w := h.proxy.SlotCounts(); return d+inv+w == 0 })
	// Room again: two direct runs at once.
	third, fourth := runReserved(reserve(t, h)), runReserved(reserve(t, h))
	release.WriteString("go\n")
	release.WriteString("go\n")
	pidOf("a third direct run", <-third)
	pidOf("a fourth direct run", <-fourth)
}
