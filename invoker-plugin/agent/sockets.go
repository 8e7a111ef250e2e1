package agent

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/wsk-route/wsk-route/internal/fdpass"
)

// The proxies' frame sockets are the agent's: it binds each one in
// ProxySocketDir, a directory of RunDir, and hands the listening
// descriptor to the proxy that registered, over HandoffSocket. RunDir is
// mounted read-only into action containers, so no container can create,
// rename or remove a socket there: none can pose as the agent, nor take
// another proxy's endpoint to read its frames.
const (
	// ProxySocketDir is the directory, in RunDir, of the proxies' frame
	// sockets (<name>.sock).
	ProxySocketDir = "proxies"
	// HandoffSocket is the name, in RunDir, of the socket a registered
	// proxy fetches its listening descriptor from.
	HandoffSocket = "agent-sockets.sock"
)

const (
	// handoffTTL bounds how long a socket waits for its proxy to fetch
	// it; after that it is closed and its file removed.
	handoffTTL = 10 * time.Second
	// handoffTimeout bounds one handoff connection.
	handoffTimeout = 2 * time.Second
	// maxHandoffs bounds the handoff connections served at once.
	maxHandoffs = 64
	// socketGrace is how long after the agent starts it leaves the
	// sockets of proxies that have not registered again alone: through a
	// restart of the agent, warm proxies keep serving frames on the
	// sockets they hold, and register again within seconds.
	socketGrace = 30 * time.Second
)

// ErrHandoff is returned (wrapped) for a handoff the agent refuses.
var ErrHandoff = errors.New("agent: socket handoff refused")

// sockets creates the proxies' frame sockets and hands them over.
type sockets struct {
	dir     string // RunDir/ProxySocketDir
	started time.Time

	mu      sync.Mutex
	pending map[string]*pendingSocket // by token
	owned   map[string]uint64         // socket file name -> inode of the socket this agent made
}

// pendingSocket is a socket made for a registration, not yet fetched.
type pendingSocket struct {
	file    *os.File // the listening socket
	name    string   // file name in dir
	expires time.Time
}

func newSockets(runDir string) (*sockets, error) {
	dir := filepath.Join(runDir, ProxySocketDir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("agent: proxy socket dir: %w", err)
	}
	return &sockets{dir: dir, started: time.Now(), pending: map[string]*pendingSocket{}, owned: map[string]uint64{}}, nil
}

// create binds a new frame socket for the proxy name, replacing the file a
// previous socket of that name left, and returns its endpoint and the
// token its proxy fetches it with. The token is a 128-bit secret that
// travels only on the proxy's own session with the agent, good once and
// for handoffTTL: it is what proves the fetch comes from that proxy.
func (s *sockets) create(name string, now time.Time) (endpoint, token string, err error) {
	file := name + ".sock"
	path := filepath.Join(s.dir, file)
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&fs.ModeSocket == 0 {
			return "", "", fmt.Errorf("agent: %s exists and is not a socket", path)
		}
		if err := os.Remove(path); err != nil {
			return "", "", fmt.Errorf("agent: replacing %s: %w", path, err)
		}
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return "", "", fmt.Errorf("agent: proxy socket: %w", err)
	}
	ln.SetUnlinkOnClose(false) // the file outlives the agent's copy
	f, ferr := ln.File()
	ln.Close()
	if ferr != nil {
		os.Remove(path)
		return "", "", fmt.Errorf("agent: proxy socket: %w", ferr)
	}
	if err := os.Chmod(path, 0o660); err != nil {
		f.Close()
		os.Remove(path)
		return "", "", fmt.Errorf("agent: proxy socket: %w", err)
	}
	var tok [16]byte
	rand.Read(tok[:])
	token = hex.EncodeToString(tok[:])

	s.mu.Lock()
	defer s.mu.Unlock()
	s.expireLocked(now)
	s.pending[token] = &pendingSocket{file: f, name: file, expires: now.Add(handoffTTL)}
	s.owned[file] = inode(path)
	return "unix:" + path, token, nil
}

// drop forgets the socket of name and removes its file, if the file is
// still the socket this agent made for it: the registration it was made
// for failed, or its session ended.
func (s *sockets) drop(name string) {
	file := name + ".sock"
	path := filepath.Join(s.dir, file)
	s.mu.Lock()
	defer s.mu.Unlock()
	for tok, p := range s.pending {
		if p.name == file {
			p.file.Close()
			delete(s.pending, tok)
		}
	}
	if ino, ok := s.owned[file]; ok {
		delete(s.owned, file)
		if inode(path) == ino {
			os.Remove(path)
		}
	}
}

// expireLocked closes the sockets nobody fetched in time, and returns how
// many files it removed.
func (s *sockets) expireLocked(now time.Time) int {
	n := 0
	for tok, p := range s.pending {
		if now.After(p.expires) {
			p.file.Close()
			delete(s.pending, tok)
			if ino, ok := s.owned[p.name]; ok && inode(filepath.Join(s.dir, p.name)) == ino {
				if os.Remove(filepath.Join(s.dir, p.name)) == nil {
					n++
				}
				delete(s.owned, p.name)
			}
		}
	}
	return n
}

// sweep removes the socket files of proxies this agent does not hold
// (killed proxies, or proxies that never came back after a restart of
// the agent), once the agent has run socketGrace. live reports whether a
// socket file name belongs to a registered proxy. It returns how many it
// removed.
func (s *sockets) sweep(now time.Time, live func(file string) bool) int {
	if now.Sub(s.started) < socketGrace {
		return 0
	}
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.expireLocked(now)
	for _, e := range entries {
		name := e.Name()
		if live(name) || s.isPendingLocked(name) {
			continue
		}
		if e.Type()&fs.ModeSocket == 0 {
			continue // not ours to remove
		}
		if err := os.Remove(filepath.Join(s.dir, name)); err == nil {
			delete(s.owned, name)
			n++
		}
	}
	return n
}

func (s *sockets) isPendingLocked(file string) bool {
	for _, p := range s.pending {
		if p.name == file {
			return true
		}
	}
	return false
}

// closeAll closes the sockets not fetched yet (the agent stops).
func (s *sockets) closeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for tok, p := range s.pending {
		p.file.Close()
		delete(s.pending, tok)
	}
}

// serve answers handoff connections on ln until ctx ends.
func (s *sockets) serve(ctx context.Context, ln net.Listener, log func(msg string, args ...any)) error {
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	sem := make(chan struct{}, maxHandoffs)
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("socket handoff: %w", err)
		}
		select {
		case sem <- struct{}{}:
		default:
			c.Close() // too many at once: the proxy retries with its session
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			defer c.Close()
			if err := s.handoff(c, time.Now()); err != nil {
				log("agent: socket handoff refused", "err", err)
				c.Write([]byte("error: " + err.Error() + "\n"))
			}
		}()
	}
}

// handoff reads a token from c and sends the socket made for the
// registration that token was given to.
func (s *sockets) handoff(c net.Conn, now time.Time) error {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return fmt.Errorf("%w: not a unix connection", ErrHandoff)
	}
	uc.SetDeadline(now.Add(handoffTimeout))
	line, err := bufio.NewReaderSize(uc, 128).ReadString('\n')
	if err != nil {
		return fmt.Errorf("%w: reading the token: %v", ErrHandoff, err)
	}
	s.mu.Lock()
	p := s.pending[strings.TrimSpace(line)]
	delete(s.pending, strings.TrimSpace(line))
	s.mu.Unlock()
	if p == nil {
		return fmt.Errorf("%w: unknown or expired token", ErrHandoff)
	}
	defer p.file.Close()
	if err := fdpass.Send(uc, []byte("ok"), p.file); err != nil {
		return fmt.Errorf("%w: %v", ErrHandoff, err)
	}
	return nil
}

// inode returns the inode of path, or 0.
func inode(path string) uint64 {
	fi, err := os.Lstat(path)
	if err != nil {
		return 0
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Ino
	}
	return 0
}
