package testenv_test

import (
	"net"
	"slices"
	"testing"

	"github.com/IBM/sarama"

	"github.com/wsk-route/wsk-route/internal/testenv"
)

func TestKafka(t *testing.T) {
	tests := []struct {
		name   string
		topics []string
	}{
		{"no topics", nil},
		{"seeded", []string{"invoker0", "completed0"}},
	}
	for _, tt := range tests {
		var addrs []string
		t.Run(tt.name, func(t *testing.T) {
			addrs = testenv.Kafka(t, tt.topics...)
			if len(addrs) != 1 {
				t.Fatalf("addresses %v, want one broker", addrs)
			}
			cfg := sarama.NewConfig()
			cfg.Version = sarama.V2_8_0_0
			c, err := sarama.NewClient(addrs, cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			got, err := c.Topics()
			if err != nil {
				t.Fatal(err)
			}
			slices.Sort(got)
			want := slices.Sorted(slices.Values(tt.topics))
			if !slices.Equal(got, want) {
				t.Errorf("topics %v, want %v", got, want)
			}
		})
		if len(addrs) == 1 {
			if conn, err := net.Dial("tcp", addrs[0]); err == nil {
				conn.Close()
				t.Errorf("%s: broker %s still accepts connections after the test", tt.name, addrs[0])
			}
		}
	}
}
