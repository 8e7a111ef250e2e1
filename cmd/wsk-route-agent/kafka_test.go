package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/wsk-route/wsk-route/internal/userevents"
)

func TestKafkaFlags(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "pw")
	if err := os.WriteFile(pw, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := func(k string) string {
		if k == saslPasswordEnv {
			return "from-env"
		}
		return ""
	}
	tests := []struct {
		name    string
		flags   kafkaFlags
		want    *userevents.PublisherConfig
		wantErr string
	}{
		{name: "off", flags: kafkaFlags{queue: 10}, want: nil},
		{name: "brokers and prefix", flags: kafkaFlags{hosts: "k1:9093, k2:9093,", prefix: "ow_", protocol: "plaintext", queue: 10},
			want: &userevents.PublisherConfig{Kafka: userevents.Kafka{Brokers: []string{"k1:9093", "k2:9093"}, TopicPrefix: "ow_", Protocol: "PLAINTEXT"}, Queue: 10}},
		{name: "SASL password from the environment", flags: kafkaFlags{hosts: "k1:9093", protocol: "SASL_PLAINTEXT", saslUser: "whisk", queue: 1},
			want: &userevents.PublisherConfig{Kafka: userevents.Kafka{Brokers: []string{"k1:9093"}, Protocol: "SASL_PLAINTEXT", SASLUser: "whisk", SASLPassword: "from-env"}, Queue: 1}},
		{name: "SASL password from a file", flags: kafkaFlags{hosts: "k1:9093", protocol: "SASL_PLAINTEXT", saslUser: "whisk", saslPasswordFile: pw, queue: 1},
			want: &userevents.PublisherConfig{Kafka: userevents.Kafka{Brokers: []string{"k1:9093"}, Protocol: "SASL_PLAINTEXT", SASLUser: "whisk", SASLPassword: "from-file"}, Queue: 1}},
		{name: "kafka flags without hosts", flags: kafkaFlags{saslUser: "whisk", queue: 1}, wantErr: "without -kafka-hosts"},
		{name: "CA with PLAINTEXT", flags: kafkaFlags{hosts: "k1:9093", protocol: "PLAINTEXT", ca: pw, queue: 1}, wantErr: "use SSL"},
		{name: "CA file that is not PEM", flags: kafkaFlags{hosts: "k1:9093", protocol: "SSL", ca: pw, queue: 1}, wantErr: "no PEM certificate"},
		{name: "missing CA file", flags: kafkaFlags{hosts: "k1:9093", protocol: "SSL", ca: filepath.Join(dir, "nope"), queue: 1}, wantErr: "TLS CA"},
		{name: "certificate without key", flags: kafkaFlags{hosts: "k1:9093", protocol: "SSL", cert: pw, queue: 1}, wantErr: "both"},
		{name: "missing password file", flags: kafkaFlags{hosts: "k1:9093", protocol: "SASL_SSL", saslUser: "u", saslPasswordFile: filepath.Join(dir, "nope"), queue: 1}, wantErr: "-kafka-sasl-password-file"},
		{name: "SASL user with PLAINTEXT", flags: kafkaFlags{hosts: "k1:9093", protocol: "PLAINTEXT", saslUser: "whisk", queue: 1}, wantErr: "use SASL_PLAINTEXT"},
		{name: "zero queue", flags: kafkaFlags{hosts: "k1:9093", queue: 0}, wantErr: "-user-events-queue"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.flags.config(env)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("config = %+v, %v; want an error with %q", got, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != nil && got.TLS != nil {
				t.Errorf("TLS set for protocol %s", got.Protocol)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("config = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestTraceEndpoint(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	tests := []struct {
		flag string
		env  map[string]string
		want string
	}{
		{"", nil, ""},
		{"http://c:4318", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://other:4318"}, "http://c:4318"},
		{"", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://other:4318"}, "http://other:4318"},
		{"", map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://t:4318/v1/traces", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://other:4318"}, "http://t:4318"},
	}
	for _, tc := range tests {
		if got := traceEndpoint(tc.flag, env(tc.env)); got != tc.want {
			t.Errorf("traceEndpoint(%q, %v) = %q, want %q", tc.flag, tc.env, got, tc.want)
		}
	}
}
