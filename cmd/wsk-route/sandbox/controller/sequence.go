package controller

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/wsk-route/wsk-route/internal/whisk"
)

// component is one resolved step of a sequence: an atomic action, or an
// inner sequence with its own components.
type component struct {
	action whisk.Action
	rev    string
	inner  []component
}

// resolve fetches the components of seq, recursively, and counts the
// atomic actions against the limit, before anything runs (as OpenWhisk's
// SequenceActions resolves the components up front).
func (c *Controller) resolve(seq whisk.Action, count *int, depth int) ([]component, error) {
	if depth > c.cfg.MaxSequenceLength {
		return nil, fmt.Errorf("%w (%s nests sequences too deep)", ErrSequenceTooLong, seq.FQN())
	}
	out := make([]component, 0, len(seq.Exec.Components))
	for _, fqn := range seq.Exec.Components {
		ns, pkg, name, err := whisk.ParseName(fqn)
		if err != nil || ns == "" {
			return nil, fmt.Errorf("%w: %q in %s is not a fully qualified name", ErrComponentMissing, fqn, seq.FQN())
		}
		path := ns
		if pkg != "" {
			path += "/" + pkg
		}
		a, rev, err := c.cfg.Actions.GetAction(path, name)
		if err != nil {
			return nil, fmt.Errorf("%w: %s (in %s): %v", ErrComponentMissing, fqn, seq.FQN(), err)
		}
		comp := component{action: a, rev: rev}
		if a.Exec.IsSequence() {
			if comp.inner, err = c.resolve(a, count, depth+1); err != nil {
				return nil, err
			}
		} else {
			*count++
			if *count > c.cfg.MaxSequenceLength {
				return nil, fmt.Errorf("%w (%s has more than %d actions)", ErrSequenceTooLong, seq.FQN(), c.cfg.MaxSequenceLength)
			}
		}
		out = append(out, comp)
	}
	return out, nil
}

// invokeSequence runs a sequence step by step in a goroutine owned by Run;
// a blocking caller waits for it up to BlockingWait.
func (c *Controller) invokeSequence(ctx context.Context, user whisk.Identity, seq whisk.Action, content json.RawMessage, blocking bool) (whisk.Activation, bool, error) {
	count := 0
	comps, err := c.resolve(seq, &count, 0)
	if err != nil {
		return whisk.Activation{}, false, err
	}
	c.mu.Lock()
	runCtx, stopped := c.runCtx, c.stopped
	if runCtx == nil || stopped {
		c.mu.Unlock()
		return whisk.Activation{}, false, ErrStopped
	}
	c.bg.Add(1)
	c.mu.Unlock()
	id := newID()
	done := make(chan whisk.Activation, 1)
	go func() {
		defer c.bg.Done()
		done <- c.runSequence(runCtx, user, seq, comps, content, id, "", time.Now())
	}()
	if !blocking {
		return whisk.Activation{ActivationID: id, Namespace: user.Namespace.Name, Name: seq.Name}, false, nil
	}
	t := time.NewTimer(c.cfg.BlockingWait)
	defer t.Stop()
	select {
	case act := <-done:
		return act, true, nil
	case <-t.C:
	case <-ctx.Done():
	}
	select {
	case act := <-done: // it ended as the timer fired
		return act, true, nil
	default:
	}
	return whisk.Activation{ActivationID: id, Namespace: user.Namespace.Name}, false, nil
}

// runSequence invokes the components one after the other, each a full
// round trip through Kafka and the invoker, feeding each result to the
// next; a failed component ends the sequence with its response. It stores
// and returns the sequence's record.
func (c *Controller) runSequence(ctx context.Context, user whisk.Identity, seq whisk.Action, comps []component, content json.RawMessage, id, cause string, received time.Time) whisk.Activation {
	start := time.Now()
	rec := whisk.Activation{
		Namespace: user.Namespace.Name, Name: seq.Name, Subject: user.Subject, ActivationID: id,
		Start: start.UnixMilli(), Cause: cause, Version: seq.Version, Logs: []string{},
	}
	limits := seq.Limits
	resp := whisk.Result{StatusCode: whisk.StatusSuccess, Result: content}
	var duration int64
	payload := content
	for _, comp := range comps {
		var act whisk.Activation
		if comp.inner != nil {
			act = c.runSequence(ctx, user, comp.action, comp.inner, merge(withoutKey(comp.action.Parameters, "_actions"), payload), newID(), id, time.Now())
		} else {
			act = c.runComponent(ctx, user, comp, payload, id)
		}
		rec.Logs = append(rec.Logs, act.ActivationID)
		duration += act.Duration
		if comp.action.Limits.Memory > limits.Memory {
			limits.Memory = comp.action.Limits.Memory
		}
		resp = act.Response
		if resp.StatusCode != whisk.StatusSuccess || ctx.Err() != nil {
			break
		}
		payload = resp.Result
	}
	rec.End = time.Now().UnixMilli()
	rec.Response = resp
	rec.Duration = duration
	rec.Annotations = whisk.KeyValues{}.
		Set(whisk.AnnTopmost, cause == "").
		Set(whisk.AnnPath, seq.Namespace+"/"+seq.Name).
		Set(whisk.AnnWaitTime, start.Sub(received).Milliseconds()).
		Set(whisk.AnnKind, whisk.KindSequence).
		Set(whisk.AnnLimits, limits)
	if cause != "" {
		rec.Annotations = rec.Annotations.Set(whisk.AnnCausedBy, whisk.KindSequence)
	}
	if err := c.cfg.Activations.PutActivation(rec); err != nil {
		c.log.Error("storing a sequence record", "activation", id, "err", err)
	}
	return rec
}

// runComponent invokes one atomic component, blocking, and waits for it
// for its time limit plus a minute, as OpenWhisk does.
func (c *Controller) runComponent(ctx context.Context, user whisk.Identity, comp component, payload json.RawMessage, cause string) whisk.Activation {
	id := newID()
	content := merge(comp.action.Parameters, payload)
	ch, err := c.send(user, comp.action, comp.rev, content, id, cause, true)
	if err != nil {
		return failed(user, comp.action, id, cause, whisk.StatusWhiskError, err.Error())
	}
	wait := time.Duration(comp.action.Limits.WithDefaults().Timeout)*time.Millisecond + time.Minute
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case act := <-ch:
		return act
	case <-t.C:
	case <-ctx.Done():
	}
	c.forget(id)
	return failed(user, comp.action, id, cause, whisk.StatusWhiskError,
		fmt.Sprintf("The sequence component %s did not answer within %v.", comp.action.FQN(), wait))
}

// merge puts a component's parameters under the previous result. A result
// that is not an object (an array) goes on as is.
func merge(defaults whisk.KeyValues, payload json.RawMessage) json.RawMessage {
	if len(defaults) == 0 {
		return payload
	}
	m, err := mergeParams(defaults, payload)
	if err != nil {
		return payload
	}
	return m
}

func failed(user whisk.Identity, a whisk.Action, id, cause string, code int, msg string) whisk.Activation {
	now := time.Now().UnixMilli()
	return whisk.Activation{
		Namespace: user.Namespace.Name, Name: a.Name, Subject: user.Subject, ActivationID: id,
		Start: now, End: now, Cause: cause, Response: whisk.ErrorResult(code, msg), Version: a.Version,
	}
}
