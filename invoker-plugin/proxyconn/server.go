package proxyconn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/wsk-route/wsk-route/internal/agentproto"
	"github.com/wsk-route/wsk-route/internal/routetable"
	"github.com/wsk-route/wsk-route/internal/spec"
)

// Defaults of Config's durations.
const (
	DefaultPingInterval = time.Second
	DefaultPongWait     = 3 * time.Second
)

// outboxSize bounds the messages (Welcome, Key) queued for one session
// besides its table and spec state.
const outboxSize = 8

// Registrar admits and withdraws proxies; the agent implements it.
type Registrar interface {
	// Register admits the proxy that sent reg from peer and returns the
	// Welcome to answer with and its namespace's frame key. An error closes
	// the session: its text is logged; only a *Refusal's Reason is sent.
	Register(ctx context.Context, peer Peer, reg *agentproto.Register) (agentproto.Welcome, []byte, error)
	// Deregister withdraws the instance id that Register admitted; it is
	// called once, when the session ends or the proxy sends Unregister.
	Deregister(id, reason string)
	// Stats receives the hop counters a registered proxy reports.
	Stats(id string, st *agentproto.Stats)
}

// Config configures a Server.
type Config struct {
	// Registrar admits the proxies. Required.
	Registrar Registrar
	// Logger receives session events; nil: slog.Default().
	Logger *slog.Logger
	// PingInterval is how often each session is pinged; 0: DefaultPingInterval.
	PingInterval time.Duration
	// PongWait is how long a session may stay silent (no pong, no message)
	// or a write may stall before the session is closed; 0: DefaultPongWait.
	// It must be longer than PingInterval.
	PongWait time.Duration
	// PeerOf identifies the peer of each accepted connection, once, before
	// the websocket upgrade; its result (or error, in Peer.Err) is passed
	// to every Register of the session. nil: LookupPeer.
	PeerOf PeerFunc
}

// Refusal is an error a Registrar returns for a Register it refuses for a
// reason the proxy may be told: Reason is sent in the close frame.
type Refusal struct {
	// Reason is short, printable and tells the proxy nothing about other
	// tenants.
	Reason string
	// Err is the cause, for logs and errors.Is.
	Err error
}

// Error implements error.
func (r *Refusal) Error() string {
	if r.Err == nil {
		return "proxyconn: register refused: " + r.Reason
	}
	return "proxyconn: register refused: " + r.Reason + ": " + r.Err.Error()
}

// Unwrap returns the cause.
func (r *Refusal) Unwrap() error { return r.Err }

// connKey is the context key of the accepted net.Conn of a request.
type connKey struct{}

// Server serves the proxies' websocket sessions. Create it with NewServer.
type Server struct {
	cfg      Config
	log      *slog.Logger
	upgrader websocket.Upgrader

	mu sync.Mutex // guards the fields below
	// insts holds the table by namespace and instance id.
	insts map[string]map[string]routetable.Instance
	// specs holds the specs by namespace and workflow.
	specs map[string]map[string]agentproto.SpecData
	// tabled and specced say that SetInstances and SetSpecs came: until
	// then insts and specs are only empty, not known to be, and no session
	// is sent a snapshot of them (a proxy takes a full table for the
	// truth: an empty one, from an agent that has just started, would
	// make its runs take every instance for gone).
	tabled, specced bool
	sessions        map[*session]struct{}
	closed          bool
	wg              sync.WaitGroup // counts running sessions; Add only under mu while !closed
}

// NewServer checks cfg, fills its defaults and returns a Server.
func NewServer(cfg Config) (*Server, error) {
	if cfg.Registrar == nil {
		return nil, errors.New("proxyconn: Config.Registrar is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.PingInterval <= 0 {
		cfg.PingInterval = DefaultPingInterval
	}
	if cfg.PongWait <= 0 {
		cfg.PongWait = DefaultPongWait
	}
	if cfg.PeerOf == nil {
		cfg.PeerOf = LookupPeer
	}
	if cfg.PongWait <= cfg.PingInterval {
		return nil, fmt.Errorf("proxyconn: PongWait %v must be longer than PingInterval %v", cfg.PongWait, cfg.PingInterval)
	}
	return &Server{
		cfg: cfg,
		log: cfg.Logger,
		upgrader: websocket.Upgrader{
			HandshakeTimeout: cfg.PongWait,
			// The socket is a unix socket reached only by local proxies;
			// there are no browsers and no origins to check.
			CheckOrigin: func(*http.Request) bool { return true },
		},
		insts:    make(map[string]map[string]routetable.Instance),
		specs:    make(map[string]map[string]agentproto.SpecData),
		sessions: make(map[*session]struct{}),
	}, nil
}

// Serve accepts websocket sessions at agentproto.Path on ln until ctx ends,
// then closes ln and every session, waits until each has ended (and been
// deregistered) and returns nil. If ln fails first it does the same and
// returns the error.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	mux := http.NewServeMux()
	mux.HandleFunc(agentproto.Path, func(w http.ResponseWriter, r *http.Request) { s.serveSession(ctx, w, r) })
	hs := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: s.cfg.PongWait,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
		BaseContext:       func(net.Listener) context.Context { return ctx },
		ConnContext:       func(ctx context.Context, c net.Conn) context.Context { return context.WithValue(ctx, connKey{}, c) },
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.PongWait)
	_ = hs.Shutdown(shutdownCtx) // closes ln and idle connections; hijacked ones are ours
	cancel()
	_ = hs.Close()
	if err == nil {
		<-errc
	}
	s.mu.Lock()
	s.closed = true
	open := make([]*session, 0, len(s.sessions))
	for sess := range s.sessions {
		open = append(open, sess)
	}
	s.mu.Unlock()
	for _, sess := range open {
		sess.shutdown()
	}
	s.wg.Wait()
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("proxyconn: serve: %w", err)
	}
	return nil
}

// Sessions returns the number of open sessions.
func (s *Server) Sessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sessions)
}

// SetInstances replaces the route table with insts (all namespaces) and
// wakes every session whose namespace changed.
func (s *Server) SetInstances(insts []routetable.Instance) {
	next := make(map[string]map[string]routetable.Instance)
	for _, in := range insts {
		m := next[in.Namespace]
		if m == nil {
			m = make(map[string]routetable.Instance)
			next[in.Namespace] = m
		}
		m[in.ID] = in
	}
	s.mu.Lock()
	prev, first := s.insts, !s.tabled
	s.insts, s.tabled = next, true
	s.wakeLocked(func(ns string) bool { return first || !maps.Equal(prev[ns], next[ns]) })
	s.mu.Unlock()
}

// SetSpecs replaces the specs with specs (all namespaces) and wakes every
// session whose namespace changed. A spec that cannot be encoded is
// skipped and logged.
func (s *Server) SetSpecs(specs []*spec.Spec) {
	next := make(map[string]map[string]agentproto.SpecData)
	for _, sp := range specs {
		if sp == nil {
			continue
		}
		b, err := sp.Marshal()
		if err != nil {
			s.log.Warn("proxyconn: cannot encode spec", "spec", sp.Key(), "err", err)
			continue
		}
		m := next[sp.Namespace]
		if m == nil {
			m = make(map[string]agentproto.SpecData)
			next[sp.Namespace] = m
		}
		m[sp.Workflow] = agentproto.SpecData{Workflow: sp.Workflow, Version: sp.Version, Spec: b}
	}
	s.mu.Lock()
	prev, first := s.specs, !s.specced
	s.specs, s.specced = next, true
	s.wakeLocked(func(ns string) bool { return first || !maps.EqualFunc(prev[ns], next[ns], sameSpec) })
	s.mu.Unlock()
}

// wakeLocked wakes the registered sessions whose namespace changed.
func (s *Server) wakeLocked(changed func(ns string) bool) {
	memo := make(map[string]bool)
	for sess := range s.sessions {
		ns := sess.namespace()
		if ns == "" {
			continue
		}
		c, ok := memo[ns]
		if !ok {
			c = changed(ns)
			memo[ns] = c
		}
		if c {
			sess.wake()
		}
	}
}

// sameSpec reports whether a and b are the same version of the same spec.
func sameSpec(a, b agentproto.SpecData) bool {
	return a.Version == b.Version && string(a.Spec) == string(b.Spec)
}

// delta returns the Table and Specs messages that bring a session whose
// last sent state is sentInst and sentSpecs up to date with namespace ns,
// and updates sentInst and sentSpecs; fullTable and fullSpecs ask for
// snapshots. A nil result means nothing changed, or, before the first
// SetInstances (SetSpecs), nothing is known yet.
func (s *Server) delta(ns string, fullTable, fullSpecs bool, sentInst map[string]routetable.Instance, sentSpecs map[string]agentproto.SpecData) (table *agentproto.Table, specs *agentproto.Specs) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tabled {
		table = diffTable(s.insts[ns], sentInst, fullTable)
	}
	if s.specced {
		specs = diffSpecs(s.specs[ns], sentSpecs, fullSpecs)
	}
	return table, specs
}

// diffTable returns the Table message from sent to cur (a snapshot if
// full) and makes sent equal to cur; nil if nothing changed.
func diffTable(cur, sent map[string]routetable.Instance, full bool) *agentproto.Table {
	upsert, remove := diffMap(cur, sent, full,
		func(in routetable.Instance) string { return in.ID },
		func(a, b routetable.Instance) bool { return a == b })
	if !full && len(upsert) == 0 && len(remove) == 0 {
		return nil
	}
	return &agentproto.Table{Full: full, Upsert: upsert, Remove: remove}
}

// diffSpecs is diffTable for specs.
func diffSpecs(cur, sent map[string]agentproto.SpecData, full bool) *agentproto.Specs {
	upsert, remove := diffMap(cur, sent, full,
		func(sd agentproto.SpecData) string { return sd.Workflow }, sameSpec)
	if !full && len(upsert) == 0 && len(remove) == 0 {
		return nil
	}
	return &agentproto.Specs{Full: full, Upsert: upsert, Remove: remove}
}

// diffMap is the diff behind diffTable and diffSpecs, over maps indexed by
// key(value). It returns the values of cur to send (all of them if full,
// else those not in sent or not the same as there) and the keys in sent
// that cur no longer holds (none if full: a snapshot replaces everything),
// both sorted by key, and makes sent equal to cur.
func diffMap[V any](cur, sent map[string]V, full bool, key func(V) string, same func(a, b V) bool) (upsert []V, remove []string) {
	for k, v := range cur {
		if old, ok := sent[k]; full || !ok || !same(old, v) {
			upsert = append(upsert, v)
		}
	}
	for k := range sent {
		if _, ok := cur[k]; !ok {
			if !full {
				remove = append(remove, k)
			}
			delete(sent, k)
		}
	}
	for _, v := range upsert {
		sent[key(v)] = v
	}
	slices.SortFunc(upsert, func(a, b V) int { return strings.Compare(key(a), key(b)) })
	slices.Sort(remove)
	return upsert, remove
}
