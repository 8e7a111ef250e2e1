// Package routetable is a proxy's local table of warm instances and the
// choice of where to send a step's input: same host first, then least
// loaded and lowest observed delay, with random tie-breaking. It does no
// I/O; the clock and the random source are injected.
//
// The agent connection feeds a Table with Replace (a full snapshot) and
// Apply (upserts and removals); the sender asks Candidates for the ranked
// instances of an action and accounts for each hop with Begin and End, or
// Penalize after a busy refusal. Accounting (in-flight count, latency EWMA,
// penalty deadline) belongs to an instance ID: an upsert or a snapshot that
// still holds the ID keeps it, a removal drops it.
//
// A Table is safe for concurrent use. Writers (Replace, Apply) take its
// lock exclusively; Candidates and the accounting methods share it and
// update per-instance counters atomically, and Candidates sorts without
// holding it. Candidates does not allocate when its dst has room.
package routetable
