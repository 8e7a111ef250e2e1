package route

import (
	"bytes"
	"encoding/json"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wsk-route/wsk-route/action-proxy/route/flow"
	"github.com/wsk-route/wsk-route/internal/agentproto"
	"github.com/wsk-route/wsk-route/internal/frame"
	"github.com/wsk-route/wsk-route/internal/jsonscan"
	"github.com/wsk-route/wsk-route/internal/runevent"
	"github.com/wsk-route/wsk-route/internal/whisk"
)

// RecordQueue is how many activation records of direct steps wait to be
// sent to the agent at most; a record that finds the queue full is
// dropped and counted. A step never waits for its record.
const RecordQueue = 256

// records sends the activation records of the direct steps this proxy
// runs to the agent, which writes them where OpenWhisk keeps activation
// records (so `wsk activation list` shows each step, caused by its run's
// entry). A goroutine of the plane sends them while any are queued, and
// exits when the queue is empty.
type records struct {
	init    sync.Once
	queue   chan *agentproto.Message
	sending atomic.Bool   // a sender goroutine is running
	dropped atomic.Uint64 // queue full, or no agent session when sent
}

// recordStep queues the record of the step f ran here, from start to end,
// with its result, logs and error, as Reservation.Run gave them. It runs
// after the step's result has gone on.
func (p *Plane) recordStep(f *frame.Frame, start, end time.Time, result []byte, logs []byte, err error) {
	r := &p.records
	r.init.Do(func() { r.queue = make(chan *agentproto.Message, RecordQueue) })
	q := &queuedRecord{}
	stepRecord(&q.a, f, activationID(f), start, end, result, logs, err)
	q.m = agentproto.Message{Type: agentproto.TypeActivation, Activation: &q.a}
	m := &q.m
	select {
	case r.queue <- m:
	default:
		r.dropped.Add(1)
		return
	}
	if r.sending.CompareAndSwap(false, true) {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.sendRecords()
		}()
	}
}

// queuedRecord is a record's message and body in one allocation.
type queuedRecord struct {
	m agentproto.Message
	a agentproto.Activation
}

// sendRecords sends the queued records, and returns once the queue is
// empty (a record queued meanwhile starts another sender).
func (p *Plane) sendRecords() {
	r := &p.records
	for {
		select {
		case m := <-r.queue:
			if p.sendToAgent(m) != nil {
				r.dropped.Add(1)
			}
		default:
			r.sending.Store(false)
			// A record queued after the receive above and before the
			// Store found a sender running and started none.
			if len(r.queue) == 0 || !r.sending.CompareAndSwap(false, true) {
				return
			}
		}
	}
}

// stepRecord sets a to the activation record of one direct step: the status as
// the invoker would classify the step's answer (a failure to run is a
// developer error, a result with an "error" field an application error),
// the result unless it is over agentproto.MaxRecordResult (then only its
// size is kept), and the logs as OpenWhisk's lines, stamped with the end
// of the step (the proxy captures a direct run's stdout and stderr in one
// buffer, without times), cut at agentproto.MaxRecordLogs.
func stepRecord(a *agentproto.Activation, f *frame.Frame, activationID string, start, end time.Time, result []byte, logs []byte, err error) {
	*a = agentproto.Activation{
		ActivationID: activationID,
		Start:        start.UnixMilli(),
		End:          max(end.UnixMilli(), start.UnixMilli()),
		Workflow:     f.Workflow,
		Step:         f.Step,
		Branch:       f.Branch,
	}
	if agentprotoID(f.RunID) {
		a.Cause = f.RunID
	}
	switch {
	case err != nil:
		a.StatusCode = 2 // developer error
		a.Result = errorObject(err.Error())
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
		a.Logs = logLines(logs, end.UTC().Format(time.RFC3339Nano), agentproto.MaxRecordLogs)
	}
}

// logLines turns captured output into OpenWhisk's log lines
// ("<time> stdout: <line>"), keeping at most limit bytes of them and
// saying so in a last line when it cut, as the invoker does.
func logLines(logs []byte, stamp string, limit int) []string {
	var lines []string
	n := 0
	for len(logs) > 0 {
		line := logs
		if i := bytes.IndexByte(logs, '\n'); i >= 0 {
			line, logs = logs[:i], logs[i+1:]
		} else {
			logs = nil
		}
		l := stamp + " stdout: " + string(line)
		if n+len(l) > limit {
			lines = append(lines, stamp+" stderr: "+whisk.LogsTruncatedMessage(limit))
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

// activationID is the id of the activation a step frame runs as: the
// same for every attempt and every copy of the frame, so that the action
// (__OW_ACTIVATION_ID) and the record agree.
func activationID(f *frame.Frame) string {
	var outer string
	if len(f.Outer) > 0 {
		outer = flow.SlotsKey(f.Outer)
	}
	return runevent.StepActivationID(f.RunID, f.Step, f.Branch, outer)
}

// agentprotoID reports whether s is an activation id (32 lower-case hex
// digits), as a run id made from its entry's activation id is.
func agentprotoID(s string) bool {
	if len(s) != 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
