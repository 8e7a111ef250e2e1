package routetest_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wsk-route/wsk-route/action-proxy/route"
	"github.com/wsk-route/wsk-route/internal/frame"
	"github.com/wsk-route/wsk-route/internal/spec"
	"github.com/wsk-route/wsk-route/internal/transport"
)

// sameHost is one host with a Consul, an agent and an entry.
type sameHost struct {
	consul string
	h      *host
	entry  *entry
}

func newSameHost(t testing.TB, agentArgs ...string) *sameHost {
	consul := startConsul(t)
	h := startHost(t, "h1", consul, "", "", nil, agentArgs...)
	return &sameHost{consul: consul, h: h, entry: startEntry(t, h, "", "")}
}

func (s *sameHost) deploy(t testing.TB, sp *spec.Spec) {
	t.Helper()
	putSpec(t, s.consul, sp)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := s.entry.plane.WaitReady(ctx, sp.Workflow); err != nil {
		t.Fatal(err)
	}
}

func (s *sameHost) run(t *testing.T, workflow string, input string, timeout time.Duration) (*route.Result, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return s.entry.plane.StartRun(ctx, workflow, []byte(input), route.RunOptions{})
}

func chainSpec(name string, steps ...string) *spec.Spec {
	sp := &spec.Spec{Workflow: name, Namespace: "guest", Start: []string{steps[0]}, Steps: map[string]spec.Step{}}
	for i, s := range steps {
		st := spec.Step{Action: "/guest/" + s}
		if i+1 < len(steps) {
			st.Next = []string{steps[i+1]}
		}
		sp.Steps[s] = st
	}
	return sp
}

func TestChainOnOneHost(t *testing.T) {
	s := newSameHost(t)
	procs := map[string]*action{}
	for _, m := range []string{"upper", "words", "reverse"} {
		procs[m] = startAction(t, s.h, "p-"+m, m, m)
	}
	s.deploy(t, chainSpec("chain", "upper", "words", "reverse"))

	for i := 0; i < 3; i++ {
		res, err := s.run(t, "chain", `{"text":"hello route plane"}`, 10*time.Second)
		if err != nil {
			t.Fatalf("run %d: %v", i, err)
		}
		var v struct {
			Text  string `json:"text"`
			Words int    `json:"words"`
		}
		json.Unmarshal(res.Value, &v)
		if v.Text != "ENALP ETUOR OLLEH" || v.Words != 3 {
			t.Fatalf("run %d: result %s, want text ENALP ETUOR OLLEH and words 3", i, res.Value)
		}
		tr := trail(t, res.Value)
		if len(tr) != 3 {
			t.Fatalf("trail %v, want 3 steps", tr)
		}
		pids := map[any]bool{}
		for _, e := range tr {
			pids[e["pid"]] = true
		}
		if len(pids) != 3 {
			t.Errorf("trail %v: want three different processes", tr)
		}
		if len(res.Steps) != 3 {
			t.Fatalf("%d step reports, want 3", len(res.Steps))
		}
		for _, st := range res.Steps {
			if !strings.Contains(string(st.Logs), "step "+st.Step+" (pid") {
				t.Errorf("logs of step %s = %q, want its log line", st.Step, st.Logs)
			}
		}
	}
	// The direct runs' logs went to the entry, not into the proxies' own
	// streams (which the invoker would read into its next activation).
	for m, a := range procs {
		if out := a.proc.output(); strings.Contains(out, "step "+m+" (pid") {
			t.Errorf("proxy %s wrote a direct run's log line to its own output:\n%s", m, out)
		}
	}
	// An invoker /run afterwards works, with its log line before its sentinel.
	status, body, err := procs["upper"].post("/run", []byte(`{"value":{"text":"invoker"}}`))
	if err != nil || status != 200 || !strings.Contains(string(body), "INVOKER") {
		t.Fatalf("invoker /run after direct runs: %d %s %v", status, body, err)
	}
	waitFor(t, 5*time.Second, "the invoker run's log line and sentinel", func() bool {
		out := procs["upper"].proc.output()
		i := strings.Index(out, "step upper (pid")
		j := strings.Index(out, "XXX_THE_END_OF_A_WHISK_ACTIVATION_XXX")
		return i >= 0 && j > i
	})
}

func TestFanOutOnOneHost(t *testing.T) {
	s := newSameHost(t)
	for _, m := range []string{"upper", "words", "reverse"} {
		startAction(t, s.h, "p-"+m, m, m)
	}
	sp := &spec.Spec{Workflow: "fan", Namespace: "guest", Start: []string{"upper"}, Steps: map[string]spec.Step{
		"upper":   {Action: "/guest/upper", Next: []string{"words", "reverse"}},
		"words":   {Action: "/guest/words"},
		"reverse": {Action: "/guest/reverse"},
	}}
	s.deploy(t, sp)
	res, err := s.run(t, "fan", `{"text":"fan out"}`, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var v []map[string]any
	if err := json.Unmarshal(res.Value, &v); err != nil || len(v) != 2 {
		t.Fatalf("result %s: want an array of 2 (%v)", res.Value, err)
	}
	if v[0]["words"] != float64(2) || v[0]["text"] != "FAN OUT" {
		t.Errorf("branch 0 = %v, want words 2 and text FAN OUT", v[0])
	}
	if v[1]["text"] != "TUO NAF" {
		t.Errorf("branch 1 = %v, want text TUO NAF", v[1])
	}
}

func TestLargePayloadOnOneHost(t *testing.T) {
	s := newSameHost(t)
	startAction(t, s.h, "p-upper", "upper", "upper")
	startAction(t, s.h, "p-reverse", "reverse", "reverse")
	s.deploy(t, chainSpec("big", "upper", "reverse"))
	shmDir := filepath.Join(s.h.shmRoot, "guest") // made by the agent at the first Register
	waitFor(t, 5*time.Second, "the shm directory "+shmDir, func() bool {
		_, err := os.Stat(shmDir)
		return err == nil
	})
	w := watchSegments(t, shmDir)
	w.created(t) // only what the large run creates counts

	text := strings.Repeat("abcdefgh", 1<<20) // 8 MiB: crosses by shm
	in, _ := json.Marshal(map[string]string{"text": text})
	res, err := s.run(t, "big", string(in), 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var v struct{ Text string }
	json.Unmarshal(res.Value, &v)
	if want := strings.Repeat("HGFEDCBA", 1<<20); v.Text != want {
		t.Fatalf("result text of %d bytes, want the %d-byte reversed upper case", len(v.Text), len(want))
	}
	// Both hops (entry -> upper, upper -> reverse) are larger than the shm
	// threshold, so each wrote a segment (the reply to the entry may add one).
	if segs := w.created(t); len(segs) < 2 {
		t.Errorf("%d shm segments created in %s during the 8 MiB run, want at least 2 (one per hop)", len(segs), shmDir)
	} else {
		t.Logf("%d shm segments created during the 8 MiB run", len(segs))
	}
	// The segments are the senders' pools' (transport.MaxPooledPayload):
	// the same run again writes them again and creates none.
	if _, err := s.run(t, "big", string(in), 30*time.Second); err != nil {
		t.Fatal(err)
	}
	if segs := w.created(t); len(segs) != 0 {
		t.Errorf("%d shm segments created by a second 8 MiB run, want none (the pools' segments written again): %v", len(segs), segs)
	}
}

func TestStepFailureNamesTheStep(t *testing.T) {
	s := newSameHost(t)
	startAction(t, s.h, "p-upper", "upper", "upper")
	startAction(t, s.h, "p-fail", "fail", "fail")
	s.deploy(t, chainSpec("failing", "upper", "fail"))
	_, err := s.run(t, "failing", `{"text":"x"}`, 10*time.Second)
	var re *route.RunError
	if !errors.As(err, &re) || re.Step != "fail" || re.Code != frame.CodeStepFailed || !strings.Contains(re.Reason, "refusing on purpose") {
		t.Fatalf("error %v, want a RunError at step fail with the action's error", err)
	}
}

// A killed successor costs one failed send; the sender picks the other
// instance, before the table has even caught up. The agent is stopped
// (SIGSTOP) around the kill, so that it cannot deregister the dead
// instance before the runs meet it.
func TestKilledSuccessorIsSkipped(t *testing.T) {
	s := newSameHost(t)
	w1 := startAction(t, s.h, "p-words-1", "words", "words")
	startAction(t, s.h, "p-words-2", "words", "words")
	s.deploy(t, chainSpec("kill", "words"))
	waitFor(t, 10*time.Second, "both words instances in the entry's table", func() bool {
		return len(s.entry.plane.Instances("/guest/words")) == 2
	})
	killed := s.h.name + "/" + w1.name
	// The agent is about to be stopped: first make sure the surviving
	// instance has the spec (the agent pushes it to each proxy on its own;
	// a push still pending when the agent stops would never arrive).
	waitSpec(t, s.consul, s.entry, s.h.name+"/p-words-2", "kill")
	s.h.agent.pause(t)
	defer s.h.agent.signal(syscall.SIGCONT)
	w1.proc.signal(syscall.SIGKILL)
	<-w1.proc.done
	for i := 0; i < 5; i++ {
		res, err := s.run(t, "kill", `{"text":"a b c"}`, 10*time.Second)
		if err != nil {
			t.Fatalf("run %d after killing one instance: %v", i, err)
		}
		if !strings.Contains(string(res.Value), `"words":3`) {
			t.Fatalf("run %d: %s", i, res.Value)
		}
		for _, st := range res.Steps {
			if st.Instance == killed {
				t.Errorf("run %d: step %s reported from the killed instance %s", i, st.Step, killed)
			}
		}
		if n := len(s.entry.plane.Instances("/guest/words")); n != 2 {
			t.Fatalf("run %d: %d instance(s) of /guest/words in the entry's table, want 2 (the agent is stopped, the killed one must still be there)", i, n)
		}
	}
}

// A paused successor does not answer; after the ack timeout the sender
// tries the other instance.
func TestPausedSuccessorIsSkipped(t *testing.T) {
	s := newSameHost(t)
	w1 := startAction(t, s.h, "p-words-1", "words", "words")
	startAction(t, s.h, "p-words-2", "words", "words")
	s.deploy(t, chainSpec("pause", "words"))
	waitFor(t, 10*time.Second, "both words instances in the entry's table", func() bool {
		return len(s.entry.plane.Instances("/guest/words")) == 2
	})
	paused := s.h.name + "/" + w1.name
	w1.proc.pause(t)
	defer w1.proc.signal(syscall.SIGCONT)
	// The sender picks at random among equal instances: run until one run
	// met the paused instance, which costs it the ack timeout (route's
	// default, 500 ms). Twenty runs all missing it would be a ~1e-6 chance.
	const ackTimeout = 500 * time.Millisecond
	met := false
	for i := 0; i < 20 && !met; i++ {
		start := time.Now()
		res, err := s.run(t, "pause", `{"text":"a b"}`, 10*time.Second)
		took := time.Since(start)
		if err != nil {
			t.Fatalf("run %d with one instance paused: %v", i, err)
		}
		if !strings.Contains(string(res.Value), `"words":2`) {
			t.Fatalf("run %d: %s", i, res.Value)
		}
		for _, st := range res.Steps {
			if st.Instance == paused {
				t.Errorf("run %d: step %s reported from the paused instance %s", i, st.Step, paused)
			}
		}
		if took >= ackTimeout {
			t.Logf("run %d met the paused instance and moved on: took %v", i, took.Round(time.Millisecond))
			met = true
		}
	}
	if !met {
		t.Errorf("no run of 20 took the %v ack timeout: none met the paused instance", ackTimeout)
	}
}

// With no instance left the run reports which step could not be reached.
func TestNoInstanceLeftIsReported(t *testing.T) {
	s := newSameHost(t)
	startAction(t, s.h, "p-upper", "upper", "upper")
	w := startAction(t, s.h, "p-words", "words", "words")
	s.deploy(t, chainSpec("none", "upper", "words"))
	w.proc.signal(syscall.SIGKILL)
	start := time.Now()
	_, err := s.run(t, "none", `{"text":"a"}`, 5*time.Second)
	var re *route.RunError
	if !errors.As(err, &re) || re.Step != "words" {
		t.Fatalf("error %v, want a RunError naming step words", err)
	}
	if took := time.Since(start); took > 5*time.Second+time.Second {
		t.Errorf("error after %v, after the 5 s deadline", took)
	}
	t.Logf("reported in %v: %v", time.Since(start), err)
}

// A successor killed while it runs: the run fails as soon as the entry
// sees its instance leave the table (the agent deregisters it when its
// session breaks), naming the step and the instance, long before the
// run's deadline. Unkilled, the slow step would answer within it.
func TestSuccessorKilledMidRun(t *testing.T) {
	s := newSameHost(t)
	startAction(t, s.h, "p-upper", "upper", "upper")
	slow := startAction(t, s.h, "p-slow", "slow", "slow")
	s.deploy(t, chainSpec("midrun", "upper", "slow"))
	var killed time.Time
	go func() {
		time.Sleep(500 * time.Millisecond)
		killed = time.Now()
		slow.proc.signal(syscall.SIGKILL)
	}()
	_, err := s.run(t, "midrun", `{"text":"a","slow_ms":5000}`, 20*time.Second)
	var re *route.RunError
	if !errors.As(err, &re) {
		t.Fatalf("error %v, want a RunError", err)
	}
	after := time.Since(killed)
	if re.Step != "slow" || !strings.Contains(re.Reason, "h1/p-slow was lost") {
		t.Errorf("error %v, want step slow and its instance lost", err)
	}
	if after > 5*time.Second {
		t.Errorf("error %v after the kill, want it within a few ack timeouts, not at the 20 s deadline", after)
	}
	t.Logf("reported %v after the kill: %v", after, err)
}

// Frames with a wrong tag, or of another namespace, are refused.
func TestForgedFramesAreRefused(t *testing.T) {
	s := newSameHost(t)
	startAction(t, s.h, "p-upper", "upper", "upper")
	s.deploy(t, chainSpec("forged", "upper"))
	sock := "unix:" + filepath.Join(s.h.runDir, "proxies", "p-upper.sock")
	tests := []struct {
		name      string
		namespace string
		key       []byte
		want      frame.Code
	}{
		{"wrong key", "guest", []byte("0123456789abcdef0123456789abcdef"), frame.CodeBadTag},
		{"other namespace", "other", []byte("0123456789abcdef0123456789abcdef"), frame.CodeWrongNamespace},
	}
	for _, tt := range tests {
		f := &frame.Frame{Kind: frame.KindStep, RunID: "forged", Workflow: "forged", Step: "upper",
			Namespace: tt.namespace, Payload: []byte(`{"text":"x"}`), Size: 12,
			Deadline: time.Now().Add(5 * time.Second).UnixNano()}
		// A client of its own: the receiver closes the connection of a
		// frame it refuses from its header.
		var c transport.Client
		ack, err := c.Send(context.Background(), sock, f, tt.key)
		c.Close()
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if ack.Code != tt.want {
			t.Errorf("%s: ack %s (%s), want %s", tt.name, ack.Code, ack.Reason, tt.want)
		}
	}
}

// TestNestedOnOneHost runs a map inside a parallel branch, each element
// forking a parallel of its own, on real proxies: the elements' joins are
// held by the instance that forks them, the map's by the entry, the outer
// one by the first step.
func TestNestedOnOneHost(t *testing.T) {
	s := newSameHost(t)
	for name, mode := range map[string]string{"upper": "upper", "words": "words", "reverse": "reverse", "words2": "words", "sum": "sum", "upper2": "upper"} {
		startAction(t, s.h, "p-"+name, name, mode)
	}
	sp := &spec.Spec{Workflow: "nest", Namespace: "guest", Start: []string{"up"}, Steps: map[string]spec.Step{
		"up":  {Action: "/guest/upper", Fork: "j", Next: []string{"w", "m"}},
		"w":   {Action: "/guest/words", In: "j", Next: []string{"j"}},
		"m":   {Map: &spec.Map{Over: "items", Concurrency: 1}, In: "j", Fork: "mj", Next: []string{"rv"}},
		"rv":  {Action: "/guest/reverse", In: "mj", Fork: "k", Next: []string{"k1", "k2"}},
		"k1":  {Action: "/guest/words2", In: "k", Next: []string{"k"}},
		"k2":  {Action: "/guest/sum", In: "k", Next: []string{"k"}},
		"k":   {Join: &spec.Join{Merge: spec.MergeObject, Names: []string{"count", "sum"}}, In: "mj", Next: []string{"mj"}},
		"mj":  {Join: &spec.Join{Merge: spec.MergeArray}, In: "j", Next: []string{"j"}},
		"j":   {Join: &spec.Join{Merge: spec.MergeObject, Names: []string{"words", "items"}}, Next: []string{"fin"}},
		"fin": {Action: "/guest/upper2"},
	}}
	s.deploy(t, sp)
	res, err := s.run(t, "nest", `{"text":"ab cd","items":[{"text":"xy z","data":[1,2]},{"text":"q","data":[3]}]}`, 15*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	type elem struct {
		Count struct{ Words int }
		Sum   struct{ Sum float64 }
	}
	var v struct {
		Words struct{ Words int }
		Items []elem
	}
	if err := json.Unmarshal(res.Value, &v); err != nil {
		t.Fatalf("result %s: %v", res.Value, err)
	}
	if v.Words.Words != 2 || len(v.Items) != 2 || v.Items[0].Count.Words != 2 || v.Items[0].Sum.Sum != 3 || v.Items[1].Count.Words != 1 || v.Items[1].Sum.Sum != 3 {
		t.Errorf("result %s; want the outer join of words (2) and the map's two elements, each the join of its word count and sum", res.Value)
	}
	if n := len(res.Steps); n != 1+1+3*2+1 {
		t.Errorf("%d step reports, want 9: up, w, rv, k1 and k2 for each of the two elements, fin", n)
	}
}
