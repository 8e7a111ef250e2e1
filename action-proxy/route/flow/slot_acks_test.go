package flow_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/wsk-route/wsk-route/action-proxy/route/flow"
	"github.com/wsk-route/wsk-route/internal/frame"
	"github.com/wsk-route/wsk-route/internal/spec"
)

// Slots whose acks are lost. The shell sends a slot to its holder with an
// accept window (frame.AcceptBy): the holder answers what Joins.Takes
// says, and calls Joins.Slot only once its ack reached the sender in
// time; a sender that saw no ack in time sends the slot to the entry
// (SlotRefused), and the holder never takes it. Each join then completes
// exactly once, at its holder or at the entry, whatever acks are lost and
// in whatever order the copies, the entry's request and the holder's
// answer arrive. (Before the holder waited for its acks, a join whose
// slots' acks were all lost completed at both.) testdata/lost_acks.txt
// shows the same cases step by step.

// ackHarness plays one run of fj: f forks into a and b, p1 holds their
// join j, and j's merge goes on to n. It counts the merges that went on.
type ackHarness struct {
	t      *testing.T
	ctx    flow.Context
	run    *flow.Run
	holder *flow.Joins
	slots  []flow.Slot        // a's and b's
	toRun  []flow.Reply       // replies on their way to the entry
	asks   []flow.AskHandover // requests on their way to p1
	merges int                // forwards to n
	ended  []flow.End
}

const fjSpec = `{"workflow":"fj","namespace":"ns","start":["f"],"steps":{
 "f":{"action":"/ns/f","fork":"j","next":["a","b"]},
 "a":{"action":"/ns/a","in":"j","next":["j"]},
 "b":{"action":"/ns/b","in":"j","next":["j"]},
 "j":{"join":{"merge":"array"},"next":["n"]},
 "n":{"action":"/ns/n"}}}`

func newAckHarness(t *testing.T) *ackHarness {
	t.Helper()
	sp, err := spec.Parse([]byte(fjSpec))
	if err != nil {
		t.Fatal(err)
	}
	h := &ackHarness{t: t, ctx: flow.Context{Run: "r1", ReplyTo: "e"}}
	h.run = flow.NewRun(flow.Sender{Spec: sp, Ctx: h.ctx, Self: "e"}, flow.RunConfig{AckTimeout: 1})
	h.holder = flow.NewJoins(flow.Sender{Spec: sp, Ctx: h.ctx, Self: "p1", CanHold: true})
	f := h.run.Start([]byte(`{}`))[0].(flow.Forward)
	for _, a := range (flow.Sender{Spec: sp, Ctx: f.Ctx, Self: "p1", CanHold: true}).Finished("f", f.Hop.Branch, []byte(`{}`), nil, f.Action) {
		fw, ok := a.(flow.Forward)
		if !ok {
			continue
		}
		s := flow.Sender{Spec: sp, Ctx: fw.Ctx, Self: "p-" + fw.Hop.Step, CanHold: true}
		for _, b := range s.Finished(fw.Hop.Step, fw.Hop.Branch, []byte(`"`+fw.Hop.Step+`"`), nil, fw.Action) {
			if sl, ok := b.(flow.Slot); ok {
				h.slots = append(h.slots, sl)
			}
		}
	}
	if len(h.slots) != 2 {
		t.Fatalf("a and b sent %d slots, want 2", len(h.slots))
	}
	return h
}

// take keeps what acts ask for: merges, replies to the entry, requests.
func (h *ackHarness) take(acts []flow.Action) {
	for _, a := range acts {
		switch a := a.(type) {
		case flow.Forward:
			if a.Hop.Step == "n" {
				h.merges++
			}
		case flow.Reply:
			h.toRun = append(h.toRun, a)
		case flow.AskHandover:
			h.asks = append(h.asks, a)
		case flow.End:
			h.ended = append(h.ended, a)
		}
	}
}

// send sends slot i to p1, which answers what Takes says: ok here.
func (h *ackHarness) send(i int) {
	sl := h.slots[i]
	if code, reason := h.holder.Takes(sl.Hop.Step, sl.Hop.Branch, sl.Ctx.Outer); code != frame.CodeOK {
		h.t.Fatalf("p1 answers slot %d with %s: %s, want ok", i, code, reason)
	}
}

// refused sends slot i to p1, whose Takes refuses it: its sender sends it
// to the entry.
func (h *ackHarness) refused(i int) {
	sl := h.slots[i]
	if code, reason := h.holder.Takes(sl.Hop.Step, sl.Hop.Branch, sl.Ctx.Outer); code != frame.CodeUnavailable {
		h.t.Fatalf("p1 answers slot %d with %s: %s, want unavailable", i, code, reason)
	}
	h.take([]flow.Action{flow.SlotRefused(sl)})
}

// ack carries the ack of slot i: in time, p1 takes the slot (and sends it
// to the entry when Slot refuses it now); lost, p1 never takes it and its
// sender sends it to the entry.
func (h *ackHarness) ack(i int, inTime bool) {
	sl := h.slots[i]
	if !inTime {
		h.take([]flow.Action{flow.SlotRefused(sl)})
		return
	}
	code, reason, acts := h.holder.Slot(sl.Hop.Step, sl.Hop.Branch, sl.Ctx.Outer, sl.Payload)
	h.take(acts)
	switch code {
	case frame.CodeOK:
	case frame.CodeUnavailable:
		h.take([]flow.Action{flow.SlotRefused(sl)})
	default:
		h.t.Fatalf("p1 took slot %d (Takes), then Slot answered %s: %s", i, code, reason)
	}
}

// toEntry delivers the replies on their way to the entry.
func (h *ackHarness) toEntry() {
	all := func(string) bool { return true }
	for len(h.toRun) > 0 {
		r := h.toRun[0]
		h.toRun = h.toRun[1:]
		f := r.Frame
		f.RunID, f.ReplyTo = r.Ctx.Run, r.Ctx.ReplyTo
		code, reason, acts := h.run.Frame(&f, f.Payload, all)
		if code != frame.CodeOK && code != frame.CodeDuplicate {
			h.t.Fatalf("the entry answered %s with %s: %s", r, code, reason)
		}
		h.take(acts)
	}
}

// answer delivers the entry's requests to p1, and p1's answers back.
func (h *ackHarness) answer() {
	for len(h.asks) > 0 {
		a := h.asks[0]
		h.asks = h.asks[1:]
		code, _, acts := h.holder.HandOver(a.Join.Step, a.Join.Branch, a.Outer)
		h.take(acts)
		h.take(h.run.HandoverAnswered(a, code == frame.CodeDuplicate, nil))
	}
}

// stop stops p1: it hands over all it holds, and takes nothing more.
func (h *ackHarness) stop() { h.take(h.holder.HandOverAll()) }

func TestJoinCompletesOnceWhenSlotAcksAreLost(t *testing.T) {
	for _, tc := range []struct {
		name string
		play func(h *ackHarness)
	}{
		{"every ack in time", func(h *ackHarness) {
			h.send(0)
			h.ack(0, true)
			h.send(1)
			h.ack(1, true)
		}},
		{"every ack lost, the copies before the answer", func(h *ackHarness) {
			h.send(0)
			h.send(1)
			h.ack(0, false)
			h.ack(1, false)
			h.toEntry()
			h.answer()
			h.toEntry()
		}},
		{"every ack lost, the answer between the copies", func(h *ackHarness) {
			h.send(0)
			h.ack(0, false)
			h.toEntry()
			h.answer()
			h.refused(1) // j was handed over
			h.toEntry()
		}},
		{"one ack in time, one lost", func(h *ackHarness) {
			h.send(0)
			h.ack(0, true)
			h.send(1)
			h.ack(1, false)
			h.toEntry()
			h.answer()
			h.toEntry()
		}},
		{"handed over between Takes and Slot", func(h *ackHarness) {
			h.send(0)
			h.send(1)
			h.ack(1, false)
			h.toEntry()
			h.answer()
			h.ack(0, true) // Slot refuses it: p1 sends it to the entry
			h.toEntry()
		}},
		{"the holder stops between Takes and Slot", func(h *ackHarness) {
			h.send(0)
			h.stop()
			h.ack(0, true) // Slot refuses it: p1 sends it to the entry
			h.refused(1)
			h.toEntry()
			h.answer()
			h.toEntry()
		}},
		{"the holder stops holding a slot, another's ack lost", func(h *ackHarness) {
			h.send(0)
			h.ack(0, true)
			h.send(1)
			h.stop()
			h.ack(1, false)
			h.toEntry()
			h.answer()
			h.toEntry()
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newAckHarness(t)
			tc.play(h)
			if h.merges != 1 {
				t.Errorf("j's merge went on to n %d times, want once", h.merges)
			}
			if h.holder.Held() {
				t.Error("p1 still holds slots of j")
			}
			if len(h.ended) != 0 {
				t.Errorf("the run ended before n ran: %v", h.ended)
			}
			for i, sl := range h.slots { // a copy now is a duplicate or goes to the entry, which has it
				code, reason := h.holder.Takes(sl.Hop.Step, sl.Hop.Branch, sl.Ctx.Outer)
				if code != frame.CodeDuplicate && code != frame.CodeUnavailable {
					t.Errorf("after the join, p1 answers a copy of slot %d with %s: %s", i, code, reason)
				}
			}
		})
	}
}

// TestPropertyLostAcks runs the property tests with every slot's ack
// lost (every join a holder should hold completes at the entry), and
// with half of them lost, among copies and holders that stop.
func TestPropertyLostAcks(t *testing.T) {
	n := propertySeeds() / 2
	for _, fl := range []faults{{lostAck: 1}, {lostAck: 0.5, dup: 0.3, stop: 0.1}} {
		t.Run(fmt.Sprintf("lostAck=%v", fl.lostAck), func(t *testing.T) {
			lost := 0
			for seed := uint64(0); seed < uint64(n); seed++ {
				rng := rand.New(rand.NewPCG(seed, 0x1057))
				sp, src, _ := genSpec(rng)
				input := []byte(`{"n":0}`)
				s := newSim(sp, rng, fl, false)
				err := s.runAll(input)
				if err == nil {
					err = s.check(reference(sp, input))
				}
				if err != nil {
					t.Fatalf("seed %d: %v\nspec: %s", seed, err, src)
				}
				lost += s.lostAcks
			}
			t.Logf("%d seeds, %d slot acks lost", n, lost)
			if lost == 0 {
				t.Error("no slot's ack was lost: the seeds test nothing")
			}
		})
	}
}
