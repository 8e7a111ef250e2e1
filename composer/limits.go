package composer

// Size limits of one workflow. A compiled workflow holds at most
// MaxSteps steps, and every Action and Value node becomes one of them, so
// a workflow with more is refused before it is compiled; MaxNodes bounds
// the nodes of every kind (passes, sequences, constructs), so that no pass
// over a huge input runs before it is refused.
const (
	// MaxSteps bounds the Action and Value nodes of a workflow. It is
	// spec.MaxSteps (a compile test checks they agree).
	MaxSteps = 1024
	// MaxNodes bounds the nodes of a workflow, of every kind.
	MaxNodes = 8 * MaxSteps
)

// Budget counts a workflow's nodes against MaxNodes and MaxSteps in input
// order, so that a reader refuses a huge input at the first node past a
// limit, before it reads (or validates, or compiles) the rest. Validate
// counts with one; the parsers count with another while they read, and
// stop there. The zero value is an empty budget.
type Budget struct {
	nodes, steps int
	spent        bool
}

// Node counts one node at pos and path. It returns the problem, wrapping
// ErrTooLarge, when the node is one past MaxNodes; nil otherwise, and for
// every node after the first one past a limit (the problem is reported
// once: see Spent).
func (b *Budget) Node(pos Position, path string) *Error {
	if b.spent {
		return nil
	}
	if b.nodes++; b.nodes > MaxNodes {
		b.spent = true
		return Errorf(ErrTooLarge, pos, path, "more than %d nodes (steps, lists and constructs) in one workflow (this is number %d)", MaxNodes, b.nodes)
	}
	return nil
}

// Step counts the node just counted by Node as a step of the compiled
// workflow (an Action or a Value). It returns the problem, wrapping
// ErrTooLarge, when the step is one past MaxSteps; nil otherwise, and
// once a limit has been passed.
func (b *Budget) Step(pos Position, path string) *Error {
	if b.spent {
		return nil
	}
	if b.steps++; b.steps > MaxSteps {
		b.spent = true
		return Errorf(ErrTooLarge, pos, path, "more than %d actions and values in one workflow (this is number %d): each becomes a step of the compiled workflow, which holds at most %d steps", MaxSteps, b.steps, MaxSteps)
	}
	return nil
}

// Spent reports whether a limit has been passed: the reader should stop.
func (b *Budget) Spent() bool { return b.spent }
