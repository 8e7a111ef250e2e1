package agent

import (
	"context"
	"net"
	"sync"
	"time"
)

// relayMux shares the relay's TCP listener between the frame relay and the
// blob reads of other agents (HTTP), so that blobs need no port, flag or
// advertised endpoint of their own: an agent reaches another's blobs where
// it reaches its relay. It tells the two apart by the first byte a client
// sends: a frame starts with its u32 header length, at most
// frame.MaxHeader, so with a 0 byte; an HTTP request with the upper-case
// letter of its method.
type relayMux struct {
	ln           net.Listener
	frames, http *muxListener
	sorting      chan struct{} // slots of the connections whose first byte is awaited

	done      chan struct{} // closed by close
	closeOnce sync.Once
	closeErr  error
}

// maxSorting bounds the connections to the relay port whose first byte
// the mux is waiting for (each for at most blobSniffTimeout); one more is
// closed as soon as it is accepted. Each side then bounds its own
// connections (transport.Server.MaxConns, limitConns).
const maxSorting = 64

// newRelayMux returns the mux of ln; run accepts its connections.
func newRelayMux(ln net.Listener) *relayMux {
	m := &relayMux{ln: ln, done: make(chan struct{}), sorting: make(chan struct{}, maxSorting)}
	m.frames = &muxListener{m: m, conns: make(chan net.Conn)}
	m.http = &muxListener{m: m, conns: make(chan net.Conn)}
	return m
}

// close closes ln and both sides; it is idempotent.
func (m *relayMux) close() error {
	m.closeOnce.Do(func() {
		close(m.done)
		m.closeErr = m.ln.Close()
	})
	return m.closeErr
}

// run accepts connections and hands each to its side until ctx ends or
// either side is closed (then it closes ln and returns nil), or ln fails.
// It waits for the connections it is still sorting.
func (m *relayMux) run(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() { m.close() })
	defer stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		c, err := m.ln.Accept()
		if err != nil {
			select {
			case <-m.done:
				return nil
			default:
			}
			m.close()
			return err
		}
		select {
		case m.sorting <- struct{}{}:
		default:
			c.Close() // too many connections that have not said what they are
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-m.sorting }()
			m.sort(c)
		}()
	}
}

// sort reads c's first byte and hands c to its side, or closes it.
func (m *relayMux) sort(c net.Conn) {
	var first [1]byte
	_ = c.SetReadDeadline(time.Now().Add(blobSniffTimeout))
	_, err := c.Read(first[:])
	_ = c.SetReadDeadline(time.Time{})
	if err != nil {
		c.Close()
		return
	}
	side := m.frames
	if first[0] >= 'A' && first[0] <= 'Z' {
		side = m.http
	}
	select {
	case side.conns <- &sniffedConn{Conn: c, first: first[:]}:
	case <-m.done:
		c.Close()
	}
}

// muxListener is one side of a relayMux. Closing it closes the whole mux
// (both sides and the TCP listener): the agent stops both together.
type muxListener struct {
	m     *relayMux
	conns chan net.Conn
}

// Accept implements net.Listener.
func (l *muxListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.m.done:
		return nil, net.ErrClosed
	}
}

// Close implements net.Listener: it closes the mux.
func (l *muxListener) Close() error { return l.m.close() }

// Addr implements net.Listener.
func (l *muxListener) Addr() net.Addr { return l.m.ln.Addr() }

// sniffedConn is a connection whose first bytes were read already.
type sniffedConn struct {
	net.Conn
	first []byte
}

// Read implements net.Conn: first the sniffed bytes, then the rest.
func (c *sniffedConn) Read(p []byte) (int, error) {
	if len(c.first) > 0 {
		n := copy(p, c.first)
		c.first = c.first[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}
