package consulstore

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/wsk-route/wsk-route/internal/spec"
)

// Defaults for Options.
const (
	DefaultPrefix  = "wsk-route"
	DefaultService = "wsk-route"
)

// Options configures New. The zero value talks to the agent named by the
// Consul environment (CONSUL_HTTP_ADDR, default 127.0.0.1:8500) and uses
// the default prefix and service name.
type Options struct {
	// Address is the agent's HTTP address ("host:port", or with an
	// "http://", "https://" or "unix://" scheme). Empty means
	// api.DefaultConfig's, which reads CONSUL_HTTP_ADDR. Every other
	// setting (token, TLS) comes from the environment either way: see the
	// package documentation.
	Address string
	// Prefix is the KV prefix under which specs and keys live, without
	// leading or trailing '/'. Empty means DefaultPrefix.
	Prefix string
	// Service is the catalog service name instances register under. Empty
	// means DefaultService.
	Service string
	// RunRetention is how long the events of a run are kept after its
	// first one (runevents.go); 0 means DefaultRunRetention. At least
	// MinRunRetention.
	RunRetention time.Duration
}

// validate fills in defaults and checks the names.
func (o *Options) validate() error {
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	}
	if o.Service == "" {
		o.Service = DefaultService
	}
	if o.RunRetention == 0 {
		o.RunRetention = DefaultRunRetention
	}
	if o.RunRetention < MinRunRetention {
		return fmt.Errorf("consulstore: run retention %v is less than %v", o.RunRetention, MinRunRetention)
	}
	for _, seg := range strings.Split(o.Prefix, "/") {
		if err := checkName("prefix segment", seg); err != nil {
			return err
		}
	}
	return checkName("service", o.Service)
}

// Store reads and writes wsk-route's state in Consul. Its methods are safe
// for concurrent use.
type Store struct {
	kv      *api.KV
	txn     *api.Txn
	agent   *api.Agent
	health  *api.Health
	hc      *http.Client // closed by Close
	prefix  string       // Options.Prefix
	service string       // Options.Service
	session *api.Session
	runs    *runSessions // the sessions run events are written under
}

// New returns a Store for opts. It does not contact Consul.
func New(opts Options) (*Store, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	cfg := api.DefaultConfig()
	if opts.Address != "" {
		cfg.Address = opts.Address
	}
	c, err := api.NewClient(cfg)
	if err != nil {
		return nil, fmt.Errorf("consulstore: client: %w", err)
	}
	return &Store{
		kv:      c.KV(),
		txn:     c.Txn(),
		agent:   c.Agent(),
		health:  c.Health(),
		hc:      cfg.HttpClient,
		prefix:  opts.Prefix,
		service: opts.Service,
		session: c.Session(),
		runs:    newRunSessions(opts.RunRetention),
	}, nil
}

// Close releases the store's idle connections. Calls in flight are not
// affected (cancel their contexts); the store stays usable.
func (s *Store) Close() error {
	if s.hc != nil {
		s.hc.CloseIdleConnections()
	}
	return nil
}

// checkName reports whether name can be one segment of a KV path: the
// rules of spec.CheckName, wrapped in ErrBadName.
func checkName(what, name string) error {
	if err := spec.CheckName(what, name); err != nil {
		return fmt.Errorf("%w: %w", ErrBadName, err)
	}
	return nil
}
