package transport

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/wsk-route/wsk-route/internal/frame"
	"github.com/wsk-route/wsk-route/internal/shm"
)

// ackDrainTimeout bounds the writes of the acks still due when a
// connection stops being read.
const ackDrainTimeout = time.Second

// DefaultMaxInFlight is the number of handler calls per connection a Server
// runs at once when MaxInFlight is 0.
const DefaultMaxInFlight = 64

// Server receives frames on the connections of a listener, hands each to
// Handler and acknowledges it. Its fields must not change once Serve runs.
type Server struct {
	// Handler is called for every frame that is not an ack. Required.
	Handler Handler
	// ShmDir is the directory shm references are resolved in. Empty:
	// shm frames are refused with CodeMalformed.
	ShmDir string
	// MaxPayload bounds an inline payload, in bytes; 0 or negative:
	// frame.DefaultMaxPayload. A larger frame is malformed.
	MaxPayload int
	// MaxInFlight bounds the handler calls running at once for one
	// connection; the connection is not read while all are taken.
	// 0 or negative: DefaultMaxInFlight.
	MaxInFlight int
}

// Serve accepts connections on ln and serves them until ctx ends or ln
// fails. When ctx ends it closes ln and stops reading every connection,
// lets the handlers still running finish and their acks go out (each write
// bounded by one second), closes the connections, waits for all its
// goroutines and returns nil; when ln fails it does the same and returns
// the error.
//
// Per connection, one goroutine reads frames; each frame is resolved (shm
// segment mapped), handed to Handler in its own goroutine and acknowledged
// with frame.AckFor and the same Seq, so acks may go out of order. A frame
// that cannot be decoded gets an ack CodeMalformed when its Seq could be
// read, then the connection is closed. Acks received by a server are
// ignored.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	if s.Handler == nil {
		return errors.New("transport: Server.Handler is nil")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		<-ctx.Done()
		ln.Close()
	}()

	var err error
	for {
		c, aerr := ln.Accept()
		if aerr != nil {
			if ctx.Err() == nil {
				err = fmt.Errorf("transport: accept: %w", aerr)
			}
			break
		}
		// serveConn closes c when ctx ends.
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.serveConn(ctx, c)
		}()
	}
	cancel()
	wg.Wait()
	return err
}

// serverConn is the state of one accepted connection.
type serverConn struct {
	s    *Server
	conn net.Conn
	wmu  sync.Mutex // serialises writes to conn; held only for the write
	wbuf []byte     // ack encoding buffer; guarded by wmu
}

// serveConn reads frames from c until it fails or ctx ends, then waits for
// its handler goroutines (whose acks still go out) and closes c.
func (s *Server) serveConn(ctx context.Context, c net.Conn) {
	ctx, cancel := context.WithCancel(ctx)
	sc := &serverConn{s: s, conn: c}
	maxInFlight := s.MaxInFlight
	if maxInFlight <= 0 {
		maxInFlight = DefaultMaxInFlight
	}
	sem := make(chan struct{}, maxInFlight)
	var hwg sync.WaitGroup
	// When ctx ends (server stopping) or the reader stops, reading stops at
	// once but the handlers still running may write their acks, within
	// ackDrainTimeout; then the connection closes.
	stop := context.AfterFunc(ctx, func() {
		now := time.Now()
		_ = c.SetReadDeadline(now)
		_ = c.SetWriteDeadline(now.Add(ackDrainTimeout))
	})
	defer func() {
		cancel()
		hwg.Wait()
		stop()
		c.Close()
	}()

	r := frame.NewReader(c, s.MaxPayload)
	for {
		d := new(Delivery)
		err := r.Next(&d.Frame)
		if err != nil {
			var de *frame.DecodeError
			if errors.As(err, &de) && d.Frame.Seq != 0 {
				ack := frame.AckFor(&d.Frame, frame.CodeMalformed, de.Error())
				sc.writeAck(&ack)
			}
			return
		}
		if d.Frame.Kind == frame.KindAck {
			continue
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return
		}
		hwg.Add(1)
		go func() {
			defer hwg.Done()
			defer func() { <-sem }()
			sc.handle(ctx, d)
		}()
	}
}

// handle resolves d's payload, calls the handler and writes the ack.
func (sc *serverConn) handle(ctx context.Context, d *Delivery) {
	// The handler may own d (and change it) once it returns: keep what
	// the ack needs.
	req := d.Frame
	req.Payload = nil
	code, reason := sc.resolve(d)
	if code == frame.CodeOK {
		code, reason = sc.s.Handler.HandleFrame(ctx, d)
		if code != frame.CodeOK && code != frame.CodeDuplicate {
			d.Release()
		}
	}
	ack := frame.AckFor(&req, code, reason)
	sc.writeAck(&ack)
}

// resolve maps the shm segment of a shm frame.
func (sc *serverConn) resolve(d *Delivery) (frame.Code, string) {
	f := &d.Frame
	if f.PayloadKind != frame.PayloadShm {
		return frame.CodeOK, ""
	}
	if sc.s.ShmDir == "" {
		return frame.CodeMalformed, "shm segment " + f.Ref + ": shm payloads not accepted on this endpoint"
	}
	seg, err := shm.Open(sc.s.ShmDir, f.Ref, f.Size)
	if err != nil {
		return frame.CodeMalformed, fmt.Sprintf("shm segment %s: %v", f.Ref, err)
	}
	d.seg = seg
	return frame.CodeOK, ""
}

// writeAck encodes and writes ack; a write error closes the connection,
// which ends its reader.
func (sc *serverConn) writeAck(ack *frame.Frame) {
	sc.wmu.Lock()
	defer sc.wmu.Unlock()
	b, err := frame.Encode(sc.wbuf[:0], ack)
	if err != nil {
		// Acks built by AckFor always encode; refuse to write garbage.
		sc.conn.Close()
		return
	}
	sc.wbuf = b
	if _, err := sc.conn.Write(b); err != nil {
		sc.conn.Close()
	}
}
