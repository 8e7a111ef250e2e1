package parse

import (
	"sort"

	"github.com/wsk-route/wsk-route/composer"
)

// MaxDepth bounds how deeply nodes may nest in an input file.
const MaxDepth = 100

// problems collects positioned errors while a file is read.
type problems struct {
	file string
	l    composer.ErrorList
	// budget counts the nodes read: past a limit (composer.MaxNodes,
	// MaxSteps) the reader reports it once and reads no further.
	budget composer.Budget
}

// countNode counts a node at line:col and path, as composer.Validate
// does; false means the input is past a limit (it is reported) and the
// reader should stop there.
func (p *problems) countNode(line, col int, path string) bool {
	return p.spend(p.budget.Node(p.pos(line, col), path))
}

// countStep counts the node just counted as a step (an action or a
// value), as countNode does.
func (p *problems) countStep(line, col int, path string) bool {
	return p.spend(p.budget.Step(p.pos(line, col), path))
}

func (p *problems) spend(e *composer.Error) bool {
	if e != nil {
		p.l = append(p.l, e)
	}
	return !p.budget.Spent()
}

// full reports whether the input is past a limit: lists stop there.
func (p *problems) full() bool { return p.budget.Spent() }

func (p *problems) add(sentinel error, line, col int, path, format string, args ...any) {
	p.l = append(p.l, composer.Errorf(sentinel, p.pos(line, col), path, format, args...))
}

func (p *problems) pos(line, col int) composer.Position {
	return composer.Position{File: p.file, Line: line, Col: col}
}

// finish validates w (unless it was read only up to a size limit: the
// rest is unread) and returns w with every problem.
func (p *problems) finish(w *composer.Workflow) (*composer.Workflow, error) {
	if w != nil && !p.full() {
		if err := composer.Validate(w, composer.Options{}); err != nil {
			p.l = append(p.l, err.(composer.ErrorList)...)
		}
	}
	sortProblems(p.l)
	return w, p.l.Err()
}

// sortProblems orders problems by position, keeping equal ones in order.
func sortProblems(l composer.ErrorList) {
	sort.SliceStable(l, func(i, j int) bool {
		if l[i].Pos.Line != l[j].Pos.Line {
			return l[i].Pos.Line < l[j].Pos.Line
		}
		return l[i].Pos.Col < l[j].Pos.Col
	})
}
