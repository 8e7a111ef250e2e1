package flow_test

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/wsk-route/wsk-route/internal/frame"
	"github.com/wsk-route/wsk-route/internal/spec"
)

// The arguments of a scenario command: bare words (selectors, flags, a
// JSON payload, a "quoted text") and key=value pairs. A JSON value may
// hold spaces inside its braces or strings; a text value with spaces is
// written "quoted". Every argument must be used: a misspelt one fails the
// test instead of being ignored.

// tokenize splits a command line at the blanks outside JSON values and
// quoted strings.
func tokenize(line string) ([]string, error) {
	var toks []string
	var cur strings.Builder
	depth, inStr, esc, has := 0, false, false, false
	for _, r := range line {
		switch {
		case inStr:
			switch {
			case esc:
				esc = false
			case r == '\\':
				esc = true
			case r == '"':
				inStr = false
			}
		case r == '"':
			inStr = true
		case r == '{' || r == '[':
			depth++
		case r == '}' || r == ']':
			depth--
		case (r == ' ' || r == '\t') && depth == 0:
			if has {
				toks = append(toks, cur.String())
				cur.Reset()
				has = false
			}
			continue
		}
		cur.WriteRune(r)
		has = true
	}
	if inStr || depth != 0 {
		return nil, fmt.Errorf("unbalanced quotes or brackets in %q", line)
	}
	if has {
		toks = append(toks, cur.String())
	}
	return toks, nil
}

type args struct {
	pos  []string
	kv   map[string]string
	used map[string]bool
}

func isKey(s string) bool {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return s != ""
}

func parseArgs(toks []string) *args {
	a := &args{kv: map[string]string{}, used: map[string]bool{}}
	for _, t := range toks {
		if i := strings.IndexByte(t, '='); i > 0 && isKey(t[:i]) {
			a.kv[t[:i]] = t[i+1:]
			continue
		}
		a.pos = append(a.pos, t)
	}
	return a
}

// done reports the arguments the command did not use.
func (a *args) done() error {
	var extra []string
	for k := range a.kv {
		if !a.used[k] {
			extra = append(extra, k+"=")
		}
	}
	extra = append(extra, a.pos...)
	if len(extra) > 0 {
		return fmt.Errorf("unused arguments %v", extra)
	}
	return nil
}

func (a *args) has(k string) bool { _, ok := a.kv[k]; return ok }

// raw returns the value of k as written (JSON stays JSON).
func (a *args) raw(k, def string) string {
	v, ok := a.kv[k]
	if !ok {
		return def
	}
	a.used[k] = true
	return v
}

// text returns the value of k, unquoted if it is "quoted".
func (a *args) text(k, def string) string {
	return unquote(a.raw(k, def))
}

func unquote(v string) string {
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		if s, err := strconv.Unquote(v); err == nil {
			return s
		}
	}
	return v
}

// need returns the value of k, which must be there.
func (a *args) need(k string) (string, error) {
	if !a.has(k) {
		return "", fmt.Errorf("missing %s=", k)
	}
	return a.text(k, ""), nil
}

// flag reports whether the bare word name is among the arguments, and
// uses it.
func (a *args) flag(name string) bool {
	for i, p := range a.pos {
		if p == name {
			a.pos = append(a.pos[:i], a.pos[i+1:]...)
			return true
		}
	}
	return false
}

// boolean is a key=true|false argument.
func (a *args) boolean(k string, def bool) (bool, error) {
	if !a.has(k) {
		return def, nil
	}
	return strconv.ParseBool(a.text(k, ""))
}

// takePos returns the bare words left, and uses them.
func (a *args) takePos() []string {
	p := a.pos
	a.pos = nil
	return p
}

func (a *args) dur(k string, def time.Duration) (time.Duration, error) {
	if !a.has(k) {
		return def, nil
	}
	return time.ParseDuration(a.text(k, ""))
}

func (a *args) integer(k string, def int) (int, error) {
	if !a.has(k) {
		return def, nil
	}
	return strconv.Atoi(a.text(k, ""))
}

// branch reads a branch, "2" or "slot/branch" ("1/0": slot 1 of a join's
// region on branch 0).
func (a *args) branch(k string) (uint32, error) {
	return parseBranch(a.text(k, "0"))
}

func parseBranch(s string) (uint32, error) {
	if slot, b, ok := strings.Cut(s, "/"); ok {
		x, err1 := strconv.ParseUint(slot, 10, 32)
		y, err2 := strconv.ParseUint(b, 10, 32)
		if err1 != nil || err2 != nil {
			return 0, fmt.Errorf("bad branch %q", s)
		}
		return spec.JoinBranch(uint32(x), uint32(y)), nil
	}
	x, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("bad branch %q", s)
	}
	return uint32(x), nil
}

// outer reads the levels around a frame as an action prints them:
// "0@p1,2" is slot 0 of a region held by p1, inside which iteration (or
// slot of a region held by the entry) 2.
func (a *args) outer(k string) ([]frame.Level, error) {
	v := a.text(k, "")
	if v == "" {
		return nil, nil
	}
	var ls []frame.Level
	for _, part := range strings.Split(v, ",") {
		slot, holder, _ := strings.Cut(part, "@")
		n, err := strconv.ParseUint(slot, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("bad level %q in %s=", part, k)
		}
		ls = append(ls, frame.Level{Slot: uint32(n), Holder: holder})
	}
	return ls, nil
}

// placements reads the placements of a report: "s2#0@p2,s3#1/0@p3" is
// step s2 on branch 0 taken by p2, and step s3 on slot 1 of branch 0
// taken by p3.
func (a *args) placements(k string) ([]frame.Placement, error) {
	v := a.text(k, "")
	if v == "" {
		return nil, nil
	}
	var out []frame.Placement
	for _, part := range strings.Split(v, ",") {
		hop, inst, ok := strings.Cut(part, "@")
		step, br, ok2 := strings.Cut(hop, "#")
		if !ok || !ok2 {
			return nil, fmt.Errorf("bad placement %q in %s= (want STEP#BRANCH@INSTANCE)", part, k)
		}
		b, err := parseBranch(br)
		if err != nil {
			return nil, err
		}
		out = append(out, frame.Placement{Step: step, Branch: b, Instance: inst})
	}
	return out, nil
}

// payload is the (first) JSON value among the bare words, or else the input
// lines, or else def.
func (a *args) payload(input []string, def string) []byte {
	for i, p := range a.pos {
		if json.Valid([]byte(p)) {
			a.pos = append(a.pos[:i], a.pos[i+1:]...)
			return []byte(p)
		}
	}
	if len(input) > 0 {
		return []byte(strings.Join(input, "\n"))
	}
	if def == "" {
		return nil
	}
	return []byte(def)
}

// parseCode reads a frame code as it prints, with - for blanks:
// "step-failed".
func parseCode(s string) (frame.Code, error) {
	for c := frame.CodeOK; c.Valid(); c++ {
		if strings.ReplaceAll(c.String(), " ", "-") == s {
			return c, nil
		}
	}
	return 0, fmt.Errorf("unknown code %q", s)
}

func parseReportKind(s string) (frame.ReportKind, error) {
	for k := frame.ReportDone; k.Valid(); k++ {
		if k.String() == s {
			return k, nil
		}
	}
	return 0, fmt.Errorf("unknown report kind %q", s)
}

func parseKind(s string) (frame.Kind, error) {
	for k := frame.KindStep; k.Valid(); k++ {
		if k.String() == s {
			return k, nil
		}
	}
	return 0, fmt.Errorf("unknown frame kind %q", s)
}
