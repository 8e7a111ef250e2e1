package sandbox

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/wsk-route/wsk-route/internal/userevents"
	"github.com/wsk-route/wsk-route/internal/whisk"
)

// The embedded broker keeps its log in memory, in segments of
// kafkaSegmentBytes; trimming frees whole segments only.
const (
	kafkaSegmentBytes = 1 << 20
	kafkaTrimInterval = 250 * time.Millisecond
)

// embeddedKafka is the sandbox's in-process Kafka-protocol broker (kfake)
// with its memory bounded by what its consumers have not read yet: a
// broker that kept every message would grow by the size of each
// activation's parameters and result, for as long as the sandbox runs.
//
// Every kafkaTrimInterval, each of the sandbox's topics is cut (a
// DeleteRecords) below the offset its one consumer has consumed:
//
//   - invoker<N> is read by the invoker's consumer group, named after the
//     topic: the offset the group committed (sarama commits every second),
//     so that a group session that starts over resumes where it should;
//   - completed<N> is read by the controller's partition consumer, which
//     has no group: the offset of its latest fetch, which it sends only
//     once it has every message before it.
//
// A message nobody has consumed is never cut, however old or large; a
// topic of the broker's that is not the sandbox's is never cut. The
// trimmer assumes the sandbox's consumers are the only ones of its topics
// (another client reading completed<N> would lose what the controller has
// read before it does).
type embeddedKafka struct {
	cluster *kfake.Cluster
	topics  []string // the sandbox's topics
	// fetchedTopics are the sandbox's topics read without a group, by
	// name; ids names them by topic id, for fetches that do so (v13+).
	fetchedTopics map[string]bool
	ids           map[[16]byte]string
	// groups maps the topics read by a group to that group.
	groups map[string]string

	mu      sync.Mutex               // guards the fields below
	fetched map[topicPartition]int64 // latest fetch offset, of fetchedTopics
	trimmed int64                    // records cut
}

// topicPartition names one partition.
type topicPartition struct {
	topic     string
	partition int32
}

// startKafka starts the broker with the topics of a sandbox of invokers
// invokers (one partition each, as OpenWhisk's) and the fetch observer
// trim needs. It listens on listen ("host:port"), or on a free loopback
// port when listen is "".
func startKafka(listen string, invokers int) (*embeddedKafka, error) {
	opts := []kfake.Opt{kfake.NumBrokers(1), kfake.SeedTopics(1, topics(invokers)...),
		kfake.BrokerConfigs(map[string]string{"log.segment.bytes": strconv.Itoa(kafkaSegmentBytes)})}
	if listen != "" {
		opts = append(opts, kfake.ListenFn(func(network, _ string) (net.Listener, error) { return net.Listen(network, listen) }))
	}
	kc, err := kfake.NewCluster(opts...)
	if err != nil {
		return nil, fmt.Errorf("sandbox: embedded kafka broker %s: %w", listen, err)
	}
	completed := whisk.TopicCompletedPrefix + "0"
	k := &embeddedKafka{
		cluster:       kc,
		topics:        topics(invokers),
		fetchedTopics: map[string]bool{completed: true},
		ids:           map[[16]byte]string{},
		groups:        map[string]string{},
		fetched:       map[topicPartition]int64{},
	}
	for i := range invokers {
		t := whisk.TopicInvokerPrefix + strconv.Itoa(i)
		k.groups[t] = t // each invoker's group is named after its topic
	}
	k.groups[userevents.Topic] = userEventsGroup
	if ti := kc.TopicInfo(completed); ti != nil {
		k.ids[ti.TopicID] = completed
	}
	kc.ControlKey(kmsg.Fetch.Int16(), k.observeFetch)
	return k, nil
}

// Addrs returns the broker's address list.
func (k *embeddedKafka) Addrs() []string { return k.cluster.ListenAddrs() }

// Close stops the broker.
func (k *embeddedKafka) Close() { k.cluster.Close() }

// observeFetch records the fetch offsets of fetchedTopics. It runs in the broker's loop for every fetch request and
// never handles one (the broker answers it as usual).
func (k *embeddedKafka) observeFetch(req kmsg.Request) (kmsg.Response, error, bool) {
	fr, ok := req.(*kmsg.FetchRequest)
	if !ok {
		return nil, nil, false
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, t := range fr.Topics {
		name := t.Topic
		if name == "" {
			name = k.ids[t.TopicID]
		}
		if !k.fetchedTopics[name] {
			continue
		}
		for _, p := range t.Partitions {
			tp := topicPartition{name, p.Partition}
			if p.FetchOffset > k.fetched[tp] {
				k.fetched[tp] = p.FetchOffset
			}
		}
	}
	return nil, nil, false
}

// trim cuts every kafkaTrimInterval until ctx ends.
func (k *embeddedKafka) trim(ctx context.Context) error {
	t := time.NewTicker(kafkaTrimInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			k.trimOnce()
		}
	}
}

// trimOnce cuts each of the sandbox's topics below what its consumer has
// consumed.
func (k *embeddedKafka) trimOnce() {
	for _, topic := range k.topics {
		consumed := k.consumed(topic)
		for p, off := range consumed {
			pi := k.cluster.PartitionInfo(topic, p)
			if pi == nil || off <= pi.LogStartOffset {
				continue
			}
			off = min(off, pi.HighWatermark)
			if err := k.cluster.DeleteRecords(topic, p, off); err != nil {
				continue // the partition moved meanwhile; the next tick tries again
			}
			k.mu.Lock()
			k.trimmed += off - pi.LogStartOffset
			k.mu.Unlock()
		}
	}
}

// consumed returns, by partition, the offset below which topic's consumer
// has consumed every message.
func (k *embeddedKafka) consumed(topic string) map[int32]int64 {
	out := map[int32]int64{}
	if group := k.groups[topic]; group != "" {
		gi := k.cluster.GroupInfo(group)
		if gi == nil {
			return out
		}
		for p, c := range gi.Commits[topic] {
			out[p] = c.Offset
		}
		return out
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	for tp, off := range k.fetched {
		if tp.topic == topic {
			out[tp.partition] = off
		}
	}
	return out
}

// kafkaRetention is what the embedded broker holds.
type kafkaRetention struct {
	// Bytes is the size of the batches the broker holds, all topics.
	Bytes int64
	// Trimmed is how many records were cut, all topics.
	Trimmed int64
}

// retention reports what the broker holds.
func (k *embeddedKafka) retention() kafkaRetention {
	var r kafkaRetention
	for _, t := range k.topics {
		for _, pi := range k.cluster.PartitionInfos(t) {
			r.Bytes += pi.NumBytes
		}
	}
	k.mu.Lock()
	r.Trimmed = k.trimmed
	k.mu.Unlock()
	return r
}
