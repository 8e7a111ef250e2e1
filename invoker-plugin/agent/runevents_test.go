package agent_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/wsk-route/wsk-route/internal/agentproto"
	"github.com/wsk-route/wsk-route/internal/runevent"
	"github.com/wsk-route/wsk-route/invoker-plugin/agent"
)

// TestRunEventsStored sends run events from an entry proxy and reads them
// back from Consul: stored in order under the namespace the proxy
// registered in, whatever else a proxy of another namespace sends.
func TestRunEventsStored(t *testing.T) {
	store := newStore(t)
	var _ agent.RunEvents = store
	a := startAgent(t, "hostA", store, nil)
	p := newProxy(t, a, "ns1", "entry")
	other := newProxy(t, a, "ns2", "intruder")
	for seq := uint64(1); seq <= 3; seq++ {
		kind, step := runevent.KindStep, fmt.Sprintf("s%d", seq)
		if seq == 3 {
			kind, step = runevent.KindEnd, ""
		}
		p.send(&agentproto.Message{Type: agentproto.TypeRunEvent, RunEvent: &runevent.Event{Run: "act-1", Seq: seq, Kind: kind, Step: step, Logs: "x\n"}})
	}
	// The other namespace's proxy writes a run of the same id: it lands
	// in its own namespace.
	other.send(&agentproto.Message{Type: agentproto.TypeRunEvent, RunEvent: &runevent.Event{Run: "act-1", Seq: 9, Kind: runevent.KindEnd, Error: "forged"}})
	// The end of a run nobody watches is not stored (sent before act-1's
	// events are read, on the same session, so it is handled by then).
	p.send(&agentproto.Message{Type: agentproto.TypeRunEvent, RunEvent: &runevent.Event{Run: "act-2", Seq: 1, Kind: runevent.KindEnd, Unwatched: true}})

	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	var got []runevent.Event
	var after uint64
	for len(got) < 3 {
		evs, next, err := store.RunEvents(ctx, "ns1", "act-1", after, 5*time.Second)
		if err != nil {
			t.Fatalf("RunEvents after %d events: %v", len(got), err)
		}
		got, after = append(got, evs...), next
	}
	for i, ev := range got {
		if ev.Seq != uint64(i+1) || ev.Error != "" {
			t.Errorf("event %d of ns1 = %+v, want seq %d and no error", i, ev, i+1)
		}
	}
	evs, _, err := store.RunEvents(ctx, "ns2", "act-1", 0, 5*time.Second)
	if err != nil || len(evs) != 1 || evs[0].Seq != 9 {
		t.Errorf("ns2's run act-1 = %+v, %v; want only its own event", evs, err)
	}
	if evs, _, err := store.RunEvents(ctx, "ns1", "act-2", 0, 200*time.Millisecond); err != nil || len(evs) != 0 {
		t.Errorf("unwatched run act-2 = %+v, %v; want nothing stored", evs, err)
	}
}

// TestRunEventBeforeRegister checks that a run event on a session that
// has not registered closes it, as stats do.
func TestRunEventBeforeRegister(t *testing.T) {
	a := startAgent(t, "hostA", newStore(t), nil)
	conn := dial(t, a)
	defer conn.Close()
	b, err := agentproto.Encode(&agentproto.Message{Type: agentproto.TypeRunEvent, RunEvent: &runevent.Event{Run: "r", Seq: 1, Kind: runevent.KindEnd}})
	if err != nil {
		t.Fatal(err)
	}
	if err := conn.WriteMessage(websocket.TextMessage, b); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(waitTimeout))
	for {
		_, _, err := conn.ReadMessage()
		if err == nil {
			continue
		}
		var ce *websocket.CloseError
		if !errors.As(err, &ce) || !strings.Contains(ce.Text, "run event before register") {
			t.Errorf("the session ended with %v, want the agent to close it for the run event before register", err)
		}
		return
	}
}
