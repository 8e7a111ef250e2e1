package agent_test

import (
	"testing"

	"github.com/wsk-route/wsk-route/internal/agentproto"
	"github.com/wsk-route/wsk-route/internal/routetable"
	"github.com/wsk-route/wsk-route/invoker-plugin/agent"
)

// TestWelcomeTelemetry: the agent tells a proxy to send telemetry (the
// steps' records, the ends of unwatched runs) only when the proxy said it
// can, since an older proxy refuses a welcome field it does not know, and
// only when the agent does something with it (here: it serves metrics).
func TestWelcomeTelemetry(t *testing.T) {
	register := func(t *testing.T, a *testAgent, name string, telemetry bool) *agentproto.Welcome {
		p := &fakeProxy{t: t, conn: dial(t, a), done: make(chan struct{}),
			table: map[string]routetable.Instance{}, specs: map[string]agentproto.SpecData{}}
		go p.read()
		t.Cleanup(p.close)
		p.send(&agentproto.Message{Type: agentproto.TypeRegister, Register: &agentproto.Register{
			Namespace: "guest", Action: "/guest/" + name, Name: name, Telemetry: telemetry}})
		p.waitFor("welcome", func() bool { return p.welcome != nil })
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.welcome
	}
	withMetrics := startAgent(t, "hostA", newStore(t), func(c *agent.Config) { c.MetricsListen = "127.0.0.1:0" })
	if w := register(t, withMetrics, "old", false); w.Telemetry {
		t.Error("a proxy that did not say it can send telemetry was told to")
	}
	if w := register(t, withMetrics, "new", true); !w.Telemetry {
		t.Error("a proxy that can send telemetry was not told to, by an agent serving metrics")
	}
	plain := startAgent(t, "hostB", newStore(t), nil)
	if w := register(t, plain, "new", true); w.Telemetry {
		t.Error("an agent that does nothing with telemetry asked for it")
	}
}
