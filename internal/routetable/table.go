package routetable

import (
	"cmp"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Default values for the zero fields of Config.
const (
	// DefaultBusyPenalty is the penalty used when Config.BusyPenalty is 0.
	DefaultBusyPenalty = 200 * time.Millisecond
	// DefaultAlpha is the EWMA weight used when Config.Alpha is 0.
	DefaultAlpha = 0.2
	// DefaultLatency is the latency assumed for an instance without
	// samples when no other instance of its group has any.
	DefaultLatency = time.Millisecond
)

// Config configures a Table. The zero value is a valid configuration.
type Config struct {
	// Host is this proxy's host: instances on it are candidates before
	// instances on other hosts. Empty: every instance is "other host".
	Host string
	// Now is the clock. Nil: time.Now.
	Now func() time.Time
	// Rand is the random source used to break ties. It is called once
	// per Candidates call, possibly from several goroutines at once, so
	// it must be safe for concurrent use. Nil: math/rand/v2's randomly
	// seeded, goroutine-safe top-level source.
	Rand func() uint64
	// BusyPenalty is how long an instance that refused as busy or failed
	// sinks to the end of its group. Zero or negative: DefaultBusyPenalty.
	BusyPenalty time.Duration
	// Alpha is the weight of a new latency sample in the exponentially
	// weighted moving average, in (0, 1]. Other values: DefaultAlpha.
	Alpha float64
}

// Table is a proxy's local route table: the warm instances it knows of,
// indexed by action, and per-instance accounting (in-flight count, latency
// EWMA, busy penalty) used to rank them. A Table is safe for concurrent use;
// create one with New.
type Table struct {
	now     func() time.Time
	rand    func() uint64
	base    time.Time // penalty deadlines are nanoseconds since base
	penalty int64     // nanoseconds
	alpha   float64
	host    string

	// mu guards byID, byAction and the inst field of every entry. The
	// counters of an entry are atomics, updated under mu.RLock.
	mu       sync.RWMutex
	byID     map[string]*entry
	byAction map[string][]*entry
	// pick makes Take's pick and count one step among senders.
	pick sync.Mutex
}

// entry is one instance and its accounting.
type entry struct {
	inst  Instance
	local bool // inst.Host == Table.host; guarded like inst

	inflight atomic.Int64
	placed   atomic.Int64  // steps placed here and not yet reported (Place)
	ewma     atomic.Uint64 // math.Float64bits of the EWMA in ns; 0: no sample
	until    atomic.Int64  // penalty deadline, ns since Table.base
}

// New returns an empty Table configured by cfg.
func New(cfg Config) *Table {
	t := &Table{
		now:      cfg.Now,
		rand:     cfg.Rand,
		penalty:  int64(cfg.BusyPenalty),
		alpha:    cfg.Alpha,
		host:     cfg.Host,
		byID:     make(map[string]*entry),
		byAction: make(map[string][]*entry),
	}
	if t.now == nil {
		t.now = time.Now
	}
	if t.rand == nil {
		t.rand = rand.Uint64
	}
	if t.penalty <= 0 {
		t.penalty = int64(DefaultBusyPenalty)
	}
	if !(t.alpha > 0 && t.alpha <= 1) {
		t.alpha = DefaultAlpha
	}
	t.base = t.now()
	return t
}

// clock returns the current time in nanoseconds since t.base.
func (t *Table) clock() int64 {
	return int64(t.now().Sub(t.base))
}

func (t *Table) newEntry(in Instance) *entry {
	e := &entry{inst: in, local: t.host != "" && in.Host == t.host}
	e.until.Store(math.MinInt64)
	return e
}

// Replace makes all the table's content. Instances whose ID was already
// present keep their accounting; the others start fresh, and IDs missing
// from all are removed with their accounting. Instances with an empty ID
// are ignored; of duplicate IDs the last wins. Replace does not retain all.
func (t *Table) Replace(all []Instance) {
	t.mu.Lock()
	defer t.mu.Unlock()
	old := t.byID
	t.byID = make(map[string]*entry, len(all))
	clear(t.byAction)
	for _, in := range all {
		if in.ID == "" {
			continue
		}
		if e, ok := t.byID[in.ID]; ok { // duplicate in all
			t.unindexLocked(e)
			t.setLocked(e, in)
			t.byAction[in.Action] = append(t.byAction[in.Action], e)
			continue
		}
		e, ok := old[in.ID]
		if ok {
			t.setLocked(e, in)
		} else {
			e = t.newEntry(in)
		}
		t.byID[in.ID] = e
		t.byAction[in.Action] = append(t.byAction[in.Action], e)
	}
}

// Apply upserts the instances in upsert, then removes the IDs in remove.
// An upserted ID already present keeps its accounting; a removed ID loses
// it, so adding it back later starts fresh. Unknown IDs in remove are
// ignored, as are instances with an empty ID. Apply retains neither slice.
func (t *Table) Apply(upsert []Instance, remove []string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, in := range upsert {
		if in.ID == "" {
			continue
		}
		if e, ok := t.byID[in.ID]; ok {
			if e.inst.Action != in.Action {
				t.unindexLocked(e)
				t.setLocked(e, in)
				t.byAction[in.Action] = append(t.byAction[in.Action], e)
			} else {
				t.setLocked(e, in)
			}
			continue
		}
		e := t.newEntry(in)
		t.byID[in.ID] = e
		t.byAction[in.Action] = append(t.byAction[in.Action], e)
	}
	for _, id := range remove {
		e, ok := t.byID[id]
		if !ok {
			continue
		}
		delete(t.byID, id)
		t.unindexLocked(e)
	}
}

// setLocked replaces e's instance. t.mu must be held for writing.
func (t *Table) setLocked(e *entry, in Instance) {
	e.inst = in
	e.local = t.host != "" && in.Host == t.host
}

// unindexLocked removes e from the action index. t.mu must be held for
// writing.
func (t *Table) unindexLocked(e *entry) {
	list := t.byAction[e.inst.Action]
	for i, x := range list {
		if x == e {
			last := len(list) - 1
			list[i] = list[last]
			list[last] = nil
			list = list[:last]
			break
		}
	}
	if len(list) == 0 {
		delete(t.byAction, e.inst.Action)
	} else {
		t.byAction[e.inst.Action] = list
	}
}

// Get returns the instance with the given ID and whether it is present.
func (t *Table) Get(id string) (Instance, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	e, ok := t.byID[id]
	if !ok {
		return Instance{}, false
	}
	return e.inst, true
}

// Len returns the number of instances in the table.
func (t *Table) Len() int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return len(t.byID)
}

// Snapshot returns a copy of every instance, sorted by ID.
func (t *Table) Snapshot() []Instance {
	t.mu.RLock()
	out := make([]Instance, 0, len(t.byID))
	for _, e := range t.byID {
		out = append(out, e.inst)
	}
	t.mu.RUnlock()
	slices.SortFunc(out, func(a, b Instance) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// Begin counts one more hop in flight to the instance id. Unknown IDs are
// ignored.
func (t *Table) Begin(id string) {
	t.mu.RLock()
	if e, ok := t.byID[id]; ok {
		e.inflight.Add(1)
	}
	t.mu.RUnlock()
}

// Take is Best, and counts a hop to the instance it returns as begun
// (Begin) in the same step: senders that pick at once (the branches of a
// fan-out) each see the others' picks and spread over the instances'
// slots, where Best then Begin would let them all pick the same instance.
func (t *Table) Take(action string, exclude []string) (Instance, bool) {
	t.pick.Lock()
	defer t.pick.Unlock()
	inst, ok := t.Best(action, exclude)
	if ok {
		t.Begin(inst.ID)
	}
	return inst, ok
}

// Place counts a step that the instance id took and still runs, as far as
// the caller knows (an entry, until the step's report): it counts against
// the instance's slots like a hop in flight, so that the next steps go to
// instances with free slots instead of being refused by full ones.
// Unplace undoes it. Unknown IDs are ignored.
func (t *Table) Place(id string) {
	t.mu.RLock()
	if e, ok := t.byID[id]; ok {
		e.placed.Add(1)
	}
	t.mu.RUnlock()
}

// Unplace counts the end of a step Place counted; the count never drops
// below zero (an Unplace may follow a remove and re-add).
func (t *Table) Unplace(id string) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if e, ok := t.byID[id]; ok {
		decrement(&e.placed)
	}
}

// decrement takes one from n unless it is already zero or less.
func decrement(n *atomic.Int64) {
	for {
		v := n.Load()
		if v <= 0 || n.CompareAndSwap(v, v-1) {
			return
		}
	}
}

// End counts one hop to the instance id as finished. If ok, latency is
// folded into the instance's latency EWMA; otherwise the instance is
// penalised until now+BusyPenalty. Unknown IDs are ignored, and the
// in-flight count never drops below zero (an End may follow a remove and
// re-add).
func (t *Table) End(id string, latency time.Duration, ok bool) {
	var now int64
	if !ok {
		now = t.clock() // outside the lock: the clock is user code
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	e, found := t.byID[id]
	if !found {
		return
	}
	decrement(&e.inflight)
	if !ok {
		e.penalize(now + t.penalty)
		return
	}
	sample := float64(max(latency, 1))
	for {
		old := e.ewma.Load()
		v := sample
		if old != 0 {
			v = t.alpha*sample + (1-t.alpha)*math.Float64frombits(old)
		}
		if e.ewma.CompareAndSwap(old, math.Float64bits(v)) {
			return
		}
	}
}

// Penalize sinks the instance id to the end of its group until
// now+BusyPenalty, e.g. after a busy refusal. Unknown IDs are ignored.
func (t *Table) Penalize(id string) {
	until := t.clock() + t.penalty
	t.mu.RLock()
	if e, ok := t.byID[id]; ok {
		e.penalize(until)
	}
	t.mu.RUnlock()
}

// penalize moves e's penalty deadline to until unless it is already later.
func (e *entry) penalize(until int64) {
	for {
		old := e.until.Load()
		if old >= until || e.until.CompareAndSwap(old, until) {
			return
		}
	}
}

// rankKey is the sort key of one candidate, packed so that sorting 1000
// of them stays cheap. While candidates are collected, k1 holds the raw
// EWMA bits and k2 holds (inflight+placed)<<3 | rank; then k1 becomes
// rank<<61 | scoreBits>>3 (positive float64 bits order like the floats;
// the three dropped mantissa bits do not matter) and k2 the tie-breaker.
type rankKey struct {
	k1, k2 uint64
	slots  int // the instance's Concurrency, at least 1
	e      *entry
}

// The bits of a candidate's rank, the top three bits of rankKey.k1, from
// the most significant: on another host; all its slots taken (hops in
// flight and steps placed, at least its Concurrency: it would refuse);
// under penalty.
const (
	rankRemote    = 1 << 2
	rankFull      = 1 << 1
	rankPenalised = 1
)

// scratch holds the per-call buffers of Candidates and Best.
type scratch struct {
	keys          []rankKey
	local, remote []float64 // latency samples of the two groups
}

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

// Candidates appends to dst the instances that run action, best first, and
// returns the extended slice. The order is:
//
//  1. instances on Config.Host before instances on other hosts;
//  2. within each of these groups, instances with a free slot (fewer
//     hops in flight and steps placed, Place, than their Concurrency)
//     before full ones, which would refuse;
//  3. then instances not under penalty before penalised ones;
//  4. then ascending score, ((inflight+placed)/Concurrency+1) * latency
//     EWMA, an integer division (hops in flight and steps placed count
//     once they fill the instance's slots), where an instance without
//     samples counts with the median EWMA of its group (this host or
//     other hosts; excluded instances included), or DefaultLatency if no
//     instance of the group has one;
//  5. ties broken by Config.Rand, so equal instances share the load.
//
// Instances whose ID is in exclude (already tried for this hop) are left
// out. Candidates does not allocate when dst has room for the result.
func (t *Table) Candidates(action string, exclude []string, dst []Instance) []Instance {
	sc := t.rank(action, exclude)
	slices.SortFunc(sc.keys, compareKeys)
	// An entry removed meanwhile is still returned: a stale candidate
	// costs one failed send, as a stale table does.
	t.mu.RLock()
	for i := range sc.keys {
		dst = append(dst, sc.keys[i].e.inst)
	}
	t.mu.RUnlock()
	sc.release()
	return dst
}

// Best returns the first instance Candidates would return, without
// ordering the others: one pass, for a sender that tries one instance at a
// time. ok is false when no instance of action is left.
func (t *Table) Best(action string, exclude []string) (inst Instance, ok bool) {
	sc := t.rank(action, exclude)
	if len(sc.keys) > 0 {
		best := 0
		for i := 1; i < len(sc.keys); i++ {
			if compareKeys(sc.keys[i], sc.keys[best]) < 0 {
				best = i
			}
		}
		t.mu.RLock()
		inst, ok = sc.keys[best].e.inst, true
		t.mu.RUnlock()
	}
	sc.release()
	return inst, ok
}

// rank collects the final sort keys of action's instances, less exclude,
// into pooled scratch buffers (see Candidates for the order they encode).
// The caller orders or scans sc.keys and then calls sc.release.
func (t *Table) rank(action string, exclude []string) *scratch {
	now := t.clock()
	r := t.rand()
	sc := scratchPool.Get().(*scratch)
	keys := sc.keys[:0]

	t.mu.RLock()
	localSamples, remoteSamples := sc.local[:0], sc.remote[:0]
	for _, e := range t.byAction[action] {
		// Excluded instances still count towards their group's median,
		// so excluding one does not reorder the others.
		ewma := e.ewma.Load()
		if ewma != 0 {
			if e.local {
				localSamples = append(localSamples, math.Float64frombits(ewma))
			} else {
				remoteSamples = append(remoteSamples, math.Float64frombits(ewma))
			}
		}
		if slices.Contains(exclude, e.inst.ID) {
			continue
		}
		// Hops in flight and steps placed count against the instance's
		// slots; one whose slots are all taken would refuse.
		busy := uint64(max(e.inflight.Load(), 0) + max(e.placed.Load(), 0))
		slots := max(e.inst.Concurrency, 1)
		rank := uint64(0)
		if !e.local {
			rank |= rankRemote
		}
		if busy >= uint64(slots) {
			rank |= rankFull
		}
		if e.until.Load() > now {
			rank |= rankPenalised
		}
		keys = append(keys, rankKey{k1: ewma, k2: busy<<3 | rank, slots: slots, e: e})
	}
	t.mu.RUnlock() // not held while scoring
	if len(keys) > 0 {
		local, remote := median(localSamples), median(remoteSamples)
		for i := range keys {
			k := &keys[i]
			rank := k.k2 & 7
			lat := math.Float64frombits(k.k1)
			if k.k1 == 0 {
				lat = local
				if rank&rankRemote != 0 {
					lat = remote
				}
			}
			// An instance that runs 8 steps at once is as free with 7 of
			// them in flight as one that runs 1 is with none.
			score := float64(k.k2>>3/uint64(k.slots)+1) * lat
			k.k1 = rank<<61 | math.Float64bits(score)>>3
			k.k2 = mix(r + uint64(i)*0x9e3779b97f4a7c15)
		}
	}
	sc.keys, sc.local, sc.remote = keys, localSamples, remoteSamples
	return sc
}

// release returns sc to the pool, keeping no entry alive from it.
func (sc *scratch) release() {
	for i := range sc.keys {
		sc.keys[i].e = nil
	}
	sc.keys, sc.local, sc.remote = sc.keys[:0], sc.local[:0], sc.remote[:0]
	scratchPool.Put(sc)
}

// median returns the median of samples, which it sorts, or DefaultLatency
// if there are none.
func median(samples []float64) float64 {
	n := len(samples)
	if n == 0 {
		return float64(DefaultLatency)
	}
	slices.Sort(samples)
	if n%2 == 1 {
		return samples[n/2]
	}
	return (samples[n/2-1] + samples[n/2]) / 2
}

func compareKeys(a, b rankKey) int {
	if a.k1 != b.k1 {
		if a.k1 < b.k1 {
			return -1
		}
		return 1
	}
	return cmp.Compare(a.k2, b.k2)
}

// mix is the splitmix64 finaliser: it spreads one Rand value into
// independent-looking tie-breakers for each candidate.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}
