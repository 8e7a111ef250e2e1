package proxyconn_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/wsk-route/wsk-route/internal/agentproto"
	"github.com/wsk-route/wsk-route/internal/routetable"
	"github.com/wsk-route/wsk-route/invoker-plugin/proxyconn"
)

// admitAll admits every proxy and records deregistrations.
type admitAll struct {
	mu    sync.Mutex
	gone  []string
	stats int
}

func (r *admitAll) Register(_ context.Context, _ proxyconn.Peer, reg *agentproto.Register) (agentproto.Welcome, []byte, error) {
	return agentproto.Welcome{InstanceID: "h/" + reg.Name, Host: "h"}, make([]byte, 32), nil
}

func (r *admitAll) Deregister(id, _ string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.gone = append(r.gone, id)
}

func (r *admitAll) Stats(string, *agentproto.Stats) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stats++
}

func serve(t *testing.T, reg proxyconn.Registrar) (*proxyconn.Server, string, func()) {
	t.Helper()
	dir, err := os.MkdirTemp("", "pc")
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "agent.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	s, err := proxyconn.NewServer(proxyconn.Config{Registrar: reg, PingInterval: 50 * time.Millisecond, PongWait: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	stop := func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
		os.RemoveAll(dir)
	}
	return s, sock, stop
}

func dial(t *testing.T, sock string) *websocket.Conn {
	t.Helper()
	d := websocket.Dialer{NetDialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}
	c, resp, err := d.Dial("ws://agent"+agentproto.Path, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return c
}

func writeMsg(t *testing.T, c *websocket.Conn, m *agentproto.Message) {
	t.Helper()
	b, err := agentproto.Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.WriteMessage(websocket.TextMessage, b); err != nil {
		t.Fatal(err)
	}
}

func readMsg(t *testing.T, c *websocket.Conn) *agentproto.Message {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, b, err := c.ReadMessage()
	if err != nil {
		t.Fatal(err)
	}
	m, err := agentproto.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// A proxy that reads slowly never holds up SetInstances: updates
// coalesce, and the proxy still ends with the latest table.
// Until the agent knows the table and the specs (its registry's first
// answers), a proxy gets neither: an empty snapshot would be taken for the
// truth (every instance gone). The first SetInstances and SetSpecs send
// the snapshots, even when empty.
func TestNoSnapshotBeforeTheRegistryAnswers(t *testing.T) {
	s, sock, stop := serve(t, &admitAll{})
	defer stop()
	c := dial(t, sock)
	defer c.Close()
	writeMsg(t, c, &agentproto.Message{Type: agentproto.TypeRegister, Register: &agentproto.Register{
		Namespace: "ns", Action: "/ns/a", Name: "p"}})
	for _, typ := range []string{agentproto.TypeWelcome, agentproto.TypeKey} {
		if m := readMsg(t, c); m.Type != typ {
			t.Fatalf("got %s, want %s", m.Type, typ)
		}
	}
	c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if _, _, err := c.ReadMessage(); err == nil {
		t.Fatal("a message before the agent knew the table or the specs")
	}
	c.Close()
	// A new session, once the registry answered.
	s.SetSpecs(nil)
	s.SetInstances([]routetable.Instance{{ID: "h/p", Namespace: "ns", Action: "/ns/a"}})
	c2 := dial(t, sock)
	defer c2.Close()
	writeMsg(t, c2, &agentproto.Message{Type: agentproto.TypeRegister, Register: &agentproto.Register{
		Namespace: "ns", Action: "/ns/a", Name: "p2"}})
	got := map[string]*agentproto.Message{}
	for len(got) < 4 {
		m := readMsg(t, c2)
		got[m.Type] = m
	}
	if tb := got[agentproto.TypeTable].Table; !tb.Full || len(tb.Upsert) != 1 || tb.Upsert[0].ID != "h/p" {
		t.Errorf("first table %+v, want the full snapshot with h/p", tb)
	}
	if sp := got[agentproto.TypeSpecs].Specs; !sp.Full {
		t.Errorf("first specs %+v, want a full (empty) snapshot", sp)
	}
}

func TestSlowProxyCoalesces(t *testing.T) {
	reg := &admitAll{}
	s, sock, stop := serve(t, reg)
	defer stop()
	// The agent's registry has answered: an empty table and no specs.
	s.SetInstances(nil)
	s.SetSpecs(nil)
	c := dial(t, sock)
	defer c.Close()
	writeMsg(t, c, &agentproto.Message{Type: agentproto.TypeRegister, Register: &agentproto.Register{
		Namespace: "ns", Action: "/ns/a", Name: "p"}})
	want := []string{agentproto.TypeWelcome, agentproto.TypeKey, agentproto.TypeTable, agentproto.TypeSpecs}
	for _, typ := range want {
		if m := readMsg(t, c); m.Type != typ {
			t.Fatalf("got %s, want %s (order: %v)", m.Type, typ, want)
		}
	}

	// The proxy reads nothing while the table changes many times.
	const updates = 20000
	start := time.Now()
	var insts []routetable.Instance
	for i := range updates {
		insts = append(insts[:0], routetable.Instance{ID: fmt.Sprintf("h/%d", i), Namespace: "ns", Action: "/ns/a"})
		s.SetInstances(insts)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("%d SetInstances took %v", updates, d)
	}
	table := map[string]bool{}
	msgs := 0
	for !(len(table) == 1 && table[fmt.Sprintf("h/%d", updates-1)]) {
		m := readMsg(t, c)
		if m.Type != agentproto.TypeTable {
			continue
		}
		msgs++
		for _, in := range m.Table.Upsert {
			table[in.ID] = true
		}
		for _, id := range m.Table.Remove {
			delete(table, id)
		}
	}
	if msgs >= updates {
		t.Errorf("%d table messages for %d updates: nothing coalesced", msgs, updates)
	}
	t.Logf("%d updates reached the proxy in %d messages", updates, msgs)

	writeMsg(t, c, &agentproto.Message{Type: agentproto.TypeStats, Stats: &agentproto.Stats{}})
	c.Close()
	deadline := time.Now().Add(10 * time.Second)
	// The session leaves the count after it has deregistered: wait for
	// both, not for the deregistration alone.
	for {
		reg.mu.Lock()
		gone, stats := len(reg.gone), reg.stats
		reg.mu.Unlock()
		sessions := s.Sessions()
		if gone == 1 && stats == 1 && sessions == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after close: %d deregistrations, %d stats, %d sessions; want 1, 1 and 0", gone, stats, sessions)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestNewServerConfig(t *testing.T) {
	if _, err := proxyconn.NewServer(proxyconn.Config{}); err == nil {
		t.Error("no Registrar accepted")
	}
	if _, err := proxyconn.NewServer(proxyconn.Config{Registrar: &admitAll{}, PingInterval: time.Second, PongWait: time.Second}); err == nil {
		t.Error("PongWait not longer than PingInterval accepted")
	}
}
