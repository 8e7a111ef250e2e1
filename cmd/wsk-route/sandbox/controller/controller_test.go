package controller_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/wsk-route/wsk-route/cmd/wsk-route/sandbox/controller"
	"github.com/wsk-route/wsk-route/internal/testenv"
	"github.com/wsk-route/wsk-route/internal/whisk"
)

// user is the caller of every test activation.
var user = whisk.Identity{
	Subject:   "guest",
	Namespace: whisk.NamespaceRef{Name: "guest", UUID: "u-1"},
	AuthKey:   whisk.AuthKey{APIKey: "u-1:k"},
	Rights:    []string{"READ", "PUT", "DELETE", "ACTIVATE"},
	Limits:    json.RawMessage(`{}`),
}

// memActions is an in-memory Actions double.
type memActions struct {
	mu sync.Mutex
	m  map[string]whisk.Action
}

func (a *memActions) put(act whisk.Action) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.m[act.Namespace+"/"+act.Name] = act
}

func (a *memActions) GetAction(path, name string) (whisk.Action, string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	act, ok := a.m[path+"/"+name]
	if !ok {
		return whisk.Action{}, "", fmt.Errorf("action %s/%s: not found", path, name)
	}
	return act, "1-rev", nil
}

// memActivations is an in-memory Activations double.
type memActivations struct {
	mu sync.Mutex
	m  map[string]whisk.Activation
}

func (s *memActivations) PutActivation(a whisk.Activation) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[a.Namespace+"/"+a.ActivationID] = a
	return nil
}

func (s *memActivations) GetActivation(ns, id string) (whisk.Activation, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.m[ns+"/"+id]
	if !ok {
		return whisk.Activation{}, fmt.Errorf("activation %s/%s: not found", ns, id)
	}
	return a, nil
}

// fakeInvoker consumes invoker0 and acknowledges on completed0. What it
// does with an activation depends on the "mode" field of its content:
//
//	echo (default) result = content (minus mode and dur) with the action's
//	          name appended to "trail"; combined ack with the record for a
//	          blocking activation, else store + shrunk (id-only) ack
//	error     the same with the result {"error": "boom"} (status 1)
//	shrunk    store the record, then an id-only combined ack
//	split     a completion-only ack, then a result ack with the record
//	hold      nothing yet: the message goes to held; answer it later
//	storeonly store the record, never ack
//
// "dur" (a number) is the record's duration in ms (default 1).
type fakeInvoker struct {
	t        *testing.T
	acts     *memActivations
	producer sarama.SyncProducer
	held     chan *whisk.ActivationMessage

	mu   sync.Mutex
	msgs []*whisk.ActivationMessage
}

func (f *fakeInvoker) run(ctx context.Context, pc sarama.PartitionConsumer) {
	for {
		select {
		case <-ctx.Done():
			return
		case m, ok := <-pc.Messages():
			if !ok {
				return
			}
			msg, err := whisk.ParseActivationMessage(m.Value)
			if err != nil {
				f.t.Errorf("the controller produced an unreadable activation message: %v: %s", err, m.Value)
				continue
			}
			f.mu.Lock()
			f.msgs = append(f.msgs, msg)
			f.mu.Unlock()
			switch mode(msg) {
			case "hold":
				f.held <- msg
			case "storeonly":
				f.acts.PutActivation(f.record(msg))
			default:
				f.answer(msg)
			}
		}
	}
}

func mode(msg *whisk.ActivationMessage) string {
	var c struct {
		Mode string `json:"mode"`
	}
	json.Unmarshal(msg.Content, &c)
	return c.Mode
}

// record is the activation record of msg.
func (f *fakeInvoker) record(msg *whisk.ActivationMessage) whisk.Activation {
	content := map[string]any{}
	if len(msg.Content) > 0 {
		if err := json.Unmarshal(msg.Content, &content); err != nil {
			f.t.Errorf("activation %s: content %s is not an object: %v", msg.ActivationID, msg.Content, err)
		}
	}
	m, _ := content["mode"].(string)
	dur := int64(1)
	if d, ok := content["dur"].(float64); ok {
		dur = int64(d)
	}
	delete(content, "mode")
	delete(content, "dur")
	trail, _ := content["trail"].([]any)
	content["trail"] = append(trail, msg.Action.Name)
	res := whisk.Result{StatusCode: whisk.StatusSuccess}
	if m == "error" {
		res = whisk.ErrorResult(whisk.StatusApplicationError, "boom")
	} else {
		res.Result, _ = json.Marshal(content)
	}
	now := time.Now().UnixMilli()
	return whisk.Activation{
		Namespace: msg.User.Namespace.Name, Name: msg.Action.Name, Subject: msg.User.Subject,
		ActivationID: msg.ActivationID, Start: now - dur, End: now, Cause: msg.Cause, Response: res,
		Logs: []string{}, Version: msg.Action.Version, Duration: dur,
		Annotations: whisk.KeyValues{}.Set(whisk.AnnPath, msg.Action.Path+"/"+msg.Action.Name).Set(whisk.AnnKind, whisk.KindBlackbox),
	}
}

// answer finishes msg as its mode says.
func (f *fakeInvoker) answer(msg *whisk.ActivationMessage) {
	rec := f.record(msg)
	inst := &whisk.InvokerInstance{Instance: 0, InstanceType: "invoker", Tags: []string{}, DedicatedNamespaces: []string{}}
	tid := msg.TransID
	switch m := mode(msg); {
	case m == "split":
		f.ack(whisk.Ack{Kind: whisk.AckCompletion, TransID: tid, ActivationID: msg.ActivationID, Instance: inst})
		f.ack(whisk.Ack{Kind: whisk.AckResult, TransID: tid, Response: &rec})
	case m == "shrunk" || !msg.Blocking:
		f.acts.PutActivation(rec)
		f.ack(whisk.Ack{Kind: whisk.AckCombined, TransID: tid, ActivationID: msg.ActivationID, Instance: inst})
	default:
		f.ack(whisk.Ack{Kind: whisk.AckCombined, TransID: tid, Response: &rec, Instance: inst})
	}
}

func (f *fakeInvoker) ack(a whisk.Ack) {
	b, err := json.Marshal(a)
	if err != nil {
		f.t.Errorf("encoding an ack: %v", err)
		return
	}
	f.produce(b)
}

func (f *fakeInvoker) produce(b []byte) {
	if _, _, err := f.producer.SendMessage(&sarama.ProducerMessage{Topic: "completed0", Value: sarama.ByteEncoder(b)}); err != nil {
		f.t.Errorf("producing an ack: %v", err)
	}
}

// messages returns the activation messages received so far.
func (f *fakeInvoker) messages() []*whisk.ActivationMessage {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*whisk.ActivationMessage(nil), f.msgs...)
}

// message returns the message of activation id.
func (f *fakeInvoker) message(t *testing.T, id string) *whisk.ActivationMessage {
	t.Helper()
	for _, m := range f.messages() {
		if m.ActivationID == id {
			return m
		}
	}
	t.Fatalf("the invoker got no message for activation %s", id)
	return nil
}

// env is a controller wired to a kfake broker and a fake invoker.
type env struct {
	ctrl    *controller.Controller
	inv     *fakeInvoker
	actions *memActions
	acts    *memActivations
	logs    *testenv.SyncBuffer
	cancel  context.CancelFunc
	runErr  chan error
}

type opts struct {
	blockingWait time.Duration
	maxSeq       int
}

func newEnv(t *testing.T, o opts) *env {
	t.Helper()
	brokers := testenv.Kafka(t, "invoker0", "completed0")

	e := &env{
		actions: &memActions{m: map[string]whisk.Action{}},
		acts:    &memActivations{m: map[string]whisk.Activation{}},
		logs:    &testenv.SyncBuffer{},
	}
	if o.blockingWait == 0 {
		o.blockingWait = 30 * time.Second
	}
	var err error
	e.ctrl, err = controller.New(controller.Config{
		Brokers: brokers, Actions: e.actions, Activations: e.acts,
		BlockingWait: o.blockingWait, MaxSequenceLength: o.maxSeq,
		Logger: slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatalf("controller.New: %v", err)
	}

	// The fake invoker.
	sc := controller.KafkaConfig("fake-invoker")
	consumer, err := sarama.NewConsumer(brokers, sc)
	if err != nil {
		t.Fatalf("invoker consumer: %v", err)
	}
	pc, err := consumer.ConsumePartition("invoker0", 0, sarama.OffsetOldest)
	if err != nil {
		t.Fatalf("consuming invoker0: %v", err)
	}
	producer, err := sarama.NewSyncProducer(brokers, sc)
	if err != nil {
		t.Fatalf("invoker producer: %v", err)
	}
	e.inv = &fakeInvoker{t: t, acts: e.acts, producer: producer, held: make(chan *whisk.ActivationMessage, 16)}

	ctx, cancel := context.WithCancel(context.Background())
	e.cancel = cancel
	invDone := make(chan struct{})
	go func() {
		defer close(invDone)
		e.inv.run(ctx, pc)
	}()
	e.runErr = make(chan error, 1)
	go func() { e.runErr <- e.ctrl.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-invDone
		pc.Close()
		consumer.Close()
		producer.Close()
		e.stop(t)
	})
	select {
	case <-e.ctrl.Ready():
	case err := <-e.runErr:
		t.Fatalf("Run returned before ready: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("the controller was not ready within 10 s")
	}
	return e
}

// stop cancels Run and checks that it returns nil, once.
func (e *env) stop(t *testing.T) {
	t.Helper()
	e.cancel()
	if e.runErr == nil {
		return
	}
	select {
	case err := <-e.runErr:
		if err != nil {
			t.Errorf("Run after cancel: %v, want nil", err)
		}
	case <-time.After(15 * time.Second):
		t.Error("Run did not return within 15 s of cancel")
	}
	e.runErr = nil
}

func (e *env) action(name string, params ...whisk.KeyValue) whisk.Action {
	a := whisk.Action{Namespace: "guest", Name: name, Version: "0.0.1", Exec: whisk.Exec{Kind: whisk.KindBlackbox},
		Parameters: params, Annotations: whisk.KeyValues{}, Limits: whisk.DefaultLimits()}
	e.actions.put(a)
	return a
}

func (e *env) sequence(name string, components ...string) whisk.Action {
	fqns := make([]string, len(components))
	for i, c := range components {
		fqns[i] = "/guest/" + c
	}
	a := whisk.Action{Namespace: "guest", Name: name, Version: "0.0.1",
		Exec: whisk.Exec{Kind: whisk.KindSequence, Components: fqns}, Annotations: whisk.KeyValues{}, Limits: whisk.DefaultLimits()}
	e.actions.put(a)
	return a
}

func kv(key string, v any) whisk.KeyValue {
	b, _ := json.Marshal(v)
	return whisk.KeyValue{Key: key, Value: b}
}

// eventually polls cond until it holds or 10 s pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func object(t *testing.T, b json.RawMessage) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s is not a JSON object: %v", b, err)
	}
	return m
}

func trail(t *testing.T, res json.RawMessage) []string {
	t.Helper()
	var r struct{ Trail []string }
	if err := json.Unmarshal(res, &r); err != nil {
		t.Fatalf("result %s: %v", res, err)
	}
	return r.Trail
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// TestBlockingInvoke: each way the invoker can answer a blocking waiter
// gives the record, long before the blocking wait (30 s) ends.
func TestBlockingInvoke(t *testing.T) {
	e := newEnv(t, opts{})
	a := e.action("hello")
	for _, mode := range []string{"echo", "shrunk", "split"} {
		t.Run(mode, func(t *testing.T) {
			start := time.Now()
			act, done, err := e.ctrl.Invoke(ctxT(t), user, a, "1-abc", json.RawMessage(fmt.Sprintf(`{"mode":%q,"x":1}`, mode)), true)
			if err != nil || !done {
				t.Fatalf("Invoke: done=%v err=%v, want the record", done, err)
			}
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("took %v: answered by the blocking wait, not the ack", d)
			}
			if act.ActivationID == "" || act.Name != "hello" || act.Namespace != "guest" || act.Response.StatusCode != whisk.StatusSuccess {
				t.Errorf("record %+v", act)
			}
			if got := object(t, act.Response.Result); got["x"] != float64(1) || !reflect.DeepEqual(trail(t, act.Response.Result), []string{"hello"}) {
				t.Errorf("result %s, want x=1 and trail [hello]", act.Response.Result)
			}
			msg := e.inv.message(t, act.ActivationID)
			if !msg.Blocking || msg.Revision != "1-abc" || msg.Action.Path != "guest" || msg.Action.Name != "hello" ||
				msg.User.AuthKey.APIKey != user.AuthKey.APIKey || msg.RootControllerIndex.AsString != "0" || msg.Cause != "" {
				t.Errorf("activation message %+v", msg)
			}
		})
	}
}

func TestParametersMerged(t *testing.T) {
	e := newEnv(t, opts{})
	secret := kv("secret", "s3")
	secret.Init = true
	a := e.action("params", kv("a", 1), kv("b", "default"), secret)
	tests := []struct {
		name   string
		params json.RawMessage
		want   map[string]any
	}{
		{"request over defaults", json.RawMessage(`{"b":"request","c":3}`), map[string]any{"a": float64(1), "b": "request", "c": float64(3)}},
		{"no body", nil, map[string]any{"a": float64(1), "b": "default"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			act, done, err := e.ctrl.Invoke(ctxT(t), user, a, "1-r", tc.params, true)
			if err != nil || !done {
				t.Fatalf("Invoke: done=%v err=%v", done, err)
			}
			msg := e.inv.message(t, act.ActivationID)
			if got := object(t, msg.Content); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("content %s, want %v (init parameters left out)", msg.Content, tc.want)
			}
			if !reflect.DeepEqual(msg.InitArgs, []string{"secret"}) {
				t.Errorf("initArgs %v, want [secret]", msg.InitArgs)
			}
		})
	}
	if _, _, err := e.ctrl.Invoke(ctxT(t), user, a, "1-r", json.RawMessage(`[1,2]`), true); err == nil {
		t.Error("parameters that are not a JSON object: no error")
	}
}

func TestNonBlocking(t *testing.T) {
	e := newEnv(t, opts{})
	a := e.action("later")
	act, done, err := e.ctrl.Invoke(ctxT(t), user, a, "1-r", json.RawMessage(`{"mode":"hold"}`), false)
	if err != nil || done || act.ActivationID == "" {
		t.Fatalf("non-blocking Invoke: %+v done=%v err=%v, want the id at once", act, done, err)
	}
	var msg *whisk.ActivationMessage
	select {
	case msg = <-e.inv.held:
	case <-time.After(10 * time.Second):
		t.Fatal("the invoker got no message")
	}
	if msg.ActivationID != act.ActivationID || msg.Blocking {
		t.Fatalf("message %s blocking=%v, want %s non-blocking", msg.ActivationID, msg.Blocking, act.ActivationID)
	}
	e.inv.answer(msg) // stores the record, shrunk ack
	eventually(t, "the record", func() bool {
		_, err := e.acts.GetActivation("guest", act.ActivationID)
		return err == nil
	})
}

func TestBlockingWaitPassed(t *testing.T) {
	e := newEnv(t, opts{blockingWait: 300 * time.Millisecond})
	a := e.action("slow")

	t.Run("late result", func(t *testing.T) {
		act, done, err := e.ctrl.Invoke(ctxT(t), user, a, "1-r", json.RawMessage(`{"mode":"hold"}`), true)
		if err != nil || done || act.ActivationID == "" {
			t.Fatalf("Invoke past the wait: %+v done=%v err=%v, want done=false with the id", act, done, err)
		}
		msg := <-e.inv.held
		if msg.ActivationID != act.ActivationID {
			t.Fatalf("held %s, want %s", msg.ActivationID, act.ActivationID)
		}
		e.inv.acts.PutActivation(e.inv.record(msg))
		got, err := e.acts.GetActivation("guest", act.ActivationID)
		if err != nil || got.Response.StatusCode != whisk.StatusSuccess {
			t.Errorf("late record: %+v %v", got, err)
		}
		// The ack arrives after the waiter gave up: no harm done.
		e.inv.answer(msg)
	})

	t.Run("stored meanwhile", func(t *testing.T) {
		act, done, err := e.ctrl.Invoke(ctxT(t), user, a, "1-r", json.RawMessage(`{"mode":"storeonly"}`), true)
		if err != nil || !done || act.ActivationID == "" || act.Response.StatusCode != whisk.StatusSuccess {
			t.Fatalf("Invoke with the record stored but no ack: %+v done=%v err=%v, want the stored record", act, done, err)
		}
	})
}

func TestSequence(t *testing.T) {
	e := newEnv(t, opts{})
	e.action("a", kv("dur", 3))
	e.action("b", kv("dur", 5))
	e.action("c", kv("dur", 7))
	seq := e.sequence("abc", "a", "b", "c")
	act, done, err := e.ctrl.Invoke(ctxT(t), user, seq, "1-r", json.RawMessage(`{"trail":[]}`), true)
	if err != nil || !done {
		t.Fatalf("Invoke: done=%v err=%v", done, err)
	}
	if got := trail(t, act.Response.Result); !reflect.DeepEqual(got, []string{"a", "b", "c"}) {
		t.Errorf("trail %v, want [a b c]: each result fed to the next", got)
	}
	checkSeqRecord(t, e, act, "abc", "", []string{"a", "b", "c"}, 15)
}

// checkSeqRecord checks the stored record of a sequence and the messages
// of its components.
func checkSeqRecord(t *testing.T, e *env, act whisk.Activation, name, cause string, comps []string, dur int64) whisk.Activation {
	t.Helper()
	rec, err := e.acts.GetActivation("guest", act.ActivationID)
	if err != nil {
		t.Fatalf("sequence record %s not stored: %v", act.ActivationID, err)
	}
	if rec.Name != name || rec.Cause != cause || rec.Duration != dur {
		t.Errorf("record %s: name %q cause %q duration %d, want %q %q %d", rec.ActivationID, rec.Name, rec.Cause, rec.Duration, name, cause, dur)
	}
	if k, _ := rec.Annotations.Get(whisk.AnnKind); string(k) != `"sequence"` {
		t.Errorf("kind annotation %s, want \"sequence\"", k)
	}
	if top, _ := rec.Annotations.Get(whisk.AnnTopmost); string(top) != fmt.Sprint(cause == "") {
		t.Errorf("topmost %s with cause %q", top, cause)
	}
	if p, _ := rec.Annotations.Get(whisk.AnnPath); string(p) != `"guest/`+name+`"` {
		t.Errorf("path annotation %s", p)
	}
	if len(rec.Logs) != len(comps) {
		t.Fatalf("logs %v, want %d component ids", rec.Logs, len(comps))
	}
	for i, id := range rec.Logs {
		if msg := e.inv.messageOrNil(id); msg != nil {
			if msg.Action.Name != comps[i] || msg.Cause != rec.ActivationID {
				t.Errorf("component %d: message for %s cause %q, want %s cause %s", i, msg.Action.Name, msg.Cause, comps[i], rec.ActivationID)
			}
		} else if inner, err := e.acts.GetActivation("guest", id); err != nil || inner.Name != comps[i] || inner.Cause != rec.ActivationID {
			t.Errorf("component %d (%s): no message and no inner sequence record with cause %s: %+v %v", i, id, rec.ActivationID, inner, err)
		}
	}
	return rec
}

func (f *fakeInvoker) messageOrNil(id string) *whisk.ActivationMessage {
	for _, m := range f.messages() {
		if m.ActivationID == id {
			return m
		}
	}
	return nil
}

func TestNestedSequence(t *testing.T) {
	e := newEnv(t, opts{})
	for _, n := range []string{"a", "b", "d", "c"} {
		e.action(n, kv("dur", 2))
	}
	e.sequence("inner", "b", "d")
	outer := e.sequence("outer", "a", "inner", "c")
	act, done, err := e.ctrl.Invoke(ctxT(t), user, outer, "1-r", nil, true)
	if err != nil || !done {
		t.Fatalf("Invoke: done=%v err=%v", done, err)
	}
	if got := trail(t, act.Response.Result); !reflect.DeepEqual(got, []string{"a", "b", "d", "c"}) {
		t.Errorf("trail %v, want [a b d c]", got)
	}
	rec := checkSeqRecord(t, e, act, "outer", "", []string{"a", "inner", "c"}, 8)
	innerRec := checkSeqRecord(t, e, whisk.Activation{ActivationID: rec.Logs[1]}, "inner", rec.ActivationID, []string{"b", "d"}, 4)
	if by, _ := innerRec.Annotations.Get(whisk.AnnCausedBy); string(by) != `"sequence"` {
		t.Errorf("inner causedBy %s, want \"sequence\"", by)
	}
}

func TestFailingComponentStops(t *testing.T) {
	e := newEnv(t, opts{})
	e.action("a")
	e.action("bad", kv("mode", "error"))
	e.action("c")
	seq := e.sequence("stops", "a", "bad", "c")
	act, done, err := e.ctrl.Invoke(ctxT(t), user, seq, "1-r", nil, true)
	if err != nil || !done {
		t.Fatalf("Invoke: done=%v err=%v", done, err)
	}
	if act.Response.StatusCode != whisk.StatusApplicationError || !strings.Contains(string(act.Response.Result), "boom") {
		t.Errorf("response %+v, want the failing component's", act.Response)
	}
	checkSeqRecord(t, e, act, "stops", "", []string{"a", "bad"}, 2)
	for _, m := range e.inv.messages() {
		if m.Action.Name == "c" {
			t.Error("the component after the failing one ran")
		}
	}
}

func TestSequenceErrors(t *testing.T) {
	e := newEnv(t, opts{maxSeq: 2})
	e.action("a")
	tests := []struct {
		name  string
		comps []string
		want  error
	}{
		{"too long", []string{"a", "a", "a"}, controller.ErrSequenceTooLong},
		{"component missing", []string{"a", "nope"}, controller.ErrComponentMissing},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			seq := e.sequence("s-"+strings.ReplaceAll(tc.name, " ", "-"), tc.comps...)
			for _, blocking := range []bool{true, false} {
				_, _, err := e.ctrl.Invoke(ctxT(t), user, seq, "1-r", nil, blocking)
				if !errors.Is(err, tc.want) {
					t.Errorf("blocking=%v: %v, want %v", blocking, err, tc.want)
				}
			}
		})
	}
	if n := len(e.inv.messages()); n != 0 {
		t.Errorf("%d activations ran for rejected sequences", n)
	}
}

func TestUnreadableAckSkipped(t *testing.T) {
	e := newEnv(t, opts{})
	e.inv.produce([]byte("this is not an ack"))
	eventually(t, "the unreadable ack logged", func() bool { return strings.Contains(e.logs.String(), "unreadable ack") })
	act, done, err := e.ctrl.Invoke(ctxT(t), user, e.action("after"), "1-r", nil, true)
	if err != nil || !done || act.Response.StatusCode != whisk.StatusSuccess {
		t.Fatalf("Invoke after an unreadable ack: %+v done=%v err=%v", act, done, err)
	}
}

func TestStopped(t *testing.T) {
	e := newEnv(t, opts{})
	a := e.action("a")
	seq := e.sequence("s", "a")
	e.stop(t) // Run returns nil on cancel
	for _, act := range []whisk.Action{a, seq} {
		for _, blocking := range []bool{true, false} {
			if _, _, err := e.ctrl.Invoke(ctxT(t), user, act, "1-r", nil, blocking); !errors.Is(err, controller.ErrStopped) {
				t.Errorf("Invoke %s blocking=%v after Run returned: %v, want ErrStopped", act.Name, blocking, err)
			}
		}
	}
}
