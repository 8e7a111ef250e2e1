package doccheck

import (
	"errors"
	"fmt"
	"path"
	"regexp"
	"strings"
)

// Kind is what a marker asks for.
type Kind int

// The kinds of marker (see the package comment).
const (
	// Run: Text is a shell script to run.
	Run Kind = iota + 1
	// File: Text is the content of the file Path.
	File
	// Actions: Names are actions to create.
	Actions
)

// Item is one marked thing of a page.
type Item struct {
	// Kind says what to do with it.
	Kind Kind
	// File and Line are where it is: the page, and the line of its first
	// command or content line (the marker's line for Actions).
	File string
	Line int
	// Text is the script (Run) or the content (File), with a final newline.
	Text string
	// Path is the file to write (File), relative to the work directory.
	Path string
	// Names are the actions to create (Actions).
	Names []string
}

// marker matches a marker comment; its group is what follows "runnable".
var marker = regexp.MustCompile(`<!--\s*runnable\b(.*?)-->`)

// inline matches a code span right before a marker, at the end of text.
var inline = regexp.MustCompile("`([^`]+)`[ \t]*$")

// Parse returns the marked items of the page src (named file in the
// items and errors), in page order. It reports every malformed marker,
// each as "file:line: problem", joined; the items are nil then.
func Parse(file string, src []byte) ([]Item, error) {
	lines := strings.Split(string(src), "\n")
	var items []Item
	var errs []error
	bad := func(line int, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s:%d: %s", file, line, fmt.Sprintf(format, args...)))
	}
	fence := "" // the open fence's backticks, "" outside a fenced block
	for i := 0; i < len(lines); i++ {
		line, n := lines[i], i+1
		if fence != "" {
			if closes(line, fence) {
				fence = ""
			}
			continue
		}
		if f := fenceOf(line); f != "" {
			fence = f
			continue
		}
		locs := marker.FindAllStringSubmatchIndex(line, -1)
		if len(locs) == 0 {
			continue
		}
		if len(locs) == 1 && strings.TrimSpace(line) == line[locs[0][0]:locs[0][1]] {
			// Alone on its line: a block marker, or actions.
			args := strings.Fields(line[locs[0][2]:locs[0][3]])
			if len(args) > 0 && !strings.HasPrefix(args[0], ":") {
				bad(n, "marker %q: want <!-- runnable -->, <!-- runnable: file PATH --> or <!-- runnable: actions NAME... -->", strings.TrimSpace(line))
				continue
			}
			if len(args) > 0 {
				args[0] = strings.TrimPrefix(args[0], ":")
				if args[0] == "" {
					args = args[1:]
				}
			}
			if len(args) > 0 && args[0] == "actions" {
				if len(args) == 1 {
					bad(n, "<!-- runnable: actions --> names no action")
					continue
				}
				items = append(items, Item{Kind: Actions, File: file, Line: n, Names: args[1:]})
				continue
			}
			it := Item{Kind: Run, File: file}
			switch {
			case len(args) == 0:
			case args[0] == "file" && len(args) == 2:
				p := path.Clean(args[1])
				if path.IsAbs(p) || p == "." || p == ".." || strings.HasPrefix(p, "../") {
					bad(n, "<!-- runnable: file %s -->: the path must stay inside the work directory", args[1])
					continue
				}
				it.Kind, it.Path = File, p
			default:
				bad(n, "marker %q: want <!-- runnable -->, <!-- runnable: file PATH --> or <!-- runnable: actions NAME... -->", strings.TrimSpace(line))
				continue
			}
			if i+1 >= len(lines) || fenceOf(lines[i+1]) == "" {
				bad(n, "%s is not followed by a fenced block (```) on the next line", strings.TrimSpace(line))
				continue
			}
			f := fenceOf(lines[i+1])
			var body []string
			j := i + 2
			for ; j < len(lines) && !closes(lines[j], f); j++ {
				body = append(body, lines[j])
			}
			if j >= len(lines) {
				bad(n+1, "the fenced block is not closed")
				continue
			}
			it.Line, it.Text = i+3, strings.Join(body, "\n")+"\n"
			if strings.TrimSpace(it.Text) == "" {
				bad(n+1, "the marked block is empty")
				continue
			}
			items = append(items, it)
			i = j // past the closing fence
			continue
		}
		// Inline markers: each right after a code span.
		for _, loc := range locs {
			if strings.TrimSpace(line[loc[2]:loc[3]]) != "" {
				bad(n, "an inline marker takes no arguments: %q", line[loc[0]:loc[1]])
				continue
			}
			m := inline.FindStringSubmatch(line[:loc[0]])
			if m == nil {
				bad(n, "<!-- runnable --> inside a line must follow an inline code span (`command`)")
				continue
			}
			items = append(items, Item{Kind: Run, File: file, Line: n, Text: m[1] + "\n"})
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return items, nil
}

// fenceOf returns the backticks that open a fenced block on line, or "".
func fenceOf(line string) string {
	t := strings.TrimSpace(line)
	n := len(t) - len(strings.TrimLeft(t, "`"))
	if n < 3 {
		return ""
	}
	return t[:n]
}

// closes reports whether line closes a block opened with fence: backticks
// alone, at least as many.
func closes(line, fence string) bool {
	t := strings.TrimSpace(line)
	return len(t) >= len(fence) && strings.Trim(t, "`") == ""
}
