package route

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wsk-route/wsk-route/cmd/wsk-route/sandbox/registry"
	"github.com/wsk-route/wsk-route/internal/frame"
	"github.com/wsk-route/wsk-route/internal/spec"
	"github.com/wsk-route/wsk-route/invoker-plugin/agent"
)

// The cross-host fallback of a large payload, in one process: two real
// host agents (hostA on 127.0.0.1, hostB on 127.0.0.2, each with its own
// run and shm directories, sharing the sandbox's embedded registry, their
// relays on TCP), real planes on both, a fake OpenWhisk API that hands the
// envelope to hostB's plane as an invoker would, and the real fallback()
// and RunFallback().

// blobAgent runs a host agent with its relay on ip until the test ends.
func blobAgent(t *testing.T, reg agent.Registry, host, ip string) (*agent.Agent, string) {
	t.Helper()
	return testAgent(t, reg, host, ip, nil)
}

// testAgent is blobAgent with edit applied to the agent's config.
func testAgent(t *testing.T, reg agent.Registry, host, ip string, edit func(*agent.Config)) (*agent.Agent, string) {
	t.Helper()
	base, err := os.MkdirTemp("", "wrb") // short: unix socket paths are limited
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	cfg := agent.Config{
		Host:        host,
		RunDir:      filepath.Join(base, "run"),
		ShmRoot:     filepath.Join(base, "shm"),
		StateDir:    filepath.Join(base, "state"),
		RelayListen: ip + ":0",
		TTL:         3 * time.Second,
		Registry:    reg,
		Logger:      slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo})),
		// The planes of one test process share its cgroup; where the
		// kernel cannot tell (no /proc), admit them unbound.
		AllowUnidentifiedPeers: true,
	}
	if edit != nil {
		edit(&cfg)
	}
	a, err := agent.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("agent %s: %v", host, err)
		}
	})
	return a, filepath.Join(base, "run")
}

// blobPlane runs a plane of action id on the agent at runDir until the
// test ends.
func blobPlane(t *testing.T, runDir, name string, id Identity, exec Executor, apiHost string) *Plane {
	t.Helper()
	p, err := New(Config{
		AgentSocket: filepath.Join(runDir, "agent.sock"), Name: name, APIHost: apiHost,
		AckTimeout: 2 * time.Second,
		Logger:     slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo})).With("plane", name),
	}, exec)
	if err != nil {
		t.Fatal(err)
	}
	p.Identify(id)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("plane %s: %v", name, err)
		}
	})
	return p
}

// fakeInvoker is the OpenWhisk API of the test: it accepts a non-blocking
// invoke of /ns1/b and runs it as an invoker would, on plane's
// RunFallback, whose call runs the action: it answers the size and digest
// of the value it got.
type fakeInvoker struct {
	t     *testing.T
	plane *Plane
	ctx   context.Context // ends with the test

	wg      sync.WaitGroup
	mu      sync.Mutex
	answers []string // RunFallback's answers and errors
	values  [][]byte // the values the action got
	refs    []string // the envelopes' payload kinds and refs
}

func (fi *fakeInvoker) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/api/v1/namespaces/ns1/actions/b" || r.URL.Query().Get("blocking") != "false" {
		http.Error(w, "unexpected "+r.URL.String(), http.StatusNotFound)
		return
	}
	env, err := io.ReadAll(r.Body)
	if err != nil || len(env) > MaxFallbackPayload {
		http.Error(w, fmt.Sprintf("envelope of %d bytes: %v", len(env), err), http.StatusRequestEntityTooLarge)
		return
	}
	if f, err := decodeEnvelope(env); err == nil {
		fi.mu.Lock()
		fi.refs = append(fi.refs, f.PayloadKind.String()+" "+f.Ref)
		fi.mu.Unlock()
	}
	fi.wg.Add(1)
	go func() {
		defer fi.wg.Done()
		ans, err := fi.plane.RunFallback(fi.ctx, env, "act-b-1", func(_ context.Context, body io.Reader) ([]byte, error) {
			var run struct {
				Value json.RawMessage `json:"value"`
			}
			if err := json.NewDecoder(body).Decode(&run); err != nil {
				return nil, err
			}
			fi.mu.Lock()
			fi.values = append(fi.values, append([]byte(nil), run.Value...))
			fi.mu.Unlock()
			sum := sha256.Sum256(run.Value)
			return []byte(fmt.Sprintf(`{"bytes":%d,"sha256":"%s"}`, len(run.Value), hex.EncodeToString(sum[:]))), nil
		})
		fi.mu.Lock()
		defer fi.mu.Unlock()
		if err != nil {
			fi.answers = append(fi.answers, "error: "+err.Error())
		} else {
			fi.answers = append(fi.answers, string(ans))
		}
	}()
	w.WriteHeader(http.StatusAccepted)
	fmt.Fprintln(w, `{"activationId":"act-b-1"}`)
}

// twoBlobHosts starts the agents of hostA and hostB on one embedded
// registry holding workflow "big" (a on /ns1/a, then b on /ns1/b) and
// returns their run directories.
func twoBlobHosts(t *testing.T) (runA, runB string) {
	t.Helper()
	reg := registryWith(t, `{"workflow":"big","namespace":"ns1","start":["a"],"steps":{"a":{"action":"/ns1/a","next":["b"]},"b":{"action":"/ns1/b"}}}`)
	_, runA = blobAgent(t, reg, "hostA", "127.0.0.1")
	_, runB = blobAgent(t, reg, "hostB", "127.0.0.2")
	return runA, runB
}

// registryWith returns the sandbox's embedded registry holding the spec
// specJSON.
func registryWith(t *testing.T, specJSON string) *registry.Registry {
	t.Helper()
	reg := registry.New(registry.Options{})
	sp, err := spec.Parse([]byte(specJSON))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reg.PutSpec(context.Background(), sp); err != nil {
		t.Fatal(err)
	}
	return reg
}

// TestFallbackLargePayloadCrossesHosts: step a on hostA produces 1.5 MB;
// the only instance of step b, on hostB, is busy, so hostA falls back
// through the API with a blob ref; the invoker runs b on hostB, whose
// agent pulls the payload from hostA's agent; b's result reaches the
// entry on hostA.
func TestFallbackLargePayloadCrossesHosts(t *testing.T) {
	runA, runB := twoBlobHosts(t)

	// Step a's result: a JSON object of 1.5 MB.
	big := []byte(`{"blob":"` + strings.Repeat("0123456789abcdef", 1500<<10/16) + `"}`)
	testCtx, cancel := context.WithCancel(context.Background())
	defer cancel()
	planeB := blobPlane(t, runB, "pb", Identity{Namespace: "ns1", Action: "/ns1/b", APIKey: "u:p"}, &fakeExecutor{free: false}, "")
	inv := &fakeInvoker{t: t, plane: planeB, ctx: testCtx}
	api := httptest.NewServer(inv)
	defer api.Close()
	defer inv.wg.Wait()
	entry := blobPlane(t, runA, "entry", Identity{Namespace: "ns1", Action: "/ns1/entry", APIKey: "u:p"}, nil, api.URL)
	blobPlane(t, runA, "pa", Identity{Namespace: "ns1", Action: "/ns1/a", APIKey: "u:p"}, &fakeExecutor{free: true, result: big}, api.URL)

	ctx, cancelRun := context.WithTimeout(testCtx, 20*time.Second)
	defer cancelRun()
	if err := entry.WaitReady(ctx, "big"); err != nil {
		t.Fatal(err)
	}
	waitInstances(t, ctx, entry, "/ns1/a", 1)
	waitInstances(t, ctx, planeB, "/ns1/a", 1) // so hostB's agent knows hostA
	waitInstances(t, ctx, entry, "/ns1/b", 1)  // the busy one: tried, refused, then the fallback

	res, err := entry.StartRun(ctx, "big", []byte(`{}`), RunOptions{})
	if err != nil {
		t.Fatalf("StartRun: %v (fallback answers %q)", err, inv.answers)
	}
	sum := sha256.Sum256(big)
	want := fmt.Sprintf(`{"bytes":%d,"sha256":"%s"}`, len(big), hex.EncodeToString(sum[:]))
	if string(res.Value) != want {
		t.Errorf("result %s, want %s", res.Value, want)
	}
	inv.wg.Wait()
	inv.mu.Lock()
	defer inv.mu.Unlock()
	if len(inv.refs) != 1 || !strings.HasPrefix(inv.refs[0], frame.PayloadBlob.String()+" hostA/") {
		t.Errorf("envelopes carried %q, want one blob ref of hostA", inv.refs)
	}
	if len(inv.values) != 1 || !bytes.Equal(inv.values[0], big) {
		t.Errorf("step b ran %d times; want once, with the %d bytes of a's result", len(inv.values), len(big))
	}
	if len(inv.answers) != 1 || !strings.Contains(inv.answers[0], `"forwarded":true`) {
		t.Errorf("RunFallback answered %q, want one forwarded answer", inv.answers)
	}
	// Both copies of the payload are gone: hostA's once it was pulled,
	// hostB's once the step ran.
	for _, dir := range []string{filepath.Join(filepath.Dir(runA), "shm", "ns1"), filepath.Join(filepath.Dir(runB), "shm", "ns1")} {
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) != 0 {
			t.Errorf("%s still holds %d segment(s)", dir, len(entries))
		}
	}
}

// TestFallbackLargePayloadSegmentGone: when the producer's segment is gone
// (swept), the run fails at the step, naming the host and the segment.
func TestFallbackLargePayloadSegmentGone(t *testing.T) {
	runA, runB := twoBlobHosts(t)
	big := []byte(`{"blob":"` + strings.Repeat("x", 800<<10) + `"}`)
	testCtx, cancel := context.WithCancel(context.Background())
	defer cancel()
	planeB := blobPlane(t, runB, "pb", Identity{Namespace: "ns1", Action: "/ns1/b", APIKey: "u:p"}, &fakeExecutor{free: false}, "")
	shmA := filepath.Join(filepath.Dir(runA), "shm", "ns1")
	// The invoker takes its time: meanwhile hostA's segment is swept.
	inv := &fakeInvoker{t: t, plane: planeB, ctx: testCtx}
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entries, _ := os.ReadDir(shmA)
		for _, e := range entries {
			os.Remove(filepath.Join(shmA, e.Name()))
		}
		inv.ServeHTTP(w, r)
	}))
	defer api.Close()
	defer inv.wg.Wait()
	entry := blobPlane(t, runA, "entry", Identity{Namespace: "ns1", Action: "/ns1/entry", APIKey: "u:p"}, nil, api.URL)
	blobPlane(t, runA, "pa", Identity{Namespace: "ns1", Action: "/ns1/a", APIKey: "u:p"}, &fakeExecutor{free: true, result: big}, api.URL)

	ctx, cancelRun := context.WithTimeout(testCtx, 20*time.Second)
	defer cancelRun()
	if err := entry.WaitReady(ctx, "big"); err != nil {
		t.Fatal(err)
	}
	waitInstances(t, ctx, entry, "/ns1/a", 1)
	waitInstances(t, ctx, entry, "/ns1/b", 1)
	waitInstances(t, ctx, planeB, "/ns1/a", 1)
	_, err := entry.StartRun(ctx, "big", []byte(`{}`), RunOptions{})
	if err == nil {
		t.Fatal("StartRun succeeded without its payload")
	}
	for _, want := range []string{"step b", "host hostA", "is gone"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("run error %q does not say %q", err, want)
		}
	}
	inv.wg.Wait()
	inv.mu.Lock()
	defer inv.mu.Unlock()
	if len(inv.values) != 0 {
		t.Errorf("step b ran %d times without its payload", len(inv.values))
	}
}

// waitInstances waits until p's table holds n instances of action.
func waitInstances(t *testing.T, ctx context.Context, p *Plane, action string, n int) {
	t.Helper()
	for len(p.Instances(action)) < n {
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %d instance(s) of %s: %v", n, action, ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}
