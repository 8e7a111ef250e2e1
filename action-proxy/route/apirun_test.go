package route_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wsk-route/wsk-route/action-proxy/route"
	"github.com/wsk-route/wsk-route/internal/spec"
)

// fakeOpenWhisk serves the two calls of OpenWhisk's API an APIRouter
// makes: a blocking invoke for the result (200, or 502 with an action's
// {"error": ...}; 202 with the activation id for actions named "slow",
// whose result is then polled) and GET of an activation's result.
type fakeOpenWhisk struct {
	t       *testing.T
	actions map[string]func(params map[string]any) (any, error)

	mu      sync.Mutex
	calls   []string // action names, in invocation order
	n       int
	pending map[string]any // the results of "slow" activations, by id
	polls   int
}

func (o *fakeOpenWhisk) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if user, pass, _ := r.BasicAuth(); user+":"+pass != "u:k" {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if id, ok := strings.CutPrefix(r.URL.Path, "/api/v1/namespaces/_/activations/"); ok && r.Method == http.MethodGet {
		id = strings.TrimSuffix(id, "/result")
		o.mu.Lock()
		defer o.mu.Unlock()
		if o.polls++; o.polls%2 == 1 { // not yet
			w.WriteHeader(http.StatusNotFound)
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"result": o.pending[id], "success": true, "status": "success"})
		return
	}
	name, ok := strings.CutPrefix(r.URL.Path, "/api/v1/namespaces/ns/actions/")
	if !ok || r.Method != http.MethodPost || r.URL.RawQuery != "blocking=true&result=true" {
		o.t.Errorf("unexpected API call %s %s", r.Method, r.URL)
		w.WriteHeader(http.StatusNotFound)
		return
	}
	var params map[string]any
	if err := json.NewDecoder(r.Body).Decode(&params); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `{"error":"The request content was malformed"}`)
		return
	}
	fn := o.actions[name]
	if fn == nil {
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, `{"error":"The requested resource does not exist."}`)
		return
	}
	o.mu.Lock()
	o.calls = append(o.calls, name)
	o.n++
	id := fmt.Sprintf("%032x", o.n)
	o.mu.Unlock()
	w.Header().Set("x-openwhisk-activation-id", id)
	result, err := fn(params)
	if err != nil {
		w.WriteHeader(http.StatusBadGateway)
		json.NewEncoder(w).Encode(map[string]any{"error": err.Error()})
		return
	}
	if name == "slow" {
		o.mu.Lock()
		if o.pending == nil {
			o.pending = map[string]any{}
		}
		o.pending[id] = result
		o.mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
		json.NewEncoder(w).Encode(map[string]any{"activationId": id})
		return
	}
	json.NewEncoder(w).Encode(result)
}

func (o *fakeOpenWhisk) invoked() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]string(nil), o.calls...)
}

// A workflow on an entry without a host agent: every step is a blocking
// invoke through the OpenWhisk API, and the decisions are the route
// plane's (sequences, joins, maps, loops, switches, retries, catches).
func TestAPIRouter(t *testing.T) {
	num := func(p map[string]any, k string) float64 { f, _ := p[k].(float64); return f }
	flaky := 0
	var flakyMu sync.Mutex
	actions := map[string]func(map[string]any) (any, error){
		"inc":  func(p map[string]any) (any, error) { return map[string]any{"n": num(p, "n") + 1}, nil },
		"dbl":  func(p map[string]any) (any, error) { return map[string]any{"n": num(p, "n") * 2}, nil },
		"slow": func(p map[string]any) (any, error) { return map[string]any{"n": num(p, "n") + 100}, nil },
		"fail": func(map[string]any) (any, error) { return nil, errors.New("no luck") },
		"items": func(map[string]any) (any, error) {
			return map[string]any{"items": []any{map[string]any{"n": 1}, map[string]any{"n": 2}, map[string]any{"n": 3}}}, nil
		},
		"nums": func(map[string]any) (any, error) { return map[string]any{"items": []any{1, 2}}, nil },
		"flaky": func(p map[string]any) (any, error) {
			flakyMu.Lock()
			defer flakyMu.Unlock()
			if flaky++; flaky < 3 {
				return nil, fmt.Errorf("attempt %d fails", flaky)
			}
			return map[string]any{"n": num(p, "n"), "attempts": flaky}, nil
		},
		"handle": func(p map[string]any) (any, error) { return map[string]any{"handled": p["error"]}, nil },
		"hang": func(map[string]any) (any, error) {
			time.Sleep(time.Second)
			return map[string]any{}, nil
		},
	}
	for _, tc := range []struct {
		name, spec, input string
		want              string // the run's result, or
		wantErr           string // a text of its error
		wantCalls         int
		wantSteps         int // step reports, when not one per call
	}{
		{name: "sequence", input: `{"n":1}`, want: `{"n":4}`, wantCalls: 2,
			spec: `{"start":["a"],"steps":{"a":{"action":"/ns/inc","next":["b"]},"b":{"action":"/ns/dbl"}}}`},
		{name: "outlives the blocking wait", input: `{"n":1}`, want: `{"n":102}`, wantCalls: 2,
			spec: `{"start":["a"],"steps":{"a":{"action":"/ns/inc","next":["b"]},"b":{"action":"/ns/slow"}}}`},
		{name: "parallel and join", input: `{"n":1}`, want: `{"A":{"n":2},"B":{"n":2}}`, wantCalls: 2,
			spec: `{"start":["a","b"],"start_join":"j","steps":{"a":{"action":"/ns/inc","in":"j","next":["j"]},"b":{"action":"/ns/dbl","in":"j","next":["j"]},"j":{"join":{"merge":"object","names":["A","B"]}}}}`},
		{name: "map", input: `{}`, want: `[{"n":2},{"n":3},{"n":4}]`, wantCalls: 4,
			spec: `{"start":["a"],"steps":{"a":{"action":"/ns/items","next":["m"]},"m":{"map":{"over":"items","concurrency":2},"fork":"mj","next":["e"]},"e":{"action":"/ns/inc","in":"mj","next":["mj"]},"mj":{"join":{"merge":"array"}}}}`},
		{name: "map over numbers", input: `{}`, wantErr: "not a JSON object", wantCalls: 1,
			spec: `{"start":["a"],"steps":{"a":{"action":"/ns/nums","next":["m"]},"m":{"map":{"over":"items"},"fork":"mj","next":["e"]},"e":{"action":"/ns/inc","in":"mj","next":["mj"]},"mj":{"join":{"merge":"array"}}}}`},
		{name: "loop", input: `{"n":0}`, want: `{"n":6}`, wantCalls: 4,
			spec: `{"start":["w"],"steps":{"w":{"loop":{},"switch":[{"when":{"path":"n","op":"<","value":3},"next":["i"]}],"default":["d"]},"i":{"action":"/ns/inc","in_loop":"w","next":["w"]},"d":{"action":"/ns/dbl"}}}`},
		{name: "retry", input: `{"n":5}`, want: `{"attempts":3,"n":5}`, wantCalls: 3, wantSteps: 1,
			spec: `{"start":["a"],"steps":{"a":{"action":"/ns/flaky","retry":{"attempts":3,"backoff_ms":10}}}}`},
		{name: "catch", input: `{}`, want: `{"handled":"no luck"}`, wantCalls: 2,
			spec: `{"start":["a"],"steps":{"a":{"action":"/ns/fail","catch":["h"],"next":["b"]},"b":{"action":"/ns/inc"},"h":{"action":"/ns/handle"}}}`},
		{name: "failure", input: `{}`, wantErr: "failed at step a: step a (action /ns/fail) on openwhisk-api returned an error", wantCalls: 1,
			spec: `{"start":["a"],"steps":{"a":{"action":"/ns/fail","next":["b"]},"b":{"action":"/ns/inc"}}}`},
		{name: "unknown action", input: `{}`, wantErr: "404 Not Found", wantCalls: 0,
			spec: `{"start":["a"],"steps":{"a":{"action":"/ns/nothere"}}}`},
		{name: "deadline", input: `{}`, wantErr: "deadline", wantCalls: 1,
			spec: `{"start":["a"],"steps":{"a":{"action":"/ns/hang"}}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			flaky = 0
			ow := &fakeOpenWhisk{t: t, actions: actions}
			api := httptest.NewServer(ow)
			defer api.Close()
			sp, err := spec.Parse([]byte(`{"workflow":"w","namespace":"ns",` + tc.spec[1:]))
			if err != nil {
				t.Fatal(err)
			}
			r, err := route.NewAPIRouter(api.URL, nil, nil, sp)
			if err != nil {
				t.Fatal(err)
			}
			r.Identify(route.Identity{Namespace: "ns", Action: "/ns/w", APIKey: "u:k"})
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			if tc.name == "deadline" {
				ctx, cancel = context.WithTimeout(context.Background(), 500*time.Millisecond)
			}
			defer cancel()
			var onStep []route.StepReport
			res, err := r.StartRun(ctx, "w", []byte(tc.input), route.RunOptions{ID: "run-" + strings.ReplaceAll(tc.name, " ", "-"),
				OnStep: func(s route.StepReport) { onStep = append(onStep, s) }})
			switch {
			case tc.wantErr != "":
				var re *route.RunError
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !errors.As(err, &re) {
					t.Fatalf("run: %v, %v; want a RunError saying %q", res, err, tc.wantErr)
				}
			case err != nil:
				t.Fatalf("run: %v", err)
			case !jsonEqual(res.Value, tc.want):
				t.Errorf("result %s, want %s", res.Value, tc.want)
			}
			if calls := ow.invoked(); len(calls) != tc.wantCalls {
				t.Errorf("%d invocations (%v), want %d", len(calls), calls, tc.wantCalls)
			}
			if err == nil {
				want := tc.wantCalls
				if tc.wantSteps != 0 {
					want = tc.wantSteps
				}
				if len(res.Steps) != want || len(onStep) != want {
					t.Errorf("%d reports, %d OnStep calls; want %d", len(res.Steps), len(onStep), want)
				}
				for _, s := range res.Steps {
					if s.Instance != route.APIInstance || !s.Fallback || len(s.Activation) != 32 {
						t.Errorf("report %+v: want a step through the API, with its activation id", s)
					}
				}
			}
		})
	}
}

// Without the entry's API key (no /run gave it), a step cannot be
// invoked, and the run says why.
func TestAPIRouterNeedsAKey(t *testing.T) {
	sp, err := spec.Parse([]byte(`{"workflow":"w","namespace":"ns","start":["a"],"steps":{"a":{"action":"/ns/a"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	r, err := route.NewAPIRouter("https://openwhisk.invalid", nil, nil, sp)
	if err != nil {
		t.Fatal(err)
	}
	_, err = r.StartRun(context.Background(), "w", []byte(`{}`), route.RunOptions{})
	if err == nil || !strings.Contains(err.Error(), "no API key") {
		t.Errorf("run without a key: %v, want an error saying there is no API key", err)
	}
	if _, err := r.StartRun(context.Background(), "other", []byte(`{}`), route.RunOptions{}); err == nil || !strings.Contains(err.Error(), `unknown workflow "other"`) {
		t.Errorf("run of another workflow: %v", err)
	}
	if _, err := route.NewAPIRouter("", nil, nil, sp); err == nil {
		t.Error("a router without an API host was built")
	}
}

func jsonEqual(a []byte, b string) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal([]byte(b), &y) != nil {
		return false
	}
	xb, _ := json.Marshal(x)
	yb, _ := json.Marshal(y)
	return string(xb) == string(yb)
}
