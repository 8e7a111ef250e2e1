package route

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/wsk-route/wsk-route/internal/fdpass"
)

// handoffTimeout bounds fetching the frame socket from the agent.
const handoffTimeout = 5 * time.Second

// fetchListener fetches the listening frame socket the agent made for this
// registration: it connects to the agent's handoff endpoint, sends the
// welcome's token and receives the descriptor (internal/fdpass).
func fetchListener(ctx context.Context, handoff, token string) (net.Listener, error) {
	path, ok := strings.CutPrefix(handoff, "unix:")
	if !ok || token == "" {
		return nil, fmt.Errorf("route: the agent's welcome has no socket handoff (%q)", handoff)
	}
	ctx, cancel := context.WithTimeout(ctx, handoffTimeout)
	defer cancel()
	msg, f, err := fdpass.Fetch(ctx, path, []byte(token+"\n"), "frames")
	if err != nil {
		return nil, fmt.Errorf("route: fetching the frame socket from %s: %w", path, err)
	}
	defer f.Close()
	if string(msg) != "ok" {
		return nil, fmt.Errorf("route: fetching the frame socket: the agent said %q", msg)
	}
	ln, err := net.FileListener(f)
	if err != nil {
		return nil, fmt.Errorf("route: the agent's frame socket: %w", err)
	}
	return ln, nil
}

// handedListener is one net.Listener over the frame sockets the agent
// hands over, one per registration: each new one replaces the last (whose
// path the agent has re-bound), while the connections accepted on the old
// one go on. The frame server serves it from the plane's start to its end.
type handedListener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
	wg    sync.WaitGroup // accept loops

	mu  sync.Mutex
	cur net.Listener
}

func newHandedListener() *handedListener {
	return &handedListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

// set starts accepting on ln and closes the listener it replaces.
func (h *handedListener) set(ln net.Listener) {
	h.mu.Lock()
	select {
	case <-h.done:
		h.mu.Unlock()
		ln.Close()
		return
	default:
	}
	old := h.cur
	h.cur = ln
	h.wg.Add(1)
	h.mu.Unlock()
	if old != nil {
		old.Close()
	}
	go func() {
		defer h.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return // replaced, or closed with h
			}
			select {
			case h.conns <- c:
			case <-h.done:
				c.Close()
				return
			}
		}
	}()
}

// Accept implements net.Listener.
func (h *handedListener) Accept() (net.Conn, error) {
	select {
	case c := <-h.conns:
		return c, nil
	case <-h.done:
		return nil, net.ErrClosed
	}
}

// Close implements net.Listener: it closes the current socket and waits
// for the accept loops.
func (h *handedListener) Close() error {
	h.once.Do(func() {
		h.mu.Lock()
		close(h.done)
		if h.cur != nil {
			h.cur.Close()
		}
		h.mu.Unlock()
		h.wg.Wait()
	})
	return nil
}

// Addr implements net.Listener.
func (h *handedListener) Addr() net.Addr {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.cur != nil {
		return h.cur.Addr()
	}
	return &net.UnixAddr{Net: "unix", Name: "(no frame socket yet)"}
}

var _ net.Listener = (*handedListener)(nil)
