package agent_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wsk-route/wsk-route/internal/agentproto"
	"github.com/wsk-route/wsk-route/internal/consulstore"
	"github.com/wsk-route/wsk-route/internal/frame"
	"github.com/wsk-route/wsk-route/internal/spec"
	"github.com/wsk-route/wsk-route/internal/testenv"
	"github.com/wsk-route/wsk-route/invoker-plugin/agent"
)

// recoveryStore is a store of the test's own, as newStore's, with its KV
// prefix, which the tests wipe.
func recoveryStore(t *testing.T) (*consulstore.Store, string) {
	t.Helper()
	c := testenv.SharedConsul(t)
	name := fmt.Sprintf("wrr%d-%d", os.Getpid(), storeSeq.Add(1))
	s, err := consulstore.New(consulstore.Options{Address: c.Addr, Prefix: name, Service: name})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, name
}

// wipe deletes everything under prefix with one delete-tree, as a Consul
// that lost its data. Consul does not wake the agent's blocking query on
// <prefix>/specs/ for it when that prefix holds a tombstone (a spec
// deleted before): the agents find this loss at the next key they need,
// or at their periodic check.
func wipe(t *testing.T, prefix string) { deleteKV(t, prefix+"?recurse=true") }

// wipeEach deletes the marker, the keys and the specs under prefix, each
// part with a delete of its own: the spec watches see it at once. The
// marker goes first: specs deleted while the marker is there are deleted
// on purpose, and stay deleted.
func wipeEach(t *testing.T, prefix string) {
	for _, part := range []string{"/cluster", "/keys/?recurse=true", "/specs/?recurse=true"} {
		deleteKV(t, prefix+part)
	}
}

// deleteKV deletes a KV entry (with "?recurse=true", a tree) without the
// store, as any Consul client could.
func deleteKV(t *testing.T, key string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodDelete, "http://"+testenv.SharedConsul(t).Addr+"/v1/kv/"+key, nil)
	if err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("DELETE %s: %s", key, resp.Status)
	}
}

// stateDir is the state directory startAgent gave a.
func stateDir(a *testAgent) string { return filepath.Join(filepath.Dir(a.runDir), "state") }

// copyFile is the part of an agent's registry copy the tests read.
type copyFile struct {
	Marker string            `json:"marker"`
	Keys   map[string][]byte `json:"keys"`
	Specs  []json.RawMessage `json:"specs"`
}

// waitCopy waits until the registry copy in the state directory dir
// satisfies cond.
func waitCopy(t *testing.T, dir, what string, cond func(c copyFile) bool) copyFile {
	t.Helper()
	path := filepath.Join(dir, agent.RegistryCopyFile)
	deadline := time.Now().Add(waitTimeout)
	for {
		var c copyFile
		data, err := os.ReadFile(path)
		if err == nil {
			err = json.Unmarshal(data, &c)
		}
		if err == nil && cond(c) {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("registry copy %s: waiting for %s: gave up (%v; %s)", path, what, err, data)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitStore polls cond against the store until it holds.
func waitStore(t *testing.T, what string, cond func(ctx context.Context) (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		ok, err := cond(ctx)
		cancel()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("registry: waiting for %s: gave up (%v)", what, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// sample returns a two-step spec of namespace ns.
func sample(ns, workflow string) *spec.Spec {
	return &spec.Spec{Namespace: ns, Workflow: workflow, Start: []string{"a"}, Steps: map[string]spec.Step{
		"a": {Action: "/" + ns + "/first", Next: []string{"b"}},
		"b": {Action: "/" + ns + "/second"},
	}}
}

// metricValue returns the value of the sample named series in the agent's
// /metrics (0 when absent).
func metricValue(t *testing.T, a *testAgent, series string) float64 {
	t.Helper()
	body := scrape(t, "http://"+a.MetricsAddr()+"/metrics")
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindStringSubmatch(body)
	if m == nil {
		return 0
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatalf("%s: %v", series, err)
	}
	return v
}

func withMetrics(c *agent.Config) { c.MetricsListen = "127.0.0.1:0" }

// TestRegistryLossRestored wipes the registry under two running agents:
// the marker, every key (also of a namespace the restoring agent never
// served) and every spec come back identical, a workflow deleted before
// the loss stays deleted, the proxies never see their specs go, the loss
// is counted, and a container that registers after the loss, on the other
// host, gets the key of the containers from before it, so that frames
// between them verify. The registry is wiped in two ways: found by the
// spec watches, and found by the next container's registration.
func TestRegistryLossRestored(t *testing.T) {
	t.Run("spec watch", func(t *testing.T) { testLoss(t, wipeEach, false) })
	t.Run("next register", func(t *testing.T) { testLoss(t, wipe, true) })
}

// testLoss runs TestRegistryLossRestored with wipeFn; with registerFirst,
// the container after the loss registers before the restore is awaited.
func testLoss(t *testing.T, wipeFn func(*testing.T, string), registerFirst bool) {
	store, prefix := recoveryStore(t)
	a := startAgent(t, "hostA", store, withMetrics)
	b := startAgent(t, "hostB", store, withMetrics)
	ctx := context.Background()
	for _, wf := range []string{"flow", "gone"} {
		if _, err := store.PutSpec(ctx, sample("guest", wf)); err != nil {
			t.Fatal(err)
		}
	}
	old := newProxy(t, a, "guest", "old")
	other := newProxy(t, a, "other", "o1")
	old.waitFor("both specs", func() bool { return old.specs["flow"].Spec != nil && old.specs["gone"].Spec != nil })
	// A deliberate delete, while the marker is there.
	if err := store.DeleteSpec(ctx, "guest", "gone"); err != nil {
		t.Fatal(err)
	}
	old.waitFor("gone removed", func() bool { _, ok := old.specs["gone"]; return !ok })
	marker, err := store.Marker(ctx)
	if err != nil || marker == "" {
		t.Fatalf("Marker = %q, %v; want the one an agent created", marker, err)
	}
	before, err := store.GetSpec(ctx, "guest", "flow")
	if err != nil || before == nil {
		t.Fatalf("GetSpec = %v, %v", before, err)
	}
	// Host B never served guest or other, and must still hold their keys.
	for _, ag := range []*testAgent{a, b} {
		waitCopy(t, stateDir(ag), "the marker, both keys and one spec", func(c copyFile) bool {
			return c.Marker == marker && bytes.Equal(c.Keys["guest"], old.key) && bytes.Equal(c.Keys["other"], other.key) && len(c.Specs) == 1
		})
	}
	old.mu.Lock()
	seen := len(old.msgs)
	old.mu.Unlock()

	wipeFn(t, prefix)

	var nw *fakeProxy
	if registerFirst {
		nw = newProxy(t, b, "guest", "new")
	}
	waitStore(t, "the registry restored", func(ctx context.Context) (bool, error) {
		m, err := store.Marker(ctx)
		return m == marker, err
	})
	// The marker comes back last: everything else is back already.
	for ns, want := range map[string][]byte{"guest": old.key, "other": other.key} {
		if k, err := store.NamespaceKey(ctx, ns); err != nil || !bytes.Equal(k, want) {
			t.Errorf("key of %s after the restore = %x, %v; want %x", ns, k, err, want)
		}
	}
	after, err := store.GetSpec(ctx, "guest", "flow")
	if err != nil || after == nil {
		t.Fatalf("flow after the restore: %v, %v", after, err)
	}
	after.Version, before.Version = 0, 0
	if x, y := mustMarshal(t, before), mustMarshal(t, after); !bytes.Equal(x, y) {
		t.Errorf("flow after the restore:\n%s\nwant\n%s", y, x)
	}
	if sp, err := store.GetSpec(ctx, "guest", "gone"); sp != nil || err != nil {
		t.Errorf("the deleted workflow after the restore: %v, %v; want it to stay deleted", sp, err)
	}

	// A container of guest registering now, on the other host, gets the
	// old containers' key: a frame of one verifies at the other.
	if !registerFirst {
		nw = newProxy(t, b, "guest", "new")
	}
	if !bytes.Equal(nw.key, old.key) {
		t.Fatalf("a container after the loss got key %x, the one before %x", nw.key, old.key)
	}
	f := &frame.Frame{Kind: frame.KindStep, RunID: "r1", Workflow: "flow", Step: "b", Namespace: "guest",
		Target: "hostB/new", Deadline: time.Now().Add(time.Minute).UnixNano(), Payload: []byte(`{}`), Size: 2}
	f.Sign(old.key)
	if !f.Verify(nw.key) {
		t.Error("a frame signed by the old container does not verify with the new container's key")
	}
	nw.waitFor("flow", func() bool { return nw.specs["flow"].Spec != nil })

	// The old proxy never lost flow: the lossy picture was not delivered.
	old.mu.Lock()
	for _, m := range old.msgs[seen:] {
		if m.Type == agentproto.TypeSpecs && (slices.Contains(m.Specs.Remove, "flow") ||
			m.Specs.Full && !slices.ContainsFunc(m.Specs.Upsert, func(sd agentproto.SpecData) bool { return sd.Workflow == "flow" })) {
			t.Errorf("the old proxy was sent %+v after the loss, without flow", m.Specs)
		}
	}
	_, stillThere := old.specs["flow"]
	old.mu.Unlock()
	if !stillThere {
		t.Error("the old proxy lost flow")
	}

	var losses, markers, specs, keys float64
	for _, ag := range []*testAgent{a, b} {
		losses += metricValue(t, ag, "wsk_route_registry_losses_total")
		markers += metricValue(t, ag, `wsk_route_registry_restores_total{what="marker"}`)
		specs += metricValue(t, ag, `wsk_route_registry_restores_total{what="spec"}`)
		keys += metricValue(t, ag, `wsk_route_registry_restores_total{what="key"}`)
	}
	// Both agents may have seen the loss and raced to restore: a spec is
	// stored once, a marker or a key is counted by each agent that found
	// its own value stored.
	if losses < 1 || markers < 1 || specs != 1 || keys < 2 {
		t.Errorf("losses %v, restores of markers %v, specs %v, keys %v; want >= 1, >= 1, 1, >= 2", losses, markers, specs, keys)
	}
}

// TestRegistryLossWhileAgentDown wipes the registry while the only agent
// is stopped: the agent started again on the same state directory finds
// the loss and restores it.
func TestRegistryLossWhileAgentDown(t *testing.T) {
	store, prefix := recoveryStore(t)
	ctx := context.Background()
	first := startAgent(t, "hostA", store, nil)
	if _, err := store.PutSpec(ctx, sample("guest", "flow")); err != nil {
		t.Fatal(err)
	}
	p := newProxy(t, first, "guest", "p1")
	key := p.key
	waitCopy(t, stateDir(first), "the spec", func(c copyFile) bool { return len(c.Specs) == 1 && c.Marker != "" })
	p.close()
	if err := first.stop(); err != nil {
		t.Fatal(err)
	}
	wipe(t, prefix)
	second := startAgent(t, "hostA", store, func(c *agent.Config) { c.StateDir = stateDir(first) })
	waitStore(t, "the spec and key restored", func(ctx context.Context) (bool, error) {
		sp, err := store.GetSpec(ctx, "guest", "flow")
		if sp == nil || err != nil {
			return false, err
		}
		k, err := store.NamespaceKey(ctx, "guest")
		return bytes.Equal(k, key), err
	})
	if p2 := newProxy(t, second, "guest", "p2"); !bytes.Equal(p2.key, key) {
		t.Errorf("key after the restore %x, want %x", p2.key, key)
	}
}

// TestRegistryConflicts starts an agent, whose copy is of one registry, on
// a registry that another agent re-created meanwhile (another marker,
// another key, another spec): the agent follows the registry, reports
// both conflicts, and restores nothing of its copy.
func TestRegistryConflicts(t *testing.T) {
	store, prefix := recoveryStore(t)
	ctx := context.Background()
	first := startAgent(t, "hostA", store, nil)
	if _, err := store.PutSpec(ctx, sample("guest", "old-flow")); err != nil {
		t.Fatal(err)
	}
	p := newProxy(t, first, "guest", "p1")
	waitCopy(t, stateDir(first), "the spec", func(c copyFile) bool { return len(c.Specs) == 1 && c.Marker != "" })
	p.close()
	if err := first.stop(); err != nil {
		t.Fatal(err)
	}
	wipe(t, prefix)
	if _, err := store.CreateMarker(ctx, "recreated"); err != nil {
		t.Fatal(err)
	}
	newKey, err := store.CreateNamespaceKey(ctx, "guest", nil)
	if err != nil || bytes.Equal(newKey, p.key) {
		t.Fatalf("CreateNamespaceKey = %x, %v", newKey, err)
	}
	if _, err := store.PutSpec(ctx, sample("guest", "new-flow")); err != nil {
		t.Fatal(err)
	}

	second := startAgent(t, "hostA", store, func(c *agent.Config) {
		c.StateDir = stateDir(first)
		withMetrics(c)
	})
	p2 := newProxy(t, second, "guest", "p2")
	if !bytes.Equal(p2.key, newKey) {
		t.Errorf("key %x, want the registry's %x", p2.key, newKey)
	}
	p2.waitFor("new-flow only", func() bool {
		_, old := p2.specs["old-flow"]
		return p2.specs["new-flow"].Spec != nil && !old
	})
	c := waitCopy(t, stateDir(first), "the registry's marker and key", func(c copyFile) bool {
		return c.Marker == "recreated" && bytes.Equal(c.Keys["guest"], newKey) && len(c.Specs) == 1
	})
	if !strings.Contains(string(c.Specs[0]), "new-flow") {
		t.Errorf("copy holds %s, want new-flow", c.Specs[0])
	}
	if sp, err := store.GetSpec(ctx, "guest", "old-flow"); sp != nil || err != nil {
		t.Errorf("old-flow in the re-created registry: %v, %v; want it not restored", sp, err)
	}
	for _, series := range []string{`wsk_route_registry_conflicts_total{what="marker"}`, `wsk_route_registry_conflicts_total{what="key"}`} {
		if v := metricValue(t, second, series); v != 1 {
			t.Errorf("%s = %v, want 1", series, v)
		}
	}
	if v := metricValue(t, second, "wsk_route_registry_losses_total"); v != 0 {
		t.Errorf("losses %v, want 0 (a re-created registry is not a lost one)", v)
	}
}

// TestKeyCreatedOnlyOnce checks that a namespace's key deleted from a
// registry that keeps its marker is put back as it was, not created anew.
func TestKeyCreatedOnlyOnce(t *testing.T) {
	store, prefix := recoveryStore(t)
	a := startAgent(t, "hostA", store, withMetrics)
	p1 := newProxy(t, a, "guest", "p1")
	waitCopy(t, stateDir(a), "the key", func(c copyFile) bool { return bytes.Equal(c.Keys["guest"], p1.key) })
	deleteKV(t, prefix+"/keys/guest")
	p2 := newProxy(t, a, "guest", "p2")
	if !bytes.Equal(p2.key, p1.key) {
		t.Errorf("key after its deletion %x, want the one before %x", p2.key, p1.key)
	}
	if v := metricValue(t, a, `wsk_route_registry_restores_total{what="key"}`); v != 1 {
		t.Errorf("key restores %v, want 1", v)
	}
}

func mustMarshal(t *testing.T, sp *spec.Spec) []byte {
	t.Helper()
	b, err := sp.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}
