package invoker_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wsk-route/wsk-route/cmd/wsk-route/sandbox/invoker"
	"github.com/wsk-route/wsk-route/internal/whisk"
)

var logLineRE = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z (stdout|stderr): (.*)$`)

// streams splits formatted log lines by stream, checking their format.
func streams(t *testing.T, logs []string) (out, errs []string) {
	t.Helper()
	for _, l := range logs {
		m := logLineRE.FindStringSubmatch(l)
		if m == nil {
			t.Errorf("log line %q is not in OpenWhisk's format", l)
			continue
		}
		if m[2] == "stdout" {
			out = append(out, m[3])
		} else {
			errs = append(errs, m[3])
		}
	}
	return out, errs
}

type result struct {
	N          float64 `json:"n"`
	PID        int     `json:"pid"`
	PPID       int     `json:"ppid"`
	ActionName string  `json:"action_name"`
	InitP      string  `json:"init_p"`
	Error      string  `json:"error"`
	// Seen is how many activations the barrier mode saw in its container.
	Seen int `json:"seen"`
	// AllowConcurrent is __OW_ALLOW_CONCURRENT in the action's env.
	AllowConcurrent string `json:"allow_concurrent"`
}

func decode(t *testing.T, act whisk.Activation) result {
	t.Helper()
	var r result
	if err := json.Unmarshal(act.Response.Result, &r); err != nil {
		t.Fatalf("result %s: %v", act.Response.Result, err)
	}
	return r
}

func ann(act whisk.Activation, key string) (string, bool) {
	v, ok := act.Annotations.Get(key)
	return string(v), ok
}

// alive reports whether pid runs (a zombie does not).
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return !errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	return len(f) > 0 && f[0] != "Z" && f[0] != "X"
}

// dead waits for pid to end (SIGKILL is delivered asynchronously).
func dead(t *testing.T, pid int) bool {
	t.Helper()
	poll(t, fmt.Sprintf("pid %d to end", pid), func() bool { return !alive(pid) })
	return true
}

// TestLogsAndWarmReuse runs three activations in one container: the first
// is cold and gets the init output, each gets exactly its own lines of
// both streams, and the record has OpenWhisk's annotations.
func TestLogsAndWarmReuse(t *testing.T) {
	e := newEnv(t, nil)
	e.acts.put(testAction("echo", whisk.Limits{}))
	pid := 0
	for n := 1; n <= 3; n++ {
		// The content holds the init parameter (as the controller merges
		// it): it goes to /init's env, not to the value.
		act := e.run("echo", map[string]any{"mode": "echo", "n": n, "INIT_P": "from-content"})
		if act.Response.StatusCode != whisk.StatusSuccess {
			t.Fatalf("run %d: %+v %s", n, act.Response, act.Response.Result)
		}
		r := decode(t, act)
		if r.N != float64(n) || r.ActionName != "/guest/echo" || r.InitP != "from-content" || strings.Contains(string(act.Response.Result), "INIT_P") {
			t.Errorf("run %d: result %s", n, act.Response.Result)
		}
		if n == 1 {
			pid = r.PID
		} else if r.PID != pid {
			t.Errorf("run %d ran in pid %d, want the warm %d", n, r.PID, pid)
		}
		out, errs := streams(t, act.Logs)
		wantOut := []string{fmt.Sprintf("out %d", n)}
		if n == 1 {
			wantOut = append([]string{fmt.Sprintf("init %d", pid)}, wantOut...)
		}
		if fmt.Sprint(out) != fmt.Sprint(wantOut) || fmt.Sprint(errs) != fmt.Sprint([]string{fmt.Sprintf("err %d", n)}) {
			t.Errorf("run %d: logs %q, want stdout %q and stderr [err %d]", n, act.Logs, wantOut, n)
		}
		_, hasInit := ann(act, whisk.AnnInitTime)
		if hasInit != (n == 1) {
			t.Errorf("run %d: initTime present = %v", n, hasInit)
		}
		if p, _ := ann(act, whisk.AnnPath); p != `"guest/echo"` {
			t.Errorf("path annotation %s", p)
		}
		if k, _ := ann(act, whisk.AnnKind); k != `"go:test"` {
			t.Errorf("kind annotation %s", k)
		}
		if l, _ := ann(act, whisk.AnnLimits); l != `{"timeout":60000,"memory":256,"logs":10,"concurrency":1}` {
			t.Errorf("limits annotation %s", l)
		}
		if _, ok := ann(act, whisk.AnnWaitTime); !ok {
			t.Error("no waitTime annotation")
		}
		if act.Namespace != "guest" || act.Name != "echo" || act.Subject != "guest" || act.Version != "0.0.1" || act.End < act.Start || act.Duration != act.End-act.Start {
			t.Errorf("record %+v", act)
		}
	}
	cs := e.inv.Containers()
	if len(cs) != 1 || cs[0].State != invoker.StateWarm || int(cs[0].PID) == 0 || cs[0].Action != "/guest/echo" {
		t.Fatalf("containers %+v", cs)
	}
	if name, action, ok := e.inv.ContainerOfPID(int32(pid)); !ok || name != cs[0].Name || action != "/guest/echo" {
		t.Errorf("ContainerOfPID(action pid %d) = %q, %q, %v; want %q, /guest/echo", pid, name, action, ok, cs[0].Name)
	}
	if _, _, ok := e.inv.ContainerOfPID(int32(os.Getpid())); ok {
		t.Error("ContainerOfPID found the test process")
	}
}

// TestErrors covers the failure classes: application errors keep the
// container, developer errors, timeouts and init failures replace it.
func TestErrors(t *testing.T) {
	e := newEnv(t, nil)
	e.acts.put(testAction("a", whisk.Limits{Timeout: 1000}))
	failing := testAction("initfail", whisk.Limits{})
	failing.Parameters = append(failing.Parameters, whisk.KeyValue{Key: "FAIL_INIT", Value: json.RawMessage(`1`), Init: true})
	e.acts.put(failing)

	first := e.run("a", map[string]any{"n": 1})
	pid := decode(t, first).PID
	if p := decode(t, first).InitP; p != "hello" {
		t.Errorf("init parameter default %q, want hello", p)
	}

	t.Run("application error", func(t *testing.T) {
		act := e.run("a", map[string]any{"mode": "error", "n": 7})
		if act.Response.StatusCode != whisk.StatusApplicationError || string(act.Response.Result) != `{"error":"bad 7"}` {
			t.Fatalf("response %d %s", act.Response.StatusCode, act.Response.Result)
		}
		if p := decode(t, e.run("a", map[string]any{"n": 2})).PID; p != pid {
			t.Errorf("container replaced after an application error: pid %d, was %d", p, pid)
		}
	})
	t.Run("developer error", func(t *testing.T) {
		act := e.run("a", map[string]any{"mode": "garbage"})
		if act.Response.StatusCode != whisk.StatusDeveloperError || string(act.Response.Result) != `{"error":"The action did not return a dictionary or array."}` {
			t.Fatalf("response %d %s", act.Response.StatusCode, act.Response.Result)
		}
		dead(t, pid)
		next := e.run("a", map[string]any{"n": 3})
		if _, ok := ann(next, whisk.AnnInitTime); !ok || decode(t, next).PID == pid {
			t.Errorf("run after a developer error was not cold in a new container: %s", next.Response.Result)
		}
		pid = decode(t, next).PID
	})
	t.Run("timeout", func(t *testing.T) {
		act := e.run("a", map[string]any{"mode": "sleep", "ms": 5000})
		want, _ := json.Marshal(map[string]string{"error": whisk.TimeoutMessage(1000)})
		if act.Response.StatusCode != whisk.StatusDeveloperError || string(act.Response.Result) != string(want) {
			t.Fatalf("response %d %s", act.Response.StatusCode, act.Response.Result)
		}
		if v, _ := ann(act, whisk.AnnTimeout); v != "true" {
			t.Errorf("timeout annotation %q", v)
		}
		dead(t, pid)
		next := e.run("a", map[string]any{"n": 4})
		if next.Response.StatusCode != 0 || decode(t, next).PID == pid {
			t.Errorf("run after a timeout: %s", next.Response.Result)
		}
	})
	t.Run("init failure", func(t *testing.T) {
		before := len(e.inv.Containers())
		act := e.run("initfail", map[string]any{})
		if act.Response.StatusCode != whisk.StatusDeveloperError || !strings.Contains(string(act.Response.Result), `"error"`) {
			t.Fatalf("response %d %s", act.Response.StatusCode, act.Response.Result)
		}
		if _, ok := ann(act, whisk.AnnInitTime); !ok {
			t.Error("no initTime after a failed init")
		}
		_, errs := streams(t, act.Logs)
		if !strings.Contains(strings.Join(errs, "\n"), "failing init on purpose") {
			t.Errorf("init failure logs %q", act.Logs)
		}
		if n := len(e.inv.Containers()); n != before {
			t.Errorf("%d containers after a failed init, want %d", n, before)
		}
	})
	t.Run("whisk errors", func(t *testing.T) {
		seq := whisk.Action{Namespace: "guest", Name: "seq", Version: "0.0.1", Exec: whisk.Exec{Kind: whisk.KindSequence, Components: []string{"/guest/a"}}}
		e.acts.put(seq)
		unknown := testAction("unknownkind", whisk.Limits{})
		unknown.Exec.Kind = "cobol:1"
		e.acts.put(unknown)
		for _, name := range []string{"missing", "seq", "unknownkind"} {
			ack := e.ack(e.invoke(name, map[string]any{}, true))
			if !ack.IsSystemError || ack.Response == nil || ack.Response.Response.StatusCode != whisk.StatusWhiskError {
				t.Errorf("%s: ack %+v", name, ack)
			}
		}
	})
}

// TestLogLimit truncates logs past limits.logs; the ack, too large for
// Kafka, is shrunk to the id as OpenWhisk does.
func TestLogLimit(t *testing.T) {
	e := newEnv(t, nil)
	e.acts.put(testAction("spam", whisk.Limits{Logs: 1}))
	ack := e.ack(e.invoke("spam", map[string]any{"mode": "spam", "lines": 1100}, true))
	if ack.Response != nil {
		t.Errorf("an ack with 1 MB of logs was not shrunk")
	}
	act, ok := e.store.get(ack.ActivationID)
	if !ok {
		t.Fatal("not stored")
	}
	if act.Response.StatusCode != 0 {
		t.Fatalf("response %s", act.Response.Result)
	}
	last := act.Logs[len(act.Logs)-1]
	if !strings.HasSuffix(last, "stderr: "+whisk.LogsTruncatedMessage(1<<20)) {
		t.Errorf("%d lines, last %q: want the truncation line last", len(act.Logs), last)
	}
	// The lines kept hold at most the limit, and the truncation came only
	// when the next 1000-byte line would have passed it (how many short
	// lines of the run came first depends on how the streams interleave).
	size := 0
	for _, l := range act.Logs[:len(act.Logs)-1] {
		_, text, _ := strings.Cut(l, ": ")
		size += len(text)
	}
	if size > 1<<20 || size <= 1<<20-1000 {
		t.Errorf("%d lines hold %d bytes of text: want the most that fits under %d with 1000-byte lines", len(act.Logs)-1, size, 1<<20)
	}
}

// TestCapacity queues an activation while the pool is full and runs it,
// evicting the idle container, once the first one ends.
func TestCapacity(t *testing.T) {
	e := newEnv(t, func(c *invoker.Config) { c.UserMemoryMB = 256 })
	e.acts.put(testAction("slow", whisk.Limits{}))
	e.acts.put(testAction("other", whisk.Limits{}))
	slowID := e.invoke("slow", map[string]any{"mode": "sleep", "ms": 1000}, true)
	poll(t, "the slow activation to be busy", func() bool {
		cs := e.inv.Containers()
		return len(cs) == 1 && cs[0].State == invoker.StateBusy
	})
	otherID := e.invoke("other", map[string]any{"n": 1}, true)
	slow, other := e.ack(slowID), e.ack(otherID)
	if slow.Response.Response.StatusCode != 0 || other.Response.Response.StatusCode != 0 {
		t.Fatalf("responses %s %s", slow.Response.Response.Result, other.Response.Response.Result)
	}
	if other.Response.Start < slow.Response.End {
		t.Errorf("queued activation started at %d, before the first ended at %d", other.Response.Start, slow.Response.End)
	}
	cs := e.inv.Containers()
	if len(cs) != 1 || cs[0].Action != "/guest/other" {
		t.Errorf("containers %+v, want only other's", cs)
	}
}

// TestDirectNotEvicted: a container whose proxy runs direct steps
// (SetDirect) is not evicted for another action's activation, which waits
// as it would for a busy container; once the steps stop, it goes.
func TestDirectNotEvicted(t *testing.T) {
	e := newEnv(t, func(c *invoker.Config) { c.UserMemoryMB = 256 })
	e.acts.put(testAction("steps", whisk.Limits{}))
	e.acts.put(testAction("other", whisk.Limits{}))
	e.run("steps", map[string]any{})
	cs := e.inv.Containers()
	if len(cs) != 1 || cs[0].State != invoker.StateWarm {
		t.Fatalf("containers %+v, want one warm container of steps", cs)
	}
	name := cs[0].Name
	e.inv.SetDirect(name, true)
	if cs := e.inv.Containers(); !cs[0].Direct {
		t.Errorf("after SetDirect(true): %+v, want Direct", cs[0])
	}
	otherID := e.invoke("other", map[string]any{"n": 1}, true)
	time.Sleep(300 * time.Millisecond)
	if cs := e.inv.Containers(); len(cs) != 1 || cs[0].Name != name {
		t.Fatalf("while it runs direct steps: containers %+v, want only %s", cs, name)
	}
	if e.inv.Pending() != 1 {
		t.Errorf("Pending() = %d, want 1: the other activation waits for memory", e.inv.Pending())
	}
	stopped := time.Now()
	e.inv.SetDirect(name, false)
	other := e.ack(otherID)
	if other.Response.Response.StatusCode != 0 {
		t.Fatalf("other: %s", other.Response.Response.Result)
	}
	if start := time.UnixMilli(other.Response.Start); start.Before(stopped.Truncate(time.Millisecond)) {
		t.Errorf("other started at %v, before the direct steps stopped at %v", start, stopped)
	}
	if cs := e.inv.Containers(); len(cs) != 1 || cs[0].Action != "/guest/other" {
		t.Errorf("containers %+v, want only other's: the idle one was evicted", cs)
	}
	e.inv.SetDirect("no-such-container", true) // a container already gone: ignored
	poll(t, "nothing pending", func() bool { return e.inv.Pending() == 0 })
}

// TestEvictionIsGraceful: an evicted container's proxy is told to stop
// (SIGTERM) and given time to end the direct steps it took before it is
// killed; the activation that needed the room does not wait for it.
func TestEvictionIsGraceful(t *testing.T) {
	dir := t.TempDir()
	mark := filepath.Join(dir, "terms")
	// A proxy that takes 300 ms to stop, and says when it did.
	script := filepath.Join(dir, "proxy.sh")
	body := fmt.Sprintf("#!/bin/sh\n%q \"$@\" &\nchild=$!\ntrap 'sleep 0.3; echo stopped >> %q; kill $child; wait $child; exit 0' TERM\nwait $child\n", proxyBin, mark)
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, func(c *invoker.Config) { c.UserMemoryMB = 256; c.ProxyCommand = []string{script} })
	e.acts.put(testAction("first", whisk.Limits{}))
	e.acts.put(testAction("second", whisk.Limits{}))
	e.run("first", map[string]any{})
	start := time.Now()
	if act := e.run("second", map[string]any{}); act.Response.StatusCode != 0 {
		t.Fatalf("second: %s", act.Response.Result)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("the activation that evicted a container took %v: it must not wait for the evicted one to stop", took)
	}
	poll(t, "the evicted proxy to stop on its own", func() bool {
		b, _ := os.ReadFile(mark)
		return strings.TrimSpace(string(b)) == "stopped"
	})
	if cs := e.inv.Containers(); len(cs) != 1 || cs[0].Action != "/guest/second" {
		t.Errorf("containers %+v, want only second's", cs)
	}
}

// TestNonBlockingAndMalformed: a non-blocking ack carries only the id, and
// malformed messages are skipped without stopping the invoker.
func TestNonBlockingAndMalformed(t *testing.T) {
	e := newEnv(t, nil)
	e.acts.put(testAction("echo", whisk.Limits{}))
	e.produce([]byte("not json"))
	e.produce([]byte(`{"activationId":""}`))
	id := e.invoke("echo", map[string]any{"n": 1}, false)
	ack := e.ack(id)
	if ack.Response != nil || ack.ActivationID != id || ack.Kind != whisk.AckCombined || ack.IsSystemError {
		t.Fatalf("non-blocking ack %+v", ack)
	}
	if ack.Instance == nil || ack.Instance.InstanceType != "invoker" || ack.Instance.UserMemory != "2048 MB" || ack.Instance.DisplayedName != "test-invoker" {
		t.Errorf("ack instance %+v", ack.Instance)
	}
	act, ok := e.store.get(id)
	if !ok || act.Response.StatusCode != 0 {
		t.Errorf("stored %+v %v", act, ok)
	}
}

// TestRunRemovesEverything: when Run returns, no proxy or action process
// and no work dir is left.
func TestRunRemovesEverything(t *testing.T) {
	e := newEnv(t, nil)
	e.acts.put(testAction("x", whisk.Limits{}))
	e.acts.put(testAction("y", whisk.Limits{}))
	pids := []int{decode(t, e.run("x", map[string]any{})).PID, decode(t, e.run("y", map[string]any{})).PID}
	for _, c := range e.inv.Containers() {
		pids = append(pids, int(c.PID))
	}
	if len(pids) != 4 {
		t.Fatalf("pids %v", pids)
	}
	entries, _ := os.ReadDir(e.cfg.WorkDir)
	if len(entries) != 2 {
		t.Errorf("%d work dirs, want 2", len(entries))
	}
	e.stop()
	for _, p := range pids {
		dead(t, p)
	}
	entries, err := os.ReadDir(e.cfg.WorkDir)
	if err != nil || len(entries) != 0 {
		t.Errorf("work dir after Run: %v %v", entries, err)
	}
	if cs := e.inv.Containers(); len(cs) != 0 {
		t.Errorf("containers after Run: %+v", cs)
	}
}

// TestContainerEnd: an idle container goes after IdleTimeout, and a warm
// one whose proxy dies leaves the pool at once.
func TestContainerEnd(t *testing.T) {
	idle := newEnv(t, func(c *invoker.Config) { c.IdleTimeout = 300 * time.Millisecond })
	idle.acts.put(testAction("x", whisk.Limits{}))
	pid := decode(t, idle.run("x", map[string]any{})).PID
	poll(t, "the idle container to go", func() bool { return len(idle.inv.Containers()) == 0 })
	dead(t, pid)
	poll(t, "its work dir to go", func() bool {
		entries, err := os.ReadDir(idle.cfg.WorkDir)
		return err == nil && len(entries) == 0
	})

	e := newEnv(t, nil)
	e.acts.put(testAction("x", whisk.Limits{}))
	e.run("x", map[string]any{})
	cs := e.inv.Containers()
	if len(cs) != 1 {
		t.Fatalf("containers %+v", cs)
	}
	if err := syscall.Kill(int(cs[0].PID), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	poll(t, "the dead container to leave the pool", func() bool { return len(e.inv.Containers()) == 0 })
	if act := e.run("x", map[string]any{}); act.Response.StatusCode != 0 {
		t.Errorf("run after the proxy died: %s", act.Response.Result)
	} else if _, ok := ann(act, whisk.AnnInitTime); !ok {
		t.Errorf("run after the proxy died was not cold")
	}
}

// TestConcurrent: activations of one action that arrive together run at
// once, each in a container of its own.
func TestConcurrent(t *testing.T) {
	e := newEnv(t, nil)
	e.acts.put(testAction("c", whisk.Limits{}))
	var ids []string
	for n := range 3 {
		ids = append(ids, e.invoke("c", map[string]any{"mode": "sleep", "ms": 500, "n": n}, true))
	}
	pids := map[int]bool{}
	for _, id := range ids {
		ack := e.ack(id)
		if ack.Response.Response.StatusCode != 0 {
			t.Fatalf("response %s", ack.Response.Response.Result)
		}
		pids[decode(t, *ack.Response).PID] = true
	}
	if len(pids) != 3 || len(e.inv.Containers()) != 3 {
		t.Errorf("3 concurrent activations ran in %d processes, %d containers", len(pids), len(e.inv.Containers()))
	}
}
