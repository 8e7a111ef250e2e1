package userevents

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"
)

// Defaults of PublisherConfig.
const (
	DefaultQueue         = 4096
	DefaultFlushInterval = 50 * time.Millisecond
	DefaultFlushTimeout  = 2 * time.Second
	DefaultMaxBackoff    = 30 * time.Second
)

// PublisherConfig configures a Publisher. Kafka.Brokers is required; the
// zero value of every other field is a useful default.
type PublisherConfig struct {
	Kafka
	// Queue bounds the events waiting to be sent; an event that finds it
	// full is dropped and counted. 0: DefaultQueue.
	Queue int
	// FlushInterval is how long the producer gathers events into one
	// batch before it sends them. 0: DefaultFlushInterval.
	FlushInterval time.Duration
	// FlushTimeout bounds, once Run's ctx has ended, the wait for the
	// queued events to be handed to the producer; the producer then
	// flushes them with its own timeouts. 0: DefaultFlushTimeout.
	FlushTimeout time.Duration
	// MaxBackoff caps the wait between connection attempts. 0:
	// DefaultMaxBackoff.
	MaxBackoff time.Duration
	// Logger receives warnings (connection failures, failed sends, both
	// rate-limited); nil: slog.Default().
	Logger *slog.Logger
}

// Counts are a Publisher's event counters since it was created.
type Counts struct {
	Published uint64 // acknowledged by a broker
	Failed    uint64 // the producer gave up on them (after its retries)
	// DroppedFull, DroppedInvalid and DroppedStopped count the events
	// dropped before they reached the producer: the queue was full, Check
	// refused them, or they were still queued when Run ended.
	DroppedFull, DroppedInvalid, DroppedStopped uint64
	// ConnectFailures counts the failed attempts to reach the brokers.
	ConnectFailures uint64
}

// Publisher sends user events to the events topic without ever blocking
// its callers. Create it with NewPublisher.
type Publisher struct {
	cfg   PublisherConfig
	log   *slog.Logger
	queue chan *EventMessage

	started atomic.Bool
	stopped atomic.Bool // Run has returned: Publish drops
	// counters of Counts
	published, failed, droppedFull, droppedInvalid, droppedStopped, connectFailures atomic.Uint64
}

// NewPublisher checks cfg and returns a Publisher; it does not connect
// (Run does).
func NewPublisher(cfg PublisherConfig) (*Publisher, error) {
	if err := cfg.Kafka.validate(); err != nil {
		return nil, err
	}
	if cfg.Queue <= 0 {
		cfg.Queue = DefaultQueue
	}
	if cfg.FlushInterval <= 0 {
		cfg.FlushInterval = DefaultFlushInterval
	}
	if cfg.FlushTimeout <= 0 {
		cfg.FlushTimeout = DefaultFlushTimeout
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = DefaultMaxBackoff
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Publisher{cfg: cfg, log: cfg.Logger, queue: make(chan *EventMessage, cfg.Queue)}, nil
}

// Topic returns the topic the events go to.
func (p *Publisher) Topic() string { return p.cfg.TopicName() }

// Publish queues e for sending and reports whether it was queued. It
// never blocks: an event that Check refuses, that finds the queue full,
// or that comes after Run has returned, is dropped and counted (one that
// races with Run's return may stay queued, uncounted). The Publisher owns
// e from then on; the caller must not change it.
func (p *Publisher) Publish(e *EventMessage) bool {
	if e.Check() != nil {
		p.droppedInvalid.Add(1)
		return false
	}
	if p.stopped.Load() {
		p.droppedStopped.Add(1)
		return false
	}
	select {
	case p.queue <- e:
		return true
	default:
		if p.droppedFull.Add(1)%1000 == 1 {
			p.log.Warn("userevents: queue full; dropping user events", "queue", cap(p.queue), "dropped", p.droppedFull.Load())
		}
		return false
	}
}

// Counts returns the counters. They are read one by one, not as one
// snapshot.
func (p *Publisher) Counts() Counts {
	return Counts{Published: p.published.Load(), Failed: p.failed.Load(),
		DroppedFull: p.droppedFull.Load(), DroppedInvalid: p.droppedInvalid.Load(),
		DroppedStopped: p.droppedStopped.Load(), ConnectFailures: p.connectFailures.Load()}
}

// Run connects to the brokers, retrying with a back-off doubling to
// MaxBackoff while they cannot be reached, then sends the queued events
// until ctx ends; it then hands what is still queued to the producer for
// at most FlushTimeout, flushes it, and returns nil. An error means Run
// was called twice.
func (p *Publisher) Run(ctx context.Context) error {
	if p.started.Swap(true) {
		return errors.New("userevents: Publisher.Run called twice")
	}
	prod := p.connect(ctx)
	if prod != nil {
		p.pump(ctx, prod)
	}
	p.stopped.Store(true)
	p.dropQueued()
	return nil
}

// connect creates the producer, retrying until it succeeds or ctx ends
// (then it returns nil).
func (p *Publisher) connect(ctx context.Context) sarama.AsyncProducer {
	sc := p.cfg.saramaConfig()
	sc.Producer.RequiredAcks = sarama.WaitForLocal // acks=1, as OpenWhisk's producers
	sc.Producer.Return.Successes = true
	sc.Producer.Return.Errors = true
	sc.Producer.Flush.Frequency = p.cfg.FlushInterval
	sc.Producer.Flush.Bytes = 256 << 10
	backoff := 250 * time.Millisecond
	for {
		prod, err := sarama.NewAsyncProducer(p.cfg.Brokers, sc)
		if err == nil {
			p.log.Info("userevents: publishing", "brokers", p.cfg.Brokers, "topic", p.Topic())
			return prod
		}
		if n := p.connectFailures.Add(1); n == 1 || n%10 == 0 {
			p.log.Warn("userevents: cannot reach the Kafka brokers; retrying", "brokers", p.cfg.Brokers, "failures", n, "err", err)
		}
		if !sleep(ctx, backoff) {
			return nil
		}
		backoff = nextBackoff(backoff, p.cfg.MaxBackoff)
	}
}

// pump hands the queued events to prod until ctx ends, then flushes and
// closes prod.
func (p *Publisher) pump(ctx context.Context, prod sarama.AsyncProducer) {
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for range prod.Successes() {
			p.published.Add(1)
		}
	}()
	go func() {
		defer wg.Done()
		for pe := range prod.Errors() {
			if n := p.failed.Add(1); n%100 == 1 {
				p.log.Warn("userevents: sending a user event failed", "topic", p.Topic(), "failed", n, "err", pe.Err)
			}
		}
	}()
	topic := p.Topic()
	// send hands e to the producer unless stop closes first.
	send := func(e *EventMessage, stop <-chan struct{}) bool {
		b, err := e.AppendJSON(make([]byte, 0, 512))
		if err != nil { // Publish checked it: cannot happen, but never send garbage
			p.droppedInvalid.Add(1)
			return true
		}
		select {
		case prod.Input() <- &sarama.ProducerMessage{Topic: topic, Value: sarama.ByteEncoder(b)}:
			return true
		case <-stop:
			p.droppedStopped.Add(1)
			return false
		}
	}
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case e := <-p.queue:
			if !send(e, ctx.Done()) {
				break loop
			}
		}
	}
	// Final flush: what is queued now, for at most FlushTimeout.
	flushCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.cfg.FlushTimeout)
	defer cancel()
drain:
	for {
		select {
		case e := <-p.queue:
			if !send(e, flushCtx.Done()) {
				break drain
			}
		default:
			break drain
		}
	}
	prod.AsyncClose() // flushes, then closes Successes and Errors
	wg.Wait()
}

// dropQueued counts what is left in the queue as dropped.
func (p *Publisher) dropQueued() {
	for {
		select {
		case <-p.queue:
			p.droppedStopped.Add(1)
		default:
			return
		}
	}
}
