package userevents

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"
)

// DefaultGroup is the consumer group of a Consumer without one. It is not
// OpenWhisk's ("kamon"), so that a Consumer and OpenWhisk's user-events
// service each read every event instead of splitting the partitions.
const DefaultGroup = "wsk-route-user-events"

// Handler takes one event a Consumer read. It is called from one
// goroutine per partition at a time and must not keep e's pointers
// beyond the call unless it owns them from then on (a Consumer does not
// reuse them).
type Handler interface {
	HandleEvent(e *EventMessage)
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(e *EventMessage)

// HandleEvent calls f(e).
func (f HandlerFunc) HandleEvent(e *EventMessage) { f(e) }

var _ Handler = HandlerFunc(nil)

// ConsumerConfig configures a Consumer. Kafka.Brokers and Handler are
// required.
type ConsumerConfig struct {
	Kafka
	// Group is the consumer group; "": DefaultGroup. A new group starts at
	// the oldest event kept, as OpenWhisk's service does
	// (auto.offset.reset=earliest); offsets are committed every second.
	Group string
	// Handler takes each event that parses.
	Handler Handler
	// MaxBackoff caps the wait between attempts to join the group. 0:
	// DefaultMaxBackoff.
	MaxBackoff time.Duration
	// Logger receives warnings; nil: slog.Default().
	Logger *slog.Logger
}

// ConsumerCounts are a Consumer's counters.
type ConsumerCounts struct {
	Consumed uint64 // events handed to the Handler
	Invalid  uint64 // messages that did not parse (Parse), skipped
}

// Consumer reads the events topic as a member of a consumer group and
// hands each event to its Handler. Create it with NewConsumer.
type Consumer struct {
	cfg     ConsumerConfig
	log     *slog.Logger
	started atomic.Bool

	consumed, invalid atomic.Uint64
}

// NewConsumer checks cfg and returns a Consumer; it does not connect
// (Run does).
func NewConsumer(cfg ConsumerConfig) (*Consumer, error) {
	if err := cfg.Kafka.validate(); err != nil {
		return nil, err
	}
	if cfg.Handler == nil {
		return nil, errors.New("userevents: ConsumerConfig.Handler is required")
	}
	if cfg.Group == "" {
		cfg.Group = DefaultGroup
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = DefaultMaxBackoff
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Consumer{cfg: cfg, log: cfg.Logger}, nil
}

// Counts returns the counters.
func (c *Consumer) Counts() ConsumerCounts {
	return ConsumerCounts{Consumed: c.consumed.Load(), Invalid: c.invalid.Load()}
}

// Run joins the group and consumes until ctx ends, then leaves the group
// and returns nil. Failures to reach the brokers or to join are retried
// with a back-off doubling to MaxBackoff. An error means Run was called
// twice.
func (c *Consumer) Run(ctx context.Context) error {
	if c.started.Swap(true) {
		return errors.New("userevents: Consumer.Run called twice")
	}
	sc := c.cfg.saramaConfig()
	sc.Consumer.Offsets.Initial = sarama.OffsetOldest
	sc.Consumer.Offsets.AutoCommit.Enable = true
	sc.Consumer.Offsets.AutoCommit.Interval = time.Second
	sc.Consumer.MaxWaitTime = 250 * time.Millisecond
	backoff := 250 * time.Millisecond
	var group sarama.ConsumerGroup
	for {
		var err error
		if group, err = sarama.NewConsumerGroup(c.cfg.Brokers, c.cfg.Group, sc); err == nil {
			break
		}
		c.log.Warn("userevents: cannot reach the Kafka brokers; retrying", "brokers", c.cfg.Brokers, "err", err)
		if !sleep(ctx, backoff) {
			return nil
		}
		backoff = nextBackoff(backoff, c.cfg.MaxBackoff)
	}
	defer group.Close()
	topics := []string{c.cfg.TopicName()}
	backoff = 250 * time.Millisecond
	for ctx.Err() == nil {
		// Consume returns at each rebalance; it is called again.
		if err := group.Consume(ctx, topics, (*groupHandler)(c)); err != nil && ctx.Err() == nil {
			c.log.Warn("userevents: consuming the events topic failed; retrying", "topic", topics[0], "group", c.cfg.Group, "err", err)
			if !sleep(ctx, backoff) {
				break
			}
			backoff = nextBackoff(backoff, c.cfg.MaxBackoff)
			continue
		}
		backoff = 250 * time.Millisecond
	}
	return nil
}

// sleep waits d or until ctx ends; it reports whether ctx is still live.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// groupHandler is a Consumer as sarama's group handler.
type groupHandler Consumer

var _ sarama.ConsumerGroupHandler = (*groupHandler)(nil)

// Setup implements sarama.ConsumerGroupHandler.
func (h *groupHandler) Setup(sarama.ConsumerGroupSession) error { return nil }

// Cleanup implements sarama.ConsumerGroupHandler.
func (h *groupHandler) Cleanup(sarama.ConsumerGroupSession) error { return nil }

// ConsumeClaim implements sarama.ConsumerGroupHandler: it parses each
// message of one partition and hands it to the Handler.
func (h *groupHandler) ConsumeClaim(sess sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	for {
		select {
		case <-sess.Context().Done():
			return nil
		case msg, ok := <-claim.Messages():
			if !ok {
				return nil
			}
			e, err := Parse(msg.Value)
			if err != nil {
				if n := h.invalid.Add(1); n%100 == 1 {
					h.log.Warn("userevents: skipping a message that is not a user event", "topic", msg.Topic,
						"partition", msg.Partition, "offset", msg.Offset, "invalid", n, "err", err)
				}
			} else {
				h.cfg.Handler.HandleEvent(e)
				h.consumed.Add(1)
			}
			sess.MarkMessage(msg, "")
		}
	}
}
