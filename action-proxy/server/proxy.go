package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"

	"github.com/wsk-route/wsk-route/action-proxy/child"
	"github.com/wsk-route/wsk-route/action-proxy/route"
)

// Version is the proxy's version, exported to actions as
// __OW_PROXY_VERSION and printed by -version.
const Version = "0.1.0-wsk-route"

// Sentinel is the line that ends an activation's output on stdout and on
// stderr; the invoker collects logs up to it.
const Sentinel = "XXX_THE_END_OF_A_WHISK_ACTIVATION_XXX\n"

// VersionLine is what -version prints, in the stock proxy's format.
func VersionLine() string {
	return fmt.Sprintf("OpenWhisk ActionLoop Proxy v%s, built with %s", Version, runtime.Version())
}

// Proxy is the http.Handler of port 8080: POST /init and POST /run, as the
// stock ActionLoop proxy answers them.
type Proxy struct {
	cfg  Config
	life context.Context // ends with Close; bounds child starts
	stop context.CancelFunc

	initMu sync.Mutex // serialises /init; guards nextDir

	nextDir int // number of the next action directory

	mu          sync.Mutex // guards the fields below
	pool        *child.Pool
	initialized bool
	route       *routeState // nil: stock mode (no agent)
	entry       string      // the workflow of an entry action (entry.go); "": an ordinary action
	conducted   *conducted  // an entry's composition (conduct.go); nil: the entry runs its spec
	// entryAPI runs an entry's workflow through the OpenWhisk API when
	// the container has no host agent (entry.go); nil otherwise.
	entryAPI *route.APIRouter
}

// New returns a Proxy for cfg. It creates cfg.BaseDir if needed; action
// directories continue after the highest numbered one already there.
func New(cfg Config) (*Proxy, error) {
	cfg = cfg.withDefaults()
	if err := os.MkdirAll(cfg.BaseDir, 0o755); err != nil {
		return nil, fmt.Errorf("server: action directory: %w", err)
	}
	life, stop := context.WithCancel(context.Background())
	return &Proxy{cfg: cfg, life: life, stop: stop, nextDir: highestDir(cfg.BaseDir) + 1}, nil
}

// highestDir returns the highest number among dir's numeric entries, or 0.
func highestDir(dir string) int {
	entries, _ := os.ReadDir(dir)
	high := 0
	for _, e := range entries {
		if n, err := strconv.Atoi(e.Name()); err == nil && e.IsDir() && n > high {
			high = n
		}
	}
	return high
}

func (p *Proxy) actionDir(n int) string {
	return filepath.Join(p.cfg.BaseDir, strconv.Itoa(n))
}

// ServeHTTP dispatches /init and /run. Any other path gets 200 with an
// empty body, as from the stock proxy (the invoker never asks for one).
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/init", "/run":
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			sendError(w, http.StatusMethodNotAllowed, r.Method+" "+r.URL.Path+": only POST is supported")
			return
		}
		if r.URL.Path == "/init" {
			p.serveInit(w, r)
		} else {
			p.serveRun(w, r)
		}
	default:
		w.Header().Set("Content-Length", "0")
		w.WriteHeader(http.StatusOK)
	}
}

// Close stops the action's processes, including one still starting for an
// /init. The Proxy answers later /run requests with "no action defined yet".
func (p *Proxy) Close() error {
	p.stop()
	p.mu.Lock()
	pool := p.pool
	p.pool = nil
	rs := p.route
	p.mu.Unlock()
	if pool != nil {
		pool.Close()
	}
	if rs != nil {
		rs.stdout.Close()
		rs.stderr.Close()
	}
	return nil
}

// current returns the pool of the initialised action, or nil.
func (p *Proxy) current() *child.Pool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pool
}

func (p *Proxy) writeSentinels() {
	p.cfg.Stdout.WriteString(Sentinel)
	p.cfg.Stderr.WriteString(Sentinel)
}

func (p *Proxy) debugf(format string, args ...any) {
	if p.cfg.Debug {
		fmt.Fprintf(p.cfg.Stderr, "proxy: "+format+"\n", args...)
	}
}

type errorBody struct {
	Error string `json:"error"`
}

// sendError answers {"error":cause} and a newline, marshalled as the stock
// proxy does, always with Content-Length.
func sendError(w http.ResponseWriter, code int, cause string) {
	b, _ := json.Marshal(errorBody{Error: cause})
	send(w, code, append(b, '\n'))
}

var okBody = []byte("{\"ok\":true}\n")

// send answers body with an explicit Content-Length: the invoker treats a
// chunked response as no response.
func send(w http.ResponseWriter, code int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(code)
	w.Write(body)
}
