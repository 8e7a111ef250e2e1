// Package runinfo picks an activation's context fields (activation_id,
// action_name, namespace, deadline, ...) out of an invoker /run body while
// the body streams into the child, without buffering it or decoding the
// activation's value.
//
// The proxy needs them for what the body alone says about an activation:
// when it must be given up on (deadline) and, later, which action this
// container runs (action_name). A Scanner sees the bytes once, keeps only
// the top-level string fields it was asked for (each bounded in length),
// and skips the contents of strings with a vectorised search.
package runinfo
