package flow_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"strings"

	"github.com/wsk-route/wsk-route/internal/cond"
	"github.com/wsk-route/wsk-route/internal/spec"
)

// Random specs for the property tests, from a small grammar: a block is a
// sequence of items, each item flowing into the next; an item is an
// action (sometimes with a switch, a catch, a retry), a constant, a
// router with a switch, a fan-out, a parallel with an array or object
// join, a map with a concurrency bound, or a while (or do-while) loop
// whose condition is a counter. Parallels, maps and loops nest a few
// levels. Each spec is checked with spec.Parse; the generator keeps to
// the rules Validate enforces, so that few are refused.

type specGen struct {
	rng    *rand.Rand
	steps  map[string]spec.Step
	n      int
	budget int // items left to make
}

// gctx is where a block is made.
type gctx struct {
	in     string // the join whose region it is in
	loop   string // the loop head whose body it is in
	depth  int    // regions and loops around it
	chain  bool   // one path only: no fan-out
	noFork bool   // no parallel, no map (a loop body)
}

func (g *specGen) id(prefix string) string {
	g.n++
	return fmt.Sprintf("%s%d", prefix, g.n)
}

// block makes min to min+2 items flowing into next, and returns the
// block's entry and the number of paths it makes of each path of next.
func (g *specGen) block(c gctx, next []string, min int) ([]string, int) {
	k := min + g.rng.IntN(3)
	if g.budget <= 0 {
		k = min
	}
	cur, m := next, 1
	for range k {
		var mm int
		cur, mm = g.item(c, cur)
		m *= mm
	}
	return cur, m
}

func (g *specGen) item(c gctx, next []string) ([]string, int) {
	g.budget--
	type choice struct {
		w  int
		ok bool
		f  func(gctx, []string) ([]string, int)
	}
	deep := c.depth < 3 && g.budget > 0
	choices := []choice{
		{6, true, g.action},
		{1, true, g.value},
		{2, true, g.router},
		{1, !c.chain && c.loop == "", g.fanOut},
		{2, !c.noFork && deep, g.parallel},
		{2, !c.noFork && deep, g.mapStep},
		{2, deep, g.loop},
	}
	total := 0
	for _, ch := range choices {
		if ch.ok {
			total += ch.w
		}
	}
	r := g.rng.IntN(total)
	for _, ch := range choices {
		if !ch.ok {
			continue
		}
		if r < ch.w {
			return ch.f(c, next)
		}
		r -= ch.w
	}
	panic("unreachable")
}

func (g *specGen) cond() json.RawMessage {
	ops := []string{"<", "==", ">="}
	return json.RawMessage(fmt.Sprintf(`{"path":"n","op":%q,"value":%d}`, ops[g.rng.IntN(len(ops))], g.rng.IntN(4)))
}

// alternatives makes a switch: one or two cases and a default, each a
// chain into next.
func (g *specGen) alternatives(c gctx, next []string) ([]spec.Case, []string) {
	c.chain = true
	var cases []spec.Case
	for range 1 + g.rng.IntN(2) {
		e, _ := g.block(c, next, 0)
		cases = append(cases, spec.Case{When: g.cond(), Next: e})
	}
	def, _ := g.block(c, next, 0)
	return cases, def
}

func (g *specGen) action(c gctx, next []string) ([]string, int) {
	id := g.id("a")
	st := spec.Step{Action: "/ns/" + id, In: c.in, InLoop: c.loop}
	if g.rng.IntN(6) == 0 {
		st.Action = "/ns/fail/" + id // fails when n%3 == 2
	}
	if g.rng.IntN(4) == 0 {
		st.Switch, st.Default = g.alternatives(c, next)
	} else {
		st.Next = next
	}
	if g.rng.IntN(4) == 0 {
		cc := c
		cc.chain = true
		if e, _ := g.block(cc, next, 0); len(e) > 0 {
			st.Catch = e
		}
	}
	if g.rng.IntN(6) == 0 {
		st.Retry = &spec.Retry{Attempts: 2, BackoffMS: 10}
	}
	g.steps[id] = st
	return []string{id}, 1
}

func (g *specGen) value(c gctx, next []string) ([]string, int) {
	id := g.id("v")
	g.steps[id] = spec.Step{Value: json.RawMessage(fmt.Sprintf(`{"n":%d}`, g.rng.IntN(4))), Next: next, In: c.in, InLoop: c.loop}
	return []string{id}, 1
}

func (g *specGen) router(c gctx, next []string) ([]string, int) {
	id := g.id("r")
	st := spec.Step{In: c.in, InLoop: c.loop}
	st.Switch, st.Default = g.alternatives(c, next)
	g.steps[id] = st
	return []string{id}, 1
}

func (g *specGen) fanOut(c gctx, next []string) ([]string, int) {
	id := g.id("f")
	st := spec.Step{In: c.in}
	if g.rng.IntN(2) == 0 {
		st.Action = "/ns/" + id
	}
	m := 0
	for range 2 + g.rng.IntN(2) {
		e, mm := g.block(c, next, 1)
		st.Next = append(st.Next, e...)
		m += mm
	}
	g.steps[id] = st
	return []string{id}, m
}

func (g *specGen) join(j, in string, slots int, next []string) {
	st := spec.Step{Join: &spec.Join{Merge: spec.MergeArray}, In: in, Next: next}
	if g.rng.IntN(3) == 0 {
		st.Join.Merge = spec.MergeObject
		for i := range slots {
			st.Join.Names = append(st.Join.Names, fmt.Sprintf("k%d", i))
		}
	}
	g.steps[j] = st
}

func (g *specGen) parallel(c gctx, next []string) ([]string, int) {
	id, j := g.id("p"), g.id("j")
	rc := gctx{in: j, depth: c.depth + 1}
	st := spec.Step{Fork: j, In: c.in}
	if g.rng.IntN(3) > 0 {
		st.Action = "/ns/" + id
	}
	slots := 0
	for range 2 + g.rng.IntN(2) {
		e, mm := g.block(rc, []string{j}, 1)
		st.Next = append(st.Next, e...)
		slots += mm
	}
	g.steps[id] = st
	g.join(j, c.in, slots, next)
	return []string{id}, 1
}

func (g *specGen) mapStep(c gctx, next []string) ([]string, int) {
	id, j := g.id("m"), g.id("j")
	rc := gctx{in: j, depth: c.depth + 1, chain: true}
	e, _ := g.block(rc, []string{j}, 1)
	m := &spec.Map{Concurrency: g.rng.IntN(4)}
	var elems []string
	for i := range g.rng.IntN(5) {
		elems = append(elems, fmt.Sprintf(`{"n":%d}`, i))
	}
	arr := "[" + strings.Join(elems, ",") + "]"
	items := arr
	if g.rng.IntN(2) == 0 {
		m.Over = "items"
		items = fmt.Sprintf(`{"items":%s,"n":1}`, arr)
	}
	g.steps[id] = spec.Step{Map: m, Fork: j, Next: e, In: c.in}
	g.steps[j] = spec.Step{Join: &spec.Join{Merge: spec.MergeArray}, In: c.in, Next: next}
	if g.rng.IntN(8) == 0 {
		return []string{id}, 1 // maps whatever comes: rarely an array
	}
	v := g.id("v")
	g.steps[v] = spec.Step{Value: json.RawMessage(items), Next: []string{id}, In: c.in}
	return []string{v}, 1
}

func (g *specGen) loop(c gctx, next []string) ([]string, int) {
	id := g.id("w")
	bc := gctx{in: c.in, loop: id, depth: c.depth + 1, chain: true, noFork: true}
	body, _ := g.block(bc, []string{id}, 1)
	when := json.RawMessage(fmt.Sprintf(`{"path":"n","op":"<","value":%d}`, g.rng.IntN(5)))
	g.steps[id] = spec.Step{Loop: &spec.Loop{Max: 1 + g.rng.IntN(4)}, Switch: []spec.Case{{When: when, Next: body}}, Default: next, In: c.in, InLoop: c.loop}
	if g.rng.IntN(3) == 0 {
		return body, 1 // do-while: the body runs once before the test
	}
	return []string{id}, 1
}

// genSpec returns a random valid spec and its JSON, and how many it
// made that Parse refused.
func genSpec(rng *rand.Rand) (*spec.Spec, []byte, int) {
	for refused := 0; ; refused++ {
		g := &specGen{rng: rng, steps: map[string]spec.Step{}, budget: 4 + rng.IntN(12)}
		s := spec.Spec{Workflow: "w", Namespace: "ns", Steps: g.steps}
		switch rng.IntN(6) {
		case 0: // a parallel at the start
			j := g.id("j")
			slots := 0
			for range 2 + rng.IntN(2) {
				e, mm := g.block(gctx{in: j, depth: 1}, []string{j}, 1)
				s.Start = append(s.Start, e...)
				slots += mm
			}
			next, _ := g.block(gctx{}, nil, 0)
			g.join(j, "", slots, next)
			s.StartJoin = j
		case 1: // two independent starts
			a, _ := g.block(gctx{}, nil, 1)
			b, _ := g.block(gctx{}, nil, 1)
			s.Start = append(a, b...)
		default:
			s.Start, _ = g.block(gctx{}, nil, 1)
		}
		data, err := json.Marshal(&s)
		if err != nil {
			panic(err)
		}
		if sp, err := spec.Parse(data); err == nil {
			return sp, data, refused
		} else if refused > 1000 {
			panic(fmt.Sprintf("the generator makes no valid spec: %v\n%s", err, data))
		}
	}
}

// The steps' actions in the simulations, a pure function of the step and
// its input: the result is {"s": step, "n": n+1, "h": hash of the input},
// where n is the input's "n" (0 without one); an action named /ns/fail/...
// returns an application error when n%3 == 2.
func actionResult(step, action string, input []byte) (result []byte, failed bool) {
	n := numN(input)
	if strings.HasPrefix(action, "/ns/fail/") && n%3 == 2 {
		return []byte(`{"error":"` + step + ` failed"}`), true
	}
	h := fnv.New64a()
	h.Write(canonical(input))
	return fmt.Appendf(nil, `{"s":%q,"n":%d,"h":"%x"}`, step, n+1, h.Sum64()), false
}

func numN(v []byte) int {
	var m map[string]any
	if json.Unmarshal(v, &m) != nil {
		return 0
	}
	n, _ := m["n"].(float64)
	return int(n)
}

// canonical re-encodes a JSON value with sorted keys and no blanks, so
// that values that differ only in their spelling compare equal.
func canonical(v []byte) []byte {
	dec := json.NewDecoder(bytes.NewReader(v))
	dec.UseNumber()
	var x any
	if err := dec.Decode(&x); err != nil {
		return v
	}
	out, err := json.Marshal(x)
	if err != nil {
		return v
	}
	return out
}

// The reference: a sequential, recursive evaluator of a spec, written
// from the spec's meaning and nothing of package flow. It follows every
// path depth first, in the order of the successor lists (which is the
// order of branches and slots), and collects the run's results, or the
// steps where a path failed.
type refRun struct {
	sp    *spec.Spec
	fails map[string]bool
	execs int
}

// arrival is a value reaching a join, a loop's head back from its body,
// or (at "") the run's end.
type arrival struct {
	at string
	v  []byte
}

type refOutcome struct {
	value []byte          // the run's value, when no path failed
	fails map[string]bool // else the steps where a path failed
}

func reference(sp *spec.Spec, input []byte) refOutcome {
	r := &refRun{sp: sp, fails: map[string]bool{}}
	var outs []arrival
	ok := true
	if sp.StartJoin != "" {
		slots, alive := r.goOn("", sp.Start, input)
		outs, ok = r.join(sp.StartJoin, slots, alive)
	} else {
		outs, ok = r.goOn("", sp.Start, input)
	}
	if len(r.fails) > 0 || !ok {
		return refOutcome{fails: r.fails}
	}
	if len(outs) == 1 {
		return refOutcome{value: outs[0].v}
	}
	vals := make([]string, len(outs))
	for i, o := range outs {
		vals[i] = string(o.v)
	}
	return refOutcome{value: []byte("[" + strings.Join(vals, ",") + "]")}
}

func (r *refRun) fail(step string) ([]arrival, bool) {
	r.fails[step] = true
	return nil, false
}

// goOn sends v from step from to each of next; none means v is one of
// the run's results.
func (r *refRun) goOn(from string, next []string, v []byte) ([]arrival, bool) {
	if len(next) == 0 {
		return []arrival{{"", v}}, true
	}
	var outs []arrival
	ok := true
	for _, n := range next {
		o, alive := r.visit(n, from, v)
		outs = append(outs, o...)
		ok = ok && alive
	}
	return outs, ok
}

// visit is value v reaching step id from step from.
func (r *refRun) visit(id, from string, v []byte) ([]arrival, bool) {
	r.execs++
	if r.execs > 100000 {
		panic("reference: runaway evaluation")
	}
	sp := r.sp
	st := sp.Steps[id]
	switch {
	case st.Join != nil:
		return []arrival{{id, v}}, true
	case st.Loop != nil && from != "" && sp.InBody(from, id):
		return []arrival{{id, v}}, true // back from the body
	}
	// Into a loop's body other than through its head (a do-while): the
	// body runs, its value reaches the head, and the loop goes on from
	// its second test; innermost loop first.
	var entered []string
	for _, l := range sp.Loops(id) {
		if from != l && (from == "" || !sp.InBody(from, l)) {
			entered = append(entered, l)
		}
	}
	var outs []arrival
	var ok bool
	if st.Loop != nil {
		outs, ok = r.loop(id, v, 0)
	} else {
		outs, ok = r.step(id, v)
	}
	for i := len(entered) - 1; i >= 0 && ok; i-- {
		if len(outs) != 1 || outs[0].at != entered[i] {
			panic(fmt.Sprintf("reference: body of %s gave %v", entered[i], outs))
		}
		outs, ok = r.loop(entered[i], outs[0].v, 1)
	}
	return outs, ok
}

// step runs step id (no join, no loop head) on v.
func (r *refRun) step(id string, v []byte) ([]arrival, bool) {
	st := r.sp.Steps[id]
	switch {
	case st.Map != nil:
		return r.mapStep(id, v)
	case st.Value != nil:
		return r.route(id, st.Value)
	case st.Action != "":
		out, failed := actionResult(id, st.Action, v)
		if failed {
			if st.Catch != nil {
				return r.goOn(id, st.Catch, out)
			}
			return r.fail(id)
		}
		return r.route(id, out)
	}
	return r.route(id, v) // a router
}

// route sends step id's result on: its next, or its switch's choice; a
// fork runs its region and then its join.
func (r *refRun) route(id string, v []byte) ([]arrival, bool) {
	st := r.sp.Steps[id]
	next := st.Next
	if len(st.Switch) > 0 {
		next = st.Default
		for _, c := range st.Switch {
			cc, err := cond.Parse(c.When)
			if err != nil {
				panic(err)
			}
			holds, err := cc.Eval(v)
			if err != nil {
				return r.fail(id)
			}
			if holds {
				next = c.Next
				break
			}
		}
	}
	if st.Fork != "" {
		slots, ok := r.goOn(id, next, v)
		return r.join(st.Fork, slots, ok)
	}
	return r.goOn(id, next, v)
}

// join merges the slots that reached join j (all of them, unless a path
// failed) and sends the merge on.
func (r *refRun) join(j string, slots []arrival, ok bool) ([]arrival, bool) {
	if !ok {
		return nil, false
	}
	jn := r.sp.Steps[j].Join
	var b bytes.Buffer
	if jn.Merge == spec.MergeObject {
		b.WriteByte('{')
		for i, s := range slots {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, "%q:%s", jn.Names[i], s.v)
		}
		b.WriteByte('}')
	} else {
		b.WriteByte('[')
		for i, s := range slots {
			if i > 0 {
				b.WriteByte(',')
			}
			b.Write(s.v)
		}
		b.WriteByte(']')
	}
	for _, s := range slots {
		if s.at != j {
			panic(fmt.Sprintf("reference: a path of %s's region reached %q", j, s.at))
		}
	}
	return r.goOn(j, r.sp.Steps[j].Next, b.Bytes())
}

func (r *refRun) mapStep(id string, v []byte) ([]arrival, bool) {
	st := r.sp.Steps[id]
	var elems []json.RawMessage
	if st.Map.Over == "" {
		if json.Unmarshal(v, &elems) != nil {
			return r.fail(id)
		}
	} else {
		var obj map[string]json.RawMessage
		if json.Unmarshal(v, &obj) != nil || json.Unmarshal(obj[st.Map.Over], &elems) != nil || elems == nil {
			return r.fail(id)
		}
	}
	var slots []arrival
	ok := true
	for _, e := range elems {
		o, alive := r.goOn(id, st.Next, e)
		slots = append(slots, o...)
		ok = ok && alive
	}
	return r.join(st.Fork, slots, ok)
}

// loop runs loop head id from its test number iter: while its condition
// holds, the body, at most Max times in all.
func (r *refRun) loop(id string, v []byte, iter int) ([]arrival, bool) {
	st := r.sp.Steps[id]
	c, err := cond.Parse(st.Switch[0].When)
	if err != nil {
		panic(err)
	}
	for {
		holds, err := c.Eval(v)
		if err != nil {
			return r.fail(id)
		}
		if !holds {
			return r.goOn(id, st.Default, v)
		}
		if iter >= st.Loop.Max {
			return r.fail(id)
		}
		outs, ok := r.goOn(id, st.Switch[0].Next, v)
		if !ok {
			return nil, false
		}
		if len(outs) != 1 || outs[0].at != id {
			panic(fmt.Sprintf("reference: body of %s gave %v", id, outs))
		}
		v = outs[0].v
		iter++
	}
}
