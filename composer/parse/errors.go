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
}

func (p *problems) add(sentinel error, line, col int, path, format string, args ...any) {
	p.l = append(p.l, composer.Errorf(sentinel, p.pos(line, col), path, format, args...))
}

func (p *problems) pos(line, col int) composer.Position {
	return composer.Position{File: p.file, Line: line, Col: col}
}

// finish validates w (when there was no structural problem that would
// echo there) and returns w with every problem.
func (p *problems) finish(w *composer.Workflow) (*composer.Workflow, error) {
	if w != nil {
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
