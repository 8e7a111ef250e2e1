package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/wsk-route/wsk-route/internal/userevents"
)

// saslPasswordEnv names the environment variable that holds the SASL
// password when no -kafka-sasl-password-file is given.
const saslPasswordEnv = "WSK_ROUTE_KAFKA_SASL_PASSWORD"

// kafkaFlags are the flags of the agent's user events, named after
// OpenWhisk's ansible variables and invoker settings.
type kafkaFlags struct {
	hosts, prefix, protocol    string
	ca, cert, key              string
	saslUser, saslPasswordFile string
	queue                      int
	source                     string
}

func (k *kafkaFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&k.hosts, "kafka-hosts", "", "comma-separated Kafka `brokers` host:port that OpenWhisk's user events go to: OpenWhisk's kafka_connect_string (its invokers' KAFKA_HOSTS); empty: no user events")
	fs.StringVar(&k.prefix, "kafka-topics-user-event-prefix", "", "`prefix` of the events topic: OpenWhisk's whisk.kafka.topics.user-event.prefix (ansible kafka_topics_userEvent_prefix, which defaults to kafka_topics_prefix)")
	fs.StringVar(&k.protocol, "kafka-protocol", userevents.ProtocolPlaintext, "Kafka security `protocol`: PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL (OpenWhisk's kafka_protocol)")
	fs.StringVar(&k.ca, "kafka-ssl-ca", "", "PEM `file` of the CA of the brokers' certificates (SSL, SASL_SSL; default: the system's roots)")
	fs.StringVar(&k.cert, "kafka-ssl-cert", "", "PEM `file` of the client certificate, for brokers that require client authentication (with -kafka-ssl-key)")
	fs.StringVar(&k.key, "kafka-ssl-key", "", "PEM `file` of the client certificate's key")
	fs.StringVar(&k.saslUser, "kafka-sasl-user", "", "SASL/PLAIN `user` (SASL_PLAINTEXT, SASL_SSL)")
	fs.StringVar(&k.saslPasswordFile, "kafka-sasl-password-file", "", "`file` holding the SASL password (default: the environment variable "+saslPasswordEnv+")")
	fs.IntVar(&k.queue, "user-events-queue", userevents.DefaultQueue, "how many user `events` may wait to be sent; more are dropped and counted")
	fs.StringVar(&k.source, "user-events-source", "", "the events' `source` field (default: wsk-route-agent@<host>)")
}

// config returns the user events' configuration, or nil when no brokers
// are given (user events off). getenv reads the environment.
func (k *kafkaFlags) config(getenv func(string) string) (*userevents.PublisherConfig, error) {
	if strings.TrimSpace(k.hosts) == "" {
		if k.saslUser != "" || k.ca != "" || k.cert != "" || k.prefix != "" {
			return nil, errors.New("-kafka-* flags given without -kafka-hosts: user events need the brokers")
		}
		return nil, nil
	}
	var brokers []string
	for h := range strings.SplitSeq(k.hosts, ",") {
		if h = strings.TrimSpace(h); h != "" {
			brokers = append(brokers, h)
		}
	}
	if k.queue <= 0 {
		return nil, fmt.Errorf("-user-events-queue %d: want at least 1", k.queue)
	}
	cfg := &userevents.PublisherConfig{Kafka: userevents.Kafka{Brokers: brokers, TopicPrefix: k.prefix,
		Protocol: strings.ToUpper(k.protocol), SASLUser: k.saslUser}, Queue: k.queue}
	if cfg.Protocol == userevents.ProtocolSSL || cfg.Protocol == userevents.ProtocolSASLSSL {
		tc, err := userevents.LoadTLS(k.ca, k.cert, k.key)
		if err != nil {
			return nil, fmt.Errorf("-kafka-ssl-*: %w", err)
		}
		cfg.TLS = tc
	} else if k.ca != "" || k.cert != "" || k.key != "" {
		return nil, fmt.Errorf("-kafka-ssl-* given with -kafka-protocol %s: use SSL or SASL_SSL", k.protocol)
	}
	sasl := cfg.Protocol == userevents.ProtocolSASLPlaintext || cfg.Protocol == userevents.ProtocolSASLSSL
	if (k.saslUser != "" || k.saslPasswordFile != "") && !sasl {
		return nil, fmt.Errorf("-kafka-sasl-* given with -kafka-protocol %s: use SASL_PLAINTEXT or SASL_SSL", k.protocol)
	}
	if k.saslUser != "" {
		if k.saslPasswordFile != "" {
			b, err := os.ReadFile(k.saslPasswordFile)
			if err != nil {
				return nil, fmt.Errorf("-kafka-sasl-password-file: %w", err)
			}
			cfg.SASLPassword = strings.TrimRight(string(b), "\r\n")
		} else {
			cfg.SASLPassword = getenv(saslPasswordEnv)
		}
	}
	return cfg, nil
}
