package invoker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"

	"github.com/wsk-route/wsk-route/internal/whisk"
)

// Actions fetches actions by entity path ("guest" or "guest/pkg") and
// name. It returns the action and its revision; any error means the action
// is missing or could not be fetched, and the activation fails with a whisk
// error.
type Actions interface {
	GetAction(path, name string) (whisk.Action, string, error)
}

// Activations stores activation records.
type Activations interface {
	PutActivation(whisk.Activation) error
}

// Runtimes gives the extra proxy environment of a kind (OW_COMPILER=...,
// OW_WAIT_FOR_ACK=1, ...). An error means the kind cannot run here.
type Runtimes interface {
	Env(exec whisk.Exec) ([]string, error)
}

// DockerConfig turns on docker mode: every container is a docker container
// started with the docker CLI.
type DockerConfig struct {
	// Image is the default image, whose entrypoint is the proxy on :8080;
	// blackbox actions use their exec.image instead.
	Image string
	// Network is the docker network of the containers; "" is "bridge".
	Network string
	// Binds are host:container bind mounts given to every container.
	Binds []string
	// PauseGrace is how long a container stays idle before it is paused;
	// 0 is 50 ms (OpenWhisk 1.0.0's pause-grace).
	PauseGrace time.Duration
	// Env is extra environment ("K=V") for every container.
	Env []string
}

// Config configures an Invoker.
type Config struct {
	// Brokers are the Kafka bootstrap addresses.
	Brokers []string
	// Index is the invoker's number: it consumes "invoker<Index>" in the
	// consumer group of the same name.
	Index int
	// Actions, Activations and Runtimes are required.
	Actions     Actions
	Activations Activations
	Runtimes    Runtimes
	// ProxyCommand starts one proxy (process mode), e.g. {"/path/proxy"};
	// "-listen", "fd:3" is appended: the proxy serves on the listening
	// socket (127.0.0.1, a free port) it gets as descriptor 3.
	ProxyCommand []string
	// WorkDir holds one subdirectory per container (the proxy's working
	// directory), removed with the container. Required in process mode.
	WorkDir string
	// ProxyEnv is extra environment ("K=V") for every proxy; each also gets
	// WSK_ROUTE_NAME=<container name> and __OW_API_HOST=APIHost.
	ProxyEnv []string
	// APIHost is __OW_API_HOST in the actions' environment.
	APIHost string
	// UserMemoryMB is the pool's capacity: the largest sum of the memory
	// limits of live containers. 0 is 2048.
	UserMemoryMB int
	// IdleTimeout is how long an idle container lives; 0 is 10 minutes.
	IdleTimeout time.Duration
	// Docker, when not nil, runs containers with docker instead of
	// processes.
	Docker *DockerConfig
	// Logger receives the invoker's log; nil discards it.
	Logger *slog.Logger
	// Host is the invoker's displayed name in acks; "" is the host name.
	Host string
}

// Defaults of Config and DockerConfig.
const (
	// DefaultUserMemoryMB is the pool's default capacity.
	DefaultUserMemoryMB = 2048
	// DefaultIdleTimeout is how long an idle container lives by default.
	DefaultIdleTimeout = 10 * time.Minute
	// DefaultPauseGrace is the default idle time before a docker
	// container is paused.
	DefaultPauseGrace = 50 * time.Millisecond
	// ResultLimit is OpenWhisk's largest activation result (1 MB).
	ResultLimit = 1 << 20
	// sentinelWait bounds the wait for the log sentinels after /run.
	sentinelWait = 2 * time.Second
)

// Invoker consumes activation messages and runs them in its container pool.
type Invoker struct {
	cfg   Config
	log   *slog.Logger
	runID string // random, distinguishes this run's container names
	pool  *pool
	ready chan struct{}
	once  sync.Once
	ackTo sarama.SyncProducer
	topic string
	inst  whisk.InvokerInstance
	wg    sync.WaitGroup // message handlers, the reaper
	// handling counts the activation messages taken and not yet recorded
	// and acked (Pending).
	handling atomic.Int64
	seq      atomic.Int64   // numbers the containers
	cwg      sync.WaitGroup // containers' log readers and exit watchers
	cold     coldStarts     // cold starts in progress (coldstart.go)
	runCtx   context.Context
}

// New checks cfg and returns an Invoker; Run starts it.
func New(cfg Config) (*Invoker, error) {
	if len(cfg.Brokers) == 0 {
		return nil, errors.New("invoker: no Kafka brokers (Config.Brokers)")
	}
	if cfg.Actions == nil || cfg.Activations == nil || cfg.Runtimes == nil {
		return nil, errors.New("invoker: Config.Actions, Activations and Runtimes are required")
	}
	if cfg.Docker == nil {
		if len(cfg.ProxyCommand) == 0 {
			return nil, errors.New("invoker: process mode needs Config.ProxyCommand")
		}
		if cfg.WorkDir == "" {
			return nil, errors.New("invoker: process mode needs Config.WorkDir")
		}
	} else {
		d := *cfg.Docker
		if d.Image == "" {
			return nil, errors.New("invoker: docker mode needs DockerConfig.Image")
		}
		if d.Network == "" {
			d.Network = "bridge"
		}
		if d.PauseGrace <= 0 {
			d.PauseGrace = DefaultPauseGrace
		}
		cfg.Docker = &d
	}
	if cfg.Index < 0 {
		return nil, fmt.Errorf("invoker: negative Index %d", cfg.Index)
	}
	if cfg.UserMemoryMB <= 0 {
		cfg.UserMemoryMB = DefaultUserMemoryMB
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.Host == "" {
		cfg.Host, _ = os.Hostname()
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	b := make([]byte, 3)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("invoker: random id: %w", err)
	}
	i := &Invoker{
		cfg:   cfg,
		log:   log.With("invoker", cfg.Index),
		runID: hex.EncodeToString(b),
		ready: make(chan struct{}),
		topic: whisk.TopicInvokerPrefix + strconv.Itoa(cfg.Index),
		inst: whisk.InvokerInstance{
			Instance: cfg.Index, UserMemory: fmt.Sprintf("%d MB", cfg.UserMemoryMB),
			InstanceType: "invoker", Tags: []string{}, DedicatedNamespaces: []string{},
			UniqueName: strconv.Itoa(cfg.Index), DisplayedName: cfg.Host,
		},
	}
	i.pool = newPool(cfg.UserMemoryMB)
	return i, nil
}

// Ready is closed once the consumer group has its partitions, so that no
// message produced afterwards is missed. It is never closed if Run fails
// first, so callers also watch Run's return.
func (i *Invoker) Ready() <-chan struct{} { return i.ready }

func saramaConfig() *sarama.Config {
	c := sarama.NewConfig()
	c.Version = sarama.V2_8_0_0
	c.ClientID = "wsk-route-dev-invoker"
	c.Consumer.Offsets.Initial = sarama.OffsetOldest
	c.Consumer.Return.Errors = true
	c.Producer.RequiredAcks = sarama.WaitForLocal
	c.Producer.Return.Successes = true
	c.Producer.Return.Errors = true
	// OpenWhisk's limit on invoker and completed messages.
	c.Producer.MaxMessageBytes = ResultLimit + 6068
	c.Metadata.Retry.Backoff = 100 * time.Millisecond
	return c
}

// Run consumes activation messages until ctx ends, then stops and removes
// every container and waits for its goroutines. It returns nil when ctx
// ended, else the error that stopped it.
func (i *Invoker) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	i.runCtx = ctx
	if i.cfg.Docker != nil {
		i.removeLeftovers()
	} else if err := os.MkdirAll(i.cfg.WorkDir, 0o755); err != nil {
		return fmt.Errorf("invoker: work dir: %w", err)
	}
	scfg := saramaConfig()
	prod, err := sarama.NewSyncProducer(i.cfg.Brokers, scfg)
	if err != nil {
		return fmt.Errorf("invoker: Kafka producer on %v: %w", i.cfg.Brokers, err)
	}
	i.ackTo = prod
	group, err := sarama.NewConsumerGroup(i.cfg.Brokers, i.topic, scfg)
	if err != nil {
		prod.Close()
		return fmt.Errorf("invoker: Kafka consumer group %s on %v: %w", i.topic, i.cfg.Brokers, err)
	}

	i.wg.Add(2)
	go func() {
		defer i.wg.Done()
		for {
			select {
			case <-ctx.Done():
				return
			case err, ok := <-group.Errors():
				if !ok {
					return
				}
				i.log.Warn("kafka consumer", "err", err)
			}
		}
	}()
	go func() {
		defer i.wg.Done()
		i.reap(ctx)
	}()

	h := &handler{i: i, ctx: ctx}
	for ctx.Err() == nil {
		if err := group.Consume(ctx, []string{i.topic}, h); err != nil {
			if errors.Is(err, sarama.ErrClosedConsumerGroup) || ctx.Err() != nil {
				break
			}
			i.log.Warn("kafka consume", "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
	cancel()
	if err := group.Close(); err != nil {
		i.log.Warn("closing consumer group", "err", err)
	}
	// Handlers end quickly once ctx is cancelled (their HTTP requests are
	// tied to it); then every container goes.
	i.wg.Wait()
	i.removeAll()
	i.cwg.Wait()
	if err := prod.Close(); err != nil {
		i.log.Warn("closing producer", "err", err)
	}
	return nil
}

// Pending returns how many activations the invoker took from its topic
// and has not finished: waiting for a container, running, or being
// recorded and acked. A container is released before its activation's
// record is stored (as OpenWhisk's ContainerProxy frees a container
// before the record is written), so an idle pool alone does not say that
// every record of a finished activation can be read.
func (i *Invoker) Pending() int { return int(i.handling.Load()) }

// handler is the sarama consumer group handler.
type handler struct {
	i   *Invoker
	ctx context.Context
}

func (h *handler) Setup(s sarama.ConsumerGroupSession) error {
	if len(s.Claims()[h.i.topic]) > 0 {
		h.i.once.Do(func() { close(h.i.ready) })
	}
	return nil
}

func (h *handler) Cleanup(sarama.ConsumerGroupSession) error { return nil }

func (h *handler) ConsumeClaim(s sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	for {
		select {
		case <-s.Context().Done():
			return nil
		case m, ok := <-claim.Messages():
			if !ok {
				return nil
			}
			received := time.Now()
			msg, err := whisk.ParseActivationMessage(m.Value)
			if err != nil {
				h.i.log.Warn("skipping a bad activation message", "offset", m.Offset, "err", err)
			} else {
				h.i.wg.Add(1)
				h.i.handling.Add(1)
				go func() {
					defer h.i.wg.Done()
					defer h.i.handling.Add(-1)
					h.i.handle(h.ctx, msg, received)
				}()
			}
			s.MarkMessage(m, "")
		}
	}
}

// sendAck produces the combined ack of act to completed<C>. An ack too
// large for Kafka is shrunk to the activation id, as OpenWhisk's
// MessagingActiveAck does (the controller then reads the stored record).
func (i *Invoker) sendAck(msg *whisk.ActivationMessage, act whisk.Activation, systemError bool) {
	ack := whisk.Ack{
		Kind: whisk.AckCombined, TransID: msg.TransID, ActivationID: act.ActivationID,
		IsSystemError: systemError, Instance: &i.inst,
	}
	if msg.Blocking {
		ack.Response = &act
	}
	c := msg.RootControllerIndex.AsString
	if c == "" {
		c = "0"
	}
	topic := whisk.TopicCompletedPrefix + c
	err := i.produceAck(topic, ack)
	var cerr sarama.ConfigurationError
	if ack.Response != nil && (errors.Is(err, sarama.ErrMessageSizeTooLarge) || errors.Is(err, sarama.ErrMessageTooLarge) || errors.As(err, &cerr)) {
		ack.Response = nil
		err = i.produceAck(topic, ack)
	}
	if err != nil {
		i.log.Error("sending ack", "topic", topic, "activation", act.ActivationID, "err", err)
	}
}

func (i *Invoker) produceAck(topic string, ack whisk.Ack) error {
	b, err := json.Marshal(ack)
	if err != nil {
		return fmt.Errorf("encoding the ack: %w", err)
	}
	_, _, err = i.ackTo.SendMessage(&sarama.ProducerMessage{Topic: topic, Value: sarama.ByteEncoder(b)})
	return err
}

// sanitize keeps the characters docker allows in names.
func sanitize(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '.':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	return b.String()
}
