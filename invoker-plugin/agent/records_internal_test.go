package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wsk-route/wsk-route/internal/agentproto"
	"github.com/wsk-route/wsk-route/internal/routetable"
	"github.com/wsk-route/wsk-route/internal/whisk"
)

func TestStepActivation(t *testing.T) {
	id, cause := strings.Repeat("1a", 16), strings.Repeat("2b", 16)
	inst := routetable.Instance{ID: "h/c1", Namespace: "guest", Action: "/guest/tools/upper", Version: "0.0.3"}
	m := &agentproto.Activation{ActivationID: id, Cause: cause, Start: 1000, End: 1012, StatusCode: 1,
		Result: json.RawMessage(`{"error":"no"}`), Logs: []string{"T stdout: hi"}, Workflow: "wf", Step: "s1", Branch: 3}
	a := stepActivation(inst, m)
	if a.Namespace != "guest" || a.Name != "upper" || a.Subject != "guest" || a.ActivationID != id || a.Cause != cause ||
		a.Start != 1000 || a.End != 1012 || a.Duration != 12 || a.Version != "0.0.3" || a.Response.StatusCode != 1 ||
		string(a.Response.Result) != `{"error":"no"}` || len(a.Logs) != 1 {
		t.Errorf("record %+v", a)
	}
	want := map[string]string{"path": `"guest/tools/upper"`, "timeout": `false`, "causedBy": `"sequence"`, "waitTime": `0`, "wsk-route": `{"branch":3,"step":"s1","workflow":"wf"}`}
	for k, v := range want {
		if got, ok := a.Annotations.Get(k); !ok || string(got) != v {
			t.Errorf("annotation %s = %s, want %s", k, got, v)
		}
	}
	// A step stopped at its run's deadline is a timeout, as OpenWhisk says.
	m.Timeout = true
	if got, _ := stepActivation(inst, m).Annotations.Get("timeout"); string(got) != "true" {
		t.Errorf("timeout annotation %s for a step stopped at its deadline, want true", got)
	}
	// No result: {} as the invoker records an empty one; no version: OpenWhisk's default.
	m.Result = nil
	inst.Version = ""
	if a := stepActivation(inst, m); string(a.Response.Result) != `{}` || a.Version != "0.0.1" {
		t.Errorf("result %s version %s", a.Response.Result, a.Version)
	}
}

type fakeActivations struct {
	mu      sync.Mutex
	got     []string
	written []whisk.Activation
	fail    bool
}

func (f *fakeActivations) PutActivation(ctx context.Context, a whisk.Activation) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail {
		return errors.New("refused")
	}
	f.got = append(f.got, a.ActivationID)
	f.written = append(f.written, a)
	return nil
}

// TestRecordWriterDrains: the records queued when the agent stops are
// still written; without a store they are dropped and counted.
func TestRecordWriterDrains(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	st := &fakeActivations{}
	w := newRecordWriter(st, log)
	for i := 0; i < 5; i++ {
		w.add(queuedRecord{rec: whisk.Activation{ActivationID: string(rune('a' + i))}})
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := w.run(ctx); err != nil {
		t.Fatal(err)
	}
	if strings.Join(st.got, "") != "abcde" || w.written.Load() != 5 {
		t.Errorf("written %q (%d), want all five in order", st.got, w.written.Load())
	}
	none := newRecordWriter(nil, log)
	none.add(queuedRecord{rec: whisk.Activation{ActivationID: "x"}})
	if none.dropped.Load() != 1 {
		t.Errorf("dropped %d without a store, want 1", none.dropped.Load())
	}
	failing := newRecordWriter(&fakeActivations{fail: true}, log)
	failing.add(queuedRecord{rec: whisk.Activation{ActivationID: "y"}})
	failing.run(ctx)
	if failing.failed.Load() != 1 {
		t.Errorf("failed %d, want 1", failing.failed.Load())
	}
}

func TestWithinLogLimit(t *testing.T) {
	end := time.UnixMilli(1_700_000_000_000)
	lines := []string{
		"2026-12-07T12:00:00.1Z stdout: 0123456789",
		"2026-12-07T12:00:00.2Z stderr: 0123456789",
		"not a log line",
	}
	for _, tc := range []struct {
		name  string
		limit int
		want  []string
	}{
		{"all fit", 100, lines},
		{"exactly", 34, lines},
		{"cut after the first", 15, []string{lines[0], "2026-12-07T12:00:00.2Z stderr: " + whisk.LogsTruncatedMessage(15)}},
		{"a line without a time is cut at the end", 25, []string{lines[0], lines[1], whisk.LogLine(end, "stderr", whisk.LogsTruncatedMessage(25))}},
		{"limit 0 keeps none", 0, []string{"2026-12-07T12:00:00.1Z stderr: " + whisk.LogsTruncatedMessage(0)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := slices.Clone(lines)
			if got := withinLogLimit(in, tc.limit, end); !slices.Equal(got, tc.want) {
				t.Errorf("got %q\nwant %q", got, tc.want)
			}
			if !slices.Equal(in, lines) {
				t.Errorf("the logs given changed: %q", in)
			}
		})
	}
}

func TestWithAction(t *testing.T) {
	inst := routetable.Instance{ID: "h/c1", Namespace: "guest", Action: "/guest/upper", Version: "0.0.1"}
	m := &agentproto.Activation{ActivationID: strings.Repeat("1a", 16), Start: 1, End: 2, Workflow: "wf", Step: "s1"}
	tests := []struct {
		name string
		info actionInfo
		want string // the annotations' JSON
	}{
		{"known action", actionInfo{known: true, kind: "python:3", limits: whisk.Limits{Timeout: 60000, Memory: 256, Logs: 10, Concurrency: 1}},
			`[{"key":"path","value":"guest/upper"},{"key":"kind","value":"python:3"},` +
				`{"key":"limits","value":{"timeout":60000,"memory":256,"logs":10,"concurrency":1}},` +
				`{"key":"timeout","value":false},{"key":"causedBy","value":"sequence"},{"key":"waitTime","value":0},` +
				`{"key":"wsk-route","value":{"branch":0,"step":"s1","workflow":"wf"}}]`},
		{"log limit 0", actionInfo{known: true, kind: "blackbox", limits: whisk.Limits{Timeout: 100, Memory: 128, Concurrency: 1}},
			`[{"key":"path","value":"guest/upper"},{"key":"kind","value":"blackbox"},` +
				`{"key":"limits","value":{"timeout":100,"memory":128,"logs":0,"concurrency":1}},` +
				`{"key":"timeout","value":false},{"key":"causedBy","value":"sequence"},{"key":"waitTime","value":0},` +
				`{"key":"wsk-route","value":{"branch":0,"step":"s1","workflow":"wf"}}]`},
		{"an instances limit", actionInfo{known: true, kind: "go:1.22", limits: whisk.Limits{Timeout: 60000, Memory: 256, Logs: 10, Concurrency: 4, Instances: 2}},
			`[{"key":"path","value":"guest/upper"},{"key":"kind","value":"go:1.22"},` +
				`{"key":"limits","value":{"timeout":60000,"memory":256,"logs":10,"concurrency":4,"instances":2}},` +
				`{"key":"timeout","value":false},{"key":"causedBy","value":"sequence"},{"key":"waitTime","value":0},` +
				`{"key":"wsk-route","value":{"branch":0,"step":"s1","workflow":"wf"}}]`},
		{"unknown action", actionInfo{},
			`[{"key":"path","value":"guest/upper"},{"key":"timeout","value":false},{"key":"causedBy","value":"sequence"},{"key":"waitTime","value":0},` +
				`{"key":"wsk-route","value":{"branch":0,"step":"s1","workflow":"wf"}}]`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := stepActivation(inst, m)
			before := slices.Clone(rec.Annotations)
			shared := rec.Annotations
			withAction(&rec, tc.info)
			got, err := json.Marshal(rec.Annotations)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("annotations\ngot  %s\nwant %s", got, tc.want)
			}
			if !slices.EqualFunc(shared, before, func(a, b whisk.KeyValue) bool { return a.Key == b.Key && string(a.Value) == string(b.Value) }) {
				t.Errorf("withAction changed the annotations it was given: %v, was %v", shared, before)
			}
		})
	}
}

// fakeCatalog answers lookups from actions, keyed by action, and counts
// them; an action it does not hold fails.
type fakeCatalog struct {
	mu        sync.Mutex
	actions   map[string]actionInfo
	lookups   map[string]int
	deadlines []time.Duration // how long each lookup's ctx had
}

func (f *fakeCatalog) LookupAction(ctx context.Context, namespace, action, version string) (string, whisk.Limits, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.lookups == nil {
		f.lookups = map[string]int{}
	}
	f.lookups[action]++
	if d, ok := ctx.Deadline(); ok {
		f.deadlines = append(f.deadlines, time.Until(d))
	}
	info, ok := f.actions[action]
	if !ok {
		return "", whisk.Limits{}, errors.New("no such action")
	}
	return info.kind, info.limits, nil
}

func (f *fakeCatalog) count(action string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lookups[action]
}

func (f *fakeCatalog) set(action string, info actionInfo) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.actions == nil {
		f.actions = map[string]actionInfo{}
	}
	f.actions[action] = info
}

// TestActionCache steps a clock through a cache's answers: a known
// action is looked up once; a failing one is unknown until its retry
// time, which doubles with each failure up to lookupRetryMax; an answer
// without a kind is a failure; the cache keeps at most actionCacheSize
// action versions.
func TestActionCache(t *testing.T) {
	py := actionInfo{known: true, kind: "python:3", limits: whisk.Limits{Timeout: 60000, Memory: 256, Logs: 10, Concurrency: 1}}
	cat := &fakeCatalog{}
	cat.set("/guest/py", py)
	cat.set("/guest/nokind", actionInfo{limits: py.limits})
	c := newActionCache(cat, slog.New(slog.DiscardHandler))
	now := time.Unix(1700000000, 0)
	c.now = func() time.Time { return now }
	ctx := context.Background()
	key := func(action string) actionKey { return actionKey{"guest", action, "0.0.1"} }

	if _, final := c.cached(key("/guest/py")); final {
		t.Error("cached: an action never looked up is final")
	}
	for i := range 3 {
		if got := c.resolve(ctx, key("/guest/py")); got != py {
			t.Errorf("resolve %d = %+v, want %+v", i, got, py)
		}
	}
	if got, final := c.cached(key("/guest/py")); !final || got != py {
		t.Errorf("cached = %+v, %v; want %+v, true", got, final, py)
	}
	if n := cat.count("/guest/py"); n != 1 {
		t.Errorf("%d lookups of a known action, want 1", n)
	}
	if len(cat.deadlines) != 1 || cat.deadlines[0] > lookupTimeout || cat.deadlines[0] < lookupTimeout/2 {
		t.Errorf("the lookup's deadlines %v, want about lookupTimeout (%v)", cat.deadlines, lookupTimeout)
	}

	// A failing action: retried after lookupRetry, then twice as long, ...
	gone := key("/guest/gone")
	wait := lookupRetry
	for i := 1; i <= 8; i++ {
		if got := c.resolve(ctx, gone); got.known {
			t.Fatalf("failure %d: resolve = %+v, want unknown", i, got)
		}
		if n := cat.count("/guest/gone"); n != i {
			t.Fatalf("failure %d: %d lookups, want %d", i, n, i)
		}
		now = now.Add(wait - time.Second)
		if got, final := c.cached(gone); !final || got.known {
			t.Fatalf("failure %d, %v later: cached = %+v, %v; want unknown, final until the retry", i, wait-time.Second, got, final)
		}
		c.resolve(ctx, gone) // no lookup before the retry time
		if n := cat.count("/guest/gone"); n != i {
			t.Fatalf("failure %d: %d lookups before the retry time, want %d", i, n, i)
		}
		now = now.Add(time.Second)
		if _, final := c.cached(gone); final {
			t.Fatalf("failure %d: not due for a lookup after %v", i, wait)
		}
		wait = min(2*wait, lookupRetryMax)
	}
	if wait != lookupRetryMax {
		t.Errorf("the retry wait grew to %v, want capped at %v", wait, lookupRetryMax)
	}
	// It appears: the next lookup finds it.
	cat.set("/guest/gone", py)
	if got := c.resolve(ctx, gone); got != py {
		t.Errorf("resolve after it appeared = %+v, want %+v", got, py)
	}
	if got := c.resolve(ctx, key("/guest/nokind")); got.known {
		t.Errorf("resolve of an action without a kind = %+v, want unknown", got)
	}
	if n := c.failures.Load(); n != 9 {
		t.Errorf("%d failures counted, want 9 (8 of gone, 1 of nokind)", n)
	}
	// Versions are looked up apart.
	c.resolve(ctx, actionKey{"guest", "/guest/py", "0.0.2"})
	if n := cat.count("/guest/py"); n != 2 {
		t.Errorf("%d lookups of two versions, want 2", n)
	}

	for i := range actionCacheSize + 10 {
		c.resolve(ctx, actionKey{"guest", "/guest/py", fmt.Sprintf("1.0.%d", i)})
	}
	c.mu.Lock()
	n := len(c.entries)
	c.mu.Unlock()
	if n != actionCacheSize {
		t.Errorf("the cache holds %d action versions, want at most %d", n, actionCacheSize)
	}
}

// catalogActivations is an activation store that is also a catalog.
type catalogActivations struct {
	*fakeActivations
	*fakeCatalog
}

// TestRecordWriterLooksUp: records queued without their action's kind and
// limits get them from the writer, one lookup per action version; a
// failed lookup leaves them without, and is counted.
func TestRecordWriterLooksUp(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	py := actionInfo{known: true, kind: "python:3", limits: whisk.Limits{Timeout: 60000, Memory: 256, Logs: 10, Concurrency: 1}}
	cat := &fakeCatalog{}
	cat.set("/guest/py", py)
	acts := &fakeActivations{}
	w := newRecordWriter(catalogActivations{acts, cat}, log)
	if w.actions == nil {
		t.Fatal("a store that is an ActionCatalog is not used as one")
	}
	if n := w.counts(); !n.LooksUpActions {
		t.Errorf("counts %+v, want LooksUpActions", n)
	}
	actions := []string{"/guest/py", "/guest/py", "/guest/gone", "/guest/py", "/guest/gone"}
	for i, action := range actions {
		inst := routetable.Instance{Namespace: "guest", Action: action, Version: "0.0.1"}
		rec := stepActivation(inst, &agentproto.Activation{ActivationID: strings.Repeat(string(rune('a'+i)), 32), Start: 1, End: 2})
		if _, final := w.action(inst); final {
			t.Fatalf("record %d: the cache is final before any lookup", i)
		}
		k := instanceAction(inst)
		w.add(queuedRecord{rec: rec, lookup: &k})
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := w.run(ctx); err != nil {
		t.Fatal(err)
	}
	if cat.count("/guest/py") != 1 || cat.count("/guest/gone") != 1 {
		t.Errorf("lookups %v, want one per action version", cat.lookups)
	}
	if n := w.counts(); n.Written != 5 || n.LookupFailures != 1 {
		t.Errorf("counts %+v, want 5 written, 1 lookup failure", n)
	}
	if info, final := w.action(routetable.Instance{Namespace: "guest", Action: "/guest/py", Version: "0.0.1"}); !final || info != py {
		t.Errorf("action after the writer looked it up = %+v, %v; want %+v, true", info, final, py)
	}
	if len(acts.written) != 5 {
		t.Fatalf("%d records written, want 5", len(acts.written))
	}
	for i, got := range acts.written {
		_, hasKind := got.Annotations.Get(whisk.AnnKind)
		_, hasLimits := got.Annotations.Get(whisk.AnnLimits)
		want := actions[i] == "/guest/py"
		if hasKind != want || hasLimits != want {
			t.Errorf("record %d (%s): kind %v, limits %v; want %v", i, actions[i], hasKind, hasLimits, want)
		}
	}
}
