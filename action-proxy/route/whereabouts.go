package route

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/wsk-route/wsk-route/internal/frame"
)

// The entry knows where each step of its runs is, from the moment it was
// handed on until it reported, and fails the run as soon as one of those
// places is lost, instead of waiting for the run's deadline:
//
//   - The proxy that handed a step to an instance says so to the entry
//     once the instance acknowledged it, without waiting (a log frame whose
//     stepLog has Started set): the sender, which outlives the hop, so that
//     a receiver killed right after its ack is still known. When that
//     instance leaves the route table before the step reported (its
//     container was killed, or paused and dropped by its agent, or its
//     host cut off), the run fails, naming the step and the instance. A
//     step reports once it has handed its result on (send.go), so this
//     also covers an instance lost between finishing the step and handing
//     its result on. The step is not run again
//     elsewhere: it may have had effects already.
//   - A step sent through the fallback: the sender tells the entry the
//     activation id (stepLog.Fallback) right after the API accepted the
//     invoke; the step's proxy says Started when it takes the step from
//     the envelope. An activation whose record appears, failed, while its
//     step has not started ended before any proxy took the step (a
//     container that could not start, an /init that failed, a proxy that
//     refused the envelope): the run fails with that activation's error.

const (
	// fallbackPollFirst and fallbackPollMax bound the interval between two
	// looks at a run's pending fallback activations (it doubles).
	fallbackPollFirst = 250 * time.Millisecond
	fallbackPollMax   = 2 * time.Second
	// fallbackGetTimeout bounds one GET of an activation record.
	fallbackGetTimeout = 5 * time.Second
)

// execKey names one step execution of a run: its step, its branch and
// the slots of the regions (and loop iterations) around it.
type execKey struct {
	step   string
	branch uint32
	outer  string // the slots of the regions around it
}

func execKeyOf(f *frame.Frame) execKey {
	var b strings.Builder
	for _, o := range f.Outer {
		b.WriteString(strconv.FormatUint(uint64(o.Slot), 10))
		b.WriteByte('/')
	}
	return execKey{step: f.Step, branch: f.Branch, outer: b.String()}
}

// whereabouts holds where a run's steps are between being handed on and
// reporting; guarded by the plane's mu.
type whereabouts struct {
	running  map[execKey]string // instance id, by step execution that started and has not reported
	pending  map[execKey]string // activation id, by step execution sent through the fallback, not started
	reported map[execKey]bool   // step executions that reported (a late Started is ignored)
	watching bool               // a pollFallbacks goroutine runs
}

// started records that the step of f runs on instance.
func (s *whereabouts) started(f *frame.Frame, instance string) {
	k := execKeyOf(f)
	delete(s.pending, k)
	if s.reported[k] {
		return
	}
	if s.running == nil {
		s.running = map[execKey]string{}
	}
	s.running[k] = instance
}

// reported records that the step of f reported.
func (s *whereabouts) reportedStep(f *frame.Frame) {
	k := execKeyOf(f)
	delete(s.pending, k)
	delete(s.running, k)
	if s.reported == nil {
		s.reported = map[execKey]bool{}
	}
	s.reported[k] = true
}

// lostInstancesLocked fails every run started here that has a step
// running on an instance the route table no longer has (p.mu is held).
func (p *Plane) lostInstancesLocked() {
	if p.table == nil {
		return
	}
	for _, rs := range p.runs {
		for k, inst := range rs.where.running {
			if _, ok := p.table.Get(inst); ok {
				continue
			}
			select {
			case <-rs.done:
			default:
				rs.failure = &RunError{RunID: rs.js.r.runID, Step: k.step, Code: frame.CodeUnavailable,
					Reason: fmt.Sprintf("instance %s was lost while it ran the step or handed its result on (its container was killed, paused and dropped by its agent, or cut off); the step is not run again, it may have had effects", inst)}
				close(rs.done)
			}
			break
		}
	}
}

// watchFallback records that the step of f went to activation, and starts
// watching the run's activations if nobody does (p.mu is held).
func (p *Plane) watchFallback(rs *runState, f *frame.Frame, activation string) {
	k := execKeyOf(f)
	if p.cfg.APIHost == "" || rs.ctx == nil || rs.where.reported[k] || rs.where.running[k] != "" {
		return
	}
	if rs.where.pending == nil {
		rs.where.pending = map[execKey]string{}
	}
	rs.where.pending[k] = activation
	if rs.where.watching {
		return
	}
	rs.where.watching = true
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		p.pollFallbacks(rs)
	}()
}

// pollFallbacks looks at the run's pending fallback activations until none
// is left, the run ends, or one of them failed before its step reported,
// which fails the run.
func (p *Plane) pollFallbacks(rs *runState) {
	wait := fallbackPollFirst
	t := time.NewTimer(wait)
	defer t.Stop()
	for {
		select {
		case <-rs.done:
			return
		case <-rs.ctx.Done():
			return
		case <-t.C:
		}
		p.mu.Lock()
		pending := make(map[execKey]string, len(rs.where.pending))
		for k, id := range rs.where.pending {
			pending[k] = id
		}
		p.mu.Unlock()
		for k, id := range pending {
			rec, err := p.activationRecord(rs.ctx, id)
			if err != nil {
				p.cfg.Logger.Debug("route: fallback activation not readable (yet)", "activation", id, "err", err)
				continue
			}
			if rec == nil {
				continue // still running
			}
			p.mu.Lock()
			still := rs.where.pending[k] == id
			delete(rs.where.pending, k)
			failed := still && !rec.Response.Success
			if failed {
				select {
				case <-rs.done:
				default:
					rs.failure = &RunError{RunID: rs.js.r.runID, Step: k.step, Code: frame.CodeUnavailable,
						Reason: fmt.Sprintf("its fallback activation %s ended (%s) before its proxy took the step: %s", id, rec.Response.Status, rec.errorText())}
					close(rs.done)
				}
			}
			p.mu.Unlock()
			if failed {
				return
			}
		}
		p.mu.Lock()
		if len(rs.where.pending) == 0 {
			rs.where.watching = false
			p.mu.Unlock()
			return
		}
		p.mu.Unlock()
		wait = min(2*wait, fallbackPollMax)
		t.Reset(wait)
	}
}

// activationRecord is what the OpenWhisk API shows of an activation.
type activationRecord struct {
	Response struct {
		Status  string          `json:"status"`
		Success bool            `json:"success"`
		Result  json.RawMessage `json:"result"`
	} `json:"response"`
}

// errorText is the activation's error, as its result says it.
func (a *activationRecord) errorText() string {
	var r struct {
		Error json.RawMessage `json:"error"`
	}
	if json.Unmarshal(a.Response.Result, &r) == nil && len(r.Error) > 0 {
		var s string
		if json.Unmarshal(r.Error, &s) == nil {
			return s
		}
		return string(r.Error)
	}
	return string(a.Response.Result)
}

// activationRecord reads activation id through the OpenWhisk API, with
// the proxy's key; nil, nil while the activation has no record (running).
func (p *Plane) activationRecord(ctx context.Context, id string) (*activationRecord, error) {
	ident, _, _ := p.snapshot()
	base := p.cfg.APIHost
	if !strings.Contains(base, "://") {
		base = "https://" + base
	}
	ctx, cancel := context.WithTimeout(ctx, fallbackGetTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/v1/namespaces/_/activations/"+url.PathEscape(id), nil)
	if err != nil {
		return nil, err
	}
	user, pass, _ := strings.Cut(ident.APIKey, ":")
	req.SetBasicAuth(user, pass)
	resp, err := p.cfg.HTTPClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotFound:
		return nil, nil
	default:
		return nil, fmt.Errorf("GET activation %s: %s", id, resp.Status)
	}
	rec := new(activationRecord)
	if err := json.Unmarshal(body, rec); err != nil {
		return nil, fmt.Errorf("activation %s: %w", id, err)
	}
	return rec, nil
}
