package transport

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wsk-route/wsk-route/internal/frame"
	"github.com/wsk-route/wsk-route/internal/leakcheck"
)

// A client connection has no reader goroutine: the Sends waiting on it
// read it in turn. These tests check the hand-overs of that turn.

// delayHandler acks each frame after the delay its RunID names ("slow"
// frames wait until release is closed).
type delayHandler struct{ release chan struct{} }

func (h delayHandler) HandleFrame(ctx context.Context, d *Delivery) (frame.Code, string) {
	if d.Frame.RunID == "slow" {
		select {
		case <-h.release:
		case <-ctx.Done():
		}
	}
	return frame.CodeOK, ""
}

// A Send that reads the connection for others and then gives up (its ctx
// ends) hands the reading on: the Send still waiting gets its ack.
func TestReaderHandsOnWhenItGivesUp(t *testing.T) {
	leakcheck.Check(t)
	for _, giveUp := range []string{"cancel", "timeout"} {
		t.Run(giveUp, func(t *testing.T) {
			h := delayHandler{release: make(chan struct{})}
			rs := startServer(t, &Server{Keys: testKeys, Handler: h}, testEndpoint(t, "unix"))
			defer rs.stop(t)
			c := &Client{}
			defer c.Close()
			// A waits for an ack that does not come until released; it is
			// alone, so it reads the connection.
			ctx, cancel := context.WithCancel(context.Background())
			if giveUp == "timeout" {
				ctx, cancel = context.WithTimeout(context.Background(), 150*time.Millisecond)
			}
			defer cancel()
			aDone := make(chan error, 1)
			go func() {
				f := stepFrame([]byte("a"))
				f.RunID = "slow"
				_, err := c.Send(ctx, rs.Endpoint, f, testKey)
				aDone <- err
			}()
			waitFor(t, "A to wait for its ack", 2*time.Second, func() bool { return c.waiting(rs.Endpoint) == 1 })
			// B waits too, behind A, for an ack that does not come either.
			bDone := make(chan error, 1)
			go func() {
				f := stepFrame([]byte("b"))
				f.RunID = "slow"
				_, err := c.Send(context.Background(), rs.Endpoint, f, testKey)
				bDone <- err
			}()
			waitFor(t, "B to wait for its ack", 2*time.Second, func() bool { return c.waiting(rs.Endpoint) == 2 })
			if giveUp == "cancel" {
				cancel()
			}
			select {
			case err := <-aDone:
				if err == nil {
					t.Fatal("A returned an ack it cannot have had")
				}
			case <-time.After(2 * time.Second):
				t.Fatal("A did not give up")
			}
			// Both acks come now: B must get its own, so someone reads.
			close(h.release)
			select {
			case err := <-bDone:
				if err != nil {
					t.Fatalf("B: %v", err)
				}
			case <-time.After(2 * time.Second):
				t.Fatal("B never got its ack: nobody read the connection after A gave up")
			}
			// The connection is still good: A's late ack was read and dropped.
			if ack, err := c.Send(context.Background(), rs.Endpoint, stepFrame([]byte("c")), testKey); err != nil || ack.Code != frame.CodeOK {
				t.Fatalf("a send after: %v %v", ack.Code, err)
			}
		})
	}
}

// waiting returns how many Sends wait for an ack from endpoint.
func (c *Client) waiting(endpoint string) int {
	c.mu.Lock()
	cc := c.conns[endpoint]
	c.mu.Unlock()
	if cc == nil {
		return 0
	}
	cc.mu.Lock()
	defer cc.mu.Unlock()
	return len(cc.waiters)
}

// Many Sends on one connection, each with its own deadline or
// cancellation at random, while the server answers in any order: every
// Send returns its own ack or an error, none hangs, none gets another's.
func TestReadersUnderConcurrency(t *testing.T) {
	leakcheck.Check(t)
	var mu sync.Mutex
	rng := rand.New(rand.NewPCG(7, uint64(time.Now().UnixNano())))
	jitter := func(max time.Duration) time.Duration {
		mu.Lock()
		defer mu.Unlock()
		return time.Duration(rng.Int64N(int64(max)))
	}
	for _, inline := range []bool{false, true} {
		t.Run(fmt.Sprintf("inline=%v", inline), func(t *testing.T) {
			// Served inline, frames wait for all those before them, even
			// those whose senders gave up (and a sleep takes a millisecond
			// or more here): the server does not wait.
			h := HandlerFunc(func(ctx context.Context, d *Delivery) (frame.Code, string) {
				if !inline {
					time.Sleep(jitter(3 * time.Millisecond))
				}
				return frame.CodeOK, d.Frame.RunID // the reason names the frame
			})
			rs := startServer(t, &Server{Keys: testKeys, Handler: h, Inline: inline, MaxInFlight: 8}, testEndpoint(t, "unix"))
			defer rs.stop(t)
			c := &Client{AckTimeout: 5 * time.Second}
			defer c.Close()
			var acked, gaveUp atomic.Int32
			var wg sync.WaitGroup
			sem := make(chan struct{}, 12)
			for i := range 400 {
				wg.Add(1)
				sem <- struct{}{}
				go func() {
					defer wg.Done()
					defer func() { <-sem }()
					ctx, cancel := context.WithTimeout(context.Background(), jitter(6*time.Millisecond))
					defer cancel()
					f := stepFrame([]byte("x"))
					f.RunID = fmt.Sprintf("r%d", i)
					ack, err := c.Send(ctx, rs.Endpoint, f, testKey)
					switch {
					case err == nil && ack.Reason != f.RunID:
						t.Errorf("send %s got the ack of %s", f.RunID, ack.Reason)
					case err == nil:
						acked.Add(1)
					case errors.Is(err, ErrTimeout), errors.Is(err, ErrUnreachable):
						gaveUp.Add(1)
					default:
						t.Errorf("send %s: %v", f.RunID, err)
					}
				}()
			}
			wg.Wait()
			t.Logf("%d acked, %d gave up", acked.Load(), gaveUp.Load())
			if acked.Load() == 0 || gaveUp.Load() == 0 {
				t.Error("want both sends that got their ack and sends that gave up, to test the hand-overs between them")
			}
			if ack, err := c.Send(context.Background(), rs.Endpoint, stepFrame([]byte("c")), testKey); err != nil || ack.Code != frame.CodeOK {
				t.Fatalf("a send after: %v %v", ack.Code, err)
			}
		})
	}
}

// A connection unused for longer than MaxIdle is not used again: Send
// dials anew.
func TestMaxIdle(t *testing.T) {
	leakcheck.Check(t)
	rs := startServer(t, &Server{Keys: testKeys, Handler: HandlerFunc(func(context.Context, *Delivery) (frame.Code, string) { return frame.CodeOK, "" })}, testEndpoint(t, "unix"))
	defer rs.stop(t)
	var dials atomic.Int32
	c := &Client{MaxIdle: 100 * time.Millisecond, Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
		dials.Add(1)
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}}
	defer c.Close()
	for i, pause := range []time.Duration{0, 10 * time.Millisecond, 200 * time.Millisecond, 0} {
		time.Sleep(pause)
		if ack, err := c.Send(context.Background(), rs.Endpoint, stepFrame([]byte("x")), testKey); err != nil || ack.Code != frame.CodeOK {
			t.Fatalf("send %d: %v %v", i, ack.Code, err)
		}
	}
	if n := dials.Load(); n != 2 {
		t.Errorf("%d dials, want 2 (one after the connection lay idle for longer than MaxIdle)", n)
	}
}
