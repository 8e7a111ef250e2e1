package registry_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/wsk-route/wsk-route/cmd/wsk-route/sandbox/registry"
	"github.com/wsk-route/wsk-route/internal/agentproto"
	"github.com/wsk-route/wsk-route/internal/registrytest"
	"github.com/wsk-route/wsk-route/internal/routetable"
	"github.com/wsk-route/wsk-route/invoker-plugin/agent"
	"github.com/wsk-route/wsk-route/invoker-plugin/proxyconn"
)

// TestAgentOnRegistry runs the real host agent on the registry: a proxy
// that registers gets the registry's namespace key and its instance
// reaches the registry's passing set, specs put in the registry reach the
// proxy, and the agent deregisters the instance when it stops.
func TestAgentOnRegistry(t *testing.T) {
	base, err := os.MkdirTemp("", "wsr") // short: unix socket paths are limited
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	reg := registry.New(registry.Options{})
	var peers atomic.Int32
	a, err := agent.New(agent.Config{
		Host:     "sandbox",
		RunDir:   filepath.Join(base, "run"),
		ShmRoot:  filepath.Join(base, "shm"),
		StateDir: filepath.Join(base, "state"),
		TTL:      time.Second,
		Registry: reg,
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
		PeerOf: func(net.Conn) (proxyconn.Peer, error) {
			n := peers.Add(1)
			return proxyconn.Peer{PID: n, Cgroup: proxyconn.Cgroup{Path: fmt.Sprintf("/test.slice/conn-%d.scope", n)}}, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	stopped := false
	stop := func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(15 * time.Second):
			return fmt.Errorf("agent Run did not return 15s after cancel")
		}
	}
	t.Cleanup(func() { _ = stop() })

	snaps, _ := registrytest.InstanceWatch(t, reg, func(err error) { t.Errorf("onError: %v", err) })
	d := websocket.Dialer{
		NetDialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", a.SocketPath())
		},
		HandshakeTimeout: 5 * time.Second,
	}
	conn, resp, err := d.Dial("ws://agent"+agentproto.Path, nil)
	if err != nil {
		t.Fatalf("dial %s: %v", a.SocketPath(), err)
	}
	resp.Body.Close()
	msgs := make(chan *agentproto.Message, 64)
	quit := make(chan struct{})
	defer func() { close(quit); conn.Close() }()
	go func() { // owned: ends once quit is closed and conn with it
		defer close(msgs)
		for {
			_, b, err := conn.ReadMessage()
			if err != nil {
				return
			}
			if m, err := agentproto.Decode(b); err == nil {
				select {
				case msgs <- m:
				case <-quit:
					return
				}
			}
		}
	}()
	b, err := agentproto.Encode(&agentproto.Message{Type: agentproto.TypeRegister, Register: &agentproto.Register{
		Namespace: "guest", Action: "/guest/hello", Name: "p1",
	}})
	if err != nil {
		t.Fatal(err)
	}
	if err := conn.WriteMessage(websocket.TextMessage, b); err != nil {
		t.Fatal(err)
	}

	timeout := time.After(15 * time.Second)
	var gotKey, gotWelcome, gotSpec bool
	specPut := false
	for !gotKey || !gotWelcome || !gotSpec {
		select {
		case m, ok := <-msgs:
			if !ok {
				t.Fatal("agent closed the proxy's session")
			}
			switch m.Type {
			case agentproto.TypeWelcome:
				gotWelcome = m.Welcome.InstanceID == "sandbox/p1"
			case agentproto.TypeKey:
				// The agent created the key before it sent it.
				want, err := reg.NamespaceKey(context.Background(), "guest")
				if err != nil || string(m.Key.Key) != string(want) {
					t.Errorf("proxy got key %x, want the registry's %x (%v)", m.Key.Key, want, err)
				}
				gotKey = true
			case agentproto.TypeSpecs:
				for _, sd := range m.Specs.Upsert {
					gotSpec = gotSpec || sd.Workflow == "flow"
				}
			}
			if gotWelcome && !specPut {
				specPut = true
				if _, err := reg.PutSpec(context.Background(), registrytest.SampleSpec("guest", "flow")); err != nil {
					t.Fatal(err)
				}
			}
		case <-timeout:
			t.Fatalf("welcome %v, key %v, spec %v within 15s", gotWelcome, gotKey, gotSpec)
		}
	}
	registrytest.Next(t, snaps, 15*time.Second, "the proxy's instance in the registry", registrytest.HasID("sandbox/p1"))
	// The agent passes the 1s TTL: the instance is still there after 2 TTLs.
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case v := <-snaps:
			if !registrytest.HasID("sandbox/p1")(v) {
				t.Fatalf("instance left the passing set while the agent ran: %v", v)
			}
		case <-time.After(time.Until(deadline)):
		}
	}
	if err := stop(); err != nil {
		t.Fatalf("agent Run: %v", err)
	}
	registrytest.Next(t, snaps, 5*time.Second, "the instance gone after the agent stopped", func(v []routetable.Instance) bool { return len(v) == 0 })
}
