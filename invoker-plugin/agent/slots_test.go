package agent_test

import (
	"context"
	"errors"
	"testing"

	"github.com/wsk-route/wsk-route/internal/agentproto"
	"github.com/wsk-route/wsk-route/internal/whisk"
	"github.com/wsk-route/wsk-route/invoker-plugin/agent"
)

// TestSlots registers proxies with agents whose activation stores can or
// cannot look actions up, and reads how many direct steps each proxy is
// told it may run at once (Welcome.Slots) and the concurrency its
// instance is registered with: the action's limits.concurrency, within
// the processes the proxy can run, and one at a time whenever that is not
// known for sure.
func TestSlots(t *testing.T) {
	catalog := func(concurrency int, err error) agent.ActionCatalogFunc {
		return func(context.Context, string, string, string) (string, whisk.Limits, error) {
			if err != nil {
				return "", whisk.Limits{}, err
			}
			return "nodejs:20", whisk.Limits{Timeout: 60000, Memory: 256, Logs: 10, Concurrency: concurrency}, nil
		}
	}
	tests := []struct {
		name        string
		catalog     agent.ActionCatalogFunc // nil: the store is no catalog
		proxyConc   int                     // Register.Concurrency: the proxy's processes
		saysSlots   bool                    // Register.Slots
		wantSlots   int                     // Welcome.Slots
		wantInst    int                     // the instance's Concurrency
		wantLookups int
	}{
		{name: "the action's concurrency", catalog: catalog(8, nil), proxyConc: 64, saysSlots: true, wantSlots: 8, wantInst: 8, wantLookups: 1},
		{name: "within the proxy's processes", catalog: catalog(8, nil), proxyConc: 4, saysSlots: true, wantSlots: 4, wantInst: 4, wantLookups: 1},
		{name: "an action of concurrency 1 in a pool", catalog: catalog(1, nil), proxyConc: 64, saysSlots: true, wantSlots: 1, wantInst: 1, wantLookups: 1},
		{name: "a proxy of one process is not looked up", catalog: catalog(8, nil), proxyConc: 1, saysSlots: true, wantSlots: 1, wantInst: 1},
		{name: "an older proxy is told nothing", catalog: catalog(8, nil), proxyConc: 64, wantSlots: 0, wantInst: 1},
		{name: "the lookup fails", catalog: catalog(0, errors.New("the entity store is down")), proxyConc: 64, saysSlots: true, wantSlots: 1, wantInst: 1, wantLookups: 1},
		{name: "the store is no catalog", proxyConc: 64, saysSlots: true, wantSlots: 1, wantInst: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			recs := &records{}
			var store agent.ActivationStore = recs
			cat := &lookups{lookup: tc.catalog}
			if tc.catalog != nil {
				store = struct {
					agent.ActivationStore
					agent.ActionCatalog
				}{recs, cat}
			}
			a := startAgent(t, "hostA", newStore(t), func(c *agent.Config) { c.Activations = store })
			reg := register(a, "guest", "upper")
			reg.Version, reg.Concurrency, reg.Slots = "0.0.2", tc.proxyConc, tc.saysSlots
			p := newProxyAs(t, a, reg)
			if got := p.welcome.Slots; got != tc.wantSlots {
				t.Errorf("Welcome.Slots = %d, want %d", got, tc.wantSlots)
			}
			id := p.welcome.InstanceID
			p.waitFor("its own instance in the table", func() bool { _, ok := p.table[id]; return ok })
			if inst, _ := p.instance(id); inst.Concurrency != tc.wantInst {
				t.Errorf("instance %s registered with concurrency %d, want %d", id, inst.Concurrency, tc.wantInst)
			}
			if got := cat.all(); len(got) != tc.wantLookups {
				t.Errorf("lookups %q, want %d", got, tc.wantLookups)
			} else if len(got) == 1 && got[0] != "guest /guest/upper 0.0.2" {
				t.Errorf("looked up %q, want the registered action version", got[0])
			}
			if _, err := agentproto.Encode(&agentproto.Message{Type: agentproto.TypeWelcome, Welcome: p.welcome}); err != nil {
				t.Errorf("the welcome does not encode: %v", err)
			}
		})
	}
}
