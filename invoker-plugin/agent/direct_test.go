package agent_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/wsk-route/wsk-route/internal/agentproto"
	"github.com/wsk-route/wsk-route/invoker-plugin/agent"
	"github.com/wsk-route/wsk-route/invoker-plugin/proxyconn"
)

// directLog records what an agent's DirectRuns hook was told.
type directLog struct {
	mu    sync.Mutex
	calls []string // "<cgroup> <running>"
}

func (l *directLog) hook(peer proxyconn.Peer, running bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls = append(l.calls, fmt.Sprintf("%s %v", peer.Cgroup, running))
}

func (l *directLog) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.calls...)
}

// waitCalls waits until the hook was called n times and returns the calls.
func (l *directLog) waitCalls(t *testing.T, n int) []string {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for len(l.all()) < n && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	return l.all()
}

// TestDirectRuns: a proxy that says it can is asked to report when its
// container runs direct steps (Welcome.Direct), and the agent passes each
// change on to Config.DirectRuns with the container the session was
// identified as, and says "not running" for it when the session ends while
// it ran steps. A proxy that does not say it can, or an agent with no hook,
// leaves the field out.
func TestDirectRuns(t *testing.T) {
	log := &directLog{}
	a := startAgent(t, "hostA", newStore(t), func(c *agent.Config) { c.DirectRuns = log.hook })
	reg := register(a, "guest", "upper")
	reg.Direct = true
	p := newProxyAs(t, a, reg)
	if !p.welcome.Direct {
		t.Fatal("Welcome.Direct is false for a proxy that said Register.Direct, with a hook set")
	}
	running := func(on bool) *agentproto.Message {
		return &agentproto.Message{Type: agentproto.TypeDirect, Direct: &agentproto.Direct{Running: on}}
	}
	p.send(running(true))
	p.send(running(true)) // no change: not passed on
	p.send(running(false))
	p.send(running(true))
	calls := log.waitCalls(t, 3)
	if len(calls) != 3 || calls[0] != calls[2] || calls[0][len(calls[0])-4:] != "true" || calls[1][len(calls[1])-5:] != "false" {
		t.Fatalf("hook calls %q, want running, not running, running, for one container", calls)
	}
	container := calls[0][:len(calls[0])-len(" true")]
	p.close() // while it ran steps
	calls = log.waitCalls(t, 4)
	if len(calls) != 4 || calls[3] != container+" false" {
		t.Fatalf("after the session ended: hook calls %q, want a fourth, %q", calls, container+" false")
	}

	// A second session that never ran a step ends without a call.
	q := newProxyAs(t, a, reg)
	q.close()
	time.Sleep(50 * time.Millisecond)
	if got := log.all(); len(got) != 4 {
		t.Errorf("a session that ran no step: hook calls %q, want the 4 before", got)
	}

	for _, tc := range []struct {
		name       string
		hook       bool
		saysDirect bool
	}{
		{"a proxy that does not say it can", true, false},
		{"an agent with no hook", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := startAgent(t, "hostB", newStore(t), func(c *agent.Config) {
				if tc.hook {
					c.DirectRuns = log.hook
				}
			})
			reg := register(a, "guest", "lower")
			reg.Direct = tc.saysDirect
			p := newProxyAs(t, a, reg)
			if p.welcome.Direct {
				t.Error("Welcome.Direct is set")
			}
			if tc.saysDirect {
				// Sent anyway, it is ignored and the session goes on.
				p.send(running(true))
				p.send(&agentproto.Message{Type: agentproto.TypeStats, Stats: &agentproto.Stats{}})
				time.Sleep(50 * time.Millisecond)
				p.mu.Lock()
				err := p.err
				p.mu.Unlock()
				if err != nil {
					t.Errorf("the session ended: %v", err)
				}
			}
		})
	}
}
