package usermetrics

import (
	"context"
	"fmt"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/wsk-route/wsk-route/internal/userevents"
)

// ServiceConfig configures a Service.
type ServiceConfig struct {
	// Consumer says where the events are read from; its Handler must be
	// nil (the Service sets it). Kafka.Brokers is required.
	Consumer userevents.ConsumerConfig
	// Recorder configures the metrics.
	Recorder Config
}

// Service is what OpenWhisk's user-events service is: a consumer of the
// events topic that records every event in a Prometheus registry of its
// own, served by Handler (OpenWhisk serves it on port 9095 at /metrics).
// Create it with NewService; call Run from one goroutine.
type Service struct {
	reg      *prometheus.Registry
	recorder *Recorder
	consumer *userevents.Consumer
}

// NewService creates the registry, the Recorder and the Consumer.
func NewService(cfg ServiceConfig) (*Service, error) {
	if cfg.Consumer.Handler != nil {
		return nil, fmt.Errorf("usermetrics: ServiceConfig.Consumer.Handler must be nil: the Service records the events")
	}
	reg := prometheus.NewRegistry()
	rec, err := New(reg, cfg.Recorder)
	if err != nil {
		return nil, err
	}
	cfg.Consumer.Handler = rec
	cons, err := userevents.NewConsumer(cfg.Consumer)
	if err != nil {
		return nil, fmt.Errorf("usermetrics: %w", err)
	}
	for _, c := range []prometheus.Collector{
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "wsk_route_user_events_consumed_total",
			Help: "User events read from the events topic and recorded."}, func() float64 { return float64(cons.Counts().Consumed) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "wsk_route_user_events_invalid_total",
			Help: "Messages of the events topic that are not OpenWhisk user events, skipped."}, func() float64 { return float64(cons.Counts().Invalid) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "wsk_route_user_events_unrecorded_total",
			Help: "Activation events not recorded because MaxActions series exist already."}, func() float64 { return float64(rec.Dropped()) }),
	} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("usermetrics: register: %w", err)
		}
	}
	return &Service{reg: reg, recorder: rec, consumer: cons}, nil
}

// Handler serves the metrics in Prometheus' text format.
func (s *Service) Handler() http.Handler { return promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{}) }

// Registry returns the Service's registry, to gather or to add to.
func (s *Service) Registry() *prometheus.Registry { return s.reg }

// Run consumes and records events until ctx ends, then returns nil (see
// userevents.Consumer.Run).
func (s *Service) Run(ctx context.Context) error { return s.consumer.Run(ctx) }
