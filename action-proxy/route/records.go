package route

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"time"

	"github.com/wsk-route/wsk-route/action-proxy/route/flow"
	"github.com/wsk-route/wsk-route/internal/agentproto"
	"github.com/wsk-route/wsk-route/internal/frame"
	"github.com/wsk-route/wsk-route/internal/jsonscan"
	"github.com/wsk-route/wsk-route/internal/runevent"
	"github.com/wsk-route/wsk-route/internal/whisk"
)

// recordStep queues the record of the step f ran here as activationID, from start to end,
// in tries runs of the action, with its result, logs and error, as
// Reservation.Run gave them, for the
// agent, which writes it where OpenWhisk keeps activation records (so
// `wsk activation list` shows each step, caused by its run's entry). It
// runs after the step's result has gone on, and never waits; it does
// nothing when the agent takes no telemetry.
func (p *Plane) recordStep(f *frame.Frame, activationID string, start, end time.Time, tries int, result []byte, logs []byte, err error) {
	if !p.telemetry.wanted() {
		return
	}
	q := &queuedRecord{}
	stepRecord(&q.a, f, activationID, start, end, result, logs, err)
	if tries > 1 {
		q.a.Attempts = tries
	}
	q.m = agentproto.Message{Type: agentproto.TypeActivation, Activation: &q.a}
	p.telemetry.add(&q.m)
}

// queuedRecord is a record's message and body in one allocation.
type queuedRecord struct {
	m agentproto.Message
	a agentproto.Activation
}

// stepRecord sets a to the activation record of one direct step: the status as
// the invoker would classify the step's answer (a failure to run is a
// developer error, a result with an "error" field an application error),
// the result unless it is over agentproto.MaxRecordResult (then only its
// size is kept), and the logs as OpenWhisk's lines, each with its time
// and stream as the executor captured it, cut at agentproto.MaxRecordLogs.
func stepRecord(a *agentproto.Activation, f *frame.Frame, activationID string, start, end time.Time, result []byte, logs []byte, err error) {
	*a = agentproto.Activation{
		ActivationID: activationID,
		Start:        start.UnixMilli(),
		End:          max(end.UnixMilli(), start.UnixMilli()),
		Workflow:     f.Workflow,
		Step:         f.Step,
		Branch:       f.Branch,
	}
	if entry := runevent.EntryRun(f.RunID); runevent.IsActivationID(entry) {
		a.Cause = entry // the entry's activation, also for a conducted action's run
	}
	switch {
	case err != nil:
		a.StatusCode = 2 // developer error
		a.Result = errorObject(err.Error())
		a.Timeout = errors.Is(err, context.DeadlineExceeded)
	case len(result) > agentproto.MaxRecordResult:
		a.Result = []byte(`{"wsk-route":"the result of ` + strconv.Itoa(len(result)) + ` bytes is over the ` + strconv.Itoa(agentproto.MaxRecordResult) + ` a record keeps"}`)
	default:
		a.Result = result
		if _, ok := jsonscan.TopLevel(result, "error"); ok {
			a.StatusCode = 1 // application error
		}
	}
	if len(a.Result) == 0 || (a.Result[0] != '{' && a.Result[0] != '[') {
		a.Result = nil
	}
	if len(logs) > 0 {
		a.Logs = logLines(logs, end, agentproto.MaxRecordLogs)
	}
}

// logLines splits a run's logs into OpenWhisk's log lines, keeping at
// most limit bytes of them and saying so in a last line when it cut, as
// the invoker does. The executor captures them as such lines already
// (logmux.Buffer); a line that is not one is taken for stdout, stamped
// stamp.
func logLines(logs []byte, stamp time.Time, limit int) []string {
	var lines []string
	n := 0
	for len(logs) > 0 {
		line := logs
		if i := bytes.IndexByte(logs, '\n'); i >= 0 {
			line, logs = logs[:i], logs[i+1:]
		} else {
			logs = nil
		}
		l := string(line)
		if _, _, _, ok := whisk.ParseLogLine(l); !ok {
			l = whisk.LogLine(stamp, "stdout", l)
		}
		if n+len(l) > limit {
			lines = append(lines, whisk.LogLine(stamp, "stderr", whisk.LogsTruncatedMessage(limit)))
			break
		}
		n += len(l)
		lines = append(lines, l)
	}
	return lines
}

// errorObject is {"error": msg}.
func errorObject(msg string) []byte {
	b, _ := json.Marshal(map[string]string{"error": msg}) // a string: cannot fail
	return b
}

// stepActivationID is the id of the activation a step frame runs as: the
// same for every attempt and every copy of the frame, so that the action
// (__OW_ACTIVATION_ID) and the record agree.
func stepActivationID(f *frame.Frame) string {
	var outer string
	if len(f.Outer) > 0 {
		outer = flow.SlotsKey(f.Outer)
	}
	return runevent.StepActivationID(f.RunID, f.Step, f.Branch, outer)
}
