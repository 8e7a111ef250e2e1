package conductor

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wsk-route/wsk-route/internal/jsfn"
)

func TestMarshalNumbers(t *testing.T) {
	// want: JSON.stringify in Node.js
	for _, tc := range []struct {
		in   float64
		want string
	}{
		{0, "0"}, {math.Copysign(0, -1), "0"}, {1, "1"}, {-1, "-1"}, {0.1, "0.1"},
		{0.30000000000000004, "0.30000000000000004"}, {1e21, "1e+21"}, {1e-7, "1e-7"},
		{1.5e-7, "1.5e-7"}, {123456789012345680000, "123456789012345680000"},
		{1e20, "100000000000000000000"}, {12345678901234567890, "12345678901234567000"},
		{5e-324, "5e-324"}, {1.7976931348623157e308, "1.7976931348623157e+308"},
		{0.000001, "0.000001"}, {0.0000012345, "0.0000012345"}, {100, "100"}, {2.5, "2.5"},
		{-2.5e-10, "-2.5e-10"}, {4.35, "4.35"}, {1.0 / 3, "0.3333333333333333"},
		{math.NaN(), "null"}, {math.Inf(1), "null"},
	} {
		if got := string(Marshal(tc.in)); got != tc.want {
			t.Errorf("Marshal(%v): got %s, want %s", tc.in, got, tc.want)
		}
	}
}

func TestMarshalStrings(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"a\"b\\c", `"a\"b\\c"`}, {"<&>", `"<&>"`}, {"\n\t\x01", `"\n\t\u0001"`},
		{"\u2028é", "\"\u2028é\""}, {"\xff", `"\ufffd"`},
	} {
		if got := string(Marshal(tc.in)); got != tc.want {
			t.Errorf("Marshal(%q): got %s, want %s", tc.in, got, tc.want)
		}
	}
}

func TestTruthy(t *testing.T) {
	for _, tc := range []struct {
		in   any
		want bool
	}{
		{nil, false}, {false, false}, {0.0, false}, {"", false}, {math.NaN(), false},
		{true, true}, {1.0, true}, {"0", true}, {[]any{}, true}, {map[string]any{}, true},
	} {
		if got := truthy(tc.in); got != tc.want {
			t.Errorf("truthy(%#v): got %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestJSKeyOrder(t *testing.T) {
	got := strings.Join(jsKeyOrder([]string{"b", "10", "a", "2", "01", "0"}), ",")
	if want := "0,2,10,b,a,01"; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

func machine(t *testing.T, src string, inv Invoker, cfg Config) *Machine {
	t.Helper()
	c, err := Decode([]byte(src), Limits{})
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	cfg.Invoker = inv
	m, err := New(c, cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return m
}

func jsFn(code string) string {
	return `{"type":"function","function":{"exec":{"kind":"nodejs:default","code":` + string(Marshal(code)) + `}}}`
}

var echo = InvokerFunc(func(_ context.Context, _ string, p []byte) ([]byte, error) { return p, nil })

func TestRunEnds(t *testing.T) {
	boom := errors.New("controller down")
	tests := []struct {
		name     string
		src      string
		inv      Invoker
		cfg      Config
		params   string
		wantErr  error  // a Go error from Run
		want     string // else the result
		failed   bool
		timeout  time.Duration
		contains string
	}{
		{name: "endless loop stops with the context", src: `{"type":"while","test":` + jsFn("() => true") + `,"body":null}`, inv: echo, timeout: 100 * time.Millisecond, wantErr: context.DeadlineExceeded},
		{name: "too many actions", src: `{"type":"while","test":` + jsFn("() => true") + `,"body":"a"}`, inv: echo, cfg: Config{MaxActions: 5}, wantErr: ErrTooManyActions},
		{name: "invoker error ends the run", src: `{"type":"seq","components":["a"]}`, inv: InvokerFunc(func(context.Context, string, []byte) ([]byte, error) { return nil, boom }), wantErr: boom},
		{name: "runaway function fails the run, not catchable", src: `{"type":"try","body":` + jsFn("() => { for (;;) {} }") + `,"handler":` + jsFn("() => ({ caught: true })") + `}`, inv: echo, cfg: Config{Functions: jsfn.Limits{Timeout: 20 * time.Millisecond}}, failed: true, contains: "time limit"},
		{name: "result not JSON is an internal error, not catchable", src: `{"type":"try","body":` + jsFn("() => Symbol()") + `,"handler":` + jsFn("() => ({ caught: true })") + `}`, inv: echo, failed: true, contains: "Internal error"},
		{name: "internal error in a branch", src: `{"type":"par","components":[` + jsFn("() => Symbol()") + `]}`, inv: echo, wantErr: ErrBranch},
		{name: "$composer is stripped from the input", src: `{"type":"seq","components":[]}`, inv: echo, params: `{"$composer":{"state":3},"a":1}`, want: `{"a":1}`},
		{name: "$composer is stripped from action results", src: `{"type":"action","name":"a"}`, inv: InvokerFunc(func(context.Context, string, []byte) ([]byte, error) {
			return []byte(`{"$composer":1,"b":2}`), nil
		}), want: `{"b":2}`},
		{name: "action result not an object", src: `{"type":"action","name":"a"}`, inv: InvokerFunc(func(context.Context, string, []byte) ([]byte, error) {
			return []byte(`[1]`), nil
		}), wantErr: ErrBadParams},
		{name: "run input not an object", src: `{"type":"seq","components":[]}`, inv: echo, params: `42`, wantErr: ErrBadParams},
		{name: "key order is kept", src: `{"type":"seq","components":["a",` + jsFn("p => ({ keys: Object.keys(p).join(), s: JSON.stringify(p) })") + `]}`, inv: echo, params: `{"z":1,"a":2,"2":3,"1":4}`, want: `{"keys":"1,2,z,a","s":"{\"1\":4,\"2\":3,\"z\":1,\"a\":2}"}`},
		{name: "dynamic with array params", src: `{"type":"dynamic"}`, inv: echo, params: `{"type":"action","name":"x","params":[]}`, wantErr: ErrBadParams},
		{name: "dynamic with null params gets an empty object", src: `{"type":"dynamic"}`, inv: echo, params: `{"type":"action","name":"x","params":null}`, want: `{}`},
		{name: "functions log", src: jsFn("p => { console.log('seen', p.a) }"), inv: echo, params: `{"a":1}`, want: `{"a":1}`, contains: "seen 1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "runaway function fails the run, not catchable" && testing.Short() {
				t.Skip("runs a function to its time limit")
			}
			m := machine(t, tc.src, tc.inv, tc.cfg)
			ctx := context.Background()
			if tc.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tc.timeout)
				defer cancel()
			}
			if tc.params == "" {
				tc.params = "{}"
			}
			res, err := m.Run(ctx, []byte(tc.params))
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("got %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			got := string(res.Value)
			if res.Failed != tc.failed {
				t.Errorf("got failed %v (%s), want %v", res.Failed, got, tc.failed)
			}
			if tc.want != "" && got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
			if tc.contains != "" && !strings.Contains(got+strings.Join(res.Logs, "\n"), tc.contains) {
				t.Errorf("got %s, logs %q; want %q in them", got, res.Logs, tc.contains)
			}
		})
	}
}

func TestNewRefuses(t *testing.T) {
	m, err := New(&Composition{Root: &Node{Type: "sequence"}}, Config{})
	if err != nil {
		t.Fatalf("New without an invoker (for the step API): %v", err)
	}
	if _, err := m.Run(context.Background(), []byte(`{}`)); err == nil {
		t.Error("Run without an invoker: got no error")
	}
	if _, err := New(&Composition{}, Config{Invoker: echo}); !errors.Is(err, ErrInvalid) {
		t.Errorf("got %v without a root, want ErrInvalid", err)
	}
	if _, err := New(&Composition{Root: &Node{Type: "try"}}, Config{Invoker: echo}); !errors.Is(err, ErrInvalid) {
		t.Errorf("got %v for a try without body, want ErrInvalid", err)
	}
}

// TestConcurrentBranches checks Config.Concurrent: the branches of a
// parallel run at the same time (each action waits until both have
// started, which one after the other never happens), are joined in
// branch order, and the first failure cancels the other branch.
func TestConcurrentBranches(t *testing.T) {
	comp, err := Decode([]byte(`{"type":"parallel","components":["/_/a","/_/b"]}`), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := New(comp, Config{Concurrent: true}); err == nil {
		t.Fatal("New accepted Concurrent without NewActivationID")
	}
	newID := func() string { return "id" }
	var started sync.WaitGroup
	started.Add(2)
	both := InvokerFunc(func(ctx context.Context, name string, _ []byte) ([]byte, error) {
		started.Done()
		started.Wait()
		return []byte(`{"from":"` + name + `"}`), nil
	})
	m, err := New(comp, Config{Invoker: both, Concurrent: true, NewActivationID: newID})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := m.Run(ctx, []byte(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(res.Value), `{"value":[{"from":"/_/a"},{"from":"/_/b"}]}`; got != want || res.Actions != 2 {
		t.Errorf("got %s after %d actions, want %s after 2", got, res.Actions, want)
	}

	// The first branch's invoker fails; the second waits for its context.
	fail := InvokerFunc(func(ctx context.Context, name string, _ []byte) ([]byte, error) {
		if name == "/_/a" {
			return nil, errors.New("controller down")
		}
		<-ctx.Done()
		return nil, ctx.Err()
	})
	_, err = m.With(func(c *Config) { c.Invoker = fail }).Run(ctx, []byte(`{}`))
	if err == nil || !strings.Contains(err.Error(), "controller down") {
		t.Errorf("got %v, want the first branch's failure", err)
	}
	if ctx.Err() != nil {
		t.Error("the failing branch did not cancel the other one")
	}
}

// TestStartAsync: with Config.StartAsync the composition goes on at once
// with composer's answer, and the body, its state passed through JSON as
// between activations, runs to its own result with RunBranch.
func TestStartAsync(t *testing.T) {
	comp, err := Decode([]byte(`{"type":"sequence","components":[{"type":"let","declarations":{"k":3},"components":[{"type":"async","components":[{"type":"function","function":{"exec":{"kind":"nodejs:default","code":"p => ({n: p.n * k})"}}}]}]}]}`), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	var started []Branch
	m, err := New(comp, Config{Session: "s1", Invoker: InvokerFunc(func(context.Context, string, []byte) ([]byte, error) { return nil, errors.New("no actions here") }),
		StartAsync: func(_ context.Context, b Branch) (string, error) {
			started = append(started, b)
			return "act-1", nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	res, err := m.Run(ctx, []byte(`{"n":2}`))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(res.Value), `{"method":"async","activationId":"act-1","sessionId":"s1"}`; got != want || len(res.Async) != 0 || len(started) != 1 {
		t.Fatalf("got %s with %d bodies run here and %d started, want %s, none run here, one started", got, len(res.Async), len(started), want)
	}
	wire, err := json.Marshal(started[0].State)
	if err != nil {
		t.Fatal(err)
	}
	var st State
	if err := json.Unmarshal(wire, &st); err != nil {
		t.Fatal(err)
	}
	body, err := m.RunBranch(ctx, Branch{State: st, Params: started[0].Params})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(body.Value), `{"n":6}`; got != want {
		t.Errorf("the body gave %s, want %s (its let variable came with its state)", got, want)
	}
}
