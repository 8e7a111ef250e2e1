package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/wsk-route/wsk-route/internal/blob"
	"github.com/wsk-route/wsk-route/internal/frame"
	"github.com/wsk-route/wsk-route/internal/shm"
	"github.com/wsk-route/wsk-route/internal/transport"
	"github.com/wsk-route/wsk-route/invoker-plugin/proxyconn"
)

// Blob pulls: a large payload on the fallback path stays in a shm segment
// of the producing host, and the consuming host's agent pulls it (see
// internal/blob). This agent serves both ends:
//
//   - to its proxies, blob.FetchPath on <run-dir>/agent-blobs.sock: the
//     caller must be a container bound to the frame's namespace, the frame
//     must verify with that namespace's key; the agent then reads the blob
//     from the producing host's agent and writes it into a new segment of
//     the namespace's shm directory, deadline the frame's, and answers its
//     name;
//   - to other agents, blob.ReadPath on the relay's TCP port (relayMux
//     tells HTTP from frames by the first byte): the frame must name this
//     host and a segment of its namespace's directory, verify with the
//     namespace's key, and match the segment's size; the agent streams the
//     segment, which it unlinks as it starts (a blob is read once).
//
// The producing agent is found by host name in the route table (the relay
// endpoint of any of its instances), never from the frame, so a frame
// cannot make an agent connect anywhere else.

// blobSniffTimeout bounds the wait for the first byte of a connection to
// the relay port.
const blobSniffTimeout = 10 * time.Second

// blobDefaultTimeout bounds a blob transfer of a frame without deadline.
const blobDefaultTimeout = 10 * time.Minute

// Bounds of the blob HTTP endpoints: a request is one frame header
// (blob.MaxRequest), read within blobRequestTimeout; at most blobMaxConns
// connections per endpoint are served at once (one more is closed as it
// comes), and an idle keep-alive connection is closed after
// blobIdleTimeout.
const (
	blobRequestTimeout = 10 * time.Second
	blobMaxConns       = 64
	blobIdleTimeout    = 90 * time.Second
	blobMaxHeaderBytes = 8 << 10
)

// blobs is the agent's blob service: its listeners and its client.
type blobs struct {
	fetchLn net.Listener // unix blob.FetchSocket in RunDir
	mux     *relayMux    // the relay's TCP port; nil without RelayListen
	client  *http.Client // to other agents' ReadPath
	keys    keyCache     // frame keys, for blob requests and the frame servers
}

// keyCache holds the frame keys the agent has read from the registry, by
// namespace. Keys are never changed once created, so they are kept.
type keyCache struct {
	mu sync.Mutex // guards m
	m  map[string][]byte
}

func (c *keyCache) get(ns string) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[ns]
}

func (c *keyCache) put(ns string, key []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[string][]byte)
	}
	c.m[ns] = key
}

// namespaceKey returns the frame key of ns from the cache or the registry;
// nil (and no error) when ns has none.
func (a *Agent) namespaceKey(ctx context.Context, ns string) ([]byte, error) {
	if key := a.blobs.keys.get(ns); key != nil {
		return key, nil
	}
	kctx, cancel := context.WithTimeout(ctx, registryTimeout)
	defer cancel()
	key, err := a.cfg.Registry.NamespaceKey(kctx, ns)
	if err != nil {
		a.metrics.RegistryError()
		return nil, err
	}
	if len(key) > 0 {
		a.blobs.keys.put(ns, key)
	}
	return key, nil
}

// relayMaxConns bounds the connections each of the agent's frame servers
// serves at once: one per local proxy on the frame socket, one per other
// agent on the relay port (transport.Server.MaxConns).
const relayMaxConns = 512

// frameKey is the Keys of the agent's frame servers (its frame socket and
// its relay listeners, transport.Server.Keys): the key of namespace ns
// when an instance of ns is registered through this agent (or, just after
// the agent started, placed on this host by the table: servesNamespace).
// Those are the only namespaces whose frames the agent relays (a relayed
// frame's target is a local instance, and only local proxies reach the
// frame socket), so a peer naming any other namespace is refused from its
// frame's header, without a registry read.
func (a *Agent) frameKey(ns string) ([]byte, bool) {
	if key := a.blobs.keys.get(ns); key != nil {
		return key, true
	}
	if !a.servesNamespace(ns) {
		return nil, false
	}
	key, err := a.namespaceKey(context.Background(), ns)
	if err != nil || len(key) == 0 {
		return nil, false
	}
	return key, true
}

// servesNamespace reports whether an instance of ns is registered through
// this agent or, while the agent settles after its start, whether the
// table places one on this host (its proxy, which the previous agent
// served, registers again in a moment); before Consul's first answer it
// waits for it, at most settleGrace (restart.go).
func (a *Agent) servesNamespace(ns string) bool {
	start := time.Now()
	var serves, waited bool
	a.await(settleGrace, func() bool {
		var wait bool
		serves, wait = a.servesLocked(ns, time.Now())
		waited = waited || wait
		return serves || !wait
	})
	if waited {
		a.logSettled("namespace "+ns, serves, time.Since(start))
	}
	return serves
}

// blobError is a failure with the HTTP status that answers it.
type blobError struct {
	status int
	err    error
}

func (e *blobError) Error() string { return e.err.Error() }
func (e *blobError) Unwrap() error { return e.err }

func blobErrorf(status int, format string, args ...any) error {
	return &blobError{status: status, err: fmt.Errorf(format, args...)}
}

// statusOf returns the HTTP status answering err.
func statusOf(err error) int {
	var be *blobError
	if errors.As(err, &be) {
		return be.status
	}
	return http.StatusInternalServerError
}

// BlobSocketPath returns the path of the unix socket on which proxies ask
// for blobs of other hosts.
func (a *Agent) BlobSocketPath() string { return filepath.Join(a.cfg.RunDir, blob.FetchSocket) }

// listenBlobs binds the blob fetch socket and, with a TCP relay listener,
// puts relayMux in front of it: a.relayLn becomes the mux's frame side.
func (a *Agent) listenBlobs() error {
	var err error
	a.blobs = &blobs{client: &http.Client{Transport: &http.Transport{
		// Only addresses from the route table are dialed: no proxies.
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 4,
		IdleConnTimeout:     90 * time.Second,
	}}}
	if a.blobs.fetchLn, err = transport.Listen("unix:" + a.BlobSocketPath()); err != nil {
		return fmt.Errorf("agent: blob socket: %w", err)
	}
	if a.relayLn != nil {
		a.blobs.mux = newRelayMux(a.relayLn)
		a.relayLn = a.blobs.mux.frames
	}
	return nil
}

// closeBlobs releases the blob listeners of an agent that never ran.
func (a *Agent) closeBlobs() error {
	if a.blobs == nil {
		return nil
	}
	a.blobs.client.CloseIdleConnections()
	var errs []error
	if a.blobs.fetchLn != nil {
		errs = append(errs, a.blobs.fetchLn.Close())
	}
	if a.blobs.mux != nil {
		errs = append(errs, a.blobs.mux.close())
	}
	return errors.Join(errs...)
}

// startBlobs starts the blob service's goroutines with Run's start.
func (a *Agent) startBlobs(start func(name string, fn func(context.Context) error)) {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+blob.FetchPath, a.serveFetch)
	start("blob socket", func(ctx context.Context) error {
		defer a.blobs.client.CloseIdleConnections()
		return serveHTTP(ctx, limitConns(a.blobs.fetchLn, blobMaxConns), mux, a.log)
	})
	if m := a.blobs.mux; m != nil {
		read := http.NewServeMux()
		read.HandleFunc("POST "+blob.ReadPath, a.serveRead)
		start("relay port", m.run)
		start("blob reads", func(ctx context.Context) error {
			return serveHTTP(ctx, limitConns(m.http, blobMaxConns), read, a.log)
		})
	}
}

// blobConnKey is the context key of a blob request's connection.
type blobConnKey struct{}

// serveHTTP serves h on ln until ctx ends (then closes ln, lets requests
// in flight end within a second, and returns nil) or ln fails.
func serveHTTP(ctx context.Context, ln net.Listener, h http.Handler, log *slog.Logger) error {
	hs := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: blobRequestTimeout,
		IdleTimeout:       blobIdleTimeout,
		MaxHeaderBytes:    blobMaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
		BaseContext:       func(net.Listener) context.Context { return ctx },
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			if lc, ok := c.(*limitConn); ok {
				c = lc.Conn // the connection itself: checkCaller asks the kernel who is at its other end
			}
			return context.WithValue(ctx, blobConnKey{}, c)
		},
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	var err error
	select {
	case err = <-errc:
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
	_ = hs.Shutdown(sctx)
	cancel()
	_ = hs.Close()
	if err == nil {
		err = <-errc
	}
	if errors.Is(err, http.ErrServerClosed) || (errors.Is(err, net.ErrClosed) && ctx.Err() != nil) {
		return nil
	}
	return err
}

// readRequest reads and decodes a blob request body: at most
// blob.MaxRequest bytes (a larger one is refused before it is read), within
// blobRequestTimeout.
func readRequest(w http.ResponseWriter, r *http.Request) (*blob.Request, error) {
	if r.ContentLength > blob.MaxRequest {
		return nil, blobErrorf(http.StatusRequestEntityTooLarge, "request of %d bytes, over %d", r.ContentLength, blob.MaxRequest)
	}
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Now().Add(blobRequestTimeout))
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, blob.MaxRequest))
	// The transfer that follows may take long; the connection's background
	// read must not time out under it.
	_ = rc.SetReadDeadline(time.Time{})
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return nil, blobErrorf(http.StatusRequestEntityTooLarge, "request over %d bytes", blob.MaxRequest)
	}
	if err != nil {
		return nil, blobErrorf(http.StatusBadRequest, "reading the request: %w", err)
	}
	req, err := blob.DecodeRequest(body)
	if err != nil {
		return nil, blobErrorf(http.StatusBadRequest, "%w", err)
	}
	return req, nil
}

// checkFrame checks that the frame of req is of a namespace with a shm
// directory on this host, verifies with its key and has not expired.
func (a *Agent) checkFrame(ctx context.Context, req *blob.Request) error {
	f := &req.Frame
	if !safeName(f.Namespace) {
		return blobErrorf(http.StatusBadRequest, "namespace %q", f.Namespace)
	}
	// A namespace that never registered here has no segments: no need to
	// ask the registry for its key.
	if _, err := os.Stat(filepath.Join(a.cfg.ShmRoot, f.Namespace)); err != nil {
		return blobErrorf(http.StatusForbidden, "namespace %q has no shm directory on host %s", f.Namespace, a.cfg.Host)
	}
	key, err := a.namespaceKey(ctx, f.Namespace)
	if err != nil {
		return blobErrorf(http.StatusServiceUnavailable, "key of namespace %q: %w", f.Namespace, err)
	}
	if len(key) == 0 {
		// An empty key would verify a tag anyone can compute.
		return blobErrorf(http.StatusForbidden, "namespace %q has no frame key", f.Namespace)
	}
	if !f.Verify(key) {
		return blobErrorf(http.StatusForbidden, "bad tag: the frame of run %s step %s does not verify with the key of namespace %q", f.RunID, f.Step, f.Namespace)
	}
	if f.Deadline != 0 && time.Now().UnixNano() > f.Deadline {
		return blobErrorf(http.StatusGone, "blob %s: the run's deadline passed %v ago", f.Ref, time.Since(time.Unix(0, f.Deadline)).Round(time.Millisecond))
	}
	return nil
}

// transferContext bounds a transfer by the frame's deadline.
func transferContext(ctx context.Context, f *frame.Frame) (context.Context, context.CancelFunc) {
	if f.Deadline != 0 {
		return context.WithDeadline(ctx, time.Unix(0, f.Deadline))
	}
	return context.WithTimeout(ctx, blobDefaultTimeout)
}

// serveRead serves blob.ReadPath to another agent: it removes the segment
// the signed frame names and streams its bytes.
func (a *Agent) serveRead(w http.ResponseWriter, r *http.Request) {
	req, err := readRequest(w, r)
	if err == nil {
		err = a.checkRead(r.Context(), req)
	}
	if err != nil {
		a.log.Warn("agent: blob read refused", "remote", r.RemoteAddr, "err", err)
		http.Error(w, "host "+a.cfg.Host+": "+err.Error(), statusOf(err))
		return
	}
	f := &req.Frame
	dir := filepath.Join(a.cfg.ShmRoot, f.Namespace)
	file, err := openSegment(dir, req.Segment, f.Size)
	if err != nil {
		a.log.Warn("agent: blob read refused", "remote", r.RemoteAddr, "ref", f.Ref, "err", err)
		http.Error(w, "host "+a.cfg.Host+": "+err.Error(), statusOf(err))
		return
	}
	defer file.Close()
	// One consumer per segment (each hop writes its own), and a failed
	// transfer fails the run: unlink it now, stream from the open file.
	if err := shm.Remove(dir, req.Segment); err != nil {
		a.log.Warn("agent: removing a blob being read", "ref", f.Ref, "err", err)
	}
	ctx, cancel := transferContext(r.Context(), f)
	defer cancel()
	if d, ok := ctx.Deadline(); ok {
		_ = http.NewResponseController(w).SetWriteDeadline(d)
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.FormatUint(f.Size, 10))
	w.WriteHeader(http.StatusOK)
	start := time.Now()
	n, err := io.CopyN(w, file, int64(f.Size))
	if err != nil {
		a.log.Warn("agent: blob read broke off", "remote", r.RemoteAddr, "ref", f.Ref, "sent", n, "size", f.Size, "err", err)
		return
	}
	a.log.Debug("agent: blob read", "remote", r.RemoteAddr, "ref", f.Ref, "size", f.Size, "took", time.Since(start))
}

// checkRead checks a ReadPath request: it names this host, and its frame
// checks out (checkFrame).
func (a *Agent) checkRead(ctx context.Context, req *blob.Request) error {
	if req.Host != a.cfg.Host {
		return blobErrorf(http.StatusNotFound, "blob %s is not held by this host (%s)", req.Frame.Ref, a.cfg.Host)
	}
	return a.checkFrame(ctx, req)
}

// openSegment opens segment name of dir for reading and checks that it is
// a regular file of size bytes. dir is writable by the namespace's
// containers: shm.OpenFile neither follows a symlink (of the segment or of
// dir) nor blocks on a FIFO, and refuses anything but a regular file, so a
// container cannot make the agent read a path of the host.
func openSegment(dir, name string, size uint64) (*os.File, error) {
	if !shm.ValidName(name) {
		return nil, blobErrorf(http.StatusBadRequest, "%q is not a segment name", name)
	}
	file, got, err := shm.OpenFile(dir, name)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, blobErrorf(http.StatusNotFound, "segment %s is gone (swept after the run's deadline, or already read)", name)
	case errors.Is(err, shm.ErrNotRegular), errors.Is(err, syscall.ELOOP):
		return nil, blobErrorf(http.StatusNotFound, "segment %s is not a regular file", name)
	case err != nil:
		return nil, blobErrorf(http.StatusInternalServerError, "segment %s: %w", name, err)
	case uint64(got) != size:
		file.Close()
		return nil, blobErrorf(http.StatusConflict, "size mismatch: segment %s is %d bytes, the frame says %d", name, got, size)
	}
	return file, nil
}

// serveFetch serves blob.FetchPath to a local proxy: it pulls the blob the
// signed frame names from its host's agent into a new segment of the
// namespace and answers the segment's name.
func (a *Agent) serveFetch(w http.ResponseWriter, r *http.Request) {
	answer := func(status int, ans blob.FetchAnswer) {
		b, _ := json.Marshal(ans)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		w.Write(append(b, '\n'))
	}
	name, req, err := a.fetch(w, r)
	if err != nil {
		a.log.Warn("agent: blob fetch failed", "err", err)
		answer(statusOf(err), blob.FetchAnswer{Error: err.Error()})
		return
	}
	a.log.Info("agent: blob fetched", "ref", req.Frame.Ref, "size", req.Frame.Size, "segment", name)
	answer(http.StatusOK, blob.FetchAnswer{Segment: name})
}

// fetch does serveFetch's work.
func (a *Agent) fetch(w http.ResponseWriter, r *http.Request) (string, *blob.Request, error) {
	req, err := readRequest(w, r)
	if err != nil {
		return "", nil, err
	}
	f := &req.Frame
	if err := a.checkCaller(r, f.Namespace); err != nil {
		return "", req, err
	}
	if req.Host == a.cfg.Host {
		return "", req, blobErrorf(http.StatusBadRequest, "blob %s is on this host: map segment %s of the namespace's shm directory", f.Ref, req.Segment)
	}
	if err := a.checkFrame(r.Context(), req); err != nil {
		return "", req, err
	}
	url, err := a.blobURL(req.Host)
	if err != nil {
		return "", req, err
	}
	ctx, cancel := transferContext(r.Context(), f)
	defer cancel()
	body, _ := frame.Encode(nil, f)
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return "", req, blobErrorf(http.StatusInternalServerError, "blob %s: %w", f.Ref, err)
	}
	hreq.Header.Set("Content-Type", "application/octet-stream")
	resp, err := a.blobs.client.Do(hreq)
	if err != nil {
		return "", req, blobErrorf(http.StatusBadGateway, "blob %s: the agent of host %s at %s is unreachable: %w", f.Ref, req.Host, url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		status := resp.StatusCode
		if status < 400 || status > 599 {
			status = http.StatusBadGateway
		}
		return "", req, blobErrorf(status, "blob %s: the agent of host %s answered %s: %s", f.Ref, req.Host, resp.Status, bytes.TrimSpace(msg))
	}
	if resp.ContentLength != int64(f.Size) {
		return "", req, blobErrorf(http.StatusBadGateway, "size mismatch: the agent of host %s sends %d bytes for blob %s, the frame says %d", req.Host, resp.ContentLength, f.Ref, f.Size)
	}
	dir := filepath.Join(a.cfg.ShmRoot, f.Namespace)
	name, err := writeSegment(dir, time.Unix(0, f.Deadline), resp.Body, f.Size)
	if err != nil {
		return "", req, blobErrorf(http.StatusBadGateway, "blob %s from host %s: %w", f.Ref, req.Host, err)
	}
	return name, req, nil
}

// checkCaller refuses a fetch from a container not bound to namespace ns
// (see bindings): a container can only pull blobs of its own namespace.
func (a *Agent) checkCaller(r *http.Request, ns string) error {
	c, ok := r.Context().Value(blobConnKey{}).(net.Conn)
	if !ok {
		return blobErrorf(http.StatusForbidden, "caller unidentified: no connection")
	}
	peerOf := a.cfg.PeerOf
	if peerOf == nil {
		peerOf = proxyconn.LookupPeer
	}
	peer, err := peerOf(c)
	if err != nil {
		if a.cfg.AllowUnidentifiedPeers {
			return nil
		}
		return blobErrorf(http.StatusForbidden, "caller unidentified: %w", err)
	}
	bound, ok := a.bindings.namespaceOf(peer.Cgroup)
	switch {
	case !ok:
		return blobErrorf(http.StatusForbidden, "caller (cgroup %s) has not registered with this agent", peer.Cgroup)
	case bound != ns:
		return blobErrorf(http.StatusForbidden, "caller (cgroup %s) is bound to namespace %q, not %q", peer.Cgroup, bound, ns)
	}
	return nil
}

// namespaceOf returns the namespace cg is bound to.
func (b *bindings) namespaceOf(cg proxyconn.Cgroup) (string, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if bd := b.m[cg.String()]; bd != nil {
		return bd.ns, true
	}
	return "", false
}

// blobURL returns the ReadPath URL of host's agent: the relay endpoint
// its instances advertise in the route table (a tcp: one; the HTTP side
// of the relay port is relayMux's).
func (a *Agent) blobURL(host string) (string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	seen := false
	for _, inst := range a.table {
		if inst.Host != host {
			continue
		}
		seen = true
		network, addr, err := transport.ParseEndpoint(inst.Relay)
		if err == nil && network == "tcp" {
			return "http://" + addr + blob.ReadPath, nil
		}
	}
	if seen {
		return "", blobErrorf(http.StatusBadGateway, "producing host %s advertises no tcp relay endpoint (blobs are served on the relay's TCP port)", host)
	}
	return "", blobErrorf(http.StatusNotFound, "producing host %s is unknown: none of its instances is in the route table", host)
}

// writeSegment writes exactly size bytes of r into a new segment of dir
// whose name carries deadline (the sweeper removes it past that), and
// returns its name. shm.Create makes it with O_EXCL|O_NOFOLLOW in dir
// opened without following a symlink, so nothing a container planted in
// dir makes the agent write elsewhere. On error nothing is left behind.
func writeSegment(dir string, deadline time.Time, r io.Reader, size uint64) (string, error) {
	name, file, err := shm.Create(dir, deadline)
	if err != nil {
		return "", fmt.Errorf("segment: %w", err)
	}
	n, err := io.CopyN(file, r, int64(size))
	if err == nil {
		// Exactly size: a longer body is a protocol error.
		var one [1]byte
		if m, _ := r.Read(one[:]); m > 0 {
			err = fmt.Errorf("more than the %d bytes the frame says", size)
		}
	} else if errors.Is(err, io.EOF) {
		err = fmt.Errorf("size mismatch: the stream ended after %d of %d bytes", n, size)
	} else {
		err = fmt.Errorf("after %d of %d bytes: %w", n, size, err)
	}
	if cerr := file.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		_ = shm.Remove(dir, name)
		return "", err
	}
	return name, nil
}

// limitConns returns ln serving at most n connections at once: one more is
// closed as soon as it is accepted.
func limitConns(ln net.Listener, n int) net.Listener {
	return &limitListener{Listener: ln, n: int64(n)}
}

type limitListener struct {
	net.Listener
	n      int64
	active atomic.Int64
}

// Accept implements net.Listener.
func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.active.Add(1) > l.n {
			l.active.Add(-1)
			c.Close()
			continue
		}
		return &limitConn{Conn: c, l: l}, nil
	}
}

type limitConn struct {
	net.Conn
	l    *limitListener
	once sync.Once
}

// Close implements net.Conn; it frees the connection's slot once.
func (c *limitConn) Close() error {
	c.once.Do(func() { c.l.active.Add(-1) })
	return c.Conn.Close()
}
