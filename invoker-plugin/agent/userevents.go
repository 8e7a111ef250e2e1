package agent

import (
	"strings"

	"github.com/wsk-route/wsk-route/internal/routetable"
	"github.com/wsk-route/wsk-route/internal/runevent"
	"github.com/wsk-route/wsk-route/internal/userevents"
	"github.com/wsk-route/wsk-route/internal/whisk"
	"github.com/wsk-route/wsk-route/invoker-plugin/metrics"
)

// UnknownKind is the kind of the user events of direct steps whose
// action's kind the agent could not look up (its activation store is no
// ActionCatalog, or the lookup failed); their memory is 0.
const UnknownKind = "unknown"

// observeRunEvent feeds the end event of a run whose entry is the
// instance entry to the run metrics and, with traces on, exports the
// run's root span. Steps are observed from their activation records
// (registrar.Activation). It never blocks: it runs on the entry's session
// reader.
func (a *Agent) observeRunEvent(entry routetable.Instance, ev *runevent.Event) {
	if ev.Kind != runevent.KindEnd {
		return
	}
	a.metrics.RunEnded(entry.Action, ev.Error != "", ev.Duration())
	if a.traces != nil {
		if s, ok := entrySpan(entry, ev); ok {
			a.traces.Export(s)
		}
	}
}

// workflowAction is the entry action of workflow in namespace, which
// wsk-route compose names after the workflow.
func workflowAction(namespace, workflow string) string {
	return "/" + namespace + "/" + workflow
}

// stepEvent returns the OpenWhisk Activation event of the direct step
// recorded in rec, which the action (fully qualified) ran: its activation
// id, status and duration as its record has them, "sequence" as its
// cause, as OpenWhisk reports the components of sequences and
// compositions, and the action's kind and memory limit from info
// (UnknownKind and 0 when it is not known). What a record lacks is left
// at OpenWhisk's "none" values: no wait or init time (a direct step runs
// in a warm container), the namespace as subject and no user id.
func stepEvent(source, action string, rec *whisk.Activation, info actionInfo) *userevents.EventMessage {
	e := &userevents.EventMessage{
		Source:    source,
		Subject:   rec.Subject,
		Namespace: rec.Namespace,
		EventType: userevents.TypeActivation,
		Timestamp: rec.End,
		Activation: &userevents.Activation{
			Name:         strings.TrimPrefix(action, "/"),
			ActivationID: rec.ActivationID,
			StatusCode:   rec.Response.StatusCode,
			Duration:     userevents.Millis(rec.Duration),
			CausedBy:     userevents.CausedBySequence,
		},
	}
	withEventAction(e, info)
	return e
}

// withEventAction sets the kind and memory of e, an Activation event, from
// what is known of its action.
func withEventAction(e *userevents.EventMessage, info actionInfo) {
	if !info.known {
		e.Activation.Kind, e.Activation.Memory = UnknownKind, 0
		return
	}
	e.Activation.Kind, e.Activation.Memory = info.kind, info.limits.Memory
}

// userEventCounts returns the user-event counters for the metrics.
func (a *Agent) userEventCounts() metrics.UserEventCounts {
	c := a.userEvents.Counts()
	return metrics.UserEventCounts{Published: c.Published, Failed: c.Failed, DroppedFull: c.DroppedFull,
		DroppedInvalid: c.DroppedInvalid, DroppedStopped: c.DroppedStopped,
		ConnectFailures: c.ConnectFailures}
}
