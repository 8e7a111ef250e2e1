// Package consulstore keeps wsk-route's control-plane state in Consul: the
// compiled workflow specs and the per-namespace frame keys in KV, and one
// catalog service instance per warm, route-enabled container. It is the only
// package that imports github.com/hashicorp/consul/api.
//
// # Layout
//
//	<prefix>/specs/<namespace>/<workflow>   spec JSON (spec.Spec.Marshal); its version is the KV ModifyIndex
//	<prefix>/keys/<namespace>               the namespace's 32-byte frame key, created once (CreateNamespaceKey)
//	<prefix>/cluster                        the cluster marker: an id created once (CreateMarker)
//	<prefix>/runs/<namespace>/<run>/<seq>   a run's event (runevent.Event JSON), held by a run session that Consul deletes with its keys (runevents.go)
//	service <service>, ID = Instance.ID     one instance; Meta holds every routetable.Instance field
//
// The prefix and the service name default to "wsk-route". Namespace and
// workflow names must be non-empty and hold no '/', no "..", and no control
// characters, so that a name can never reach outside its own key.
//
// # Keys, marker and recovery
//
// NamespaceKey and Marker only read: a missing key or marker is nil or ""
// and no error, never created on the way. CreateNamespaceKey,
// CreateMarker and CreateSpec store a value only where none is stored (a
// check-and-set on index 0) and say what is stored afterwards, so that host
// agents racing to create or to restore one all end up with the first.
// Host agents keep a copy of the marker, of the keys they used and of the
// specs, and put them back with these calls when the marker is gone: see
// the agent's recovery.go. A missing key is created (CreateNamespaceKey
// with nil) only by a host agent that never had one for that namespace.
//
// # Connecting
//
// New builds its client from api.DefaultConfig, so the usual Consul
// environment is honoured: CONSUL_HTTP_ADDR (also "https://" and "unix://"
// addresses), CONSUL_HTTP_TOKEN and CONSUL_HTTP_TOKEN_FILE, CONSUL_HTTP_AUTH,
// CONSUL_HTTP_SSL, CONSUL_HTTP_SSL_VERIFY, CONSUL_CACERT, CONSUL_CAPATH,
// CONSUL_CLIENT_CERT, CONSUL_CLIENT_KEY and CONSUL_TLS_SERVER_NAME.
// Options.Address, when set, replaces only the address.
//
// Instances are registered through the agent the client talks to, which
// must be the host's local agent: the agent owns the registration, and a TTL
// check that is not passed in time turns critical, drops the instance from
// the passing set and, a minute later, removes it, so that a dead host
// agent's instances disappear on their own.
//
// # Watching
//
// WatchSpecs and WatchInstances use blocking queries (never polling): each
// query waits on the last index seen, an index that goes backwards resets
// the wait to 0, failed queries back off from 50 ms to 5 s with jitter, and
// the callback runs, in the caller's goroutine, only when the index moved.
// Both return ctx.Err() when ctx ends.
//
// The caller's duties:
//
//   - talk to the local agent (Register, Pass, Deregister act on it);
//   - call Pass for every registered instance more often than its TTL;
//   - return from the watch callbacks promptly (the watch waits for them);
//     the slices they get are new each time and theirs to keep;
//   - call Close when done, to release idle connections.
package consulstore
