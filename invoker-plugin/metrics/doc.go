// Package metrics holds the host agent's Prometheus collectors: the hop
// counters and latency histogram that the local proxies report in
// agentproto Stats messages, labelled by edge (the sending proxy's action
// and the destination action), transport and outcome (wsk_route_edge_*),
// and the same counts by destination only (wsk_route_hops_total, ...: the
// names and labels they had before edges); the run and step durations
// of the runs whose entries report their events to this agent; the
// counters of the agent's OpenWhisk user events; and the agent's own
// relay, registration, table, shm and registry counters.
//
// Usage, caller's duties:
//   - Create one Metrics with New, giving it the Registerer to register in
//     (a registry of the agent's own, never the default registry).
//   - Feed it: AddStats for each Stats message a proxy sends, with the
//     action the proxy registered (the counts are deltas and are added
//     up), StepRan and RunEnded for the run events of the host's entries,
//     SetUserEvents once when user events are on, Relayed for each frame
//     the relay handles (it fits relay.Relay's Observe), RegisterRefused
//     for each proxy registration refused for a tenancy reason,
//     SetProxies and SetInstances when those numbers change, Swept after
//     each shm sweep, RegistryError on each failed Consul call.
//
// The proxies are not trusted to bound their label values: actions and
// transports are checked and at most MaxSeries distinct (from action, to
// action, transport) triples are kept; hops of further triples are
// counted under from_action and to_action "other" (action "other" by
// destination). The run metrics are bounded the same way.
package metrics
