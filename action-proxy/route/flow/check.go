package flow

import (
	"fmt"
	"time"

	"github.com/wsk-route/wsk-route/internal/frame"
	"github.com/wsk-route/wsk-route/internal/spec"
)

// Admit checks a received frame against the instance it reached: the
// instance's namespace and key, and (for a step) the run's deadline at
// now (unix ns). Replies are taken after the deadline too: the run they
// belong to is either still waiting or gone (Run.Frame says so).
func Admit(f *frame.Frame, namespace string, key []byte, now int64) (frame.Code, string) {
	switch {
	case f.Namespace != namespace:
		return frame.CodeWrongNamespace, fmt.Sprintf("frame of namespace %q sent to an instance of namespace %q", f.Namespace, namespace)
	case !f.Verify(key):
		return frame.CodeBadTag, "authentication tag does not match the namespace key"
	case f.Kind == frame.KindStep && f.Deadline != 0 && now > f.Deadline:
		return frame.CodeExpired, "deadline passed " + time.Duration(now-f.Deadline).String() + " ago"
	}
	return frame.CodeOK, ""
}

// CheckStep checks that step frame f is for this instance (self, running
// action), under sp (nil: the workflow is not known here).
func CheckStep(sp *spec.Spec, f *frame.Frame, self, action string) (frame.Code, string) {
	switch {
	case f.Target != "" && f.Target != self:
		return frame.CodeUnknownStep, "frame for instance " + f.Target + " reached " + self
	case sp == nil:
		return frame.CodeUnknownStep, "unknown workflow " + f.Workflow
	}
	st, ok := sp.Steps[f.Step]
	switch {
	case !ok:
		return frame.CodeUnknownStep, fmt.Sprintf("workflow %s (version %d) has no step %q", f.Workflow, sp.Version, f.Step)
	case sp.Kind(f.Step) != spec.KindAction:
		return frame.CodeUnknownStep, fmt.Sprintf("step %q is a %s, which runs on no instance", f.Step, sp.Kind(f.Step))
	case st.Action != action:
		return frame.CodeUnknownStep, fmt.Sprintf("step %q runs %s, this instance runs %s", f.Step, st.Action, action)
	}
	return frame.CodeOK, ""
}

// Retry decides whether a step's action runs again after attempt n (1 for
// the first) failed, and after how long: never without a retry, past its
// attempts, or for an attempt that did not fail.
func Retry(r *spec.Retry, n int, failed bool) (wait time.Duration, again bool) {
	if !failed || r == nil || n >= r.Attempts {
		return 0, false
	}
	return r.Backoff(n + 1), true
}
