package controller

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"sync"
	"time"

	"github.com/IBM/sarama"

	"github.com/wsk-route/wsk-route/internal/whisk"
)

// Errors an Invoke can wrap; the REST API maps them to OpenWhisk's answers.
var (
	// ErrSequenceTooLong: a sequence expands to more atomic actions than
	// the limit (OpenWhisk's "Too many actions in the sequence.").
	ErrSequenceTooLong = errors.New(whisk.MsgSequenceTooLong)
	// ErrComponentMissing: a sequence names an action that does not exist.
	ErrComponentMissing = errors.New("Sequence component does not exist.")
	// ErrStopped: the controller is not running.
	ErrStopped = errors.New("controller: not running")
)

// Actions gives the actions the controller resolves (sequence components).
type Actions interface {
	GetAction(path, name string) (whisk.Action, string, error)
}

// Activations stores and reads activation records.
type Activations interface {
	PutActivation(whisk.Activation) error
	GetActivation(namespace, id string) (whisk.Activation, error)
}

// Config configures a Controller. Brokers, Actions and Activations are
// required.
type Config struct {
	// Brokers are the Kafka bootstrap addresses.
	Brokers []string
	// Index is this controller's index: it consumes completed<Index>.
	Index int
	// Invoker is the invoker index activations go to (topic invoker<N>).
	Invoker int
	// Invokers, when more than 1, spreads activations over the topics
	// invoker0 ... invoker<Invokers-1>: each action goes to its home
	// invoker, HomeInvoker of its fully qualified name (as OpenWhisk's
	// sharding balancer picks a home invoker from a hash). Invoker is then
	// ignored. 0 or 1: every activation goes to Invoker.
	Invokers int
	// Actions resolves sequence components.
	Actions Actions
	// Activations stores sequence records and answers late results.
	Activations Activations
	// BlockingWait is how long a blocking invoke waits before it answers
	// 202 with the activation id; 0: 60 s, OpenWhisk's default.
	BlockingWait time.Duration
	// MaxSequenceLength bounds the atomic actions of a sequence; 0: 50.
	MaxSequenceLength int
	// Logger; nil: slog.Default().
	Logger *slog.Logger
}

// Controller sends activations to the invoker and collects their results.
type Controller struct {
	cfg      Config
	log      *slog.Logger
	producer sarama.SyncProducer
	consumer sarama.Consumer
	pc       sarama.PartitionConsumer
	ready    chan struct{}

	mu       sync.Mutex
	waiters  map[string]waiter
	runCtx   context.Context // set by Run; background sequences use it
	bg       sync.WaitGroup
	stopped  bool
	invokerT string

	closeOnce sync.Once
}

// New connects to Kafka: a producer for invoker<N> and a consumer of
// completed<Index> from its newest offset (acks of earlier runs are of no
// use).
func New(cfg Config) (*Controller, error) {
	if len(cfg.Brokers) == 0 || cfg.Actions == nil || cfg.Activations == nil {
		return nil, errors.New("controller: Brokers, Actions and Activations are required")
	}
	if cfg.BlockingWait == 0 {
		cfg.BlockingWait = 60 * time.Second
	}
	if cfg.MaxSequenceLength == 0 {
		cfg.MaxSequenceLength = 50
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	sc := KafkaConfig("controller" + fmt.Sprint(cfg.Index))
	producer, err := sarama.NewSyncProducer(cfg.Brokers, sc)
	if err != nil {
		return nil, fmt.Errorf("controller: kafka producer for %v: %w", cfg.Brokers, err)
	}
	consumer, err := sarama.NewConsumer(cfg.Brokers, sc)
	if err != nil {
		producer.Close()
		return nil, fmt.Errorf("controller: kafka consumer for %v: %w", cfg.Brokers, err)
	}
	topic := fmt.Sprintf("%s%d", whisk.TopicCompletedPrefix, cfg.Index)
	pc, err := consumer.ConsumePartition(topic, 0, sarama.OffsetNewest)
	if err != nil {
		consumer.Close()
		producer.Close()
		return nil, fmt.Errorf("controller: consuming %s: %w (does the topic exist? the sandbox creates it)", topic, err)
	}
	return &Controller{
		cfg: cfg, log: cfg.Logger.With("component", "controller"),
		producer: producer, consumer: consumer, pc: pc,
		ready: make(chan struct{}), waiters: make(map[string]waiter),
		invokerT: fmt.Sprintf("%s%d", whisk.TopicInvokerPrefix, cfg.Invoker),
	}, nil
}

// KafkaConfig is the sarama configuration the sandbox's controller and
// invoker use: acks from the leader (OpenWhisk's acks=1), results returned
// to the caller, a client id naming the component.
func KafkaConfig(clientID string) *sarama.Config {
	sc := sarama.NewConfig()
	sc.ClientID = clientID
	sc.Version = sarama.V2_8_0_0
	sc.Producer.RequiredAcks = sarama.WaitForLocal
	sc.Producer.Return.Successes = true
	sc.Producer.MaxMessageBytes = 1024*1024 + 6068 // OpenWhisk's 1 MB payload + overhead
	sc.Consumer.Return.Errors = true
	sc.Consumer.Fetch.Min = 1
	sc.Consumer.MaxWaitTime = 250 * time.Millisecond
	return sc
}

// Ready is closed once Run consumes acknowledgements.
func (c *Controller) Ready() <-chan struct{} { return c.ready }

// Run consumes completed<Index> until ctx ends, then waits for background
// sequences and closes the Kafka clients.
func (c *Controller) Run(ctx context.Context) error {
	c.mu.Lock()
	c.runCtx = ctx
	c.mu.Unlock()
	close(c.ready)
	defer func() {
		c.mu.Lock()
		c.stopped = true
		c.mu.Unlock()
		c.bg.Wait()
		c.Close()
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case err, ok := <-c.pc.Errors():
			if ok {
				c.log.Warn("consuming acks", "err", err)
			}
		case m, ok := <-c.pc.Messages():
			if !ok {
				return errors.New("controller: the completed topic's consumer closed")
			}
			c.handleAck(m.Value)
		}
	}
}

// Close closes the Kafka clients. Run closes them when it returns; Close
// is for a controller whose Run never started. It is safe to call twice.
func (c *Controller) Close() error {
	var err error
	c.closeOnce.Do(func() {
		err = errors.Join(c.pc.Close(), c.consumer.Close(), c.producer.Close())
	})
	return err
}

func (c *Controller) handleAck(b []byte) {
	ack, err := whisk.ParseAck(b)
	if err != nil {
		c.log.Warn("skipping an unreadable ack", "err", err, "ack", truncate(b))
		return
	}
	if ack.Kind == whisk.AckCompletion {
		return // frees a slot; the sandbox's invoker tracks its own capacity
	}
	c.mu.Lock()
	w, ok := c.waiters[ack.ActivationID]
	delete(c.waiters, ack.ActivationID)
	c.mu.Unlock()
	if !ok {
		return
	}
	act := ack.Response
	if act == nil { // a shrunk ack: the record is in the store
		a, err := c.cfg.Activations.GetActivation(w.namespace, ack.ActivationID)
		if err != nil {
			c.log.Warn("ack without a record", "activation", ack.ActivationID, "err", err)
			return
		}
		act = &a
	}
	w.ch <- *act
}

// waiter is a blocking invoke waiting for its ack.
type waiter struct {
	namespace string
	ch        chan whisk.Activation
}

func truncate(b []byte) string {
	if len(b) > 200 {
		return string(b[:200]) + "..."
	}
	return string(b)
}

// newID returns a fresh 32-hex activation or transaction id.
func newID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func nowMS() int64 { return time.Now().UnixMilli() }

// Invoke runs action for user with params (a JSON object, or empty),
// merged over the action's parameters. Without blocking it returns at once
// with the activation id. With blocking it waits up to BlockingWait: the
// record (done) or, past the wait, only its id (not done; the activation
// goes on and its record is stored when it ends).
func (c *Controller) Invoke(ctx context.Context, user whisk.Identity, action whisk.Action, rev string, params json.RawMessage, blocking bool) (whisk.Activation, bool, error) {
	defaults := action.Parameters
	if action.Exec.IsSequence() {
		defaults = withoutKey(defaults, "_actions") // the API's record of the components, not an input
	}
	content, err := mergeParams(defaults, params)
	if err != nil {
		return whisk.Activation{}, false, err
	}
	if action.Exec.IsSequence() {
		return c.invokeSequence(ctx, user, action, content, blocking)
	}
	id := newID()
	ch, err := c.send(user, action, rev, content, id, "", blocking)
	if err != nil {
		return whisk.Activation{}, false, err
	}
	if !blocking {
		return whisk.Activation{ActivationID: id, Namespace: user.Namespace.Name, Name: action.Name}, false, nil
	}
	return c.await(ctx, user, id, ch, c.cfg.BlockingWait)
}

// await waits for ch up to wait; past it, it answers with the id only.
func (c *Controller) await(ctx context.Context, user whisk.Identity, id string, ch <-chan whisk.Activation, wait time.Duration) (whisk.Activation, bool, error) {
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case act := <-ch:
		return act, true, nil
	case <-t.C:
	case <-ctx.Done():
	}
	c.forget(id)
	// The ack may have raced the timer; the record may be stored already.
	if act, err := c.cfg.Activations.GetActivation(user.Namespace.Name, id); err == nil {
		return act, true, nil
	}
	return whisk.Activation{ActivationID: id, Namespace: user.Namespace.Name}, false, nil
}

func (c *Controller) forget(id string) {
	c.mu.Lock()
	delete(c.waiters, id)
	c.mu.Unlock()
}

// send produces one ActivationMessage; with blocking, the returned
// channel receives the record when its ack arrives.
func (c *Controller) send(user whisk.Identity, action whisk.Action, rev string, content json.RawMessage, id, cause string, blocking bool) (<-chan whisk.Activation, error) {
	var initArgs []string
	for _, p := range action.Parameters {
		if p.Init {
			initArgs = append(initArgs, p.Key)
		}
	}
	if initArgs == nil {
		initArgs = []string{}
	}
	msg := whisk.ActivationMessage{
		TransID:             whisk.TransID{ID: newID(), Start: nowMS()},
		Action:              whisk.ActionRef{Path: action.Namespace, Name: action.Name, Version: action.Version},
		Revision:            rev,
		User:                user,
		ActivationID:        id,
		RootControllerIndex: whisk.ControllerInstance{AsString: fmt.Sprint(c.cfg.Index), InstanceType: "controller"},
		Blocking:            blocking,
		Content:             content,
		InitArgs:            initArgs,
		LockedArgs:          map[string]string{},
		Cause:               cause,
	}
	b, err := json.Marshal(msg)
	if err != nil {
		return nil, fmt.Errorf("controller: encoding the activation message: %w", err)
	}
	var ch chan whisk.Activation
	c.mu.Lock()
	if c.stopped {
		c.mu.Unlock()
		return nil, ErrStopped
	}
	if blocking {
		ch = make(chan whisk.Activation, 1)
		c.waiters[id] = waiter{namespace: user.Namespace.Name, ch: ch}
	}
	c.mu.Unlock()
	topic := c.invokerT
	if c.cfg.Invokers > 1 {
		topic = fmt.Sprintf("%s%d", whisk.TopicInvokerPrefix, HomeInvoker(action.FQN(), c.cfg.Invokers))
	}
	if _, _, err := c.producer.SendMessage(&sarama.ProducerMessage{Topic: topic, Value: sarama.ByteEncoder(b)}); err != nil {
		c.forget(id)
		return nil, fmt.Errorf("controller: producing to %s: %w", topic, err)
	}
	return ch, nil
}

// HomeInvoker returns the index, below n, of the invoker that runs the
// action fqn ("/guest/pkg/name") when the controller has n invokers:
// FNV-1a of the name modulo n.
func HomeInvoker(fqn string, n int) int {
	if n <= 1 {
		return 0
	}
	h := fnv.New32a()
	h.Write([]byte(fqn))
	return int(h.Sum32() % uint32(n))
}

// mergeParams returns the action's parameters (init ones excluded: they
// go to /init) overridden by the request's.
func mergeParams(defaults whisk.KeyValues, params json.RawMessage) (json.RawMessage, error) {
	merged := defaults.Object(false)
	if len(params) > 0 {
		var req map[string]json.RawMessage
		if err := json.Unmarshal(params, &req); err != nil {
			return nil, fmt.Errorf("controller: the parameters are not a JSON object: %w", err)
		}
		for k, v := range req {
			merged[k] = v
		}
	}
	return json.Marshal(merged)
}

func withoutKey(kv whisk.KeyValues, key string) whisk.KeyValues {
	out := make(whisk.KeyValues, 0, len(kv))
	for _, e := range kv {
		if e.Key != key {
			out = append(out, e)
		}
	}
	return out
}
