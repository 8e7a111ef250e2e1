package route

import (
	"context"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/wsk-route/wsk-route/internal/agentproto"
	"github.com/wsk-route/wsk-route/internal/routetable"
	"github.com/wsk-route/wsk-route/internal/spec"
	"github.com/wsk-route/wsk-route/internal/transport"
)

// session is one websocket connection to the agent: it registers the
// instance once identified, then applies what the agent pushes. It
// returns when the connection ends or ctx ends.
func (p *Plane) session(ctx context.Context) error {
	d := websocket.Dialer{
		NetDialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var nd net.Dialer
			return nd.DialContext(ctx, "unix", p.cfg.AgentSocket)
		},
		HandshakeTimeout: 5 * time.Second,
	}
	conn, _, err := d.DialContext(ctx, "ws://agent"+agentproto.Path, nil)
	if err != nil {
		return fmt.Errorf("route: connecting to the agent at %s: %w", p.cfg.AgentSocket, err)
	}
	conn.SetReadLimit(agentproto.MaxMessage)
	ws := &wsConn{c: conn}
	p.mu.Lock()
	p.ws = ws
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		p.ws = nil
		p.mu.Unlock()
	}()

	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	defer conn.Close()

	// Register once the action is known (at once if it already is). The
	// goroutine ends with the session (ended), and reports a failed send
	// on regErr, which the read loop looks at once the connection failed.
	regErr := make(chan error, 1)
	ended := make(chan struct{})
	regDone := make(chan struct{})
	go func() {
		defer close(regDone)
		select {
		case <-p.identified:
		case <-ctx.Done():
			return
		case <-ended:
			return
		}
		id, _, _ := p.snapshot()
		err := ws.send(&agentproto.Message{Type: agentproto.TypeRegister, Register: &agentproto.Register{
			Namespace:   id.Namespace,
			Action:      id.Action,
			Version:     id.Version,
			TCP:         p.cfg.TCPAdvertise,
			Concurrency: p.cfg.Concurrency,
			Name:        p.cfg.Name,
			Telemetry:   true,
			User:        agentproto.UserOf(id.APIKey),
			Slots:       true,
			Direct:      true,
		}})
		if err != nil {
			regErr <- err
			conn.Close()
		}
	}()
	defer func() { close(ended); conn.Close(); <-regDone }()

	var pending *welcomeState // welcome received, key not yet
	for {
		_, data, err := conn.ReadMessage()
		if err != nil {
			select {
			case rerr := <-regErr:
				return rerr
			default:
			}
			return fmt.Errorf("route: agent connection: %w", err)
		}
		m, err := agentproto.Decode(data)
		if err != nil {
			return fmt.Errorf("route: bad message from the agent: %w", err)
		}
		switch m.Type {
		case agentproto.TypeWelcome:
			w := m.Welcome
			// The agent made this registration's frame socket; take it
			// before anything else, so the instance the agent just
			// registered can be reached.
			ln, err := fetchListener(ctx, w.Handoff, w.Token)
			if err != nil {
				return err
			}
			p.frames.set(ln)
			p.mu.Lock()
			p.unix = w.Socket
			p.mu.Unlock()
			p.telemetry.on.Store(w.Telemetry)
			p.slots.Store(int32(w.Slots))
			p.direct.want.Store(w.Direct)
			p.direct.poke() // steps may run already
			pending = &welcomeState{instanceID: w.InstanceID, host: w.Host, relay: w.Relay, shmDir: w.ShmDir}
		case agentproto.TypeKey:
			if pending == nil {
				return fmt.Errorf("route: agent sent a key before its welcome")
			}
			id, _, _ := p.snapshot()
			if m.Key.Namespace != id.Namespace {
				return fmt.Errorf("route: agent sent the key of namespace %q to a proxy of %q", m.Key.Namespace, id.Namespace)
			}
			pending.key = append([]byte(nil), m.Key.Key...)
			pending.client = &transport.Client{ShmDir: pending.shmDir, AckTimeout: p.cfg.AckTimeout}
			// The inline client reaches other hosts through the relay:
			// its accept windows allow for their clocks (ClockSkew).
			pending.inline = &transport.Client{ShmThreshold: -1, AckTimeout: p.cfg.AckTimeout, Relayed: true}
			p.setWelcome(pending)
			p.cfg.Logger.Info("route: registered", "instance", pending.instanceID, "host", pending.host)
		case agentproto.TypeTable:
			p.applyTable(m.Table)
		case agentproto.TypeSpecs:
			p.applySpecs(m.Specs)
		default:
			p.cfg.Logger.Warn("route: unexpected message from the agent", "type", m.Type)
		}
	}
}

// wsConn serialises writes to a websocket (gorilla allows one writer).
type wsConn struct {
	mu sync.Mutex // guards writes to c
	c  *websocket.Conn
}

func (w *wsConn) send(m *agentproto.Message) error {
	b, err := agentproto.Encode(m)
	if err != nil {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	return w.c.WriteMessage(websocket.TextMessage, b)
}

func (p *Plane) applyTable(t *agentproto.Table) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.table == nil {
		return // before the welcome: the agent sends a full table after it
	}
	if t.Full {
		p.table.Replace(t.Upsert)
	} else {
		p.table.Apply(t.Upsert, t.Remove)
	}
	p.noteListedLocked(t.Upsert)
	p.tableGen++
	p.tableSynced = true
	p.notifyLocked()
}

// Bounds of Plane.listed: past maxListed entries, the instances not in
// the table and not listed for listedFor are forgotten.
const (
	maxListed = 4096
	listedFor = 10 * time.Minute
)

// noteListedLocked records that the agent listed insts now. p.mu must be
// held.
func (p *Plane) noteListedLocked(insts []routetable.Instance) {
	if p.listed == nil {
		p.listed = make(map[string]int64)
	}
	now := p.cfg.Now().UnixNano()
	for _, in := range insts {
		p.listed[in.ID] = now
	}
	if len(p.listed) <= maxListed {
		return
	}
	for id, at := range p.listed {
		if _, ok := p.table.Get(id); !ok && now-at > int64(listedFor) {
			delete(p.listed, id)
		}
	}
}

func (p *Plane) applySpecs(s *agentproto.Specs) {
	parsed := make(map[string]*spec.Spec, len(s.Upsert))
	for _, d := range s.Upsert {
		sp, err := spec.Parse(d.Spec)
		if err != nil {
			p.cfg.Logger.Warn("route: ignoring a spec the agent sent", "workflow", d.Workflow, "err", err)
			continue
		}
		sp.Version = d.Version
		parsed[sp.Workflow] = sp
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if s.Full {
		for w, sp := range parsed {
			p.keepPreviousLocked(w, sp)
		}
		for w := range p.previous {
			if parsed[w] == nil {
				delete(p.previous, w)
			}
		}
		p.specs = parsed
	} else {
		for _, w := range s.Remove {
			delete(p.specs, w)
			delete(p.previous, w)
		}
		for w, sp := range parsed {
			p.keepPreviousLocked(w, sp)
			p.specs[w] = sp
		}
	}
	p.notifyLocked()
}

// keepPreviousLocked remembers the version of workflow that sp replaces,
// so that runs started under it finish under it. p.mu must be held.
func (p *Plane) keepPreviousLocked(workflow string, sp *spec.Spec) {
	if cur := p.specs[workflow]; cur != nil && cur.Version != sp.Version {
		p.previous[workflow] = cur
	}
}

// Slots returns how many direct steps the proxy may run at once, as the
// agent said when it welcomed the proxy: its action's limits.concurrency
// (Welcome.Slots). It is 1 before a welcome and from an agent that does
// not say.
func (p *Plane) Slots() int {
	return max(int(p.slots.Load()), 1)
}

// Unregister tells the agent the instance can no longer run (its action
// died): the agent withdraws it at once.
func (p *Plane) Unregister(reason string) {
	p.mu.Lock()
	ws := p.ws
	p.mu.Unlock()
	if ws != nil {
		ws.send(&agentproto.Message{Type: agentproto.TypeUnregister, Unregister: &agentproto.Unregister{Reason: reason}})
	}
}
