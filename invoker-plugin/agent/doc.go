// Package agent is the wsk-route host agent's composition root: one Agent
// per invoker host owns every goroutine of the agent and wires its parts.
//
//   - proxyconn: the websocket on RunDir/agent.sock that every local proxy
//     keeps open. On a proxy's Register the agent registers its instance in
//     the Registry (id "<Host>/<name>", a TTL check), answers with Welcome
//     and the namespace's frame key, and keeps the TTL passing while the
//     websocket lives; when it ends, the instance is deregistered at once
//     (unless the agent is stopping: the proxy registers again with the
//     next agent, within the TTL).
//   - sockets (sockets.go): the agent makes each proxy's frame socket,
//     RunDir/proxies/<name>.sock, at its Register, and hands the listening
//     descriptor over RunDir/agent-sockets.sock to the proxy that shows the
//     Welcome's one-time token (internal/fdpass). RunDir is mounted
//     read-only into containers: no container can replace the agent's
//     sockets or another proxy's. A socket's file is removed when its
//     session ends, and swept once no session holds it (after a grace at
//     start, so warm proxies keep theirs through a restart of the agent).
//   - peers: with -trusted-images (proxyconn.TrustedImages) only containers
//     of the listed images may register; a Peer whose platform names its
//     namespace (Peer.Namespace) may claim no other.
//   - bindings: the first Register from a container (its cgroup, which
//     proxyconn reads from the kernel: SO_PEERCRED, /proc/<pid>/cgroup)
//     binds that cgroup to the Register's namespace; a Register from it
//     for another namespace is refused and never gets a key. Bindings are
//     saved to StateDir/BindingsFile (temporary file, then rename) before
//     the Welcome is sent, loaded by New, and pruned once their cgroup's
//     directory under CgroupRoot is gone (in New and with each shm sweep).
//     A peer that cannot be identified is refused unless
//     AllowUnidentifiedPeers is set.
//   - one WatchInstances and one WatchSpecs for the whole host, whose
//     results are pushed to the proxies as per-namespace deltas.
//   - registry recovery (recovery.go): the agent reaches the Registry
//     through a copy of its cluster marker, frame keys and specs, kept in
//     StateDir/RegistryCopyFile. Keys are created only when neither the
//     registry nor the copy has one; a registry found without the marker
//     the copy has (it lost its data) is logged, counted and restored from
//     the copy; values that differ from the copy are reported and the
//     registry's followed.
//   - relay: a frame socket RunDir/agent-frames.sock for the local proxies
//     and, with RelayListen, a TCP listener for the other agents.
//   - restarts (restart.go): a stopping agent reads no new frame and
//     finishes the frames it is relaying, for at most relayDrainGrace; a
//     new agent, for restartWindow after its start, waits briefly
//     (settleGrace) for what it does not know yet, Consul's first answer
//     and the proxies of the previous agent registering again, rather
//     than refuse a frame for it.
//   - a sweeper that removes expired shm segments from every
//     ShmRoot/<namespace> every SweepInterval.
//   - metrics: Prometheus collectors in a registry of the agent's own,
//     served on MetricsListen at /metrics.
//
// Usage, caller's duties:
//   - New checks the Config, creates RunDir and ShmRoot and binds every
//     listener (so addresses are known before Run); then call Run exactly
//     once. If Run is never called, call Close to release the listeners.
//   - Run returns nil after its context ends and everything has stopped
//     (the relays drained, the instances left registered until their TTL,
//     for the next agent), or the first error that stopped it.
//   - The Registry is the caller's; the agent never closes it.
//   - StateDir must be writable by the agent only (never mounted into a
//     container); a bindings file or a registry copy that cannot be parsed
//     makes New fail rather than forget them.
//
// Namespace isolation of shm segments relies on mounts, not on file
// modes: action containers run as root, so a container of namespace ns
// must get only ShmRoot/ns mounted, never ShmRoot itself.
package agent
