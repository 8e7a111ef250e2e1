// Package metrics holds the host agent's Prometheus collectors: the hop
// counters and latency histogram that the local proxies report in
// agentproto Stats messages, and the agent's own relay, registration,
// table, shm and registry counters.
//
// Usage, caller's duties:
//   - Create one Metrics with New, giving it the Registerer to register in
//     (a registry of the agent's own, never the default registry).
//   - Feed it: AddStats for each Stats message a proxy sends (the counts
//     are deltas and are added up), Relayed for each frame the relay
//     handles (it fits relay.Relay's Observe), RegisterRefused for each
//     proxy registration refused for a tenancy reason, SetProxies and SetInstances when those numbers change,
//     Swept after each shm sweep, RegistryError on each failed Consul call.
//
// The proxies are not trusted to bound their label values: actions and
// transports are checked and at most MaxSeries distinct (action,
// transport) pairs are kept; hops of further pairs are counted under
// action "other".
package metrics
