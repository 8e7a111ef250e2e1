package server_test

// Section 5: defects of the stock Go proxy that this proxy fixes. Each test
// fails on the stock behaviour. Hangs are detected by the client timeout
// (hangTimeout), never by measuring how long something took.

import (
	"context"
	"fmt"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/wsk-route/wsk-route/action-proxy/server"
)

// oneOf checks that got is one of the allowed status and body pairs.
func oneOf(t *testing.T, what string, got response, allowed ...response) {
	t.Helper()
	for _, a := range allowed {
		if got.status == a.status && got.body == a.body {
			return
		}
	}
	t.Errorf("%s: got %v, want one of %v", what, got, allowed)
}

var (
	respNoAction = response{status: 500, body: bodyNoAction}
	respDead     = response{status: 500, body: bodyExited}
	respExited   = response{status: 400, body: bodyExited}
)

func TestDefectDeadChildNoHang(t *testing.T) {
	// 5.2: the stock proxy's one-shot exit channel makes the /run after a
	// crash block forever.
	t.Run("exits during run", func(t *testing.T) {
		h := newHarness(t, nil)
		h.mustInit(t, childInit("exit-on-input"))
		want(t, "run (child exits)", h.run(t, runPayload(map[string]any{}, nil)), 400, bodyExited)
		for i := range 3 {
			want(t, fmt.Sprintf("run %d after the exit", i+2), h.run(t, runPayload(map[string]any{}, nil)), 500, bodyNoAction)
		}
		_, errs := h.checkStreams(t, 1)
		if !strings.Contains(errs, "Goodbye!") {
			t.Errorf("stderr %q misses the child's last words", errs)
		}
	})
	for _, ack := range []bool{false, true} {
		t.Run(fmt.Sprintf("killed while idle, ack %v", ack), func(t *testing.T) {
			// As when the kernel OOM-kills the child between activations.
			requireProc(t)
			h := newHarness(t, func(c *server.Config) { c.WaitForAck = ack })
			h.mustInit(t, childInit("pid"))
			pid := decodePID(t, h.run(t, runPayload(map[string]any{}, nil))).PID
			if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
				t.Fatalf("kill %d: %v", pid, err)
			}
			poll(t, "the child to die", func() bool { return processGone(pid) })
			got := h.run(t, runPayload(map[string]any{}, nil))
			oneOf(t, "run after the kill", got, respDead, respExited, respNoAction)
			for i := range 3 {
				oneOf(t, fmt.Sprintf("run %d after the kill", i+2), h.run(t, runPayload(map[string]any{}, nil)), respDead, respNoAction)
			}
			// Sentinels only for runs that reached the child: the first,
			// and the one after the kill if it found out by writing to it.
			sentinels := 1
			if got.status == 400 {
				sentinels++
			}
			h.checkStreams(t, sentinels)
		})
	}
}

func TestDefectAckWaitBounded(t *testing.T) {
	// 5.2: the stock proxy waits for the ack with no time limit.
	t.Run("AckTimeout", func(t *testing.T) {
		h := newHarness(t, func(c *server.Config) {
			c.WaitForAck = true
			c.AckTimeout = 300 * time.Millisecond
		})
		got := h.init(t, childInit("never-ack"))
		if got.status != 502 || !strings.HasPrefix(got.body, `{"error":"cannot start action: `) {
			t.Errorf("init of a child that never acks: got %v, want 502 cannot start action: ...", got)
		}
		want(t, "run", h.run(t, runPayload(map[string]any{}, nil)), 500, bodyNoAction)
		h.mustInit(t, childInit("echo"))
		wantResult(t, "run after a good init", h.run(t, runPayload(map[string]any{"ok": 1}, nil)), `{"ok":1}`+"\n")
	})
	t.Run("AckTimeout with OW_LOG_INIT_ERROR", func(t *testing.T) {
		h := newHarness(t, func(c *server.Config) {
			c.WaitForAck = true
			c.LogInitError = true
			c.AckTimeout = 300 * time.Millisecond
		})
		want(t, "init", h.init(t, childInit("never-ack")), 502, bodyCannotStart)
		h.checkStreams(t, 1)
	})
	t.Run("__OW_DEADLINE", func(t *testing.T) {
		// The default bound is 2 minutes, shortened by the deadline of the
		// first activation in the init env.
		h := newHarness(t, func(c *server.Config) { c.WaitForAck = true })
		deadline := strconv.FormatInt(time.Now().Add(500*time.Millisecond).UnixMilli(), 10)
		got := h.init(t, childInit("never-ack", "__OW_DEADLINE", deadline))
		if got.status != 502 || !strings.HasPrefix(got.body, `{"error":"cannot start action: `) {
			t.Errorf("init past __OW_DEADLINE: got %v, want 502 cannot start action: ...", got)
		}
	})
}

func TestDefectNullResult(t *testing.T) {
	// 5.4: the stock proxy returns null with 200; the invoker then reports
	// a developer error.
	h := newHarness(t, nil)
	h.mustInit(t, childInit("null"))
	want(t, "run", h.run(t, runPayload(map[string]any{}, nil)), 502, bodyNotDict)
	want(t, "second run", h.run(t, runPayload(map[string]any{}, nil)), 502, bodyNotDict)
	h.checkStreams(t, 2)
}

func TestDefectExtraLinesNotPaired(t *testing.T) {
	// 5.3: the stock proxy answers the next activation with an extra fd-3
	// line of the previous one.
	h := newHarness(t, nil)
	h.mustInit(t, childInit("two-lines"))
	first := h.run(t, runPayload(map[string]any{"n": 1}, nil))
	if first.status == 200 && first.body != `{"line":1}`+"\n" {
		t.Errorf("run 1: got %v, want its first line", first)
	}
	for n := 2; n <= 4; n++ {
		body := fmt.Sprintf(`{"n":%d}`, n)
		wantResult(t, fmt.Sprintf("run %d", n), h.run(t, runPayload(map[string]any{"n": n}, nil)), body+"\n")
	}
}

func TestDefectWriteThenExit(t *testing.T) {
	// 5.2: a child that writes its result and exits gets 200 or 400 from
	// the stock proxy, depending on a select race. The result wins.
	for i := range 20 {
		h := newHarness(t, nil)
		h.mustInit(t, childInit("write-then-exit"))
		wantResult(t, fmt.Sprintf("attempt %d", i), h.run(t, runPayload(map[string]any{}, nil)), `{"done":true}`+"\n")
		h.checkStreams(t, 1)
		// Whether the proxy has seen the exit before the next request is a
		// race, so "exited during the exchange" is fine too.
		oneOf(t, "run after the exit", h.run(t, runPayload(map[string]any{}, nil)), respDead, respExited, respNoAction)
		if t.Failed() {
			return
		}
	}
}

func TestDefectEnvValuesWithEquals(t *testing.T) {
	// 5.6: the stock proxy splits __OW_* on every '=' and keeps one piece.
	h := newHarness(t, func(c *server.Config) {
		c.Environ = append(c.Environ, "__OW_API_HOST=http://h/?a=b", "__OW_EMPTY=", "__OW_EQ==")
	})
	h.mustInit(t, childInit("env", "INIT_PARAM", "k=v=w"))
	got := h.run(t, runPayload(map[string]any{}, nil))
	env := map[string]string{}
	decodeJSON(t, got.body, &env)
	for k, v := range map[string]string{"__OW_API_HOST": "http://h/?a=b", "__OW_EQ": "=", "INIT_PARAM": "k=v=w"} {
		if env[k] != v {
			t.Errorf("child env %s=%q, want %q", k, env[k], v)
		}
	}
	if v, ok := env["__OW_EMPTY"]; !ok || v != "" {
		t.Errorf("child env __OW_EMPTY=%q (present %v), want present and empty", v, ok)
	}
}

func TestDefectConcurrentRunsSerialised(t *testing.T) {
	// 5.1: one stdin/fd-3 pair read without a lock merges or swaps results.
	h := newHarness(t, nil)
	h.mustInit(t, childInit("echo"))
	const n = 10
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			value := fmt.Sprintf(`{"id":%d,"pad":%q}`, i, strings.Repeat(strconv.Itoa(i), 1000*(i+1)))
			got, err := h.tryPost(context.Background(), t, "/run", []byte(`{"value":`+value+`}`))
			if err != nil {
				t.Errorf("run %d: %v", i, err)
				return
			}
			if got.status != 200 || got.body != value+"\n" {
				t.Errorf("run %d: got %d %q, want its own input back", i, got.status, truncate(got.body))
			}
		}()
	}
	wg.Wait()
	h.checkStreams(t, n)
}

func TestDefectConcurrentPool(t *testing.T) {
	// 5.1: with __OW_ALLOW_CONCURRENT=true concurrent activations run in a
	// pool of children. Parallelism is seen in the number of children that
	// answered, not in elapsed time.
	tests := []struct {
		name    string
		max     int
		calls   int
		wantMin int
		wantMax int
	}{
		{"unbounded", 0, 4, 2, 4},
		{"MaxConcurrent 2", 2, 6, 1, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, func(c *server.Config) {
				c.AllowConcurrent = true
				c.MaxConcurrent = tc.max
			})
			h.mustInit(t, childInit("pid", "SLEEP_MS", "300"))
			var (
				mu   sync.Mutex
				pids = map[int]bool{}
				wg   sync.WaitGroup
			)
			for i := range tc.calls {
				wg.Add(1)
				go func() {
					defer wg.Done()
					value := fmt.Sprintf(`{"call":%d}`, i)
					got, err := h.tryPost(context.Background(), t, "/run", []byte(`{"value":`+value+`}`))
					if err != nil {
						t.Errorf("call %d: %v", i, err)
						return
					}
					var p pidResult
					if got.status != 200 {
						t.Errorf("call %d: got %v, want 200", i, got)
						return
					}
					if err := jsonUnmarshal(got.body, &p); err != nil || string(p.Value) != value {
						t.Errorf("call %d: got %q, want the pid and its own value %s", i, got.body, value)
						return
					}
					mu.Lock()
					pids[p.PID] = true
					mu.Unlock()
				}()
			}
			wg.Wait()
			if len(pids) < tc.wantMin || len(pids) > tc.wantMax {
				t.Errorf("%d concurrent calls were answered by %d children %v, want %d to %d",
					tc.calls, len(pids), pids, tc.wantMin, tc.wantMax)
			}
			h.checkStreams(t, tc.calls)
		})
	}
}

func TestDefectLongErrorBodyHasContentLength(t *testing.T) {
	// 5.9: net/http sends error bodies over about 2 KB chunked unless the
	// handler sets Content-Length; the invoker reads that as no response.
	script := compiler(t, "big.sh")
	out, err := exec.Command(script, "main", t.TempDir(), t.TempDir()).CombinedOutput()
	if err != nil || len(out) < 10*1024 {
		t.Fatalf("big.sh: %d bytes, %v", len(out), err)
	}
	h := newHarness(t, func(c *server.Config) { c.Compiler = script })
	// post checks Content-Length and the absence of chunking.
	want(t, "init", h.init(t, initPayload("not executable", "main", nil, false)), 502, errBody(string(out)))
}

func TestDefectUnknownPath(t *testing.T) {
	// Compatibility: any other path answers 200 with an empty body, with
	// Content-Length 0.
	h := newHarness(t, nil)
	for _, tc := range []struct{ method, path string }{
		{http.MethodGet, "/health"},
		{http.MethodPost, "/health"},
		{http.MethodGet, "/"},
		{http.MethodPost, "/initx"},
	} {
		req, err := http.NewRequest(tc.method, h.srv.URL+tc.path, strings.NewReader(""))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := h.client.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", tc.method, tc.path, err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.ContentLength != 0 {
			t.Errorf("%s %s: got %d with Content-Length %d, want 200 and 0", tc.method, tc.path, resp.StatusCode, resp.ContentLength)
		}
		checkTransport(t, tc.path, resp, 0)
	}
	h.checkStreams(t, 0)
}

func TestDefectClientDisconnect(t *testing.T) {
	// A client that goes away mid-/run must not wedge the proxy, nor leave
	// its late result to be paired with the next activation.
	t.Run("slow answer", func(t *testing.T) {
		h := newHarness(t, nil)
		h.mustInit(t, childInit("slow-first", "SLEEP_MS", "1000"))
		cutRun(t, h, `{"value":{"n":1}}`, "received 1")
		got := h.run(t, runPayload(map[string]any{"n": 2}, nil))
		if got.status == 200 && got.body != `{"n":2}`+"\n" {
			t.Errorf("run after the disconnect: got %v, want its own result or an error", got)
		}
		if got.status != 200 && !strings.HasPrefix(got.body, `{"error":`) {
			t.Errorf("run after the disconnect: got %v, want an error body", got)
		}
	})
	t.Run("no answer", func(t *testing.T) {
		// The abandoned activation may run on, as in the stock proxy, but
		// not past the deadline the invoker always sends: then the child
		// is stopped and the next /run answers.
		h := newHarness(t, nil)
		h.mustInit(t, childInit("never-answer"))
		deadline := strconv.FormatInt(time.Now().Add(time.Second).UnixMilli(), 10)
		cutRun(t, h, `{"value":{"n":1},"deadline":"`+deadline+`"}`, "received 1")
		got := h.run(t, runPayload(map[string]any{"n": 2}, nil))
		if got.status == 200 || !strings.HasPrefix(got.body, `{"error":`) {
			t.Errorf("run after the disconnect: got %v, want an error (the child never answers)", got)
		}
	})
}

// cutRun sends a /run and disconnects once the child has printed marker,
// that is, once the request reached the child.
func cutRun(t *testing.T, h *harness, body, marker string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		r, err := h.tryPost(ctx, t, "/run", []byte(body))
		if err == nil {
			err = fmt.Errorf("answered %v before the disconnect", r)
		}
		done <- err
	}()
	h.waitForStream(t, h.stdout, marker)
	cancel()
	if err := <-done; err != nil && ctx.Err() == nil {
		t.Errorf("first run: %v", err)
	}
}

func TestDefectCloseReapsChildren(t *testing.T) {
	requireProc(t)
	for _, concurrent := range []bool{false, true} {
		t.Run(fmt.Sprintf("concurrent %v", concurrent), func(t *testing.T) {
			h := newHarness(t, func(c *server.Config) { c.AllowConcurrent = concurrent })
			h.mustInit(t, childInit("pid", "SLEEP_MS", "100"))
			var (
				mu   sync.Mutex
				pids []int
				wg   sync.WaitGroup
			)
			for range 3 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					got, err := h.tryPost(context.Background(), t, "/run", runPayload(map[string]any{}, nil))
					var p pidResult
					if err != nil || got.status != 200 || jsonUnmarshal(got.body, &p) != nil {
						t.Errorf("run: %v %v", got, err)
						return
					}
					mu.Lock()
					pids = append(pids, p.PID)
					mu.Unlock()
				}()
			}
			wg.Wait()
			if err := h.proxy.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			for _, pid := range pids {
				if !processReaped(pid) {
					t.Errorf("child %d is still there after Close", pid)
				}
			}
			want(t, "run after Close", h.run(t, runPayload(map[string]any{}, nil)), 500, bodyNoAction)
		})
	}
}

func TestDefectCloseDuringInit(t *testing.T) {
	// Close kills every child, including one whose ack /init is still
	// waiting for: the /init answers instead of waiting out AckTimeout.
	requireProc(t)
	h := newHarness(t, func(c *server.Config) { c.WaitForAck = true })
	done := make(chan response, 1)
	go func() {
		r, err := h.tryPost(context.Background(), t, "/init", childInit("never-ack"))
		if err != nil {
			t.Errorf("init: %v (a timeout means Close did not stop the start)", err)
		}
		done <- r
	}()
	h.waitForStream(t, h.stdout, "never-ack pid ")
	var pid int
	if _, err := fmt.Sscanf(strings.SplitAfter(readFile(t, h.stdout.Name()), "never-ack pid ")[1], "%d", &pid); err != nil {
		t.Fatalf("reading the child's pid: %v", err)
	}
	if err := h.proxy.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if r := <-done; r.status == 200 {
		t.Errorf("init: got %v after Close, want an error", r)
	}
	poll(t, "the child to be reaped", func() bool { return processReaped(pid) })
}

func TestDefectConcurrentInit(t *testing.T) {
	// 5.9: the stock proxy's initialized flag is not locked; concurrent
	// inits must still give exactly one action.
	requireTools(t, "bash")
	h := newHarness(t, nil)
	const n = 5
	results := make(chan response, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			code := fmt.Sprintf("#!/bin/bash\nwhile read line; do echo '{\"init\":%d}' >&3; done\n", i)
			r, err := h.tryPost(context.Background(), t, "/init", initPayload(code, "main", nil, false))
			if err != nil {
				t.Errorf("init %d: %v", i, err)
				return
			}
			results <- r
		}()
	}
	wg.Wait()
	close(results)
	ok := 0
	for r := range results {
		switch {
		case r.status == 200 && r.body == okBody:
			ok++
		case r.status == 403 && r.body == bodyTwice:
		default:
			t.Errorf("concurrent init: got %v, want 200 ok or 403 %q", r, bodyTwice)
		}
	}
	if ok != 1 {
		t.Errorf("%d of %d concurrent inits succeeded, want exactly 1", ok, n)
	}
	got := h.run(t, runPayload(map[string]any{}, nil))
	if got.status != 200 || !strings.HasPrefix(got.body, `{"init":`) {
		t.Errorf("run: got %v, want the result of the one initialised action", got)
	}
}
