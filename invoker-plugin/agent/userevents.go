package agent

import (
	"strings"
	"time"

	"github.com/wsk-route/wsk-route/internal/routetable"
	"github.com/wsk-route/wsk-route/internal/runevent"
	"github.com/wsk-route/wsk-route/internal/userevents"
	"github.com/wsk-route/wsk-route/invoker-plugin/metrics"
)

// StepKind is the kind of the user events of direct steps: the proxies do
// not report their action's runtime kind (docs/observability.md says what
// they would need to send).
const StepKind = "unknown"

// instanceLocked returns the instance named id: one registered through
// this agent, else the table's. a.mu must be held.
func (a *Agent) instanceLocked(id string) (routetable.Instance, bool) {
	if li := a.local[id]; li != nil {
		return li.inst, true
	}
	inst, ok := a.table[id]
	return inst, ok
}

// observeRunEvent feeds one run event of the entry instance entry to the
// run metrics and, for a step, publishes the step's user event.
// stepAction is the step's action as the agent knows it ("": unknown). It
// never blocks: it runs on the entry's session reader.
func (a *Agent) observeRunEvent(entry routetable.Instance, stepAction string, ev *runevent.Event) {
	switch ev.Kind {
	case runevent.KindStep:
		a.metrics.StepRan(entry.Action, stepAction, ev.Duration())
		if a.userEvents == nil || ev.Fallback {
			// A step that went through the OpenWhisk API has the user
			// event its invoker published.
			return
		}
		if stepAction == "" {
			a.unresolvedEvents.Add(1)
			return
		}
		a.userEvents.Publish(stepEvent(a.cfg.UserEventsSource, entry.Namespace, stepAction, ev, time.Now))
	case runevent.KindEnd:
		a.metrics.RunEnded(entry.Action, ev.Error != "", ev.Duration())
	}
}

// stepEvent returns the OpenWhisk Activation event of one step reported
// to an entry of namespace: the step's action (fully qualified), its
// activation id (that of its record, stepActivationID), the step's
// duration, and "sequence" as its cause, as OpenWhisk reports the
// components of sequences and compositions. What the proxies do not
// report is left at OpenWhisk's "none" values: a success status, no wait
// or init time (a direct step runs in a warm container), no memory limit,
// StepKind, the namespace as subject and no user id. now is read only if
// the event has no time.
func stepEvent(source, namespace, stepAction string, ev *runevent.Event, now func() time.Time) *userevents.EventMessage {
	ts := ev.TimeMS
	if ts <= 0 {
		ts = now().UnixMilli()
	}
	return &userevents.EventMessage{
		Source:    source,
		Subject:   namespace,
		Namespace: namespace,
		EventType: userevents.TypeActivation,
		Timestamp: ts,
		Activation: &userevents.Activation{
			Name:         strings.TrimPrefix(stepAction, "/"),
			ActivationID: stepActivationID(ev),
			StatusCode:   userevents.StatusSuccess,
			Duration:     userevents.Millis(ev.Duration().Milliseconds()),
			Kind:         StepKind,
			CausedBy:     userevents.CausedBySequence,
		},
	}
}

// stepActivationID is the activation id of ev's step: the one its entry
// reported, or, from an entry that reports none, the id of a step
// outside map elements.
func stepActivationID(ev *runevent.Event) string {
	if ev.Activation != "" {
		return ev.Activation
	}
	return runevent.StepActivationID(ev.Run, ev.Step, ev.Branch, "")
}

// userEventCounts returns the user-event counters for the metrics.
func (a *Agent) userEventCounts() metrics.UserEventCounts {
	c := a.userEvents.Counts()
	return metrics.UserEventCounts{Published: c.Published, Failed: c.Failed, DroppedFull: c.DroppedFull,
		DroppedInvalid: c.DroppedInvalid, DroppedStopped: c.DroppedStopped, DroppedUnresolved: a.unresolvedEvents.Load(),
		ConnectFailures: c.ConnectFailures}
}
