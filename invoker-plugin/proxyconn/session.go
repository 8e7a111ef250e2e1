package proxyconn

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/wsk-route/wsk-route/internal/agentproto"
	"github.com/wsk-route/wsk-route/internal/routetable"
)

// maxCloseReason bounds the reason of a close frame (a control frame
// carries at most 125 bytes, 2 of them the code).
const maxCloseReason = 123

// session is one proxy's websocket. Its reader runs in the HTTP handler
// goroutine and owns the writer goroutine.
type session struct {
	srv  *Server
	conn *websocket.Conn

	trigger chan struct{} // buffer 1: the table or specs may have changed
	outbox  chan []byte   // encoded Welcome and Key messages
	done    chan struct{} // closed by run when the session ends; stops the writer

	peer Peer // the kernel's account of the proxy, read once at accept

	mu sync.Mutex // guards ns and id
	ns string     // namespace, set once registered
	id string     // instance id, set once registered
}

// serveSession upgrades the request and runs the session until it ends.
func (s *Server) serveSession(ctx context.Context, w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		http.Error(w, "agent shutting down", http.StatusServiceUnavailable)
		return
	}
	s.wg.Add(1)
	s.mu.Unlock()
	defer s.wg.Done()

	// Identify the peer before the upgrade: the credentials were recorded
	// when it connected, and its cgroup is read while it is still there.
	peer := s.identify(r)
	conn, err := s.upgrader.Upgrade(w, r, nil)
	if err != nil {
		s.log.Debug("proxyconn: upgrade failed", "err", err)
		return
	}
	sess := &session{
		srv:     s,
		conn:    conn,
		peer:    peer,
		trigger: make(chan struct{}, 1),
		outbox:  make(chan []byte, outboxSize),
		done:    make(chan struct{}),
	}
	s.mu.Lock()
	if s.closed { // Serve is shutting down and may have listed the sessions already
		s.mu.Unlock()
		_ = conn.Close()
		return
	}
	s.sessions[sess] = struct{}{}
	s.mu.Unlock()
	sess.run(ctx)
	s.mu.Lock()
	delete(s.sessions, sess)
	s.mu.Unlock()
}

// identify returns the peer of the request's connection; a failure is
// kept in Peer.Err.
func (s *Server) identify(r *http.Request) Peer {
	c, ok := r.Context().Value(connKey{}).(net.Conn)
	if !ok {
		return Peer{Err: fmt.Errorf("%w: no connection in the request", ErrUnidentified)}
	}
	p, err := s.cfg.PeerOf(c)
	if err != nil {
		if !errors.Is(err, ErrUnidentified) {
			err = fmt.Errorf("%w: %w", ErrUnidentified, err)
		}
		return Peer{Err: err}
	}
	return p
}

// run reads messages until the session fails or ctx ends, then stops the
// writer, deregisters the instance and closes the connection.
func (sess *session) run(ctx context.Context) {
	stop := context.AfterFunc(ctx, sess.shutdown)
	defer stop()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		sess.writeLoop()
	}()
	reason := sess.readLoop(ctx)
	close(sess.done)
	wg.Wait()
	// Deregister before closing, so that a proxy that sees its websocket
	// close may register the same name again at once.
	if id := sess.instanceID(); id != "" {
		sess.srv.cfg.Registrar.Deregister(id, reason)
	}
	if len(reason) > maxCloseReason {
		reason = strings.ToValidUTF8(reason[:maxCloseReason-3], "")
	}
	msg := websocket.FormatCloseMessage(websocket.CloseNormalClosure, reason)
	_ = sess.conn.WriteControl(websocket.CloseMessage, msg, time.Now().Add(100*time.Millisecond))
	_ = sess.conn.Close()
}

// shutdown tells the proxy the agent is going away and closes the
// connection, which ends the reader. Safe to call from any goroutine.
func (sess *session) shutdown() {
	msg := websocket.FormatCloseMessage(websocket.CloseGoingAway, "agent shutting down")
	_ = sess.conn.WriteControl(websocket.CloseMessage, msg, time.Now().Add(100*time.Millisecond))
	_ = sess.conn.Close()
}

func (sess *session) namespace() string {
	sess.mu.Lock()
	defer sess.mu.Unlock()
	return sess.ns
}

func (sess *session) instanceID() string {
	sess.mu.Lock()
	defer sess.mu.Unlock()
	return sess.id
}

// wake asks the writer to push the table and specs; it never blocks.
func (sess *session) wake() {
	select {
	case sess.trigger <- struct{}{}:
	default:
	}
}

// send queues an encoded message; a full outbox closes the session.
func (sess *session) send(m *agentproto.Message) error {
	b, err := agentproto.Encode(m)
	if err != nil {
		return err
	}
	select {
	case sess.outbox <- b:
		return nil
	default:
		return errors.New("proxyconn: outbox full")
	}
}

// readLoop reads and handles messages until an error; it returns why the
// session ended.
func (sess *session) readLoop(ctx context.Context) string {
	wait := sess.srv.cfg.PongWait
	c := sess.conn
	c.SetReadLimit(agentproto.MaxMessage)
	_ = c.SetReadDeadline(time.Now().Add(wait))
	c.SetPongHandler(func(string) error { return c.SetReadDeadline(time.Now().Add(wait)) })
	for {
		typ, b, err := c.ReadMessage()
		if err != nil && ctx.Err() != nil {
			return "agent stopped"
		}
		if err != nil {
			if websocket.IsCloseError(err, websocket.CloseNormalClosure, websocket.CloseGoingAway) {
				return "proxy closed the websocket"
			}
			sess.srv.log.Info("proxyconn: session ended", "instance", sess.instanceID(), "err", err)
			return fmt.Sprintf("websocket: %v", err)
		}
		if typ != websocket.TextMessage {
			sess.srv.log.Warn("proxyconn: binary message; closing the session", "instance", sess.instanceID())
			return "bad message: binary"
		}
		m, err := agentproto.Decode(b)
		if err != nil {
			sess.srv.log.Warn("proxyconn: bad message; closing the session", "instance", sess.instanceID(), "err", err)
			return "bad message"
		}
		if reason, stop := sess.handle(ctx, m); stop {
			return reason
		}
		// Handling may have waited on the registry; the proxy's pongs
		// were not read meanwhile.
		_ = c.SetReadDeadline(time.Now().Add(wait))
	}
}

// handle acts on one message; stop reports that the session must end.
func (sess *session) handle(ctx context.Context, m *agentproto.Message) (reason string, stop bool) {
	id := sess.instanceID()
	switch m.Type {
	case agentproto.TypeRegister:
		if id != "" {
			sess.srv.log.Warn("proxyconn: second register on one session; closing it", "instance", id)
			return "bad message: second register", true
		}
		reg := m.Register
		welcome, key, err := sess.srv.cfg.Registrar.Register(ctx, sess.peer, reg)
		if err != nil {
			sess.srv.log.Warn("proxyconn: register refused; closing the session", "name", reg.Name, "namespace", reg.Namespace,
				"pid", sess.peer.PID, "cgroup", sess.peer.Cgroup.String(), "err", err)
			var ref *Refusal
			if errors.As(err, &ref) {
				return "register refused: " + ref.Reason, true
			}
			return "register refused", true
		}
		sess.mu.Lock()
		sess.id = welcome.InstanceID
		sess.mu.Unlock()
		err = sess.send(&agentproto.Message{Type: agentproto.TypeWelcome, Welcome: &welcome})
		if err == nil {
			err = sess.send(&agentproto.Message{Type: agentproto.TypeKey, Key: &agentproto.Key{Namespace: reg.Namespace, Key: key}})
		}
		if err != nil {
			sess.srv.log.Warn("proxyconn: cannot answer register; closing the session", "instance", welcome.InstanceID, "err", err)
			return "cannot answer register", true
		}
		// Set the namespace after queueing Welcome and Key: the writer
		// drains the outbox before it sends any table.
		sess.mu.Lock()
		sess.ns = reg.Namespace
		sess.mu.Unlock()
		sess.wake()
		return "", false
	case agentproto.TypeUnregister:
		if id == "" {
			return "unregister before register", true
		}
		sess.srv.log.Info("proxyconn: proxy unregistered", "instance", id, "reason", m.Unregister.Reason)
		return "unregister: " + m.Unregister.Reason, true
	case agentproto.TypeStats:
		if id == "" {
			sess.srv.log.Warn("proxyconn: stats before register; closing the session")
			return "bad message: stats before register", true
		}
		sess.srv.cfg.Registrar.Stats(id, m.Stats)
		return "", false
	case agentproto.TypeRunEvent:
		if id == "" {
			sess.srv.log.Warn("proxyconn: run event before register; closing the session")
			return "bad message: run event before register", true
		}
		if sink, ok := sess.srv.cfg.Registrar.(RunEventSink); ok {
			sink.RunEvent(id, m.RunEvent)
		}
		return "", false
	case agentproto.TypeActivation:
		if id == "" {
			sess.srv.log.Warn("proxyconn: activation record before register; closing the session")
			return "bad message: activation record before register", true
		}
		if sink, ok := sess.srv.cfg.Registrar.(ActivationSink); ok {
			sink.Activation(id, m.Activation)
		}
		return "", false
	case agentproto.TypeDirect:
		if id == "" {
			sess.srv.log.Warn("proxyconn: direct before register; closing the session")
			return "bad message: direct before register", true
		}
		if sink, ok := sess.srv.cfg.Registrar.(DirectSink); ok {
			sink.Direct(id, m.Direct.Running)
		}
		return "", false
	case agentproto.TypeBatch:
		// Only run events and records (agentproto checked it): each is
		// handled as if it came on its own.
		for i := range m.Batch {
			if reason, stop := sess.handle(ctx, &m.Batch[i]); stop {
				return reason, true
			}
		}
		return "", false
	default:
		sess.srv.log.Warn("proxyconn: unexpected message from a proxy; closing the session", "instance", id, "type", m.Type)
		return "bad message: " + m.Type, true
	}
}

// writeLoop owns every data write on the connection: queued messages,
// table and spec deltas, and pings. A write error closes the connection,
// which ends the reader.
func (sess *session) writeLoop() {
	ping := time.NewTicker(sess.srv.cfg.PingInterval)
	defer ping.Stop()
	sentInst := make(map[string]routetable.Instance)
	sentSpecs := make(map[string]agentproto.SpecData)
	fullTable, fullSpecs := true, true // the first of each is a snapshot
	for {
		select {
		case <-sess.done:
			return
		case <-ping.C:
			if err := sess.conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(sess.srv.cfg.PongWait)); err != nil {
				sess.fail("ping", err)
				return
			}
			continue
		case b := <-sess.outbox:
			if !sess.write(b) {
				return
			}
		case <-sess.trigger:
		}
		for drained := false; !drained; {
			select {
			case b := <-sess.outbox:
				if !sess.write(b) {
					return
				}
			default:
				drained = true
			}
		}
		ns := sess.namespace()
		if ns == "" {
			continue
		}
		table, specs := sess.srv.delta(ns, fullTable, fullSpecs, sentInst, sentSpecs)
		if table != nil {
			fullTable = false
			if !sess.writeMessage(&agentproto.Message{Type: agentproto.TypeTable, Table: table}) {
				return
			}
		}
		if specs != nil {
			fullSpecs = false
			if !sess.writeMessage(&agentproto.Message{Type: agentproto.TypeSpecs, Specs: specs}) {
				return
			}
		}
	}
}

func (sess *session) writeMessage(m *agentproto.Message) bool {
	b, err := agentproto.Encode(m)
	if err != nil {
		sess.fail("encode", err)
		return false
	}
	return sess.write(b)
}

func (sess *session) write(b []byte) bool {
	_ = sess.conn.SetWriteDeadline(time.Now().Add(sess.srv.cfg.PongWait))
	if err := sess.conn.WriteMessage(websocket.TextMessage, b); err != nil {
		sess.fail("write", err)
		return false
	}
	return true
}

// fail logs a write-side error and closes the connection.
func (sess *session) fail(what string, err error) {
	select {
	case <-sess.done: // ending anyway
	default:
		sess.srv.log.Info("proxyconn: "+what+" failed; closing the session", "instance", sess.instanceID(), "err", err)
	}
	_ = sess.conn.Close()
}
