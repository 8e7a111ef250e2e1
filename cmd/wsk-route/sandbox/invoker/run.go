package invoker

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/wsk-route/wsk-route/internal/whisk"
)

// Messages of whisk errors the invoker gives itself.
const (
	msgActionMissing = "The requested resource does not exist."
	msgSequence      = "A sequence reached the invoker: sequences run in the controller."
)

// job is one activation in progress.
type job struct {
	msg      *whisk.ActivationMessage
	received time.Time
	action   whisk.Action
	limits   whisk.Limits
	// initPhase is the cold start's phase during /init (initPhase).
	initPhase string
}

// handle runs one activation message to its ack.
func (i *Invoker) handle(ctx context.Context, msg *whisk.ActivationMessage, received time.Time) {
	log := i.log.With("activation", msg.ActivationID, "action", msg.Action.FQN())
	action, rev, err := i.cfg.Actions.GetAction(msg.Action.Path, msg.Action.Name)
	if err != nil {
		log.Warn("fetching the action", "err", err)
		i.whiskError(ctx, &job{msg: msg, received: received, action: whisk.Action{Namespace: msg.Action.Path, Name: msg.Action.Name, Version: msg.Action.Version}}, msgActionMissing)
		return
	}
	j := &job{msg: msg, received: received, action: action, limits: action.Limits.WithDefaults()}
	// A log limit of 0 MB (--logsize 0) keeps no logs. Limits that are
	// set (the API always stores all four) say so with Logs 0 beside a
	// timeout and a memory; an action with no limits at all takes the
	// defaults.
	if action.Limits.Timeout != 0 && action.Limits.Memory != 0 {
		j.limits.Logs = action.Limits.Logs
	}
	if action.Exec.IsSequence() {
		i.whiskError(ctx, j, msgSequence)
		return
	}
	if msg := i.imageProblem(ctx, action.Exec); msg != "" {
		i.developerError(ctx, j, msg)
		return
	}
	env, err := i.cfg.Runtimes.Env(action.Exec)
	if err != nil {
		i.whiskError(ctx, j, fmt.Sprintf("The action's kind %q cannot run in this sandbox: %v", action.Exec.Kind, err))
		return
	}
	env = append(env[:len(env):len(env)], skeletonEnv(action.Exec)...)
	j.initPhase = initPhase(env)
	fqn := "/" + action.Namespace + "/" + action.Name
	// A cold start is visible (ColdStarts) from the grant of memory for
	// a new container to the end of its /init.
	defer i.cold.end(msg.ActivationID)
	// OpenWhisk's controller gives up on a slot after 2 × the time limit
	// + 1 minute; waiting longer for a container is pointless.
	waitCtx, cancel := context.WithTimeout(ctx, 2*time.Duration(j.limits.Timeout)*time.Millisecond+time.Minute)
	defer cancel()
	var c *container
	cold := false
	for c == nil {
		g, err := i.pool.acquire(waitCtx, fqn, rev, j.limits.Memory, j.limits.Concurrency)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			i.whiskError(ctx, j, "No container could be started for the action: "+err.Error())
			return
		}
		for _, e := range g.evicted {
			log.Info("evicting an idle container", "container", e.name, "of", e.fqn)
			i.evict(e)
		}
		if g.fresh {
			i.cold.begin(ColdStart{ActivationID: msg.ActivationID, Namespace: msg.User.Namespace.Name,
				Action: fqn, Kind: action.Exec.Kind, Start: time.Now()})
			if err := i.start(ctx, g.c, action, env); err != nil {
				i.pool.abandon(g.c)
				if ctx.Err() != nil {
					return
				}
				log.Warn("starting a container", "err", err)
				i.whiskError(ctx, j, "Failed to start a container for the action: "+err.Error())
				return
			}
			i.pool.add(g.c)
			c, cold = g.c, true
			break
		}
		// A slot in a container of the action (concurrency > 1 when it
		// is busy or starting): wait until it is started and initialized,
		// as OpenWhisk's ContainerProxy buffers the activations it gets
		// meanwhile.
		select {
		case <-g.c.ready:
		case <-waitCtx.Done():
			i.release(g.c, true)
			if ctx.Err() != nil {
				return
			}
			i.whiskError(ctx, j, "No container could be started for the action: the container's start did not end: "+waitCtx.Err().Error())
			return
		}
		if f := g.c.failure; f != nil {
			// Its start or its /init failed: the activations that waited
			// for it end as the first one did (OpenWhisk's abortBuffered).
			i.release(g.c, false)
			i.abort(ctx, j, *f)
			return
		}
		if err := i.resume(ctx, g.c); err != nil {
			log.Warn("resuming a container, replacing it", "container", g.c.name, "err", err)
			i.release(g.c, false)
			continue
		}
		c = g.c
	}
	act := i.activate(ctx, j, c, cold)
	if ctx.Err() != nil {
		return
	}
	i.finish(j, act, false)
}

// evictGrace is how long an evicted container's proxy has, after SIGTERM,
// before it is killed: a little more than the route plane's
// DefaultDrainTimeout, which it takes at most to let the direct steps it
// took end.
const evictGrace = 12 * time.Second

// evict destroys c, taken out of the pool to make room for another
// container or for having been idle too long, without making anyone wait
// for it. Its proxy is told to stop (SIGTERM) and given evictGrace to
// exit: a direct step it took just before it was evicted, before the agent
// told the invoker (SetDirect), runs to its end instead of being lost.
// Then, or when the invoker stops, c is killed.
func (i *Invoker) evict(c *container) {
	i.cwg.Add(1)
	go func() {
		defer i.cwg.Done()
		defer c.stop()
		// A paused container runs nothing, and would not hear the signal.
		if c.paused.Load() || c.pid <= 0 || syscall.Kill(int(c.pid), syscall.SIGTERM) != nil {
			return
		}
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		grace := time.NewTimer(evictGrace)
		defer grace.Stop()
		for syscall.Kill(int(c.pid), 0) == nil {
			select {
			case <-t.C:
			case <-grace.C:
				return
			case <-i.runCtx.Done():
				return
			}
		}
	}()
}

// release ends one activation of c in the pool, and destroys c when that
// was the last one of a container that takes no more (reuse false, here
// or before).
func (i *Invoker) release(c *container, reuse bool) {
	if i.pool.release(c, reuse) {
		c.stop()
	}
}

// whiskError records and acks an activation that failed in the invoker.
func (i *Invoker) whiskError(ctx context.Context, j *job, msg string) {
	if ctx.Err() != nil {
		return
	}
	now := time.Now().UnixMilli()
	act := i.record(j, now, now)
	act.Response = whisk.ErrorResult(whisk.StatusWhiskError, msg)
	i.finish(j, act, true)
}

// developerError records and acks an activation that failed before it
// reached a container, by the action's fault (OpenWhisk's
// BlackboxStartupError: an image that cannot be had).
func (i *Invoker) developerError(ctx context.Context, j *job, msg string) {
	if ctx.Err() != nil {
		return
	}
	now := time.Now().UnixMilli()
	act := i.record(j, now, now)
	act.Response = whisk.ErrorResult(whisk.StatusDeveloperError, msg)
	i.finish(j, act, false)
}

// abort records and acks an activation that waited for a container whose
// start or /init failed, with res, the response of the activation that
// started it.
func (i *Invoker) abort(ctx context.Context, j *job, res whisk.Result) {
	if ctx.Err() != nil {
		return
	}
	now := time.Now().UnixMilli()
	act := i.record(j, now, now)
	act.Response = res
	i.finish(j, act, res.StatusCode == whisk.StatusWhiskError)
}

// finish stores the record, then acks it.
func (i *Invoker) finish(j *job, act whisk.Activation, systemError bool) {
	if err := i.cfg.Activations.PutActivation(act); err != nil {
		i.log.Error("storing the activation", "activation", act.ActivationID, "err", err)
	}
	i.sendAck(j.msg, act, systemError)
}

// record returns the activation record's common fields.
func (i *Invoker) record(j *job, start, end int64) whisk.Activation {
	m := j.msg
	a := j.action
	ann := whisk.KeyValues{}.
		Set(whisk.AnnPath, a.Namespace+"/"+a.Name).
		Set(whisk.AnnKind, a.Exec.Kind)
	if j.limits != (whisk.Limits{}) {
		ann = ann.Set(whisk.AnnLimits, j.limits)
	}
	if m.Cause != "" {
		ann = ann.Set(whisk.AnnCausedBy, "sequence")
	}
	return whisk.Activation{
		Namespace: m.User.Namespace.Name, Name: a.Name, Subject: m.User.Subject,
		ActivationID: m.ActivationID, Start: start, End: end, Cause: m.Cause,
		Logs: []string{}, Version: a.Version, Annotations: ann, Duration: end - start,
	}
}

// activate runs /init (cold: c is new, started for this activation) and
// /run in c, ends the activation's hold on c (c.ready is settled by then)
// and returns the record.
func (i *Invoker) activate(ctx context.Context, j *job, c *container, cold bool) whisk.Activation {
	a, m := j.action, j.msg
	timeout := time.Duration(j.limits.Timeout) * time.Millisecond
	provideKey := true
	if v, ok := a.Annotations.Get("provide-api-key"); ok && strings.TrimSpace(string(v)) == "false" {
		provideKey = false
	}
	start := time.Now()
	fqn := "/" + a.Namespace + "/" + a.Name
	deadline := strconv.FormatInt(start.Add(timeout).UnixMilli(), 10)
	var initTime int64 = -1
	var res whisk.Result
	timedOut := false
	devError := false

	value, initArgs := partition(m.Content, m.InitArgs, a.Parameters)
	if cold {
		env := map[string]string{
			"__OW_NAMESPACE": m.User.Namespace.Name, "__OW_ACTION_NAME": fqn,
			"__OW_ACTION_VERSION": a.Version, "__OW_ACTIVATION_ID": m.ActivationID,
			"__OW_TRANSACTION_ID": m.TransID.ID, "__OW_DEADLINE": deadline,
		}
		if provideKey {
			env["__OW_API_KEY"] = m.User.AuthKey.APIKey
		}
		for k, v := range initArgs {
			env[k] = envString(v)
		}
		main := a.Exec.Main
		if main == "" {
			main = "main"
		}
		value := map[string]any{"name": a.Name, "main": main, "binary": a.Exec.Binary != nil && *a.Exec.Binary, "env": env}
		if a.Exec.Code != nil {
			value["code"] = *a.Exec.Code
		}
		body, _ := json.Marshal(map[string]any{"value": value})
		i.cold.phase(m.ActivationID, j.initPhase, time.Now())
		status, resp, err := post(ctx, "http://"+c.addr+"/init", body, timeout, ResultLimit)
		i.cold.end(m.ActivationID)
		initTime = time.Since(start).Milliseconds()
		switch {
		case errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil:
			timedOut = true
			res = whisk.ErrorResult(whisk.StatusDeveloperError, fmt.Sprintf("The action exceeded its time limits of %d milliseconds during initialization.", j.limits.Timeout))
		case status != http.StatusOK:
			res = whisk.ClassifyInit(status, resp)
		}
		if err == nil && status == http.StatusOK {
			c.settle(nil)
		} else {
			devError = true
			c.settle(&res)
		}
	}
	runStart := time.Now()
	if !devError {
		remaining := timeout
		runBody := map[string]any{
			"value": value, "namespace": m.User.Namespace.Name, "action_name": fqn,
			"action_version": a.Version, "activation_id": m.ActivationID, "transaction_id": m.TransID.ID,
			"deadline": strconv.FormatInt(runStart.Add(remaining).UnixMilli(), 10),
		}
		if provideKey {
			runBody["api_key"] = m.User.AuthKey.APIKey
		}
		body, _ := json.Marshal(runBody)
		status, resp, err := post(ctx, "http://"+c.addr+"/run", body, remaining, 32<<20)
		if (errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil) || (err != nil && time.Since(runStart) >= remaining) {
			timedOut = true
			res = whisk.ErrorResult(whisk.StatusDeveloperError, whisk.TimeoutMessage(j.limits.Timeout))
		} else {
			res = whisk.ClassifyRun(status, resp, ResultLimit)
		}
		devError = res.StatusCode == whisk.StatusDeveloperError
	}
	end := time.Now()

	// Logs: up to the sentinels; after a developer error the container is
	// destroyed first and its output read to the end. A container that
	// runs activations concurrently gives them no logs (sentinelLogs).
	logLimit := j.limits.Logs << 20
	var outL, errL []logLine
	incomplete := false
	switch {
	case devError:
		i.release(c, false)
		if c.sentinelLogs() {
			dl := time.Now().Add(sentinelWait)
			outL, errL = c.stdout.untilEOF(dl), c.stderr.untilEOF(dl)
		}
	case c.sentinelLogs():
		dl := time.Now().Add(sentinelWait)
		var ok1, ok2 bool
		outL, ok1 = c.stdout.untilSentinel(dl)
		errL, ok2 = c.stderr.untilSentinel(dl)
		incomplete = !ok1 || !ok2
		i.release(c, !incomplete && ctx.Err() == nil)
	default:
		i.release(c, ctx.Err() == nil)
	}

	act := i.record(j, start.UnixMilli(), end.UnixMilli())
	act.Response = res
	act.Logs = formatLogs(outL, errL, logLimit, incomplete)
	wait := start.UnixMilli() - m.TransID.Start
	if m.TransID.Start == 0 || wait < 0 {
		wait = start.Sub(j.received).Milliseconds()
	}
	act.Annotations = act.Annotations.Set(whisk.AnnWaitTime, wait)
	if initTime >= 0 {
		act.Annotations = act.Annotations.Set(whisk.AnnInitTime, initTime)
	}
	// OpenWhisk's invoker says false too (ContainerProxy.constructWhiskActivation).
	act.Annotations = act.Annotations.Set(whisk.AnnTimeout, timedOut)
	return act
}

// partition splits the activation's content as OpenWhisk's
// ContainerProxy.partitionArguments does: the init arguments (the
// message's initArgs and the action's parameters marked init, whose
// values are the defaults) go to /init's env, the rest is the /run value
// ({} when there is no content).
func partition(content json.RawMessage, initKeys []string, params whisk.KeyValues) (json.RawMessage, map[string]json.RawMessage) {
	initArgs := map[string]json.RawMessage{}
	keys := map[string]bool{}
	for _, k := range initKeys {
		keys[k] = true
	}
	for _, p := range params {
		if p.Init {
			keys[p.Key] = true
			initArgs[p.Key] = p.Value
		}
	}
	if len(bytes.TrimSpace(content)) == 0 {
		return json.RawMessage("{}"), initArgs
	}
	var obj map[string]json.RawMessage
	if len(keys) == 0 || json.Unmarshal(content, &obj) != nil {
		// Arrays and scalars have no init arguments.
		return content, initArgs
	}
	moved := false
	for k := range keys {
		if v, ok := obj[k]; ok {
			initArgs[k] = v
			delete(obj, k)
			moved = true
		}
	}
	if !moved {
		return content, initArgs
	}
	b, err := json.Marshal(obj)
	if err != nil {
		return content, initArgs
	}
	return b, initArgs
}

// envString turns a parameter value into an /init env string: strings as
// they are, null as "", anything else as compact JSON.
func envString(v json.RawMessage) string {
	v = bytes.TrimSpace(v)
	var s string
	if json.Unmarshal(v, &s) == nil {
		return s
	}
	if len(v) == 0 || string(v) == "null" {
		return ""
	}
	var b bytes.Buffer
	if json.Compact(&b, v) == nil {
		return b.String()
	}
	return string(v)
}

// post sends body to url, bounded by timeout (and ctx), as OpenWhisk's
// invoker does: no connection reuse. body is nil when the connection
// failed, no Content-Length came, or the status is 204.
func post(ctx context.Context, url string, body []byte, timeout time.Duration, maxBody int64) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return 0, nil, ctx.Err()
		}
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		if ctx.Err() != nil {
			return resp.StatusCode, nil, ctx.Err()
		}
		return resp.StatusCode, nil, err
	}
	if resp.ContentLength < 0 || resp.StatusCode == http.StatusNoContent {
		return resp.StatusCode, nil, nil
	}
	return resp.StatusCode, b, nil
}
