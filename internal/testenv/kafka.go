package testenv

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"
)

// Kafka starts an in-process one-broker Kafka (kfake) for one test, closes
// it at the test's cleanup, and returns its bootstrap addresses. Each of
// topics is created with one partition before Kafka returns; with no
// topics the broker starts with none (and, like a real Kafka without
// auto-creation, has only those its clients create).
func Kafka(t testing.TB, topics ...string) []string {
	t.Helper()
	opts := []kfake.Opt{kfake.NumBrokers(1)}
	if len(topics) > 0 {
		opts = append(opts, kfake.SeedTopics(1, topics...))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		t.Fatalf("testenv: starting kfake: %v", err)
	}
	t.Cleanup(c.Close)
	return c.ListenAddrs()
}
