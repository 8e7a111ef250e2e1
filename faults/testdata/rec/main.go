// Command rec is the recording action of the fault suite: an ActionLoop
// program that appends one line to a file when it starts an activation and
// one when it ends it, so that the suite counts exactly how many times each
// step of each run was executed, even when the process is killed in the
// middle (a begin line without its end line).
//
// The step is the last part of the action's name (__OW_ACTION_NAME), so
// that every step of a workflow is one more action of the same binary, in
// the route-plane harness as in the sandbox. The value says the rest:
//
//	tag    the run's tag, unique per run of the suite
//	rec    the file the lines are appended to
//	i      the element's index, in a map's elements (absent: -1)
//	sleep  {step: milliseconds, "*": milliseconds}: how long the step takes
//
// A merge of a join has no "tag" of its own: tag and rec are then taken
// from the first member object that has them. The result is the value
// with the step appended to its "path" array.
//
// A line is
//
//	B|E tag step i pid activation-id unix-nanoseconds
//
// written with one write(2) on a file opened with O_APPEND, so that lines of
// concurrent processes never interleave.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/wsk-route/wsk-route/action-proxy/actionloop"
)

func main() {
	actionloop.Run(func(ctx context.Context, value json.RawMessage) (any, error) {
		var v map[string]any
		if err := json.Unmarshal(value, &v); err != nil {
			return nil, fmt.Errorf("rec: the value is not an object: %v", err)
		}
		return run(ctx, v)
	})
}

func run(ctx context.Context, v map[string]any) (map[string]any, error) {
	step := os.Getenv("__OW_ACTION_NAME")
	if i := strings.LastIndexByte(step, '/'); i >= 0 {
		step = step[i+1:]
	}
	tag, rec := lookup(v, "tag"), lookup(v, "rec")
	if tag == "" || rec == "" {
		return nil, fmt.Errorf("rec: step %s: no tag or rec in the value", step)
	}
	idx := -1
	if f, ok := v["i"].(float64); ok {
		idx = int(f)
	}
	act := os.Getenv("__OW_ACTIVATION_ID")
	if act == "" {
		act = "-"
	}
	line := func(kind string) error {
		f, err := os.OpenFile(rec, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(f, "%s %s %s %d %d %s %d\n", kind, tag, step, idx, os.Getpid(), act, time.Now().UnixNano())
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		return err
	}
	if err := line("B"); err != nil {
		return nil, fmt.Errorf("rec: step %s: %v", step, err)
	}
	if d := sleepFor(v, step); d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("rec: step %s: %v", step, ctx.Err())
		}
	}
	out := make(map[string]any, len(v)+1)
	for k, x := range v {
		out[k] = x
	}
	path, _ := v["path"].([]any)
	out["path"] = append(append([]any(nil), path...), step)
	if err := line("E"); err != nil {
		return nil, fmt.Errorf("rec: step %s: %v", step, err)
	}
	return out, nil
}

// lookup returns the string field key of v, or of the first member object
// (in key order) that has it.
func lookup(v map[string]any, key string) string {
	if s, ok := v[key].(string); ok {
		return s
	}
	keys := make([]string, 0, len(v))
	for k := range v {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if m, ok := v[k].(map[string]any); ok {
			if s, ok := m[key].(string); ok {
				return s
			}
		}
	}
	return ""
}

// sleepFor reads the step's time from the value's "sleep" object.
func sleepFor(v map[string]any, step string) time.Duration {
	s, ok := v["sleep"].(map[string]any)
	if !ok {
		for _, x := range v { // a join's merge: the members carry it
			if m, ok := x.(map[string]any); ok {
				if s, ok = m["sleep"].(map[string]any); ok {
					break
				}
			}
		}
	}
	ms, ok := s[step].(float64)
	if !ok {
		ms, _ = s["*"].(float64)
	}
	return time.Duration(ms * float64(time.Millisecond))
}
