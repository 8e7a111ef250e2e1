package rdma

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
)

func msg(kind msgKind, grant uint16, payload string) []byte {
	b := make([]byte, headerLen+len(payload))
	encodeMessage(b, kind, grant, []byte(payload))
	return b
}

func TestParseMessage(t *testing.T) {
	tests := []struct {
		name    string
		in      []byte
		kind    msgKind
		grant   uint16
		payload string
	}{
		{"data", msg(kindData, 0, "hello"), kindData, 0, "hello"},
		{"data with grant", msg(kindData, 7, "x"), kindData, 7, "x"},
		{"credit", msg(kindCredit, 3, ""), kindCredit, 3, ""},
		{"fin", msg(kindFin, 0, ""), kindFin, 0, ""},
		{"data at limit", msg(kindData, 0, "0123456789"), kindData, 0, "0123456789"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, payload, err := parseMessage(tt.in, 10)
			if err != nil {
				t.Fatalf("parseMessage: %v", err)
			}
			if h.kind != tt.kind || h.grant != tt.grant || string(payload) != tt.payload {
				t.Errorf("got kind %d grant %d payload %q, want %d %d %q", h.kind, h.grant, payload, tt.kind, tt.grant, tt.payload)
			}
		})
	}
}

func TestParseMessageFails(t *testing.T) {
	bad := func(b []byte, i int, v byte) []byte { b[i] = v; return b }
	tests := []struct {
		name string
		in   []byte
	}{
		{"empty", nil},
		{"short header", []byte{1, 0, 0}},
		{"reserved byte", bad(msg(kindData, 0, "a"), 1, 9)},
		{"length too big", bad(msg(kindData, 0, "a"), 7, 2)},
		{"length too small", bad(msg(kindData, 0, "ab"), 7, 1)},
		{"over limit", msg(kindData, 0, "01234567890")},
		{"empty data", msg(kindData, 0, "")},
		{"credit with payload", msg(kindCredit, 1, "a")},
		{"fin with payload", msg(kindFin, 0, "a")},
		{"unknown kind", msg(9, 0, "")},
		{"kind zero", msg(0, 0, "")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, err := parseMessage(tt.in, 10); !errors.Is(err, errProtocol) {
				t.Errorf("parseMessage(%x): got error %v, want one wrapping errProtocol", tt.in, err)
			}
		})
	}
}

func FuzzParseMessage(f *testing.F) {
	f.Add(msg(kindData, 1, "payload"))
	f.Add(msg(kindCredit, 8, ""))
	f.Add(msg(kindFin, 0, ""))
	f.Add([]byte{1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, payload, err := parseMessage(b, 64)
		if err != nil {
			return
		}
		if len(payload) > 64 || int(h.length) != len(payload) {
			t.Fatalf("accepted %x: length %d, payload %d bytes", b, h.length, len(payload))
		}
		again := make([]byte, headerLen+len(payload))
		encodeMessage(again, h.kind, h.grant, payload)
		if !bytes.Equal(again, b) {
			t.Fatalf("re-encoding %x gave %x", b, again)
		}
	})
}

func TestHello(t *testing.T) {
	for _, h := range []hello{{count: 16, size: 64 << 10}, {count: minBufCount, size: headerLen + 1}, {count: maxBufCount, size: 16 << 20}} {
		t.Run(fmt.Sprintf("%dx%d", h.count, h.size), func(t *testing.T) {
			b := encodeHello(h)
			got, err := parseHello(append(b, make([]byte, 44)...)) // padded as IB pads private data
			if err != nil || got != h {
				t.Fatalf("parseHello(encodeHello(%+v)) = %+v, %v", h, got, err)
			}
		})
	}
}

func TestHelloFails(t *testing.T) {
	set := func(i int, v byte) []byte { b := encodeHello(hello{16, 65536}); b[i] = v; return b }
	tests := []struct {
		name string
		in   []byte
	}{
		{"empty", nil},
		{"short", encodeHello(hello{16, 65536})[:11]},
		{"magic", set(0, 'X')},
		{"version", set(4, 2)},
		{"minor", set(5, 1)},
		{"count too small", encodeHello(hello{minBufCount - 1, 65536})},
		{"count too big", encodeHello(hello{maxBufCount + 1, 65536})},
		{"size too small", encodeHello(hello{16, headerLen})},
		{"size too big", encodeHello(hello{16, 16<<20 + 1})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if h, err := parseHello(tt.in); !errors.Is(err, errProtocol) {
				t.Errorf("parseHello(%x) = %+v, %v; want an error wrapping errProtocol", tt.in, h, err)
			}
		})
	}
}

func FuzzParseHello(f *testing.F) {
	f.Add(encodeHello(hello{16, 65536}))
	f.Add([]byte("WSKR"))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := parseHello(b)
		if err != nil {
			return
		}
		if h.count < minBufCount || h.count > maxBufCount || h.size <= headerLen || h.size > 16<<20 {
			t.Fatalf("accepted %x as %+v", b, h)
		}
	})
}

func TestCredits(t *testing.T) {
	// Each step: "d" take data, "c" take credit-only, "r<n>" received grant n,
	// "p<n>" reposted n. want is "ok:<grant>" or "no" for takes, "ok"/"err" otherwise.
	type step struct {
		op   string
		n    int
		want string
	}
	tests := []struct {
		name          string
		local, peer   int
		steps         []step
		avail, peerAv int
	}{
		{"spend down to the reserved credit", 4, 4, []step{
			{"d", 0, "ok:0"}, {"d", 0, "ok:0"}, {"d", 0, "ok:0"}, {"d", 0, "no"},
		}, 1, 4},
		{"last credit with a grant", 4, 4, []step{
			{"d", 0, "ok:0"}, {"d", 0, "ok:0"}, {"d", 0, "ok:0"}, {"r", 0, "ok"}, {"p", 1, ""}, {"d", 0, "ok:1"}, {"d", 0, "no"},
		}, 0, 4},
		{"grant restores", 4, 4, []step{
			{"d", 0, "ok:0"}, {"d", 0, "ok:0"}, {"r", 2, "ok"}, {"d", 0, "ok:0"},
		}, 3, 3},
		{"credit-only needs creditMin owed", 16, 16, []step{
			{"p", 1, ""}, {"c", 0, "no"},
		}, 16, 16},
		{"credit-only when half a window is owed", 16, 16, []step{
			{"r", 0, "ok"}, {"r", 0, "ok"}, {"r", 0, "ok"}, {"r", 0, "ok"}, {"r", 0, "ok"}, {"r", 0, "ok"}, {"r", 0, "ok"}, {"r", 0, "ok"},
			{"p", 7, ""}, {"c", 0, "no"}, {"p", 1, ""}, {"c", 0, "ok:8"},
		}, 15, 16},
		{"credit-only when the peer runs low", 8, 8, []step{
			{"r", 0, "ok"}, {"r", 0, "ok"}, {"r", 0, "ok"}, {"r", 0, "ok"}, {"r", 0, "ok"}, {"r", 0, "ok"},
			{"p", 2, ""}, {"c", 0, "ok:2"},
		}, 7, 4},
		{"peer overruns", 4, 4, []step{
			{"r", 0, "ok"}, {"r", 0, "ok"}, {"r", 0, "ok"}, {"r", 0, "ok"}, {"r", 0, "err"},
		}, 4, 0},
		{"grant beyond window", 4, 4, []step{
			{"r", 1, "err"},
		}, 4, 3},
		{"no credits at all", 4, 4, []step{
			{"d", 0, "ok:0"}, {"d", 0, "ok:0"}, {"d", 0, "ok:0"}, {"p", 2, ""}, {"d", 0, "ok:2"}, {"p", 2, ""}, {"c", 0, "no"}, {"d", 0, "no"},
		}, 0, 6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCredits(tt.local, tt.peer)
			for i, s := range tt.steps {
				var got string
				switch s.op {
				case "d", "c":
					kind := kindData
					if s.op == "c" {
						kind = kindCredit
					}
					if g, ok := c.take(kind); ok {
						got = fmt.Sprintf("ok:%d", g)
					} else {
						got = "no"
					}
				case "r":
					got = "ok"
					if err := c.received(uint16(s.n)); err != nil {
						got = "err"
					}
				case "p":
					c.reposted(s.n)
				}
				if got != s.want {
					t.Fatalf("step %d %s%d: got %q, want %q (state %+v)", i, s.op, s.n, got, s.want, c)
				}
			}
			if c.avail != tt.avail || c.peerAvail != tt.peerAv {
				t.Errorf("end: got avail %d peerAvail %d, want %d %d", c.avail, c.peerAvail, tt.avail, tt.peerAv)
			}
		})
	}
}

func TestReassembler(t *testing.T) {
	tests := []struct {
		name  string
		segs  []string
		reads []int
		want  []string
		freed [][]int
	}{
		{"one segment one read", []string{"abc"}, []int{10}, []string{"abc"}, [][]int{{0}}},
		{"split a segment", []string{"abcdef"}, []int{2, 2, 5}, []string{"ab", "cd", "ef"}, [][]int{nil, nil, {0}}},
		{"span segments", []string{"ab", "cd", "ef"}, []int{3, 3}, []string{"abc", "def"}, [][]int{{0}, {1, 2}}},
		{"all at once", []string{"a", "b", "c", "d"}, []int{100}, []string{"abcd"}, [][]int{{0, 1, 2, 3}}},
		{"nothing buffered", nil, []int{4}, []string{""}, [][]int{nil}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newReassembler(4)
			total := 0
			for i, s := range tt.segs {
				r.push(i, []byte(s))
				total += len(s)
			}
			if r.buffered() != total {
				t.Fatalf("buffered: got %d, want %d", r.buffered(), total)
			}
			for i, n := range tt.reads {
				p := make([]byte, n)
				got, freed := r.read(p, nil)
				if string(p[:got]) != tt.want[i] || fmt.Sprint(freed) != fmt.Sprint(tt.freed[i]) {
					t.Errorf("read %d: got %q freed %v, want %q freed %v", i, p[:got], freed, tt.want[i], tt.freed[i])
				}
			}
		})
	}
}

func TestReassemblerWraps(t *testing.T) {
	r := newReassembler(2)
	var out []byte
	for i := range 10 {
		r.push(i%2, []byte{byte(i)})
		p := make([]byte, 1)
		n, freed := r.read(p, nil)
		if n != 1 || len(freed) != 1 || freed[0] != i%2 {
			t.Fatalf("round %d: got n %d freed %v", i, n, freed)
		}
		out = append(out, p[0])
	}
	if want := []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}; !bytes.Equal(out, want) {
		t.Errorf("got %v, want %v", out, want)
	}
}

func TestNextChunk(t *testing.T) {
	tests := []struct {
		in   string
		max  int
		want []string
	}{
		{"", 4, nil},
		{"abc", 4, []string{"abc"}},
		{"abcd", 4, []string{"abcd"}},
		{"abcde", 4, []string{"abcd", "e"}},
		{"abcdefghij", 3, []string{"abc", "def", "ghi", "j"}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%q/%d", tt.in, tt.max), func(t *testing.T) {
			var got []string
			for p := []byte(tt.in); len(p) > 0; {
				var c []byte
				c, p = nextChunk(p, tt.max)
				got = append(got, string(c))
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// simSide is one end of a simulated reliable-connected QP pair driven by stream.
type simSide struct {
	name     string
	s        *stream
	sendBufs [][]byte
	recvBufs [][]byte
	posted   []int    // posted receive buffers, in post order (RC consumes them in order)
	wire     [][]byte // sent, not yet delivered to the peer (RC keeps order)
	wireIdx  []int    // send buffer of each wire message
	done     []int    // delivered sends whose completion is pending
	out      []byte   // stream bytes still to write
	got      []byte   // stream bytes read
	data     int      // data messages sent
	credit   int      // credit-only messages sent
}

func newSimSide(name string, h hello, out []byte) *simSide {
	s := &simSide{name: name, s: newStream(h, h), out: out}
	for i := range h.count {
		s.sendBufs = append(s.sendBufs, make([]byte, h.size))
		s.recvBufs = append(s.recvBufs, make([]byte, h.size))
		s.posted = append(s.posted, i)
	}
	return s
}

func (a *simSide) send(kind msgKind, payload []byte) bool {
	idx, grant, ok := a.s.beginSend(kind)
	if !ok {
		return false
	}
	n := encodeMessage(a.sendBufs[idx], kind, grant, payload)
	a.wire = append(a.wire, a.sendBufs[idx][:n])
	a.wireIdx = append(a.wireIdx, idx)
	if kind == kindCredit {
		a.credit++
	} else if kind == kindData {
		a.data++
	}
	return true
}

func (a *simSide) write(rng *rand.Rand) bool {
	if len(a.out) == 0 {
		return false
	}
	chunk, _ := nextChunk(a.out, 1+rng.IntN(a.s.maxPayload))
	if !a.send(kindData, chunk) {
		return false
	}
	a.out = a.out[len(chunk):]
	return true
}

func (a *simSide) repost(t *testing.T, idx []int) {
	a.posted = append(a.posted, idx...)
	a.s.cr.reposted(len(idx))
	a.send(kindCredit, nil)
}

// deliver moves a's oldest wire message into b's next posted receive.
func (a *simSide) deliver(t *testing.T, b *simSide) bool {
	if len(a.wire) == 0 {
		return false
	}
	m := a.wire[0]
	a.wire = a.wire[1:]
	a.done = append(a.done, a.wireIdx[0])
	a.wireIdx = a.wireIdx[1:]
	if len(b.posted) == 0 {
		t.Fatalf("%s overran %s: no posted receive (RNR)", a.name, b.name)
	}
	idx := b.posted[0]
	b.posted = b.posted[1:]
	n := copy(b.recvBufs[idx], m)
	repost, err := b.s.received(idx, b.recvBufs[idx][:n])
	if err != nil {
		t.Fatalf("%s received from %s: %v", b.name, a.name, err)
	}
	if repost {
		b.repost(t, []int{idx})
	}
	b.send(kindCredit, nil)
	return true
}

func (a *simSide) complete() bool {
	if len(a.done) == 0 {
		return false
	}
	a.s.sendDone(a.done[0])
	a.done = a.done[1:]
	return true
}

func (a *simSide) read(t *testing.T, rng *rand.Rand) bool {
	if a.s.rq.buffered() == 0 {
		return false
	}
	p := make([]byte, 1+rng.IntN(3*a.s.recvMax))
	n, freed := a.s.rq.read(p, nil)
	a.got = append(a.got, p[:n]...)
	a.repost(t, freed)
	return true
}

// TestStreamSimulation runs two streams against each other over a simulated RC QP
// pair with random interleavings, both directions at once, and checks that no send
// overruns the peer's posted receives, that nothing deadlocks, that the bytes arrive
// in order, and that credit-only messages stay bounded (no ping-pong).
func TestStreamSimulation(t *testing.T) {
	for _, tc := range []struct {
		h     hello
		bytes int
	}{
		{hello{count: 4, size: headerLen + 1}, 300},
		{hello{count: 4, size: 64}, 5000},
		{hello{count: 16, size: 100}, 20000},
		{hello{count: 5, size: 33}, 3000},
	} {
		for seed := range uint64(20) {
			t.Run(fmt.Sprintf("%dx%d/seed%d", tc.h.count, tc.h.size, seed), func(t *testing.T) {
				rng := rand.New(rand.NewPCG(seed, 42))
				mk := func() []byte {
					b := make([]byte, tc.bytes)
					for i := range b {
						b[i] = byte(rng.IntN(256))
					}
					return b
				}
				wantAB, wantBA := mk(), mk()
				a, b := newSimSide("A", tc.h, wantAB), newSimSide("B", tc.h, wantBA)
				// readerLag makes a side's reader slower than its writer for a while.
				lag := [2]int{rng.IntN(5), rng.IntN(5)}
				for steps := 0; ; steps++ {
					if len(a.got) == len(wantBA) && len(b.got) == len(wantAB) {
						break
					}
					if steps > 10_000_000 {
						t.Fatal("no end after 10M steps")
					}
					actions := []func() bool{
						func() bool { return a.write(rng) },
						func() bool { return b.write(rng) },
						func() bool { return a.deliver(t, b) },
						func() bool { return b.deliver(t, a) },
						a.complete,
						b.complete,
						func() bool { return rng.IntN(lag[0]+1) == 0 && a.read(t, rng) },
						func() bool { return rng.IntN(lag[1]+1) == 0 && b.read(t, rng) },
					}
					if actions[rng.IntN(len(actions))]() {
						continue
					}
					// The random pick did nothing: deadlock if nothing at all can move.
					moved := false
					for _, f := range actions[:6] {
						if moved = f(); moved {
							break
						}
					}
					if !moved && !a.read(t, rng) && !b.read(t, rng) {
						t.Fatalf("deadlock: A %+v %d/%d; B %+v %d/%d", a.s.cr, len(a.out), len(b.got), b.s.cr, len(b.out), len(a.got))
					}
				}
				if !bytes.Equal(b.got, wantAB) || !bytes.Equal(a.got, wantBA) {
					t.Fatal("bytes differ after the round trip")
				}
				for _, s := range []*simSide{a, b} {
					if s.credit > s.data+2*tc.h.count {
						t.Errorf("%s sent %d credit-only messages for %d data messages", s.name, s.credit, s.data)
					}
				}
			})
		}
	}
}

func TestStreamFin(t *testing.T) {
	h := hello{count: 4, size: 64}
	a, b := newStreamPair(h)
	idx, grant, ok := a.beginSend(kindFin)
	if !ok {
		t.Fatal("beginSend(kindFin) refused with a full window")
	}
	buf := make([]byte, 64)
	n := encodeMessage(buf, kindFin, grant, nil)
	repost, err := b.received(0, buf[:n])
	if err != nil || !repost || !b.peerFin {
		t.Fatalf("received FIN: repost %v err %v peerFin %v", repost, err, b.peerFin)
	}
	if !errors.Is(b.broken(), ErrPeerClosed) {
		t.Errorf("broken after FIN: got %v, want ErrPeerClosed", b.broken())
	}
	if _, _, ok := b.beginSend(kindData); ok {
		t.Error("beginSend(kindData) allowed after the peer's FIN")
	}
	a.sendDone(idx)
	if !a.sendsIdle() {
		t.Error("sendsIdle false after every send completed")
	}
}

func newStreamPair(h hello) (*stream, *stream) { return newStream(h, h), newStream(h, h) }

func TestErrorText(t *testing.T) {
	tests := []struct {
		err  *Error
		want string
	}{
		{&Error{Step: "rdma_resolve_addr", Addr: "10.0.0.2:7000", Err: errors.New("no such device")}, "rdma: rdma_resolve_addr 10.0.0.2:7000: no such device"},
		{&Error{Step: "ibv_get_device_list", Addr: "10.0.0.2:7000", Err: ErrNoDevice}, "rdma: ibv_get_device_list 10.0.0.2:7000: no RDMA device"},
		{&Error{Step: "poll", Err: errors.New("x")}, "rdma: poll: x"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := tt.err.Error(); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
			if !errors.Is(tt.err, tt.err.Err) {
				t.Error("errors.Is does not see the cause")
			}
		})
	}
}

func TestSplitAddr(t *testing.T) {
	tests := []struct {
		in   string
		host string
		port int
		ok   bool
	}{
		{"10.0.0.2:7000", "10.0.0.2", 7000, true},
		{":7000", "", 7000, true},
		{"[fe80::1]:0", "fe80::1", 0, true},
		{"host:65535", "host", 65535, true},
		{"10.0.0.2", "", 0, false},
		{"10.0.0.2:x", "", 0, false},
		{"10.0.0.2:65536", "", 0, false},
		{"10.0.0.2:-1", "", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			host, port, err := splitAddr(tt.in)
			if (err == nil) != tt.ok || host != tt.host || port != tt.port {
				t.Errorf("got %q %d %v, want %q %d ok=%v", host, port, err, tt.host, tt.port, tt.ok)
			}
		})
	}
}

func TestCloser(t *testing.T) {
	var c closer
	if !c.enter() {
		t.Fatal("enter refused before close")
	}
	var order []string
	woke := make(chan struct{})
	go func() {
		<-woke
		order = append(order, "leave")
		c.leave()
	}()
	c.close(func() { order = append(order, "wake"); close(woke) }, func() { order = append(order, "teardown") })
	c.close(func() { t.Error("second close ran wake") }, func() { t.Error("second close ran teardown") })
	if fmt.Sprint(order) != "[wake leave teardown]" {
		t.Errorf("got order %v, want [wake leave teardown]", order)
	}
	if c.enter() {
		t.Error("enter allowed after close")
	}
}
