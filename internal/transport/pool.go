package transport

import (
	"math/bits"
	"sync"
	"time"

	"github.com/wsk-route/wsk-route/internal/shm"
)

// Shm payloads up to MaxPooledPayload go through segments a Client keeps
// and writes again (frame.PayloadShmPooled): the receiver copies the
// payload out before it acks, so the sender may reuse the segment as soon
// as it has the ack. A fresh segment per payload (frame.PayloadShm) costs
// creating a tmpfs file, faulting in fresh pages on both sides, mapping,
// unmapping and removing it, per hop (docs/benchmarks/hop-processes.md);
// a pooled one costs a copy in and a copy out, into pages already there.
// Larger payloads still go through a fresh segment that the receiver maps
// (no copy at all).
const (
	// MaxPooledPayload is the largest payload sent through a pooled
	// segment; a Server refuses a pooled payload above it.
	MaxPooledPayload = 16 << 20
	// DefaultShmPoolBytes bounds the capacity of a Client's segments.
	DefaultShmPoolBytes = 64 << 20

	minPoolClass = 16 // the smallest segment: 64 KiB
	maxPoolClass = 24 // MaxPooledPayload
	// poolSegmentLife is the deadline a pooled segment's name carries
	// (after it the host's sweep may remove it); the pool retires a
	// segment poolRetire before that.
	poolSegmentLife = 10 * time.Minute
	poolRetire      = time.Minute
)

// poolClass returns the size class of a payload of n bytes: segments of
// class c hold 1<<c bytes.
func poolClass(n int) int {
	if n <= 1<<minPoolClass {
		return minPoolClass
	}
	return bits.Len(uint(n - 1))
}

// pooledSegment is one segment of a Client's pool: its file, sized to its
// class, and a shared writable mapping of it, faulted in once, so that
// writing a payload into it is a copy into memory already there.
type pooledSegment struct {
	name     string
	mem      []byte // the mapping, 1<<class bytes
	class    int
	deadline time.Time // in its name
}

// segmentPool is a Client's pooled segments: those free, by class, and
// the capacity of all it made and has not dropped.
type segmentPool struct {
	mu     sync.Mutex
	free   [maxPoolClass + 1][]*pooledSegment
	bytes  int
	closed bool // drained by Client.Close: segments given back are removed
}

// get returns a free segment for a payload of n bytes (at most
// MaxPooledPayload), or a new one, or nil when the pool's bound (limit)
// leaves no room.
func (p *segmentPool) get(dir string, n, limit int) (*pooledSegment, error) {
	c := poolClass(n)
	now := time.Now()
	p.mu.Lock()
	for len(p.free[c]) > 0 {
		s := p.free[c][len(p.free[c])-1]
		p.free[c] = p.free[c][:len(p.free[c])-1]
		if now.Add(poolRetire).Before(s.deadline) {
			p.mu.Unlock()
			return s, nil
		}
		p.bytes -= 1 << s.class
		p.mu.Unlock()
		s.close(dir) // too close to its deadline: a new one replaces it
		p.mu.Lock()
	}
	if p.bytes+1<<c > limit {
		p.mu.Unlock()
		return nil, nil
	}
	p.bytes += 1 << c
	p.mu.Unlock()
	deadline := now.Add(poolSegmentLife)
	name, mem, err := shm.CreateMapped(dir, 1<<c, deadline)
	if err != nil {
		p.mu.Lock()
		p.bytes -= 1 << c
		p.mu.Unlock()
		return nil, err
	}
	return &pooledSegment{name: name, mem: mem, class: c, deadline: deadline}, nil
}

// put gives back a segment whose frame was acked.
func (p *segmentPool) put(dir string, s *pooledSegment) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		p.drop(dir, s)
		return
	}
	p.free[s.class] = append(p.free[s.class], s)
	p.mu.Unlock()
}

// drop forgets a segment whose receiver may still read it (its frame got
// no ack): it is closed and removed, never written again.
func (p *segmentPool) drop(dir string, s *pooledSegment) {
	p.mu.Lock()
	p.bytes -= 1 << s.class
	p.mu.Unlock()
	s.close(dir)
}

// drain removes every free segment.
func (p *segmentPool) drain(dir string) {
	p.mu.Lock()
	p.closed = true
	var all []*pooledSegment
	for c := range p.free {
		all = append(all, p.free[c]...)
		p.free[c] = nil
	}
	for _, s := range all {
		p.bytes -= 1 << s.class
	}
	p.mu.Unlock()
	for _, s := range all {
		s.close(dir)
	}
}

func (s *pooledSegment) close(dir string) {
	_ = shm.Unmap(s.mem)
	_ = shm.Remove(dir, s.name)
}

// recvBufs are the buffers a Server copies pooled payloads into, by
// class; a Delivery gives its buffer back on Release.
var recvBufs [maxPoolClass + 1]sync.Pool

// getRecvBuf returns a buffer of n bytes (at most MaxPooledPayload).
func getRecvBuf(n int) *[]byte {
	c := poolClass(n)
	if b, ok := recvBufs[c].Get().(*[]byte); ok {
		*b = (*b)[:n]
		return b
	}
	b := make([]byte, n, 1<<c)
	return &b
}

// putRecvBuf gives a buffer from getRecvBuf back.
func putRecvBuf(b *[]byte) {
	recvBufs[poolClass(cap(*b))].Put(b)
}

// Bounds of the pooled segments a Server keeps mapped: a segment its
// sender dropped stays in memory while a view of it is kept.
const (
	maxViews     = 64
	maxViewBytes = 128 << 20
)

// segmentViews are a Server's read-only mappings of the pooled segments
// it was sent, kept so that a segment written again for the next frame
// costs one copy out and no system call. A view in use is never unmapped:
// eviction waits for its last reader.
type segmentViews struct {
	mu    sync.Mutex
	views map[string]*segmentView
	bytes int // mapped by views
	clock uint64
}

type segmentView struct {
	seg     *shm.Segment
	used    uint64 // the clock at its last use
	refs    int    // copies in progress
	evicted bool
}

// copyOut copies the first len(dst) bytes of pooled segment name of dir
// into dst, through a kept mapping.
func (v *segmentViews) copyOut(dir, name string, dst []byte) error {
	view, err := v.acquire(dir, name, len(dst))
	if err != nil {
		return err
	}
	copy(dst, view.seg.Bytes())
	v.release(view)
	return nil
}

// acquire returns the view of name, mapping it if it is not kept or is
// shorter than n bytes.
func (v *segmentViews) acquire(dir, name string, n int) (*segmentView, error) {
	v.mu.Lock()
	if view := v.views[name]; view != nil && len(view.seg.Bytes()) >= n {
		v.clock++
		view.used, view.refs = v.clock, view.refs+1
		v.mu.Unlock()
		return view, nil
	}
	v.mu.Unlock()
	seg, err := shm.OpenAtLeast(dir, name, uint64(n))
	if err != nil {
		return nil, err
	}
	view := &segmentView{seg: seg, refs: 1}
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.views == nil {
		v.views = map[string]*segmentView{}
	}
	if old := v.views[name]; old != nil {
		v.evictLocked(name, old) // shorter: the file grew since
	}
	v.clock++
	view.used = v.clock
	v.views[name] = view
	v.bytes += len(seg.Bytes())
	for len(v.views) > 1 && (len(v.views) > maxViews || v.bytes > maxViewBytes) {
		var lru string
		for k, w := range v.views {
			if lru == "" || w.used < v.views[lru].used {
				lru = k
			}
		}
		v.evictLocked(lru, v.views[lru])
	}
	return view, nil
}

// release ends a copy from view; an evicted view is unmapped by its last
// reader.
func (v *segmentViews) release(view *segmentView) {
	v.mu.Lock()
	view.refs--
	unmap := view.evicted && view.refs == 0
	v.mu.Unlock()
	if unmap {
		view.seg.Close()
	}
}

func (v *segmentViews) evictLocked(name string, view *segmentView) {
	delete(v.views, name)
	v.bytes -= len(view.seg.Bytes())
	view.evicted = true
	if view.refs == 0 {
		view.seg.Close()
	}
}

// close unmaps every view not in use (those in use are unmapped by their
// last reader).
func (v *segmentViews) close() {
	v.mu.Lock()
	defer v.mu.Unlock()
	for name, view := range v.views {
		v.evictLocked(name, view)
	}
}
