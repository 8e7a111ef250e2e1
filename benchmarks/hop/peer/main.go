// Command peer is the receiving process of the two-process hop benchmarks
// (package hop): the test process sends, this process receives, as a proxy
// sends a step to another proxy in production.
//
//	peer -mode hop -listen unix:/tmp/x/recv.sock -shm-dir /dev/shm/x
//	peer -mode raw -listen tcp:127.0.0.1:0
//
// Mode hop serves a transport.Server with hop.Keys and hop.Receiver (the
// same handler the in-process benchmarks run); mode raw serves hop.RawEcho,
// the raw socket baseline (length + payload in, one byte out); mode frames
// serves hop.SyncFrames, transport frames on one goroutine per connection
// (a what-if, not the transport); mode relay serves a host agent's
// relay.Relay for the one instance hop.TargetID, local (-target-unix) or,
// with -forward, on the host whose agent relays at -target-relay. Once it
// listens, peer prints "listening <endpoint>" (with the port chosen for
// tcp:...:0) on stdout. It then reads commands from stdin, one a line:
//
//	stats  prints "stats <user ns> <system ns> <voluntary> <involuntary>":
//	       the CPU time and context switches of this process so far
//
// and stops, closing its listener and connections, when stdin ends or on
// SIGTERM or SIGINT. -cpuprofile writes a CPU profile of its whole life.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"runtime/pprof"
	"sync"
	"syscall"

	"github.com/wsk-route/wsk-route/benchmarks/hop"
	"github.com/wsk-route/wsk-route/internal/routetable"
	"github.com/wsk-route/wsk-route/internal/transport"
	"github.com/wsk-route/wsk-route/invoker-plugin/relay"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "peer:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("peer", flag.ContinueOnError)
	mode := fs.String("mode", "hop", "hop (transport.Server), raw (length + payload, 1-byte ack), frames (hop.SyncFrames) or relay (a host agent's relay.Relay)")
	listen := fs.String("listen", "", "endpoint to listen on: unix:/path or tcp:host:port")
	shmDir := fs.String("shm-dir", "", "directory shm references resolve in (mode hop; empty: inline frames only)")
	inline := fs.Bool("inline", false, "mode hop: the transport.Server handles frames on the reading goroutine (Server.Inline), as the proxy's route plane does")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	targetUnix := fs.String("target-unix", "", "mode relay: the unix endpoint of instance hop.TargetID")
	targetRelay := fs.String("target-relay", "", "mode relay: the relay endpoint of the host of hop.TargetID")
	forward := fs.Bool("forward", false, "mode relay: hop.TargetID is on another host, reached through -target-relay (else it is local)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *listen == "" {
		return errors.New("-listen is required")
	}
	var serveConn func(net.Conn)
	var handler transport.Handler
	switch *mode {
	case "hop":
		handler = hop.Receiver
	case "relay":
		if *targetUnix == "" || (*forward && *targetRelay == "") {
			return errors.New("mode relay needs -target-unix, and -target-relay with -forward")
		}
		sender := &transport.Client{} // no ShmDir: payloads stay inline
		defer sender.Close()
		inst := routetable.Instance{
			ID: hop.TargetID, Namespace: hop.Namespace, Action: "/guest/b", Host: "host-2",
			Unix: *targetUnix, Relay: *targetRelay,
		}
		handler = &relay.Relay{Directory: directory{inst: inst, local: !*forward}, Sender: sender, Forward: *forward}
	case "raw":
		serveConn = hop.RawEcho
	case "frames":
		serveConn = hop.SyncFrames
	default:
		return fmt.Errorf("-mode %q: want hop, raw, frames or relay", *mode)
	}

	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}

	ln, err := transport.Listen(*listen)
	if err != nil {
		return err
	}
	ep := *listen
	if ln.Addr().Network() == "tcp" {
		ep = "tcp:" + ln.Addr().String()
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	done := make(chan error, 1)
	if handler != nil {
		srv := &transport.Server{Keys: hop.Keys, Handler: handler, ShmDir: *shmDir, Inline: *inline}
		if *mode == "relay" {
			// A relay blocks in HandleFrame for the forward: as the host
			// agent does, it gets room for many frames in flight.
			srv.MaxInFlight = 1024
		}
		go func() { done <- srv.Serve(ctx, ln) }()
	} else {
		go func() { done <- serveEach(ctx, ln, serveConn) }()
	}

	out := bufio.NewWriter(os.Stdout)
	fmt.Fprintf(out, "listening %s\n", ep)
	if err := out.Flush(); err != nil {
		return err
	}
	// Commands on stdin; its end (the test process closed it or died)
	// stops the peer. The reader is not waited for: it may be blocked in a
	// read of stdin when a signal stops the peer, and the process exits.
	go func() {
		defer cancel()
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			switch sc.Text() {
			case "stats":
				fmt.Fprintln(out, statsLine())
			default:
				fmt.Fprintf(out, "error unknown command %q\n", sc.Text())
			}
			if out.Flush() != nil {
				return
			}
		}
	}()
	return <-done
}

// directory is the relay's relay.Directory: one instance, hop.TargetID.
type directory struct {
	inst  routetable.Instance
	local bool
}

func (d directory) Lookup(id string) (routetable.Instance, bool, bool) {
	return d.inst, d.local, id == d.inst.ID
}

// statsLine is the reply to "stats": this process's CPU time and context
// switches so far.
func statsLine() string {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return "error " + err.Error()
	}
	return fmt.Sprintf("stats %d %d %d %d", ru.Utime.Nano(), ru.Stime.Nano(), ru.Nvcsw, ru.Nivcsw)
}

// serveEach runs serve on every connection of ln, each in a goroutine,
// until ctx ends or ln fails; then it closes ln and the connections and
// waits for their goroutines. It returns nil when ctx ended.
func serveEach(ctx context.Context, ln net.Listener, serve func(net.Conn)) error {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex // guards conns
		conns = map[net.Conn]struct{}{}
	)
	stop := context.AfterFunc(ctx, func() {
		ln.Close()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	defer stop()
	var err error
	for {
		c, aerr := ln.Accept()
		if aerr != nil {
			if ctx.Err() == nil {
				err = aerr
				ln.Close()
			}
			break
		}
		mu.Lock()
		if ctx.Err() != nil {
			mu.Unlock()
			c.Close()
			break
		}
		conns[c] = struct{}{}
		mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			serve(c)
			c.Close()
			mu.Lock()
			delete(conns, c)
			mu.Unlock()
		}()
	}
	mu.Lock()
	for c := range conns {
		c.Close()
	}
	mu.Unlock()
	wg.Wait()
	return err
}
