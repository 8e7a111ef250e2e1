// Package invoker is the `wsk-route dev` sandbox's OpenWhisk invoker: it
// behaves like OpenWhisk's InvokerReactive, ContainerPool and
// ContainerProxy together. It consumes ActivationMessages from the Kafka
// topic invoker<N> (consumer group invoker<N>), fetches the action, runs it
// in a container of its pool (one of the same action and revision with a
// free slot, else a new one if the pool's memory allows, else after
// evicting the least recently used idle containers of other actions, else
// once one frees, in order), POSTs /init (cold start only) and /run to the
// real wsk-route proxy in the container exactly as OpenWhisk does, collects
// the container's stdout and stderr up to the activation sentinels, stores
// the activation record and acknowledges it on completed<C>.
//
// A container runs up to its action's limits.concurrency activations at
// once (OpenWhisk's intra-container concurrency): every container has
// __OW_ALLOW_CONCURRENT=true in its environment, the activations that
// arrive while a container of their action starts wait for its /init and
// then run in it, and the container counts its memory once. It is idle
// (pausable, evictable, removable after IdleTimeout) only with no
// activation in flight; a developer error retires it, and it is destroyed
// when its last activation ends. The output of a container that runs
// activations concurrently cannot be cut by sentinels: as in OpenWhisk,
// where such actions need the invoker's log collection off, its
// activations' records have no logs (the output goes to the invoker's log
// at debug level).
//
// A container is a proxy process on 127.0.0.1 (process mode, the default)
// or a docker container on a bridge network (Config.Docker set), paused
// after a short idle grace and unpaused before reuse, as OpenWhisk's docker
// container factory does. A blackbox action's code runs under the proxy in
// either mode; only a blackbox action without code needs its own image
// (the ActionLoop images' proxy is the sandbox's own), which process mode
// never has and docker mode only when it is local: the activation is then
// OpenWhisk's developer error "Failed to pull container image" with the
// reason, since the sandbox pulls nothing.
//
// ColdStarts lists the activations waiting for a new container, with
// their phase (starting, compiling, initializing), from the grant of its
// memory to the end of its /init, so that clients can say why a first
// call takes long.
//
// The caller's duties:
//
//   - give New a reachable Kafka (Config.Brokers) whose topics invoker<N>
//     and completed<C> exist or are auto-created;
//   - implement Actions, Activations and Runtimes (they are called from many
//     goroutines at once, so they must be safe for concurrent use);
//   - give a ProxyCommand that starts the wsk-route proxy and accepts
//     "-listen fd:3" appended to it (a listening socket as descriptor 3),
//     and (docker mode) an image
//     whose entrypoint is that proxy listening on :8080;
//   - call Run once, and wait on Ready before producing messages that must
//     not be missed; cancel Run's context to stop: it returns once every
//     container is stopped and removed.
package invoker
