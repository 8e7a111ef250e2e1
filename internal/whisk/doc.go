// Package whisk holds Apache OpenWhisk's data shapes as they travel on the
// wire: the entities of the REST API (actions, packages, key-value lists,
// limits), the activation record in its storage form (Kafka, database) and
// its REST form, and the Kafka messages between controller and invoker
// (ActivationMessage on invoker<N>, acknowledgements on completed<C>).
//
// It is pure data and codecs, shared by the `wsk-route dev` sandbox and, later,
// by the agent's user events. Field names and JSON forms follow OpenWhisk's
// Scala sources (common/scala/.../core/entity and core/connector/Message.scala);
// decoding is lenient where OpenWhisk versions differ (unknown fields are
// ignored, optional fields may be absent), as a consumer of an existing
// OpenWhisk must be.
package whisk
