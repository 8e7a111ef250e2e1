package child

import (
	"context"
	"sync"
)

// Pool runs activations on up to Max processes started from one Config.
// With Max 1 it is the stock proxy's single serialised child; with more,
// concurrent activations each get a process of their own and never share a
// stdin/fd-3 pair.
//
// A Pool breaks, permanently, when one of its processes exits: like the
// stock proxy, the action is then considered gone, and the invoker will
// replace the container.
type Pool struct {
	cfg   Config
	slots chan struct{} // one token per process allowed to run a call

	mu     sync.Mutex // guards the fields below
	idle   []*Process
	all    map[*Process]struct{}
	broken bool
}

// NewPool returns a pool that starts processes from cfg, at most max of them
// (values below 1 mean 1). It starts none; use Start or Call.
func NewPool(cfg Config, max int) *Pool {
	if max < 1 {
		max = 1
	}
	return &Pool{
		cfg:   cfg.withDefaults(),
		slots: make(chan struct{}, max),
		all:   make(map[*Process]struct{}),
	}
}

// Max returns the most processes the pool runs: how many activations it
// runs at once.
func (pl *Pool) Max() int { return cap(pl.slots) }

// Start starts one process and keeps it idle, so that errors in starting the
// action are reported at /init as the stock proxy does.
func (pl *Pool) Start(ctx context.Context) error {
	p, err := pl.startOne(ctx)
	if err != nil {
		return err
	}
	pl.mu.Lock()
	pl.idle = append(pl.idle, p)
	pl.mu.Unlock()
	return nil
}

// startOne starts a process and adds it to the pool's live set, unless the
// pool broke meanwhile.
func (pl *Pool) startOne(ctx context.Context) (*Process, error) {
	p, err := Start(ctx, pl.cfg)
	if err != nil {
		return nil, err
	}
	pl.mu.Lock()
	defer pl.mu.Unlock()
	if pl.broken {
		p.Close()
		return nil, ErrPoolClosed
	}
	pl.all[p] = struct{}{}
	return p, nil
}

// Lease is one process reserved for one activation. Release it exactly once.
type Lease struct {
	pool *Pool
	proc *Process
}

// Acquire reserves a process for one activation, starting a new one when all
// running ones are busy and the bound allows. It waits for a free process
// until ctx ends.
func (pl *Pool) Acquire(ctx context.Context) (*Lease, error) {
	select {
	case pl.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	pl.mu.Lock()
	if pl.broken {
		pl.mu.Unlock()
		<-pl.slots
		return nil, ErrPoolClosed
	}
	if n := len(pl.idle); n > 0 {
		p := pl.idle[n-1]
		pl.idle = pl.idle[:n-1]
		pl.mu.Unlock()
		return &Lease{pool: pl, proc: p}, nil
	}
	pl.mu.Unlock()

	p, err := pl.startOne(ctx)
	if err != nil {
		<-pl.slots
		return nil, err
	}
	return &Lease{pool: pl, proc: p}, nil
}

// TryAcquire reserves a process for one activation only if one can run it
// now: an idle process, or room to start one. It never waits for a busy
// process; ok is false when every slot is taken. Starting a process, when
// needed, is bounded by ctx.
func (pl *Pool) TryAcquire(ctx context.Context) (lease *Lease, ok bool, err error) {
	select {
	case pl.slots <- struct{}{}:
	default:
		return nil, false, nil
	}
	pl.mu.Lock()
	if pl.broken {
		pl.mu.Unlock()
		<-pl.slots
		return nil, false, ErrPoolClosed
	}
	if n := len(pl.idle); n > 0 {
		p := pl.idle[n-1]
		pl.idle = pl.idle[:n-1]
		pl.mu.Unlock()
		return &Lease{pool: pl, proc: p}, true, nil
	}
	pl.mu.Unlock()
	p, err := pl.startOne(ctx)
	if err != nil {
		<-pl.slots
		return nil, false, err
	}
	return &Lease{pool: pl, proc: p}, true, nil
}

// Process returns the leased process.
func (l *Lease) Process() *Process { return l.proc }

// Release returns the process to the pool. A process that has exited
// (Process.Call closes its process after any failed exchange) breaks the
// pool: idle processes are closed at once, busy ones when they are
// released, and later calls get ErrPoolClosed.
func (l *Lease) Release() {
	pl := l.pool
	defer func() { <-pl.slots }()
	pl.mu.Lock()
	if !pl.broken && !l.proc.Exited() {
		pl.idle = append(pl.idle, l.proc)
		pl.mu.Unlock()
		return
	}
	pl.broken = true
	closing := append(pl.idle, l.proc)
	pl.idle = nil
	for _, p := range closing {
		delete(pl.all, p)
	}
	pl.mu.Unlock()
	for _, p := range closing {
		p.Close()
	}
}

// Broken reports whether the pool has been closed or one of its processes
// has exited.
func (pl *Pool) Broken() bool {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	return pl.broken
}

// Pids returns the process ids of the pool's live processes.
func (pl *Pool) Pids() []int {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	pids := make([]int, 0, len(pl.all))
	for p := range pl.all {
		pids = append(pids, p.Pid())
	}
	return pids
}

// Close kills every process of the pool and waits for them. It is idempotent.
func (pl *Pool) Close() error {
	pl.mu.Lock()
	pl.broken = true
	procs := make([]*Process, 0, len(pl.all))
	for p := range pl.all {
		procs = append(procs, p)
	}
	pl.all = map[*Process]struct{}{}
	pl.idle = nil
	pl.mu.Unlock()
	for _, p := range procs {
		p.Close()
	}
	return nil
}
