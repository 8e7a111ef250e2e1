package agentproto

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/wsk-route/wsk-route/internal/routetable"
	"github.com/wsk-route/wsk-route/internal/runevent"
)

// MaxMessage bounds one message on the wire; larger ones are refused.
const MaxMessage = 16 << 20

// DefaultSocket is the agent's websocket socket, relative to the host's
// wsk-route run directory.
const DefaultSocket = "agent.sock"

// Path is the HTTP path of the websocket on the agent's socket.
const Path = "/v1/proxy"

// Message types.
const (
	TypeRegister   = "register"   // proxy → agent
	TypeUnregister = "unregister" // proxy → agent: the instance can no longer run (child died)
	TypeWelcome    = "welcome"    // agent → proxy
	TypeKey        = "key"        // agent → proxy
	TypeTable      = "table"      // agent → proxy
	TypeSpecs      = "specs"      // agent → proxy
	TypeStats      = "stats"      // proxy → agent: hop counters since the last stats message
	TypeRunEvent   = "run_event"  // proxy → agent: a step or end event of a run the proxy is the entry of
	TypeActivation = "activation" // proxy → agent: the record of a direct step the proxy ran
	TypeBatch      = "batch"      // proxy → agent: run events and records nothing waits for, in one message
	TypeDirect     = "direct"     // proxy → agent: direct steps started or stopped running in the container
)

// Message is one websocket text message: Type says which field is set.
type Message struct {
	Type       string      `json:"type"`
	Register   *Register   `json:"register,omitempty"`
	Unregister *Unregister `json:"unregister,omitempty"`
	Welcome    *Welcome    `json:"welcome,omitempty"`
	Key        *Key        `json:"key,omitempty"`
	Table      *Table      `json:"table,omitempty"`
	Specs      *Specs      `json:"specs,omitempty"`
	Stats      *Stats      `json:"stats,omitempty"`
	// RunEvent is a run's event for the agent to store (runevent.Event);
	// the agent stores it under the session's namespace.
	RunEvent *runevent.Event `json:"run_event,omitempty"`
	// Activation is the record of a direct step, for the agent to write
	// where OpenWhisk keeps activation records.
	Activation *Activation `json:"activation,omitempty"`
	// Batch holds up to MaxBatch run_event and activation messages.
	Batch []Message `json:"batch,omitempty"`
	// Direct says whether the proxy's container runs direct steps.
	Direct *Direct `json:"direct,omitempty"`
}

// MaxBatch bounds the messages of a batch.
const MaxBatch = 1024

// Register tells the agent what the proxy runs. The agent creates the
// proxy's frame socket and tells where in Welcome.
type Register struct {
	Namespace   string `json:"namespace"`
	Action      string `json:"action"` // fully qualified
	Version     string `json:"version,omitempty"`
	TCP         string `json:"tcp,omitempty"` // routable address, if any
	Concurrency int    `json:"concurrency,omitempty"`
	// Name distinguishes the proxy on its host (container id or pid).
	Name string `json:"name"`
	// Telemetry says the proxy can send telemetry (the steps' activation
	// records, the ends of unwatched runs, batches of them); the agent
	// answers Welcome.Telemetry only to a proxy that says so, since a
	// proxy from before these messages refuses a field it does not know.
	Telemetry bool `json:"telemetry,omitempty"`
	// User is the uuid of the key the action runs with: the part of its
	// __OW_API_KEY before the colon, never the key itself. The agent
	// names it as the userId of the step's user events, as OpenWhisk's
	// invoker does. An agent from before this field refuses it, so the
	// agents are upgraded first.
	User string `json:"user,omitempty"`
	// Slots says the proxy runs as many direct steps at once as
	// Welcome.Slots allows. An agent from before this field refuses it,
	// so the agents are upgraded first; a proxy that does not set it is
	// never sent Welcome.Slots, which it would refuse.
	Slots bool `json:"slots,omitempty"`
	// Direct says the proxy can report when its container runs direct
	// steps (TypeDirect), which the invoker does not see. An agent from
	// before this field refuses it, so the agents are upgraded first; a
	// proxy that does not set it is never sent Welcome.Direct.
	Direct bool `json:"direct,omitempty"`
}

// MaxSlots bounds Welcome.Slots: OpenWhisk's largest limits.concurrency
// (whisk.ConcurrencyCeiling).
const MaxSlots = 500

// MaxUser bounds Register.User: a uuid is 36 bytes.
const MaxUser = 64

// UserOf returns the uuid of an OpenWhisk API key ("uuid:key"), or "" for
// a key of another form. The key itself is never kept.
func UserOf(apiKey string) string {
	user, _, ok := strings.Cut(apiKey, ":")
	if !ok || !validUser(user) {
		return ""
	}
	return user
}

// validUser reports whether s has the form of a key's uuid: 1 to MaxUser
// ASCII letters, digits and dashes.
func validUser(s string) bool {
	if s == "" || len(s) > MaxUser {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// Unregister withdraws the instance; Reason is logged by the agent.
type Unregister struct {
	Reason string `json:"reason"`
}

// Welcome answers Register.
type Welcome struct {
	InstanceID string `json:"instance_id"`
	Host       string `json:"host"`
	// Relay is the agent's frame endpoint on this host ("unix:..."): a
	// proxy sends there frames for instances it cannot reach directly.
	Relay string `json:"relay"`
	// ShmDir is the directory, as seen by the proxy, for shm segments of
	// the proxy's namespace.
	ShmDir string `json:"shm_dir"`
	// Socket is the proxy's frame endpoint ("unix:<run-dir>/proxies/<name>.sock"),
	// a socket the agent created for this registration in a directory no
	// container can write.
	Socket string `json:"socket"`
	// Handoff is the agent's endpoint ("unix:...") the proxy fetches
	// Socket's listening descriptor from, by sending Token and a newline
	// (internal/fdpass).
	Handoff string `json:"handoff"`
	// Token proves to Handoff that the fetch comes from this session; it
	// is good once, for a few seconds.
	Token string `json:"token"`
	// Telemetry says the agent takes what nothing waits for: the steps'
	// activation records, the ends of unwatched runs, and batches of
	// them (it writes records, publishes user events, exports traces or
	// serves metrics). Set only for a proxy whose Register said it can
	// send them. Without it the proxy sends none, and an agent from
	// before these messages never gets one it would refuse.
	Telemetry bool `json:"telemetry,omitempty"`
	// Slots is how many direct steps the proxy may run at once: its
	// action's limits.concurrency as the agent looked it up in
	// OpenWhisk's entity store, at most the Register's Concurrency (the
	// processes the proxy can run). 0 or 1: one at a time, with its logs
	// captured. Set only for a proxy whose Register said Slots.
	Slots int `json:"slots,omitempty"`
	// Direct asks the proxy to report when its container starts and stops
	// running direct steps (TypeDirect): the agent's host tells its
	// invoker, which must not take such a container for idle. Set only
	// for a proxy whose Register said Direct, by an agent that has
	// someone to tell.
	Direct bool `json:"direct,omitempty"`
}

// Direct tells the agent whether direct steps run in the proxy's
// container: Running true when the first starts, false once none has run
// for a while (the proxy holds it a little, so that a chain of steps is
// one report, not two per step).
type Direct struct {
	Running bool `json:"running"`
}

// Key carries the frame authentication key of the proxy's namespace.
type Key struct {
	Namespace string `json:"namespace"`
	Key       []byte `json:"key"` // base64 in JSON
}

// Table updates the proxy's route table. Full replaces it; otherwise
// Upsert and Remove (instance ids) are applied in that order.
type Table struct {
	Full   bool                  `json:"full,omitempty"`
	Upsert []routetable.Instance `json:"upsert,omitempty"`
	Remove []string              `json:"remove,omitempty"`
}

// Specs updates the proxy's specs of its namespace. Full replaces them;
// otherwise Upsert and Remove (workflow names) are applied.
type Specs struct {
	Full   bool       `json:"full,omitempty"`
	Upsert []SpecData `json:"upsert,omitempty"`
	Remove []string   `json:"remove,omitempty"`
}

// SpecData is one compiled spec (internal/spec JSON) and its version.
type SpecData struct {
	Workflow string          `json:"workflow"`
	Version  uint64          `json:"version"`
	Spec     json.RawMessage `json:"spec"`
}

// LatencyBuckets are the upper bounds, in seconds, of the hop latency
// histogram that proxies count in and agents export.
var LatencyBuckets = []float64{5e-6, 10e-6, 20e-6, 50e-6, 100e-6, 200e-6, 500e-6, 1e-3, 2e-3, 5e-3, 10e-3, 50e-3, 100e-3, 500e-3, 1, 5}

// Stats carries a proxy's hop counters since its previous Stats message
// (deltas, so the agent adds them up). The proxy counts on its hot path
// with atomics and sends one Stats message a second at most.
type Stats struct {
	Hops []HopStats `json:"hops"`
	// TelemetryDropped counts the activation records and run ends the
	// proxy dropped since its last stats message; sent only to an agent
	// that asked for telemetry (Welcome.Telemetry).
	TelemetryDropped uint64 `json:"telemetry_dropped,omitempty"`
}

// HopStats counts the hops a proxy sent to one action over one transport.
type HopStats struct {
	Action    string `json:"action"`    // destination action, fully qualified
	Transport string `json:"transport"` // "shm", "unix", "tcp" or "relay"
	Hops      uint64 `json:"hops"`      // frames acknowledged OK
	Bytes     uint64 `json:"bytes"`     // payload bytes of those frames
	Refused   uint64 `json:"refused"`   // frames refused (busy, bad tag, ...)
	Failed    uint64 `json:"failed"`    // sends that failed (unreachable, timeout)
	// Fallbacks counts hops for which no candidate was left.
	Fallbacks uint64 `json:"fallbacks"`
	// Buckets holds one count per LatencyBuckets bound (non-cumulative),
	// plus one for +Inf; SumSeconds is the total latency of the OK hops.
	Buckets    []uint64 `json:"buckets"`
	SumSeconds float64  `json:"sum_seconds"`
}

// Encode returns m's wire form.
func Encode(m *Message) ([]byte, error) {
	if err := m.check(); err != nil {
		return nil, err
	}
	return json.Marshal(m)
}

// Decode parses and checks one message. Unknown fields are refused.
func Decode(b []byte) (*Message, error) {
	if len(b) > MaxMessage {
		return nil, fmt.Errorf("agentproto: message of %d bytes, more than %d", len(b), MaxMessage)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var m Message
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("agentproto: %w", err)
	}
	if dec.More() {
		return nil, errors.New("agentproto: trailing data after the message")
	}
	if err := m.check(); err != nil {
		return nil, err
	}
	return &m, nil
}

// check verifies that exactly the field named by Type is set, with its
// required parts.
func (m *Message) check() error {
	set := 0
	for _, p := range []bool{m.Register != nil, m.Unregister != nil, m.Welcome != nil, m.Key != nil, m.Table != nil, m.Specs != nil, m.Stats != nil, m.RunEvent != nil, m.Activation != nil, m.Batch != nil, m.Direct != nil} {
		if p {
			set++
		}
	}
	if set != 1 {
		return fmt.Errorf("agentproto: %q message must carry exactly one body, has %d", m.Type, set)
	}
	var ok bool
	switch m.Type {
	case TypeRegister:
		ok = m.Register != nil
		if ok && (m.Register.Namespace == "" || m.Register.Action == "" || m.Register.Name == "") {
			return errors.New("agentproto: register needs namespace, action and name")
		}
		if ok && m.Register.User != "" && !validUser(m.Register.User) {
			return fmt.Errorf("agentproto: register: user %.80q is not a key's uuid (1 to %d letters, digits and dashes)", m.Register.User, MaxUser)
		}
	case TypeUnregister:
		ok = m.Unregister != nil
	case TypeWelcome:
		ok = m.Welcome != nil
		if ok && (m.Welcome.Slots < 0 || m.Welcome.Slots > MaxSlots) {
			return fmt.Errorf("agentproto: welcome: slots %d is out of range (0 to %d)", m.Welcome.Slots, MaxSlots)
		}
	case TypeKey:
		ok = m.Key != nil
		if ok && len(m.Key.Key) < 16 {
			return errors.New("agentproto: key shorter than 16 bytes")
		}
	case TypeTable:
		ok = m.Table != nil
	case TypeSpecs:
		ok = m.Specs != nil
	case TypeStats:
		ok = m.Stats != nil
		if !ok {
			break
		}
		for _, h := range m.Stats.Hops {
			if len(h.Buckets) != 0 && len(h.Buckets) != len(LatencyBuckets)+1 {
				return fmt.Errorf("agentproto: stats for %s/%s: %d buckets, want %d", h.Action, h.Transport, len(h.Buckets), len(LatencyBuckets)+1)
			}
		}
	case TypeRunEvent:
		ok = m.RunEvent != nil
		if ok {
			if err := m.RunEvent.Check(); err != nil {
				return fmt.Errorf("agentproto: %w", err)
			}
		}
	case TypeBatch:
		ok = m.Batch != nil
		if len(m.Batch) > MaxBatch {
			return fmt.Errorf("agentproto: batch of %d messages, more than %d", len(m.Batch), MaxBatch)
		}
		for i := range m.Batch {
			b := &m.Batch[i]
			if b.Type != TypeRunEvent && b.Type != TypeActivation {
				return fmt.Errorf("agentproto: batch message %d: type %q cannot be batched (only %q and %q)", i, b.Type, TypeRunEvent, TypeActivation)
			}
			if err := b.check(); err != nil {
				return fmt.Errorf("batch message %d: %w", i, err)
			}
		}
	case TypeDirect:
		ok = m.Direct != nil
	case TypeActivation:
		ok = m.Activation != nil
		if ok {
			if err := m.Activation.check(); err != nil {
				return fmt.Errorf("agentproto: %w", err)
			}
		}
	default:
		return fmt.Errorf("agentproto: unknown message type %q", m.Type)
	}
	if !ok {
		return fmt.Errorf("agentproto: %q message without its %s body", m.Type, m.Type)
	}
	return nil
}
