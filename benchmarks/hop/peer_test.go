package hop

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/wsk-route/wsk-route/internal/frame"
	"github.com/wsk-route/wsk-route/internal/testenv"
	"github.com/wsk-route/wsk-route/internal/testenv/netns"
	"github.com/wsk-route/wsk-route/internal/transport"
)

// peerBin is the receiver process (./peer), built by the first test that
// needs it; TestMain removes it.
var peerBin struct {
	once    sync.Once
	path    string
	cleanup func()
	err     error
}

// peerPath builds ./peer once and returns its path.
func peerPath(tb testing.TB) string {
	tb.Helper()
	peerBin.once.Do(func() {
		dir, cleanup, err := testenv.BuildStatic(map[string]string{"peer": "./peer"})
		if err != nil {
			peerBin.err = err
			return
		}
		peerBin.path, peerBin.cleanup = filepath.Join(dir, "peer"), cleanup
	})
	if peerBin.err != nil {
		tb.Fatal(peerBin.err)
	}
	return peerBin.path
}

// Bounds of a peer's life.
const (
	peerStartTimeout = 10 * time.Second // until it prints its endpoint
	peerReplyTimeout = 5 * time.Second  // for a stats reply
	peerStopGrace    = 5 * time.Second  // from the end of its stdin to its exit
)

// peerProc is one receiver process. Its stdout lines arrive on lines; the
// only goroutine it owns is the one that waits for the process (closing
// done), which stop ends.
type peerProc struct {
	name     string
	endpoint string // what it listens on, the port filled in
	cmd      *exec.Cmd
	stdin    *os.File // the write end of its stdin; closing it stops the peer
	lines    chan string
	stderr   testenv.SyncBuffer
	done     chan struct{} // closed once the process has exited
	waitErr  error         // read after done is closed
	stopOnce sync.Once
}

// lineWriter turns a peer's stdout into lines on a channel; a line that
// finds the channel full is dropped (replies are read one at a time, so
// it is never full in practice).
type lineWriter struct {
	mu      sync.Mutex // guards partial
	partial []byte
	lines   chan<- string
}

func (w *lineWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.partial = append(w.partial, b...)
	for {
		i := bytes.IndexByte(w.partial, '\n')
		if i < 0 {
			break
		}
		select {
		case w.lines <- string(w.partial[:i]):
		default:
		}
		w.partial = w.partial[i+1:]
	}
	return len(b), nil
}

// peerProfileEnv names a directory: when it is set, every receiver
// process writes a CPU profile of its life there, named after it.
const peerProfileEnv = "WSK_ROUTE_PEER_CPUPROFILE"

// proxyProcs is the GOMAXPROCS of a proxy (proxymain), which the receivers
// and, while it measures, the sending test process run with.
const proxyProcs = 1

// asProxy runs the test process, the sender, with a proxy's GOMAXPROCS
// until tb ends.
func asProxy(tb testing.TB) {
	prev := runtime.GOMAXPROCS(proxyProcs)
	tb.Cleanup(func() { runtime.GOMAXPROCS(prev) })
}

// startPeer starts the receiver process with args through command
// (exec.Command, or a network namespace's Host.Command), waits until it
// listens, and stops it at cleanup.
func startPeer(tb testing.TB, name string, command func(string, ...string) *exec.Cmd, args ...string) *peerProc {
	tb.Helper()
	bin := peerPath(tb)
	if dir := os.Getenv(peerProfileEnv); dir != "" {
		file := strings.Map(func(r rune) rune {
			if r == ' ' || r == '(' || r == ')' || r == '/' {
				return '-'
			}
			return r
		}, name)
		args = append(args, "-cpuprofile", filepath.Join(dir, file+".pprof"))
	}
	cmd := command(bin, args...)
	if !slices.Contains(args, "relay") {
		// A receiver plays a proxy, which runs on one scheduler thread
		// (proxymain); the raw baseline's receiver runs as its hop's, so
		// that the two differ only in what they do. A relay plays a host
		// agent, which keeps the machine's setting.
		cmd.Env = append(cmd.Environ(), "GOMAXPROCS="+strconv.Itoa(proxyProcs))
	}
	r, w, err := os.Pipe()
	if err != nil {
		tb.Fatal(err)
	}
	p := &peerProc{name: name, cmd: cmd, stdin: w, lines: make(chan string, 64), done: make(chan struct{})}
	cmd.Stdin = r
	cmd.Stdout = &lineWriter{lines: p.lines}
	cmd.Stderr = &p.stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // ip netns exec's child goes with it
	cmd.WaitDelay = peerStopGrace
	if err := cmd.Start(); err != nil {
		r.Close()
		w.Close()
		tb.Fatalf("hop: start %s: %v", name, err)
	}
	r.Close()
	go func() {
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	tb.Cleanup(func() {
		if err := p.stop(); err != nil {
			tb.Errorf("hop: %s: %v", name, err)
		}
	})
	line, err := p.readLine(peerStartTimeout)
	if err != nil {
		tb.Fatalf("hop: %s did not start: %v", name, err)
	}
	ep, ok := strings.CutPrefix(line, "listening ")
	if !ok {
		tb.Fatalf("hop: %s printed %q, want \"listening <endpoint>\"; stderr: %s", name, line, p.stderr.String())
	}
	p.endpoint = ep
	return p
}

// readLine returns the next line the peer printed.
func (p *peerProc) readLine(timeout time.Duration) (string, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case l := <-p.lines:
		return l, nil
	case <-p.done:
		select {
		case l := <-p.lines:
			return l, nil
		default:
		}
		return "", fmt.Errorf("exited (%v); stderr: %s", p.waitErr, p.stderr.String())
	case <-t.C:
		return "", fmt.Errorf("no output within %v; stderr: %s", timeout, p.stderr.String())
	}
}

// usage is the CPU time and context switches of one or more processes.
type usage struct {
	cpu      time.Duration // user + system
	switches int64         // voluntary + involuntary
}

func (u usage) sub(v usage) usage { return usage{u.cpu - v.cpu, u.switches - v.switches} }
func (u usage) add(v usage) usage { return usage{u.cpu + v.cpu, u.switches + v.switches} }

// usage asks the peer for its CPU time and context switches so far.
func (p *peerProc) usage() (usage, error) {
	if _, err := p.stdin.Write([]byte("stats\n")); err != nil {
		return usage{}, fmt.Errorf("hop: %s: %w", p.name, err)
	}
	line, err := p.readLine(peerReplyTimeout)
	if err != nil {
		return usage{}, fmt.Errorf("hop: %s: stats: %w", p.name, err)
	}
	var user, sys, vol, invol int64
	if _, err := fmt.Sscanf(line, "stats %d %d %d %d", &user, &sys, &vol, &invol); err != nil {
		return usage{}, fmt.Errorf("hop: %s: stats reply %q: %w", p.name, line, err)
	}
	return usage{cpu: time.Duration(user + sys), switches: vol + invol}, nil
}

// selfUsage is the test process's CPU time and context switches so far.
func selfUsage() (usage, error) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return usage{}, fmt.Errorf("hop: getrusage: %w", err)
	}
	return usage{cpu: time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), switches: ru.Nvcsw + ru.Nivcsw}, nil
}

// stop closes the peer's stdin, which stops it, and waits for it to exit;
// after peerStopGrace it kills its process group. It reports an exit that
// was not clean. It is idempotent.
func (p *peerProc) stop() error {
	var err error
	p.stopOnce.Do(func() {
		p.stdin.Close()
		t := time.NewTimer(peerStopGrace)
		defer t.Stop()
		select {
		case <-p.done:
		case <-t.C:
			_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
			<-p.done
			err = fmt.Errorf("did not stop within %v of the end of its stdin; killed", peerStopGrace)
			return
		}
		if p.waitErr != nil {
			err = fmt.Errorf("exit: %v; stderr: %s", p.waitErr, p.stderr.String())
		}
	})
	return err
}

// procPair is a hop and its raw baseline on one kind of socket, each
// receiver in a process of its own (hopPeer, rawPeer); with both nil, the
// receivers run in the test process (the in-process diagnostic).
type procPair struct {
	path, base       string // "same-host unix", "raw unix"
	diag             bool   // a diagnostic, not what production does
	hop, raw         roundTripper
	hopPeer, rawPeer *peerProc
	relays           []*peerProc // processes on the hop's way to hopPeer (agents)
}

// hopProcs are the processes a hop crosses besides the test process:
// the relays and the receiver (none in process).
func (p procPair) hopProcs() []*peerProc {
	if p.hopPeer == nil {
		return nil
	}
	return append(slices.Clip(p.relays), p.hopPeer)
}

// rawProcs is the raw baseline's receiver process (none in process).
func (p procPair) rawProcs() []*peerProc {
	if p.rawPeer == nil {
		return nil
	}
	return []*peerProc{p.rawPeer}
}

// dialRaw opens a raw path to a peer's endpoint with dial (nil: net.Dial).
func dialRaw(tb testing.TB, endpoint string, dial func(context.Context, string, string) (net.Conn, error)) *rawPath {
	network, addr, err := transport.ParseEndpoint(endpoint)
	if err != nil {
		tb.Fatal(err)
	}
	if dial == nil {
		var d net.Dialer
		dial = d.DialContext
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := dial(ctx, network, addr)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	return &rawPath{conn: c}
}

// procSameHost starts a hop receiver process on a unix socket (accepting
// shm segments, which the sender uses above transport.DefaultShmThreshold)
// and a raw receiver process on another.
func procSameHost(tb testing.TB) procPair {
	p := procSameHostWith(tb, 0)
	p.path = "same-host unix"
	return p
}

// procSameHostInline is procSameHost with every payload inline (the
// client's ShmThreshold -1): a diagnostic of the shm threshold between
// processes.
func procSameHostInline(tb testing.TB) procPair {
	p := procSameHostWith(tb, -1)
	p.path, p.diag = "same-host unix, forced inline (diagnostic)", true
	return p
}

// procSameHostServerInline is procSameHost with the receiver's
// transport.Server handling frames on its reading goroutine
// (Server.Inline), as the proxy's route plane serves them.
func procSameHostServerInline(tb testing.TB) procPair {
	p := procSameHostWith(tb, 0, "-inline")
	p.path = inlinePath
	return p
}

// procSameHostWith is procSameHost with the client's ShmThreshold, and
// extra flags for the receiver.
func procSameHostWith(tb testing.TB, threshold int, flags ...string) procPair {
	shm := shmDir(tb)
	dir := tempDir(tb, "", "wskhop")
	hp := startPeer(tb, "hop receiver (unix)", exec.Command,
		append([]string{"-mode", "hop", "-listen", "unix:" + filepath.Join(dir, "recv.sock"), "-shm-dir", shm}, flags...)...)
	rp := startPeer(tb, "raw receiver (unix)", exec.Command, "-mode", "raw", "-listen", "unix:"+filepath.Join(dir, "raw.sock"))
	c := newClient(tb, &transport.Client{ShmDir: shm, ShmThreshold: threshold})
	return procPair{
		base: "raw unix",
		hop:  &hopPath{c: c, endpoint: hp.endpoint, key: Key}, raw: dialRaw(tb, rp.endpoint, nil),
		hopPeer: hp, rawPeer: rp,
	}
}

// procFrames starts a hop.SyncFrames receiver process and a raw one, both
// on unix sockets (tcp false) or TCP over loopback, and sends frames to
// the first from one goroutine (framePath): the what-if of a hop without
// the transport's goroutine hand-offs.
func procFrames(tb testing.TB, tcp bool) procPair {
	hopEP, rawEP, path, base := "tcp:127.0.0.1:0", "tcp:127.0.0.1:0", "loopback tcp", "raw tcp"
	if !tcp {
		dir := tempDir(tb, "", "wskhop")
		hopEP, rawEP = "unix:"+filepath.Join(dir, "frames.sock"), "unix:"+filepath.Join(dir, "raw.sock")
		path, base = "same-host unix", "raw unix"
	}
	hp := startPeer(tb, "frames receiver", exec.Command, "-mode", "frames", "-listen", hopEP)
	rp := startPeer(tb, "raw receiver", exec.Command, "-mode", "raw", "-listen", rawEP)
	fp := dialRaw(tb, hp.endpoint, nil)
	return procPair{
		path: path + ", frames on one goroutine a side (what-if)", base: base, diag: true,
		hop: &framePath{conn: fp.conn, r: frame.NewReader(fp.conn, defaultMaxAck)}, raw: dialRaw(tb, rp.endpoint, nil),
		hopPeer: hp, rawPeer: rp,
	}
}

// defaultMaxAck bounds the payload of an ack framePath reads.
const defaultMaxAck = transport.DefaultMaxAckPayload

// framePath writes the hop's frames itself, signed, header and payload in
// one vectored write, and reads each ack on the same goroutine: what a hop
// costs without the transport's goroutine hand-offs (see hop.SyncFrames).
// It is not safe for concurrent use.
type framePath struct {
	conn net.Conn
	r    *frame.Reader
	seq  uint64
	hdr  []byte
}

func (p *framePath) roundTrip(ctx context.Context, payload []byte) error {
	f := stepFrame(payload)
	p.seq++
	f.Seq = p.seq
	f.Sign(Key)
	hdr, err := frame.AppendHeader(p.hdr[:0], f)
	if err != nil {
		return err
	}
	p.hdr = hdr
	bufs := net.Buffers{hdr, payload}
	if _, err := bufs.WriteTo(p.conn); err != nil {
		return fmt.Errorf("hop: frames write: %w", err)
	}
	var ack frame.Frame
	if err := p.r.Next(&ack); err != nil {
		return fmt.Errorf("hop: frames ack: %w", err)
	}
	if ack.Kind != frame.KindAck || ack.Seq != f.Seq || ack.Code != frame.CodeOK {
		return fmt.Errorf("hop: frames ack: kind %v seq %d (want %d) code %v: %s", ack.Kind, ack.Seq, f.Seq, ack.Code, ack.Reason)
	}
	return nil
}

// procLoopbackTCP starts a hop receiver process (Server.Inline, as the
// route plane serves every endpoint) and a raw one on TCP over loopback.
func procLoopbackTCP(tb testing.TB) procPair {
	hp := startPeer(tb, "hop receiver (tcp)", exec.Command, "-mode", "hop", "-inline", "-listen", "tcp:127.0.0.1:0")
	rp := startPeer(tb, "raw receiver (tcp)", exec.Command, "-mode", "raw", "-listen", "tcp:127.0.0.1:0")
	c := newClient(tb, &transport.Client{})
	return procPair{
		path: "loopback tcp", base: "raw tcp",
		hop: &hopPath{c: c, endpoint: hp.endpoint, key: Key}, raw: dialRaw(tb, rp.endpoint, nil),
		hopPeer: hp, rawPeer: rp,
	}
}

// procCrossHost starts a hop receiver process (Server.Inline) and a raw
// one on TCP inside network namespace h2; the test process sends from h1.
func procCrossHost(tb testing.TB, h1, h2 *netns.Host) procPair {
	hp := startPeer(tb, "hop receiver ("+h2.Name+")", h2.Command, "-mode", "hop", "-inline", "-listen", "tcp:"+h2.IP+":0")
	rp := startPeer(tb, "raw receiver ("+h2.Name+")", h2.Command, "-mode", "raw", "-listen", "tcp:"+h2.IP+":0")
	c := newClient(tb, &transport.Client{Dial: h1.Dial})
	return procPair{
		path: "cross-host tcp", base: "raw tcp",
		hop: &hopPath{c: c, endpoint: hp.endpoint, key: Key}, raw: dialRaw(tb, rp.endpoint, h1.Dial),
		hopPeer: hp, rawPeer: rp,
	}
}

// procRelayed starts, as separate processes, a hop receiver on a unix
// socket "on" h2, h2's agent relay on TCP inside h2 (delivering locally),
// h1's agent relay on a unix socket inside h1 (forwarding to h2's agent),
// and a raw TCP receiver inside h2; the test process sends to h1's agent,
// as a proxy sends to an instance without a routable address. Payloads
// stay inline (relays forward inline frames only).
func procRelayed(tb testing.TB, h1, h2 *netns.Host) procPair {
	dir := tempDir(tb, "", "wskhop")
	recv := startPeer(tb, "hop receiver ("+h2.Name+", unix)", h2.Command, "-mode", "hop", "-inline", "-listen", "unix:"+filepath.Join(dir, "recv.sock"))
	agent2 := startPeer(tb, "agent relay ("+h2.Name+")", h2.Command,
		"-mode", "relay", "-listen", "tcp:"+h2.IP+":0", "-target-unix", recv.endpoint)
	agent1 := startPeer(tb, "agent relay ("+h1.Name+")", h1.Command,
		"-mode", "relay", "-listen", "unix:"+filepath.Join(dir, "frames.sock"), "-forward",
		"-target-unix", recv.endpoint, "-target-relay", agent2.endpoint)
	rp := startPeer(tb, "raw receiver ("+h2.Name+")", h2.Command, "-mode", "raw", "-listen", "tcp:"+h2.IP+":0")
	c := newClient(tb, &transport.Client{ShmThreshold: -1})
	return procPair{
		path: "relayed", base: "raw tcp",
		hop: &hopPath{c: c, endpoint: agent1.endpoint, key: Key}, raw: dialRaw(tb, rp.endpoint, h1.Dial),
		hopPeer: recv, rawPeer: rp, relays: []*peerProc{agent1, agent2},
	}
}

// inProcessSameHost is the diagnostic: the same-host hop and raw unix
// baseline with their receivers in the test process.
func inProcessSameHost(tb testing.TB) procPair {
	return procPair{
		path: "same-host unix, in process (diagnostic)", base: "raw unix, in process", diag: true,
		hop: startSameHost(tb).path(tb), raw: rawUnix(tb),
	}
}

// inlinePath names the same-host rows whose receiver serves frames inline,
// as the proxy's route plane does.
const inlinePath = "same-host unix, Server.Inline (as the route plane serves)"
