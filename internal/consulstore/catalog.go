package consulstore

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/wsk-route/wsk-route/internal/routetable"
)

// deregisterAfter is how long an instance's check may stay critical before
// Consul removes the instance: the shortest Consul allows.
const deregisterAfter = "1m"

// Service Meta keys; one per routetable.Instance field except ID, which is
// the service ID.
const (
	metaNamespace   = "ns"
	metaAction      = "action"
	metaVersion     = "version"
	metaHost        = "host"
	metaUnix        = "unix"
	metaTCP         = "tcp"
	metaRelay       = "relay"
	metaConcurrency = "concurrency"
)

// maxMetaValueLen is Consul's limit on a Meta value. Its limit on service
// IDs is routetable.MaxIDLen.
const maxMetaValueLen = 512

// checkID is the ID of an instance's TTL check.
func checkID(id string) string { return "service:" + id }

// checkInstanceID reports whether id can be a service ID (it goes into the
// agent API's URL paths): the rules of routetable.CheckID, wrapped in
// ErrBadInstance.
func checkInstanceID(id string) error {
	if err := routetable.CheckID(id); err != nil {
		return fmt.Errorf("%w: %w", ErrBadInstance, err)
	}
	return nil
}

// encodeMeta checks inst and returns its service Meta.
func encodeMeta(inst routetable.Instance) (map[string]string, error) {
	if err := checkInstanceID(inst.ID); err != nil {
		return nil, err
	}
	if inst.Concurrency < 0 {
		return nil, fmt.Errorf("%w: %s: negative concurrency %d", ErrBadInstance, inst.ID, inst.Concurrency)
	}
	m := map[string]string{
		metaNamespace: inst.Namespace,
		metaAction:    inst.Action,
		metaHost:      inst.Host,
	}
	for k, v := range map[string]string{
		metaVersion: inst.Version,
		metaUnix:    inst.Unix,
		metaTCP:     inst.TCP,
		metaRelay:   inst.Relay,
	} {
		if v != "" {
			m[k] = v
		}
	}
	if inst.Concurrency != 0 {
		m[metaConcurrency] = strconv.Itoa(inst.Concurrency)
	}
	for k, v := range m {
		if v == "" {
			return nil, fmt.Errorf("%w: %s: empty %s", ErrBadInstance, inst.ID, k)
		}
		if len(v) > maxMetaValueLen {
			return nil, fmt.Errorf("%w: %s: %s longer than %d bytes", ErrBadInstance, inst.ID, k, maxMetaValueLen)
		}
	}
	return m, nil
}

// decodeInstance rebuilds an instance from its service ID and Meta. Meta
// keys it does not know are ignored (a newer writer may add some).
func decodeInstance(id string, meta map[string]string) (routetable.Instance, error) {
	inst := routetable.Instance{
		ID:        id,
		Namespace: meta[metaNamespace],
		Action:    meta[metaAction],
		Version:   meta[metaVersion],
		Host:      meta[metaHost],
		Unix:      meta[metaUnix],
		TCP:       meta[metaTCP],
		Relay:     meta[metaRelay],
	}
	if c, ok := meta[metaConcurrency]; ok {
		n, err := strconv.Atoi(c)
		if err != nil || n < 0 {
			return routetable.Instance{}, fmt.Errorf("%w: %s: concurrency %q", ErrBadInstance, id, c)
		}
		inst.Concurrency = n
	}
	if err := checkInstanceID(id); err != nil {
		return routetable.Instance{}, err
	}
	for k, v := range map[string]string{metaNamespace: inst.Namespace, metaAction: inst.Action, metaHost: inst.Host} {
		if v == "" {
			return routetable.Instance{}, fmt.Errorf("%w: %s: no %s in Meta", ErrBadInstance, id, k)
		}
	}
	return inst, nil
}

// tcpAddress splits an endpoint "tcp:host:port" into the service's Address
// and Port.
func tcpAddress(endpoint string) (string, int, error) {
	hostport, ok := strings.CutPrefix(endpoint, "tcp:")
	if !ok {
		return "", 0, fmt.Errorf("%w: TCP endpoint %q is not tcp:host:port", ErrBadInstance, endpoint)
	}
	host, p, err := net.SplitHostPort(hostport)
	if err != nil {
		return "", 0, fmt.Errorf("%w: TCP endpoint %q: %w", ErrBadInstance, endpoint, err)
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 1 || port > 65535 || host == "" {
		return "", 0, fmt.Errorf("%w: TCP endpoint %q is not tcp:host:port", ErrBadInstance, endpoint)
	}
	return host, port, nil
}

// Register registers inst with the local agent as an instance of the
// store's service: ID inst.ID, every field in Meta, Address and Port from
// inst.TCP when it has one, and a TTL check "service:<ID>" that starts
// passing and must be passed (Pass) more often than ttl. A check left
// critical for a minute (the least Consul allows) deregisters the
// instance. Registering an ID again replaces the instance and its check.
func (s *Store) Register(ctx context.Context, inst routetable.Instance, ttl time.Duration) error {
	meta, err := encodeMeta(inst)
	if err != nil {
		return fmt.Errorf("consulstore: register: %w", err)
	}
	if ttl <= 0 {
		return fmt.Errorf("consulstore: register %s: TTL %v is not positive", inst.ID, ttl)
	}
	reg := &api.AgentServiceRegistration{
		ID:   inst.ID,
		Name: s.service,
		Meta: meta,
		Check: &api.AgentServiceCheck{
			CheckID:                        checkID(inst.ID),
			Name:                           "wsk-route instance TTL",
			TTL:                            ttl.String(),
			Status:                         api.HealthPassing,
			DeregisterCriticalServiceAfter: deregisterAfter,
		},
	}
	if inst.TCP != "" {
		if reg.Address, reg.Port, err = tcpAddress(inst.TCP); err != nil {
			return fmt.Errorf("consulstore: register %s: %w", inst.ID, err)
		}
	}
	opts := api.ServiceRegisterOpts{ReplaceExistingChecks: true}.WithContext(ctx)
	if err := s.agent.ServiceRegisterOpts(reg, opts); err != nil {
		return fmt.Errorf("consulstore: register %s: %w", inst.ID, err)
	}
	return nil
}

// Pass marks the TTL check of instance id passing for another TTL.
func (s *Store) Pass(ctx context.Context, id string) error {
	if err := checkInstanceID(id); err != nil {
		return fmt.Errorf("consulstore: pass: %w", err)
	}
	if err := s.agent.UpdateTTLOpts(checkID(id), "", api.HealthPassing, (&api.QueryOptions{}).WithContext(ctx)); err != nil {
		return fmt.Errorf("consulstore: pass %s: %w", id, err)
	}
	return nil
}

// Deregister removes instance id and its check from the local agent.
// Removing an instance the agent does not know is not an error.
func (s *Store) Deregister(ctx context.Context, id string) error {
	if err := checkInstanceID(id); err != nil {
		return fmt.Errorf("consulstore: deregister: %w", err)
	}
	err := s.agent.ServiceDeregisterOpts(id, (&api.QueryOptions{}).WithContext(ctx))
	var se api.StatusError
	if errors.As(err, &se) && se.Code == http.StatusNotFound {
		return nil
	}
	if err != nil {
		return fmt.Errorf("consulstore: deregister %s: %w", id, err)
	}
	return nil
}

// WatchInstances calls fn with every passing instance of the store's
// service (ordered by ID) once at the start and then each time the passing
// set changes, using blocking health queries. An entry whose Meta does not
// decode is skipped and reported to onError, as are failed queries, which
// are retried; onError may be nil. fn and onError run in the caller's
// goroutine. WatchInstances returns ctx.Err() when ctx ends.
func (s *Store) WatchInstances(ctx context.Context, fn func([]routetable.Instance), onError func(error)) error {
	query := func(q *api.QueryOptions) ([]*api.ServiceEntry, *api.QueryMeta, error) {
		entries, meta, err := s.health.Service(s.service, "", true, q)
		if err != nil {
			return nil, nil, fmt.Errorf("consulstore: watch instances: %w", err)
		}
		return entries, meta, nil
	}
	deliver := func(entries []*api.ServiceEntry) {
		insts := make([]routetable.Instance, 0, len(entries))
		for _, e := range entries {
			if e == nil || e.Service == nil {
				continue
			}
			inst, err := decodeInstance(e.Service.ID, e.Service.Meta)
			if err != nil {
				if onError != nil {
					onError(fmt.Errorf("consulstore: watch instances: %w", err))
				}
				continue
			}
			insts = append(insts, inst)
		}
		sort.Slice(insts, func(i, j int) bool { return insts[i].ID < insts[j].ID })
		fn(insts)
	}
	return watch(ctx, query, deliver, onError)
}
