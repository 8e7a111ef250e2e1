package hop

import (
	"context"
	"crypto/sha256"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wsk-route/wsk-route/internal/consulstore"
	"github.com/wsk-route/wsk-route/internal/routetable"
	"github.com/wsk-route/wsk-route/internal/shm"
	"golang.org/x/sys/unix"
)

// size is one payload size of the report, with its number of timed hops.
type size struct {
	name  string
	n     int
	iters int
}

// reportSizes are the sizes the issue asks for; iterations shrink with the
// size to keep the run within minutes.
var reportSizes = []size{
	{"1 KiB", 1 << 10, 2000},
	{"64 KiB", 64 << 10, 1000},
	{"1 MiB", 1 << 20, 300},
	{"64 MiB", 64 << 20, 20},
	{"256 MiB", 256 << 20, 10},
}

// stats summarises sorted samples.
type stats struct {
	n                  int
	min, p50, p99, max time.Duration
}

// quantile is the nearest-rank q-quantile of sorted (q in (0, 1]).
func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// summarize sorts samples and returns their stats.
func summarize(samples []time.Duration) stats {
	slices.Sort(samples)
	if len(samples) == 0 {
		return stats{}
	}
	return stats{
		n:   len(samples),
		min: samples[0],
		p50: quantile(samples, 0.5),
		p99: quantile(samples, 0.99),
		max: samples[len(samples)-1],
	}
}

// warmups is the number of untimed hops before the timed ones.
func warmups(iters int) int { return max(2, min(iters/20, 50)) }

// latency times iters round trips of payload over rt (after warmups(iters)
// untimed ones), each with time.Now around it.
func latency(ctx context.Context, rt roundTripper, payload []byte, iters int) (stats, error) {
	for range warmups(iters) {
		if err := rt.roundTrip(ctx, payload); err != nil {
			return stats{}, err
		}
	}
	samples := make([]time.Duration, 0, iters)
	for range iters {
		start := time.Now()
		if err := rt.roundTrip(ctx, payload); err != nil {
			return stats{}, err
		}
		samples = append(samples, time.Since(start))
	}
	return summarize(samples), nil
}

// throughput runs workers goroutines, each doing round trips of payload
// over rts[i%len(rts)] back to back for d (after a quarter of d of
// warm-up), and returns the completed round trips per second.
func throughput(ctx context.Context, rts []roundTripper, payload []byte, workers int, d time.Duration) (float64, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		counting atomic.Bool
		stop     atomic.Bool
		count    atomic.Int64
		errOnce  sync.Once
		firstErr error
		wg       sync.WaitGroup
	)
	for i := range workers {
		rt := rts[i%len(rts)]
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				if err := rt.roundTrip(ctx, payload); err != nil {
					if !stop.Load() {
						errOnce.Do(func() { firstErr = err })
						stop.Store(true)
					}
					return
				}
				if counting.Load() {
					count.Add(1)
				}
			}
		}()
	}
	time.Sleep(d / 4)
	counting.Store(true)
	start := time.Now()
	time.Sleep(d)
	n := count.Load()
	elapsed := time.Since(start)
	stop.Store(true)
	wg.Wait()
	if firstErr != nil {
		return 0, firstErr
	}
	return float64(n) / elapsed.Seconds(), nil
}

// copyCosts are the memcpy and shm baselines of one size.
type copyCosts struct {
	pretouched stats // copy into a buffer whose pages are already mapped
	fresh      stats // copy into a fresh anonymous mapping (page faults included)
	shmWrite   stats // shm.Write of the payload (create, write(2) into fresh tmpfs pages, close)
	shmRead    stats // shm.Open, touch one byte per page, Close
	shmRemove  stats // shm.Remove
	sha256     stats // SHA-256 of the payload (what Sign and Verify hash for inline frames)
	// What-ifs for docs/benchmarks/route-plane.md, not what the transport does:
	reusedSeg stats // copy into a tmpfs file mapped once and already faulted in (a segment pool's floor)
	populate  stats // like shmRead, but the mapping made with MAP_POPULATE
}

// measureCopies times iters rounds of each baseline of copyCosts for
// payload, in dir for the shm ones.
func measureCopies(payload []byte, dir string, iters int) (copyCosts, error) {
	n := len(payload)
	var cc copyCosts
	var pre, fresh, w, r, rm, h, pop []time.Duration

	dst := make([]byte, n)
	copy(dst, payload)
	for range iters {
		start := time.Now()
		copy(dst, payload)
		pre = append(pre, time.Since(start))
	}
	for range iters {
		m, err := unix.Mmap(-1, 0, n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
		if err != nil {
			return cc, fmt.Errorf("hop: mmap: %w", err)
		}
		start := time.Now()
		copy(m, payload)
		fresh = append(fresh, time.Since(start))
		if err := unix.Munmap(m); err != nil {
			return cc, fmt.Errorf("hop: munmap: %w", err)
		}
	}
	for range iters {
		start := time.Now()
		name, err := shm.Write(dir, payload, time.Now().Add(time.Minute))
		if err != nil {
			return cc, err
		}
		w = append(w, time.Since(start))
		start = time.Now()
		seg, err := shm.Open(dir, name, uint64(n))
		if err != nil {
			return cc, err
		}
		touchSink.Store(Touch(seg.Bytes()))
		if err := seg.Close(); err != nil {
			return cc, err
		}
		r = append(r, time.Since(start))
		start = time.Now()
		if err := shm.Remove(dir, name); err != nil {
			return cc, err
		}
		rm = append(rm, time.Since(start))
	}
	for range iters {
		name, err := shm.Write(dir, payload, time.Now().Add(time.Minute))
		if err != nil {
			return cc, err
		}
		d, err := populated(filepath.Join(dir, name), n)
		_ = shm.Remove(dir, name)
		if err != nil {
			return cc, err
		}
		pop = append(pop, d)
	}
	reused, err := reusedSegment(dir, payload, iters)
	if err != nil {
		return cc, err
	}
	for range iters {
		start := time.Now()
		sum := sha256.Sum256(payload)
		h = append(h, time.Since(start))
		touchSink.Store(uint64(sum[0]))
	}
	cc.pretouched, cc.fresh = summarize(pre), summarize(fresh)
	cc.shmWrite, cc.shmRead, cc.shmRemove, cc.sha256 = summarize(w), summarize(r), summarize(rm), summarize(h)
	cc.populate, cc.reusedSeg = summarize(pop), reused
	return cc, nil
}

// populated times opening path, mapping its n bytes with MAP_POPULATE,
// touching one byte per page and unmapping it.
func populated(path string, n int) (time.Duration, error) {
	start := time.Now()
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, fmt.Errorf("hop: open %s: %w", path, err)
	}
	m, err := unix.Mmap(fd, 0, n, unix.PROT_READ, unix.MAP_SHARED|unix.MAP_POPULATE)
	unix.Close(fd)
	if err != nil {
		return 0, fmt.Errorf("hop: mmap %s: %w", path, err)
	}
	touchSink.Store(Touch(m))
	if err := unix.Munmap(m); err != nil {
		return 0, fmt.Errorf("hop: munmap: %w", err)
	}
	return time.Since(start), nil
}

// reusedSegment times iters copies of payload into one tmpfs file in dir,
// mapped read-write once and faulted in before the first timed copy.
func reusedSegment(dir string, payload []byte, iters int) (stats, error) {
	f, err := os.CreateTemp(dir, "reuse-")
	if err != nil {
		return stats{}, fmt.Errorf("hop: %w", err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	if err := f.Truncate(int64(len(payload))); err != nil {
		return stats{}, fmt.Errorf("hop: %w", err)
	}
	m, err := unix.Mmap(int(f.Fd()), 0, len(payload), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return stats{}, fmt.Errorf("hop: mmap: %w", err)
	}
	defer unix.Munmap(m)
	copy(m, payload)
	samples := make([]time.Duration, 0, iters)
	for range iters {
		start := time.Now()
		copy(m, payload)
		samples = append(samples, time.Since(start))
	}
	return summarize(samples), nil
}

// propagation registers n instances through reg, one at a time, and
// measures how long each takes to appear in watcher's WatchInstances
// (from the start of Register); each is deregistered, and seen gone,
// before the next.
func propagation(ctx context.Context, reg, watcher *consulstore.Store, n int) (stats, error) {
	ctx, cancel := context.WithCancel(ctx)
	snaps := make(chan []routetable.Instance, 64)
	done := make(chan error, 1)
	go func() {
		done <- watcher.WatchInstances(ctx, func(v []routetable.Instance) {
			select {
			case snaps <- v:
			case <-ctx.Done():
			}
		}, nil)
	}()
	defer func() { cancel(); <-done }()

	wait := func(ok func([]routetable.Instance) bool) error {
		timeout := time.NewTimer(10 * time.Second)
		defer timeout.Stop()
		for {
			select {
			case v := <-snaps:
				if ok(v) {
					return nil
				}
			case <-timeout.C:
				return fmt.Errorf("hop: watch: no matching snapshot within 10s")
			}
		}
	}
	has := func(id string) func([]routetable.Instance) bool {
		return func(v []routetable.Instance) bool {
			return slices.ContainsFunc(v, func(i routetable.Instance) bool { return i.ID == id })
		}
	}
	if err := wait(func([]routetable.Instance) bool { return true }); err != nil {
		return stats{}, err
	}
	samples := make([]time.Duration, 0, n)
	for i := range n {
		inst := routetable.Instance{
			ID: fmt.Sprintf("bench-host/c%d", i), Namespace: Namespace, Action: "/guest/b",
			Host: "bench-host", Unix: fmt.Sprintf("unix:/run/wsk-route/c%d.sock", i), Concurrency: 1,
		}
		start := time.Now()
		if err := reg.Register(ctx, inst, time.Minute); err != nil {
			return stats{}, err
		}
		if err := wait(has(inst.ID)); err != nil {
			return stats{}, fmt.Errorf("%w (waiting for %s)", err, inst.ID)
		}
		samples = append(samples, time.Since(start))
		if err := reg.Deregister(ctx, inst.ID); err != nil {
			return stats{}, err
		}
		gone := func(v []routetable.Instance) bool { return !has(inst.ID)(v) }
		if err := wait(gone); err != nil {
			return stats{}, fmt.Errorf("%w (waiting for %s to go)", err, inst.ID)
		}
	}
	return summarize(samples), nil
}

// fmtDur prints a duration with three significant digits.
func fmtDur(d time.Duration) string {
	switch {
	case d < time.Microsecond:
		return fmt.Sprintf("%d ns", d.Nanoseconds())
	case d < time.Millisecond:
		return fmt.Sprintf("%.3g µs", float64(d)/float64(time.Microsecond))
	case d < time.Second:
		return fmt.Sprintf("%.3g ms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.3g s", d.Seconds())
}

// gbps is n bytes in d as GB/s (10^9 bytes per second).
func gbps(n int, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds() / 1e9
}

// ratio is a/b, or NaN when b is zero.
func ratio(a, b time.Duration) float64 {
	if b == 0 {
		return math.NaN()
	}
	return float64(a) / float64(b)
}
