package invoker

import (
	"sort"
	"strings"
	"sync"
	"time"
)

// Phases of a cold start, as ColdStarts reports them.
const (
	// PhaseStarting: the container (proxy process or docker container)
	// is being started.
	PhaseStarting = "starting"
	// PhaseCompiling: its /init is compiling the action's code (a kind
	// with a compiler, such as Go).
	PhaseCompiling = "compiling"
	// PhaseInitializing: its /init is loading code that needs no compiler.
	PhaseInitializing = "initializing"
)

// ColdStart is an activation that waits for a new container: a cold
// start from the moment the pool grants it memory for one to the end of
// the container's /init.
type ColdStart struct {
	// ActivationID is the activation the container is started for.
	ActivationID string
	// Namespace is the namespace of the invoking subject.
	Namespace string
	// Action is the action's fully qualified name ("/guest/pkg/hello"),
	// Kind its exec kind.
	Action, Kind string
	// Phase is PhaseStarting, PhaseCompiling or PhaseInitializing.
	Phase string
	// Start is when the cold start began, PhaseStart when its phase did.
	Start, PhaseStart time.Time
}

// coldStarts tracks the cold starts in progress.
type coldStarts struct {
	mu sync.Mutex
	// m holds the cold starts by activation id (guarded by mu).
	m map[string]*ColdStart
}

func (cs *coldStarts) begin(c ColdStart) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.m == nil {
		cs.m = map[string]*ColdStart{}
	}
	c.Phase = PhaseStarting
	c.PhaseStart = c.Start
	cs.m[c.ActivationID] = &c
}

func (cs *coldStarts) phase(id, phase string, at time.Time) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if c, ok := cs.m[id]; ok {
		c.Phase, c.PhaseStart = phase, at
	}
}

func (cs *coldStarts) end(id string) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	delete(cs.m, id)
}

// ColdStarts lists the cold starts in progress, oldest first: what
// `wsk-route invoke` and --watch show while a first call waits for its
// container ("starting a container for X, compiling…").
func (i *Invoker) ColdStarts() []ColdStart {
	cs := &i.cold
	cs.mu.Lock()
	out := make([]ColdStart, 0, len(cs.m))
	for _, c := range cs.m {
		out = append(out, *c)
	}
	cs.mu.Unlock()
	sort.Slice(out, func(a, b int) bool {
		if !out[a].Start.Equal(out[b].Start) {
			return out[a].Start.Before(out[b].Start)
		}
		return out[a].ActivationID < out[b].ActivationID
	})
	return out
}

// initPhase is the phase of a container's /init for a kind whose proxy
// environment is env.
func initPhase(env []string) string {
	for _, kv := range env {
		if strings.HasPrefix(kv, "OW_COMPILER=") && len(kv) > len("OW_COMPILER=") {
			return PhaseCompiling
		}
	}
	return PhaseInitializing
}
