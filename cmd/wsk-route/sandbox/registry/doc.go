// Package registry is the sandbox's embedded, in-process route registry: it
// stands in for Consul (internal/consulstore) on a single host, behind the
// same methods, so that the host agent (invoker-plugin/agent) runs unchanged
// on it. It keeps the catalog of route-enabled instances with Consul's TTL
// semantics, the compiled workflow specs, and the per-namespace frame keys.
//
// # Semantics
//
//   - Register adds or replaces an instance whose TTL check starts passing;
//     Pass renews it for another TTL. An instance not passed within its TTL
//     drops out of the passing set that WatchInstances reports; a Pass brings
//     it back, and one left unpassed for DeregisterAfter more is removed, as
//     Consul's DeregisterCriticalServiceAfter does. Deregister removes at once.
//   - PutSpec validates a spec and stores it under a version taken from one
//     registry-wide, strictly increasing index; the caller's spec is not
//     changed. GetSpec, ListSpecs and WatchSpecs return specs with Version set.
//   - NamespaceKey and Marker only read (nil or "" when there is none);
//     CreateNamespaceKey, CreateMarker and CreateSpec store a value only
//     where none is stored and return what is stored afterwards, as
//     consulstore's check-and-set on index 0 does. The host agent creates
//     keys and the marker, and restores what a registry lost, through them
//     (invoker-plugin/agent's recovery.go).
//   - New keeps everything in memory. Open keeps the marker, the keys and
//     the specs (with the last version handed out) in a directory's
//     StateFile, written before each change is visible, and reads them
//     back, so that a restarted sandbox gives its proxies the keys they had
//     and runs the workflows composed before. Instances and run events are
//     never kept.
//   - AppendRunEvent keeps a run's events in memory, in Seq order, until
//     Options.RunRetention after the run's first event; RunEvents reads those
//     after an index, waiting on a broadcast of its own for the next one.
//
// # Watching
//
// All state sits under one mutex, never held across I/O (a change of the
// kept state is written under a second mutex that only serialises those
// changes, then swapped in); every change closes and replaces a
// broadcast channel that wakes the watchers. A watch runs entirely in its
// caller's goroutine: it computes the picture, calls fn when it differs from
// the last one delivered (and once at the start), then waits for the
// broadcast, for ctx, or (WatchInstances only) for a timer set to the next
// TTL expiry, which it computes on each wake. There is no background
// goroutine, so nothing outlives a cancelled watch; the watches return
// ctx.Err() when ctx ends.
//
// The caller's duties:
//
//   - call Pass for every registered instance more often than its TTL;
//   - return from the watch callbacks promptly; the slices (and specs) they
//     get are new each time and theirs to keep;
//   - with a fake Options.Clock, call Recheck after moving the clock, so
//     that the watches re-evaluate the TTLs.
package registry
