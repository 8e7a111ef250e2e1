package agent

import (
	"strconv"
	"time"

	"github.com/wsk-route/wsk-route/internal/agentproto"
	"github.com/wsk-route/wsk-route/internal/otlp"
	"github.com/wsk-route/wsk-route/internal/routetable"
	"github.com/wsk-route/wsk-route/internal/runevent"
	"github.com/wsk-route/wsk-route/internal/whisk"
)

// stepSpan is the span of the direct step recorded in rec (from the
// proxy's message m), which the instance inst ran: a child of its run's
// entry span, in the run's trace (runevent's ids). ok is false for a
// step whose run id is no trace id (a run started with an id of its
// caller's choosing).
func stepSpan(inst routetable.Instance, rec *whisk.Activation, m *agentproto.Activation) (s otlp.Span, ok bool) {
	if !runevent.IsTraceID(m.Cause) {
		return otlp.Span{}, false
	}
	s = otlp.Span{
		TraceID:      m.Cause,
		SpanID:       runevent.StepSpanID(m.ActivationID),
		ParentSpanID: runevent.EntrySpanID(m.Cause),
		Name:         "step " + m.Step + " " + inst.Action,
		Kind:         otlp.KindServer,
		Start:        time.UnixMilli(rec.Start),
		End:          time.UnixMilli(rec.End),
		Attributes: []otlp.Attribute{
			{Key: "faas.invocation_id", Value: m.ActivationID},
			{Key: "faas.name", Value: inst.Action},
			{Key: "openwhisk.namespace", Value: inst.Namespace},
			{Key: "wsk_route.workflow", Value: m.Workflow},
			{Key: "wsk_route.step", Value: m.Step},
			{Key: "wsk_route.branch", Value: strconv.FormatUint(uint64(m.Branch), 10)},
			{Key: "wsk_route.instance", Value: inst.ID},
		},
		Status: otlp.StatusOK,
	}
	if rec.Response.StatusCode != whisk.StatusSuccess {
		s.Status, s.Message = otlp.StatusError, whisk.StatusText(rec.Response.StatusCode)
	}
	return s, true
}

// entrySpan is the root span of the run whose end event ev the entry
// instance entry sent: from the run's start (its end less its duration)
// to its end, named after the workflow's entry action.
func entrySpan(entry routetable.Instance, ev *runevent.Event) (s otlp.Span, ok bool) {
	if ev.Kind != runevent.KindEnd || !runevent.IsTraceID(ev.Run) || ev.TimeMS <= 0 {
		return otlp.Span{}, false
	}
	end := time.UnixMilli(ev.TimeMS)
	s = otlp.Span{
		TraceID: ev.Run,
		SpanID:  runevent.EntrySpanID(ev.Run),
		Name:    "workflow " + entry.Action,
		Kind:    otlp.KindServer,
		Start:   end.Add(-ev.Duration()),
		End:     end,
		Attributes: []otlp.Attribute{
			{Key: "faas.invocation_id", Value: ev.Run},
			{Key: "faas.name", Value: entry.Action},
			{Key: "openwhisk.namespace", Value: entry.Namespace},
			{Key: "wsk_route.instance", Value: entry.ID},
		},
		Status: otlp.StatusOK,
	}
	if ev.Error != "" {
		s.Status, s.Message = otlp.StatusError, ev.Error
	}
	return s, true
}
