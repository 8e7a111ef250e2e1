package invoker_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/wsk-route/wsk-route/cmd/wsk-route/sandbox/invoker"
	"github.com/wsk-route/wsk-route/internal/whisk"
)

// barrierInput holds an activation in its container until want
// activations are there at once, then hold milliseconds more.
func barrierInput(want, hold int) map[string]any {
	return map[string]any{"mode": "barrier", "tag": "t", "want": want, "hold": hold}
}

func sleepInput(ms int) map[string]any { return map[string]any{"mode": "sleep", "ms": ms} }

// TestConcurrency: activations of an action whose limits.concurrency is N
// share its containers, N at a time, as OpenWhisk's ContainerPool
// schedules them: to a container of the action with a free slot (a
// started one, or one still starting), else to a new container if memory
// allows, else they wait for a slot. Each gets its own result; the records
// of a concurrent container's activations have no logs.
func TestConcurrency(t *testing.T) {
	tests := []struct {
		name        string
		concurrency int
		userMemory  int // MB, 256 per container
		input       map[string]any
		n           int // activations sent together
		containers  int // the containers they ran in (as many cold starts)
		together    bool
	}{
		{"4 of concurrency 4 share one container", 4, 2048, barrierInput(4, 500), 4, 1, true},
		{"3 of concurrency 2 with memory for 2 take a second container", 2, 512, sleepInput(1500), 3, 2, true},
		{"3 of concurrency 2 with memory for 1: the third waits for a slot", 2, 256, sleepInput(1000), 3, 1, false},
		{"3 of concurrency 1 take a container each", 1, 2048, sleepInput(1000), 3, 3, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, func(c *invoker.Config) { c.UserMemoryMB = tc.userMemory })
			e.acts.put(testAction("c", whisk.Limits{Concurrency: tc.concurrency}))
			contents := make([]any, tc.n)
			for k := range contents {
				in := maps.Clone(tc.input)
				in["n"] = k
				contents[k] = in
			}
			ids := e.invokeAll("c", true, contents...)
			if tc.containers == 1 && tc.together {
				// The barrier holds them all in the container for a while.
				poll(t, fmt.Sprintf("%d activations in flight in one container", tc.n), func() bool {
					cs := e.inv.Containers()
					return len(cs) == 1 && cs[0].InFlight == tc.n && cs[0].State == invoker.StateBusy && cs[0].Concurrency == tc.concurrency
				})
			}
			containers := map[int]bool{}
			cold := 0
			var lastStart, firstEnd int64 = 0, 1 << 62
			for k, id := range ids {
				ack := e.ack(id)
				if ack.Response == nil || ack.IsSystemError {
					t.Fatalf("activation %d: ack %+v", k, ack)
				}
				act := *ack.Response
				if act.Response.StatusCode != whisk.StatusSuccess {
					t.Fatalf("activation %d: %d %s", k, act.Response.StatusCode, act.Response.Result)
				}
				r := decode(t, act)
				if r.N != float64(k) {
					t.Errorf("activation %d got the result of input %v: %s", k, r.N, act.Response.Result)
				}
				if r.AllowConcurrent != "true" {
					t.Errorf("activation %d: __OW_ALLOW_CONCURRENT=%q in the container, want true", k, r.AllowConcurrent)
				}
				if tc.input["mode"] == "barrier" && r.Seen != tc.n {
					t.Errorf("activation %d saw %d activations in its container, want %d", k, r.Seen, tc.n)
				}
				containers[r.PPID] = true
				if _, ok := ann(act, whisk.AnnInitTime); ok {
					cold++
				}
				if l, _ := ann(act, whisk.AnnLimits); !strings.Contains(l, fmt.Sprintf(`"concurrency":%d`, tc.concurrency)) {
					t.Errorf("activation %d: limits annotation %s", k, l)
				}
				if tc.concurrency > 1 {
					if len(act.Logs) != 0 {
						t.Errorf("activation %d of a concurrent container has logs %q, want none", k, act.Logs)
					}
				} else if out, errs := streams(t, act.Logs); !strings.Contains(fmt.Sprint(out), fmt.Sprintf("out %d", k)) || fmt.Sprint(errs) != fmt.Sprintf("[err %d]", k) {
					t.Errorf("activation %d: logs %q, want its own lines", k, act.Logs)
				}
				lastStart, firstEnd = max(lastStart, act.Start), min(firstEnd, act.End)
			}
			if len(containers) != tc.containers || cold != tc.containers {
				t.Errorf("%d activations ran in %d containers with %d cold starts, want %d", tc.n, len(containers), cold, tc.containers)
			}
			if n := len(e.inv.Containers()); n != tc.containers {
				t.Errorf("%d containers in the pool, want %d", n, tc.containers)
			}
			switch {
			case tc.together && lastStart >= firstEnd:
				t.Errorf("the activations did not all run at once: one started at %d, after another ended at %d", lastStart, firstEnd)
			case !tc.together && lastStart < firstEnd:
				t.Errorf("the last activation started at %d, before the first ended at %d: it did not wait for a slot", lastStart, firstEnd)
			}
			for _, c := range e.inv.Containers() {
				if c.InFlight != 0 || c.State != invoker.StateWarm {
					t.Errorf("container %s after the activations: %d in flight, %s", c.Name, c.InFlight, c.State)
				}
			}
		})
	}
}

// TestConcurrentBusy: a container with an activation in flight is never
// removed for being idle, nor evicted for another action, whatever free
// slots it has.
func TestConcurrentBusy(t *testing.T) {
	t.Run("idle timeout", func(t *testing.T) {
		const idle = 200 * time.Millisecond
		e := newEnv(t, func(c *invoker.Config) { c.IdleTimeout = idle })
		e.acts.put(testAction("c", whisk.Limits{Concurrency: 2}))
		longID := e.invoke("c", map[string]any{"mode": "sleep", "ms": 2000, "n": 1}, true)
		poll(t, "the long activation to be in flight", func() bool {
			cs := e.inv.Containers()
			return len(cs) == 1 && cs[0].InFlight == 1
		})
		short := e.run("c", map[string]any{"n": 2})
		if cs := e.inv.Containers(); len(cs) != 1 || cs[0].State != invoker.StateBusy || cs[0].InFlight != 1 {
			t.Errorf("after the short activation: containers %+v, want one busy with the long one", cs)
		}
		long := *e.ack(longID).Response
		if long.Response.StatusCode != whisk.StatusSuccess {
			t.Fatalf("the long activation: %d %s", long.Response.StatusCode, long.Response.Result)
		}
		if decode(t, short).PPID != decode(t, long).PPID {
			t.Errorf("the short activation did not join the long one's container")
		}
		if long.End-short.End < 2*idle.Milliseconds() {
			t.Fatalf("the long activation ended %d ms after the short one: the idle timeout had no chance to strike", long.End-short.End)
		}
		poll(t, "the container to go once idle", func() bool { return len(e.inv.Containers()) == 0 })
	})
	t.Run("eviction", func(t *testing.T) {
		e := newEnv(t, func(c *invoker.Config) { c.UserMemoryMB = 256 })
		e.acts.put(testAction("c", whisk.Limits{Concurrency: 4}))
		e.acts.put(testAction("other", whisk.Limits{}))
		cID := e.invoke("c", map[string]any{"mode": "sleep", "ms": 1000}, true)
		poll(t, "c's activation to be in flight", func() bool {
			cs := e.inv.Containers()
			return len(cs) == 1 && cs[0].InFlight == 1
		})
		otherID := e.invoke("other", map[string]any{}, true)
		c, other := e.ack(cID).Response, e.ack(otherID).Response
		if c.Response.StatusCode != whisk.StatusSuccess || other.Response.StatusCode != whisk.StatusSuccess {
			t.Fatalf("responses %s, %s", c.Response.Result, other.Response.Result)
		}
		if other.Start < c.End {
			t.Errorf("other started at %d, before c's activation ended at %d: c's container was evicted while busy", other.Start, c.End)
		}
		if cs := e.inv.Containers(); len(cs) != 1 || cs[0].Action != "/guest/other" {
			t.Errorf("containers %+v, want only other's", cs)
		}
	})
}

// TestConcurrentStartFailure: the activations that joined a container
// while it started end as OpenWhisk's ContainerProxy ends those it
// buffered: with the first activation's developer error when the /init
// failed, with the whisk error "The action did not produce a valid
// response and exited unexpectedly." when the container did not start.
func TestConcurrentStartFailure(t *testing.T) {
	t.Run("init", func(t *testing.T) {
		e := newEnv(t, nil)
		a := testAction("f", whisk.Limits{Concurrency: 3})
		a.Parameters = append(a.Parameters,
			whisk.KeyValue{Key: "SLOW_INIT", Value: json.RawMessage(`"1000"`), Init: true},
			whisk.KeyValue{Key: "FAIL_INIT", Value: json.RawMessage(`1`), Init: true})
		e.acts.put(a)
		cold := 0
		var results []string
		for _, id := range e.invokeAll("f", true, map[string]any{}, map[string]any{}, map[string]any{}) {
			ack := e.ack(id)
			act := ack.Response
			if ack.IsSystemError || act.Response.StatusCode != whisk.StatusDeveloperError {
				t.Fatalf("ack %+v, response %s", ack, act.Response.Result)
			}
			if _, ok := ann(*act, whisk.AnnInitTime); ok {
				cold++
			}
			results = append(results, string(act.Response.Result))
		}
		if cold != 1 || results[0] != results[1] || results[1] != results[2] {
			t.Errorf("%d inits, results %q: want one init, whose result all three get", cold, results)
		}
		poll(t, "the failed container to go", func() bool { return len(e.inv.Containers()) == 0 })
	})
	t.Run("start", func(t *testing.T) {
		e := newEnv(t, func(c *invoker.Config) {
			c.ProxyCommand = []string{"/bin/sh", "-c", "sleep 1; exit 3", "sh"}
		})
		e.acts.put(testAction("f", whisk.Limits{Concurrency: 3}))
		var starter, aborted int
		for _, id := range e.invokeAll("f", true, map[string]any{}, map[string]any{}, map[string]any{}) {
			ack := e.ack(id)
			r := ack.Response.Response
			if !ack.IsSystemError || r.StatusCode != whisk.StatusWhiskError {
				t.Fatalf("ack %+v, response %s", ack, r.Result)
			}
			switch msg := string(r.Result); {
			case strings.Contains(msg, "Failed to start a container for the action"):
				starter++
			case strings.Contains(msg, whisk.MsgAbnormalRun):
				aborted++
			default:
				t.Errorf("response %s", msg)
			}
		}
		if starter != 1 || aborted != 2 {
			t.Errorf("%d failed to start a container, %d were aborted: want 1 and 2", starter, aborted)
		}
		if cs := e.inv.Containers(); len(cs) != 0 {
			t.Errorf("containers %+v", cs)
		}
	})
}
