package invoker_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/wsk-route/wsk-route/cmd/wsk-route/sandbox/invoker"
	"github.com/wsk-route/wsk-route/internal/testenv"
	"github.com/wsk-route/wsk-route/internal/whisk"
)

// wait bounds every poll of the tests: it detects hangs, no test expects
// to reach it.
const wait = 60 * time.Second

var (
	proxyBin   string // static build of ./cmd/proxy
	actionBin  string // static build of testdata/action
	actionCode string // base64 of actionBin
)

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	dir, cleanup, err := testenv.BuildStatic(map[string]string{"proxy": "../../../../cmd/proxy", "action": "./testdata/action"})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer cleanup()
	proxyBin, actionBin = filepath.Join(dir, "proxy"), filepath.Join(dir, "action")
	b, err := os.ReadFile(actionBin)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	actionCode = base64.StdEncoding.EncodeToString(b)
	return m.Run()
}

// actions is an in-memory Actions.
type actions struct {
	mu sync.Mutex
	m  map[string]whisk.Action
}

func (a *actions) put(act whisk.Action) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.m[act.Namespace+"/"+act.Name] = act
}

func (a *actions) GetAction(path, name string) (whisk.Action, string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	act, ok := a.m[path+"/"+name]
	if !ok {
		return whisk.Action{}, "", errors.New("test: not found")
	}
	return act, "1-" + act.Version, nil
}

// activations is an in-memory Activations.
type activations struct {
	mu sync.Mutex
	m  map[string]whisk.Activation
}

func (a *activations) PutActivation(act whisk.Activation) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.m[act.ActivationID] = act
	return nil
}

func (a *activations) get(id string) (whisk.Activation, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	act, ok := a.m[id]
	return act, ok
}

// runtimes runs kind "go:test" (and blackbox) with an ack.
type runtimes struct{}

func (runtimes) Env(e whisk.Exec) ([]string, error) {
	switch e.Kind {
	case "go:test":
		return []string{"OW_WAIT_FOR_ACK=1"}, nil
	case whisk.KindBlackbox:
		return nil, nil
	}
	return nil, fmt.Errorf("test: unknown kind %q", e.Kind)
}

// env is one kfake cluster and one running invoker.
type env struct {
	t       *testing.T
	inv     *invoker.Invoker
	cfg     invoker.Config
	acts    *actions
	store   *activations
	prod    sarama.SyncProducer
	cancel  context.CancelFunc
	done    chan error
	stopped bool

	mu   sync.Mutex
	acks map[string]whisk.Ack
}

func newEnv(t *testing.T, edit func(*invoker.Config)) *env {
	t.Helper()
	brokers := testenv.Kafka(t, "invoker0", "completed0")
	e := &env{t: t, acts: &actions{m: map[string]whisk.Action{}}, store: &activations{m: map[string]whisk.Activation{}}, acks: map[string]whisk.Ack{}}
	e.cfg = invoker.Config{
		Brokers: brokers, Index: 0, Actions: e.acts, Activations: e.store, Runtimes: runtimes{},
		ProxyCommand: []string{proxyBin}, WorkDir: filepath.Join(t.TempDir(), "containers"),
		APIHost: "http://127.0.0.1:1", Host: "test-invoker",
		Logger: slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if edit != nil {
		edit(&e.cfg)
	}
	var err error
	e.inv, err = invoker.New(e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	e.cancel, e.done = cancel, make(chan error, 1)
	go func() { e.done <- e.inv.Run(ctx) }()
	t.Cleanup(e.stop)

	scfg := sarama.NewConfig()
	scfg.Version = sarama.V2_8_0_0
	scfg.Producer.RequiredAcks = sarama.WaitForLocal
	scfg.Producer.Return.Successes = true
	e.prod, err = sarama.NewSyncProducer(brokers, scfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.prod.Close() })
	consumer, err := sarama.NewConsumer(brokers, scfg)
	if err != nil {
		t.Fatal(err)
	}
	pc, err := consumer.ConsumePartition("completed0", 0, sarama.OffsetOldest)
	if err != nil {
		t.Fatal(err)
	}
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		for m := range pc.Messages() {
			ack, err := whisk.ParseAck(m.Value)
			if err != nil {
				t.Errorf("bad ack %s: %v", m.Value, err)
				continue
			}
			e.mu.Lock()
			e.acks[ack.ActivationID] = ack
			e.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		pc.Close()
		<-readDone
		consumer.Close()
	})

	select {
	case <-e.inv.Ready():
	case err := <-e.done:
		t.Fatalf("Run returned before Ready: %v", err)
	case <-time.After(wait):
		t.Fatal("invoker not ready")
	}
	return e
}

// stop ends Run and waits for it.
func (e *env) stop() {
	if e.stopped {
		return
	}
	e.stopped = true
	e.cancel()
	select {
	case err := <-e.done:
		if err != nil {
			e.t.Errorf("Run: %v", err)
		}
	case <-time.After(wait):
		e.t.Error("Run did not return after its context ended")
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(string(b))
	return len(b), nil
}

func randomHex(t *testing.T, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// action returns a go:test action of the test binary.
func testAction(name string, limits whisk.Limits) whisk.Action {
	code, bin := actionCode, true
	return whisk.Action{
		Namespace: "guest", Name: name, Version: "0.0.1",
		Exec:       whisk.Exec{Kind: "go:test", Code: &code, Binary: &bin},
		Parameters: whisk.KeyValues{{Key: "INIT_P", Value: json.RawMessage(`"hello"`), Init: true}},
		Limits:     limits,
	}
}

const apiKey = "23bc46b1-71f6-4ed5-8c54-816aa4f8c502:123zO3xZCLrMN6v2BKK1dXYFpXlPkccOFqm12CdAsMgRU4VrNZ9lyGVCGuMDGIwP"

// produce sends raw to invoker0.
func (e *env) produce(raw []byte) {
	e.t.Helper()
	if _, _, err := e.prod.SendMessage(&sarama.ProducerMessage{Topic: "invoker0", Value: sarama.ByteEncoder(raw)}); err != nil {
		e.t.Fatal(err)
	}
}

// invoke sends an activation of guest/name with content and returns its id.
func (e *env) invoke(name string, content any, blocking bool) string {
	e.t.Helper()
	id, b := e.message(name, content, blocking)
	e.produce(b)
	return id
}

// invokeAll sends one activation of guest/name per content in one Kafka
// batch, so that the invoker receives them together, and returns their
// ids in order.
func (e *env) invokeAll(name string, blocking bool, contents ...any) []string {
	e.t.Helper()
	ids := make([]string, len(contents))
	msgs := make([]*sarama.ProducerMessage, len(contents))
	for k, c := range contents {
		var b []byte
		ids[k], b = e.message(name, c, blocking)
		msgs[k] = &sarama.ProducerMessage{Topic: "invoker0", Value: sarama.ByteEncoder(b)}
	}
	if err := e.prod.SendMessages(msgs); err != nil {
		e.t.Fatal(err)
	}
	return ids
}

// message returns a new activation id and the ActivationMessage of an
// activation of guest/name with content.
func (e *env) message(name string, content any, blocking bool) (string, []byte) {
	e.t.Helper()
	c, err := json.Marshal(content)
	if err != nil {
		e.t.Fatal(err)
	}
	id := randomHex(e.t, 16)
	msg := whisk.ActivationMessage{
		TransID: whisk.TransID{ID: randomHex(e.t, 16), Start: time.Now().UnixMilli()},
		Action:  whisk.ActionRef{Path: "guest", Name: name, Version: "0.0.1"},
		User: whisk.Identity{Subject: "guest", Namespace: whisk.NamespaceRef{Name: "guest", UUID: "23bc46b1-71f6-4ed5-8c54-816aa4f8c502"},
			AuthKey: whisk.AuthKey{APIKey: apiKey}, Rights: []string{"READ"}},
		ActivationID:        id,
		RootControllerIndex: whisk.ControllerInstance{AsString: "0", InstanceType: "controller"},
		Blocking:            blocking, Content: c, InitArgs: []string{}, LockedArgs: map[string]string{},
	}
	b, err := json.Marshal(msg)
	if err != nil {
		e.t.Fatal(err)
	}
	return id, b
}

// ack waits for the ack of id.
func (e *env) ack(id string) whisk.Ack {
	e.t.Helper()
	var ack whisk.Ack
	poll(e.t, "the ack of "+id, func() bool {
		e.mu.Lock()
		defer e.mu.Unlock()
		var ok bool
		ack, ok = e.acks[id]
		return ok
	})
	return ack
}

// run invokes blocking and returns the activation of the ack, checking it
// is the stored one.
func (e *env) run(name string, content any) whisk.Activation {
	e.t.Helper()
	ack := e.ack(e.invoke(name, content, true))
	if ack.Response == nil {
		e.t.Fatalf("blocking ack without response: %+v", ack)
	}
	stored, ok := e.store.get(ack.ActivationID)
	if !ok {
		e.t.Fatalf("activation %s acked before it was stored", ack.ActivationID)
	}
	if a, b := mustJSON(e.t, stored), mustJSON(e.t, *ack.Response); a != b {
		e.t.Errorf("ack's activation differs from the stored one:\n%s\n%s", b, a)
	}
	return *ack.Response
}

func mustJSON(t *testing.T, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// poll waits until cond holds, failing the test after wait.
func poll(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
