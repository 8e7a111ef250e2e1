// Package store keeps the `wsk-route dev` sandbox's entities in one bbolt
// file: subjects (the API keys), actions, packages and activation records,
// so that a sandbox keeps its state across restarts.
//
// # Layout
//
//	subjects      uuid                         → whisk.Identity
//	actions       path "\x00" name             → action and its revision
//	packages      namespace "\x00" name        → package and its revision
//	activations   namespace "\x00" id          → whisk.Activation (storage form), or a bucket {"r": it}
//	actindex      namespace "\x00" start id    → nothing (start: 8 bytes big-endian ms)
//	actage        start namespace "\x00" id    → the record's size (8 bytes big-endian)
//	actcount      namespace                    → number of activations kept (8 bytes big-endian)
//	actmeta       "bytes"                      → size of all activations kept (8 bytes big-endian)
//
// Values are JSON. actindex orders a namespace's activations by start time
// so that listings come newest first without reading every record; actage
// orders all namespaces' activations by start time, oldest first, for the
// byte budget.
//
// # Retention
//
// Two limits keep a long-running sandbox from growing without bound, and
// PutActivation applies both after each put, dropping the oldest records
// first (by start time, as listings order them, so what is left is always
// the newest part of a listing) but never the record just put:
//
//   - Options.MaxActivations records per namespace (DefaultMaxActivations,
//     10 000), as before;
//   - Options.MaxActivationBytes bytes of records, all namespaces together
//     (DefaultMaxActivationBytes, 256 MiB), counting each record's key and
//     JSON. It is one budget for the file rather than one per namespace
//     because what it bounds, the file and bbolt's map of it, is one for
//     all namespaces; a per-namespace budget would grow with the number of
//     namespaces (the sandbox has one identity, so in practice the two are
//     the same).
//
// Open applies both as well, so lower limits take effect at the next start
// (and a file written before the byte budget gets its actage and actmeta
// there, once).
//
// bbolt reuses the pages of dropped records, so once the records reach
// the budget the file stops growing; it does not shrink when the budget is
// lowered. Measured: records of about 615 KB (TestKafkaSoak) settle in a
// file 4% above the budget; records of mixed sizes, from 200 bytes to 300
// KB, used 11% more than a 32 MiB budget (pages part-used, small pages of
// the indexes placed among big free runs; relatively more for a small
// budget), and the file runs up to 16 MiB ahead of what bbolt uses (its
// AllocSize). bbolt maps the whole file, in steps that double
// up to 1 GiB: a 256 MiB budget makes a 512 MiB mapping, of which only the
// pages the process reads are resident.
//
// A record longer than a page goes into a bucket of its own, so that it has
// pages of its own. bbolt writes a leaf whole whenever one of its keys
// changes, copying every value in it, and activation ids are random: with
// big records stored as values, every put rewrote (and read through the
// map, which made them resident) the records that happened to share its
// leaf: it wrote about four times its own size (TestActivationWrittenOnce
// counts the bytes). Dropping such a record reads only its first page.
//
// # Caller's duties
//
// Open the file once per process and Close it on shutdown: bbolt holds an
// exclusive lock on the file, and a second Open (another `wsk-route dev`
// on the same data directory) fails after about a second. A Store is safe
// for concurrent use. The store checks what it must keep consistent (an
// action's package exists, a package is empty when deleted, overwrite
// rules); validating names, limits and kinds is the API's job.
package store
