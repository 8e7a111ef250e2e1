// Package agentproto defines the messages a proxy and its host agent
// exchange over the websocket on the agent's unix socket, and their codec.
//
// A proxy connects, and once it knows its action (from /init's env or its
// first /run) sends Register. The agent answers with Welcome (the instance
// id, the relay endpoint, the shm directory), the namespace's frame key, and
// then keeps the proxy's copy of the route table and of its namespace's
// specs current with Table and Specs messages: a full snapshot first, then
// deltas. The agent keeps the instance registered while the websocket lives.
package agentproto
