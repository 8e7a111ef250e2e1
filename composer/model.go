package composer

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"
)

// DefaultNamespace is the namespace a workflow gets when it names none:
// OpenWhisk's "_", the deployer's own namespace.
const DefaultNamespace = "_"

// Position is a place in an input file. Line and Col count from 1; zero
// means unknown.
type Position struct {
	File string
	Line int
	Col  int
}

// String formats p as "file:line:col", leaving out what is unknown.
func (p Position) String() string {
	switch {
	case p.Line == 0 && p.File == "":
		return ""
	case p.Line == 0:
		return p.File
	case p.File == "" && p.Col == 0:
		return fmt.Sprintf("%d", p.Line)
	case p.File == "":
		return fmt.Sprintf("%d:%d", p.Line, p.Col)
	case p.Col == 0:
		return fmt.Sprintf("%s:%d", p.File, p.Line)
	}
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col)
}

// Field is a key the parser found but the format does not define; the
// parser keeps it on the node so that Validate reports it with the rest.
type Field struct {
	Key string
	// Path names the field: the path of the mapping it is in, a dot and
	// the key.
	Path string
	Pos  Position
}

// Meta is what every node carries: where it came from.
type Meta struct {
	// Pos is the node's position in the input.
	Pos Position
	// Path names the node from the document root, in the input's own
	// terms: ".steps[2].parallel.branches.upper".
	Path string
	// Unknown lists keys of the node's input that the format does not
	// define; Validate reports each as ErrUnknownField.
	Unknown []Field
}

// Node is one workflow construct. The concrete types are *Action,
// *Sequence, *Parallel, *Map, *If, *Switch, *While, *Try, *Retry, *Value
// and *Pass; the set is closed.
type Node interface {
	// NodeMeta returns the node's position and path.
	NodeMeta() *Meta
	// Kind names the construct as the YAML format spells it: "action",
	// "sequence", "parallel", ...
	Kind() string
}

// NodeMeta returns m; it makes every node type that embeds Meta a Node.
func (m *Meta) NodeMeta() *Meta { return m }

// Workflow is a named workflow: what `wsk-route compose` deploys.
type Workflow struct {
	Meta
	// Name names the workflow (and its entry action) in its namespace.
	Name string
	// Namespace is the OpenWhisk namespace; "" or DefaultNamespace means
	// the deployer's. Relative action names resolve against it.
	Namespace string
	// NamePos and NamespacePos are where the name and the namespace are
	// in the input (zero: at the workflow's Pos).
	NamePos, NamespacePos Position
	// Root is the node the run's input enters (nil for a Composition).
	Root Node
	// Composition, for a workflow read from openwhisk-composer's JSON, is
	// that JSON: it runs with composer's semantics, conducted by its entry
	// (package internal/conductor), and Root is nil.
	Composition []byte
	// Actions are the actions the file declares (its actions section),
	// in file order: `wsk-route compose` creates or updates them first.
	Actions []*ActionDef
}

// Action runs one OpenWhisk action on the value; its result is the new
// value.
type Action struct {
	Meta
	// Name is "/ns/pkg/a", "/ns/a" (absolute), "pkg/a" or "a" (relative
	// to the workflow's namespace).
	Name string
}

// Sequence runs its steps one after the other, each on the previous
// one's result.
type Sequence struct {
	Meta
	Steps []Node
}

// Merge says how a join combines branch results.
type Merge string

// The merges a join can declare.
const (
	// MergeArray makes the join's result a JSON array of the branch
	// results in branch order. It is the default.
	MergeArray Merge = "array"
	// MergeObject makes the join's result a JSON object mapping each
	// branch name to its result; every branch must be named.
	MergeObject Merge = "object"
)

// Branch is one branch of a Parallel.
type Branch struct {
	// Name is the branch's name; "" for an unnamed branch.
	Name string
	// Pos is where the branch starts in the input.
	Pos  Position
	Node Node
}

// Parallel runs every branch on the same value at once, then joins their
// results as Merge says.
type Parallel struct {
	Meta
	Branches []Branch
	// Merge is MergeArray (also when empty) or MergeObject.
	Merge Merge
}

// Map runs Body once per element of the array at Over in the value, at
// most Concurrency at a time (0: no bound), and joins the results into an
// array in element order.
type Map struct {
	Meta
	// Over is a path into the value (see Cond) naming the array; "" is
	// the value itself.
	Over        string
	Body        Node
	Concurrency int
}

// If runs Then when Cond holds for the value and Else (or nothing: the
// value passes unchanged, when Else is nil) otherwise.
type If struct {
	Meta
	Cond Cond
	Then Node
	Else Node
}

// Case is one arm of a Switch.
type Case struct {
	Cond Cond
	Node Node
}

// Switch runs the node of the first case whose condition holds, else
// Default (or nothing, when Default is nil).
type Switch struct {
	Meta
	Cases   []Case
	Default Node
}

// Bounds of While.Max, as the route spec has them (spec.DefaultLoopMax
// and spec.MaxLoopMax; a compile test checks they agree).
const (
	// DefaultLoopMax is the iteration bound of a loop whose Max is 0.
	DefaultLoopMax = 1000
	// MaxLoopMax is the largest iteration bound a loop may declare.
	MaxLoopMax = 100000
)

// While runs Body on the value again and again while Cond holds for it,
// each time on the previous iteration's result; the value when Cond no
// longer holds is the loop's result. A while tests first (Body may run
// zero times); with Do set (a do-while) Body runs once before the first
// test. Max bounds the iterations (0: DefaultLoopMax).
type While struct {
	Meta
	Cond Cond
	Body Node
	// Do makes the loop a do-while: body first, then the test.
	Do  bool
	Max int
}

// Try runs Body; if it fails (an action result with an "error" field, or
// a failed activation), Catch runs on the error result instead.
type Try struct {
	Meta
	Body  Node
	Catch Node
}

// Retry runs Body up to Max times in all until it succeeds, waiting
// Backoff before the first retry and twice as long before each next one.
type Retry struct {
	Meta
	Body    Node
	Max     int
	Backoff time.Duration
}

// Value replaces the value with a constant: openwhisk-composer's literal.
// A constant that is not a JSON object or array is shaped as
// {"value": constant} (see Result), as openwhisk-composer shapes a
// literal: an OpenWhisk activation's result and an action's parameters
// are a JSON object (the entry of a workflow may also answer an array).
type Value struct {
	Meta
	// Value is the constant as written.
	Value json.RawMessage
}

// Result returns what v puts in place of the value: v.Value when it is a
// JSON object or array, else {"value": v.Value}. v.Value must be valid
// JSON (Validate checks it).
func (v *Value) Result() json.RawMessage {
	c := bytes.TrimSpace(v.Value)
	if len(c) > 0 && (c[0] == '{' || c[0] == '[') {
		return v.Value
	}
	out := make([]byte, 0, len(c)+len(`{"value":}`))
	out = append(out, `{"value":`...)
	out = append(out, c...)
	return append(out, '}')
}

// Pass passes the value on unchanged: openwhisk-composer's empty.
type Pass struct {
	Meta
}

// Kind returns "action".
func (*Action) Kind() string { return "action" }

// Kind returns "sequence".
func (*Sequence) Kind() string { return "sequence" }

// Kind returns "parallel".
func (*Parallel) Kind() string { return "parallel" }

// Kind returns "map".
func (*Map) Kind() string { return "map" }

// Kind returns "if".
func (*If) Kind() string { return "if" }

// Kind returns "switch".
func (*Switch) Kind() string { return "switch" }

// Kind returns "while", or "do-while" for a loop that runs its body
// before the first test.
func (w *While) Kind() string {
	if w.Do {
		return "do-while"
	}
	return "while"
}

// Kind returns "try".
func (*Try) Kind() string { return "try" }

// Kind returns "retry".
func (*Retry) Kind() string { return "retry" }

// Kind returns "value".
func (*Value) Kind() string { return "value" }

// Kind returns "pass".
func (*Pass) Kind() string { return "pass" }

// EffectiveMerge returns p.Merge, or MergeArray when it is empty.
func (p *Parallel) EffectiveMerge() Merge {
	if p.Merge == "" {
		return MergeArray
	}
	return p.Merge
}

// EffectiveNamespace returns w.Namespace, or DefaultNamespace when empty.
func (w *Workflow) EffectiveNamespace() string {
	if w.Namespace == "" {
		return DefaultNamespace
	}
	return w.Namespace
}
