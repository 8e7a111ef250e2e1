package userevents

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/IBM/sarama"
)

// Topic is the user-events topic, before the prefix.
const Topic = "events"

// Security protocols, as Kafka's security.protocol and OpenWhisk's ansible
// kafka_protocol (kafka.protocol) name them.
const (
	ProtocolPlaintext     = "PLAINTEXT"
	ProtocolSSL           = "SSL"
	ProtocolSASLPlaintext = "SASL_PLAINTEXT"
	ProtocolSASLSSL       = "SASL_SSL"
)

// Kafka says how to reach the brokers and which topic to use. The names
// follow OpenWhisk's deployment (ansible group_vars/all and the
// CONFIG_whisk_kafka_* settings of its invokers).
type Kafka struct {
	// Brokers is the bootstrap list, "host:port" each: OpenWhisk's
	// kafka_connect_string, given to its invokers as KAFKA_HOSTS
	// (comma-separated). Required.
	Brokers []string
	// TopicPrefix is put before "events": OpenWhisk's
	// whisk.kafka.topics.user-event.prefix (ansible
	// kafka.topicsUserEventPrefix: kafka_topics_userEvent_prefix, which
	// defaults to kafka_topics_prefix). "": the topic is "events".
	TopicPrefix string
	// Protocol is ProtocolPlaintext (""), ProtocolSSL, ProtocolSASLPlaintext
	// or ProtocolSASLSSL: OpenWhisk's kafka_protocol.
	Protocol string
	// TLS is the client's TLS configuration under ProtocolSSL and
	// ProtocolSASLSSL; nil: the system's roots, no client certificate.
	TLS *tls.Config
	// SASLUser and SASLPassword authenticate with SASL/PLAIN under the
	// SASL protocols.
	SASLUser, SASLPassword string
	// ClientID names the client to the brokers; "": "wsk-route".
	ClientID string
	// DialTimeout bounds one connection attempt to a broker; 0: 5 s.
	DialTimeout time.Duration
}

// TopicName returns the user-events topic: TopicPrefix + "events".
func (k *Kafka) TopicName() string { return k.TopicPrefix + Topic }

// validate checks k.
func (k *Kafka) validate() error {
	if len(k.Brokers) == 0 {
		return ErrNoBrokers
	}
	for _, b := range k.Brokers {
		if b == "" || strings.ContainsAny(b, ", \t") {
			return fmt.Errorf("userevents: broker %q is not host:port", b)
		}
	}
	for _, c := range k.TopicPrefix {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("userevents: topic prefix %q: %q is not allowed in a Kafka topic name", k.TopicPrefix, c)
		}
	}
	if len(k.TopicName()) > 249 {
		return fmt.Errorf("userevents: topic prefix %q makes a topic name longer than 249 characters", k.TopicPrefix)
	}
	switch k.Protocol {
	case "", ProtocolPlaintext, ProtocolSSL:
	case ProtocolSASLPlaintext, ProtocolSASLSSL:
		if k.SASLUser == "" {
			return fmt.Errorf("userevents: protocol %s needs a SASL user", k.Protocol)
		}
	default:
		return fmt.Errorf("userevents: protocol %q is not %s, %s, %s or %s", k.Protocol,
			ProtocolPlaintext, ProtocolSSL, ProtocolSASLPlaintext, ProtocolSASLSSL)
	}
	return nil
}

// saramaConfig returns the client settings shared by Publisher and
// Consumer.
func (k *Kafka) saramaConfig() *sarama.Config {
	sc := sarama.NewConfig()
	sc.ClientID = k.ClientID
	if sc.ClientID == "" {
		sc.ClientID = "wsk-route"
	}
	sc.Net.DialTimeout = k.DialTimeout
	if sc.Net.DialTimeout <= 0 {
		sc.Net.DialTimeout = 5 * time.Second
	}
	sc.Net.ReadTimeout = 10 * time.Second
	sc.Net.WriteTimeout = 10 * time.Second
	// A connection attempt that fails is retried by Run with its own
	// back-off; a short metadata retry keeps a stop prompt.
	sc.Metadata.Retry.Max = 1
	sc.Metadata.Retry.Backoff = 250 * time.Millisecond
	if k.Protocol == ProtocolSSL || k.Protocol == ProtocolSASLSSL {
		sc.Net.TLS.Enable = true
		sc.Net.TLS.Config = k.TLS
		if sc.Net.TLS.Config == nil {
			sc.Net.TLS.Config = &tls.Config{MinVersion: tls.VersionTLS12}
		}
	}
	if k.Protocol == ProtocolSASLPlaintext || k.Protocol == ProtocolSASLSSL {
		sc.Net.SASL.Enable = true
		sc.Net.SASL.Mechanism = sarama.SASLTypePlaintext
		sc.Net.SASL.User = k.SASLUser
		sc.Net.SASL.Password = k.SASLPassword
		sc.Net.SASL.Handshake = true
	}
	return sc
}

// LoadTLS builds a client TLS configuration from PEM files: ca (the
// brokers' CA; "": the system's roots) and, when both are given, the
// client's certificate and key (for brokers that require client
// authentication, as OpenWhisk's kafka.ssl.client_authentication does).
// OpenWhisk's ansible keeps them in a Java keystore
// (kafka.ssl.keystore.name); export them to PEM first.
func LoadTLS(ca, cert, key string) (*tls.Config, error) {
	c := &tls.Config{MinVersion: tls.VersionTLS12}
	if ca != "" {
		b, err := os.ReadFile(ca)
		if err != nil {
			return nil, fmt.Errorf("userevents: TLS CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("userevents: TLS CA %s holds no PEM certificate", ca)
		}
		c.RootCAs = pool
	}
	if (cert == "") != (key == "") {
		return nil, errors.New("userevents: a TLS client certificate needs both its certificate and its key file")
	}
	if cert != "" {
		pair, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			return nil, fmt.Errorf("userevents: TLS client certificate: %w", err)
		}
		c.Certificates = []tls.Certificate{pair}
	}
	return c, nil
}

// nextBackoff doubles d up to limit.
func nextBackoff(d, limit time.Duration) time.Duration {
	return min(2*d, limit)
}
