package whisk

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// TransID is a transaction id. On the wire it is an array
// [id, startMillis, extraLogging?, parent?]; only the first two are kept.
type TransID struct {
	ID    string
	Start int64
}

// MarshalJSON writes [id, start].
func (t TransID) MarshalJSON() ([]byte, error) {
	return json.Marshal([]any{t.ID, t.Start})
}

// UnmarshalJSON reads [id, start, ...] (or, leniently, a bare id string).
func (t *TransID) UnmarshalJSON(b []byte) error {
	var arr []json.RawMessage
	if err := json.Unmarshal(b, &arr); err != nil {
		var s string
		if err2 := json.Unmarshal(b, &s); err2 != nil {
			return fmt.Errorf("transid: want [id, start], got %.40s", b)
		}
		*t = TransID{ID: s}
		return nil
	}
	if len(arr) < 1 {
		return errors.New("transid: empty array")
	}
	if err := json.Unmarshal(arr[0], &t.ID); err != nil {
		return fmt.Errorf("transid: id: %w", err)
	}
	if len(arr) > 1 {
		if err := json.Unmarshal(arr[1], &t.Start); err != nil {
			return fmt.Errorf("transid: start: %w", err)
		}
	}
	return nil
}

// ActionRef names the action of an ActivationMessage.
type ActionRef struct {
	// Path is the entity path: "guest" or "guest/pkg".
	Path    string `json:"path"`
	Name    string `json:"name"`
	Version string `json:"version,omitempty"`
	Binding string `json:"binding,omitempty"`
}

// FQN returns "/path/name".
func (r ActionRef) FQN() string { return "/" + r.Path + "/" + r.Name }

// NamespaceRef is a namespace's name and uuid.
type NamespaceRef struct {
	Name string `json:"name"`
	UUID string `json:"uuid"`
}

// AuthKey carries "uuid:key".
type AuthKey struct {
	APIKey string `json:"api_key"`
}

// Identity is the caller of an activation.
type Identity struct {
	Subject   string          `json:"subject"`
	Namespace NamespaceRef    `json:"namespace"`
	AuthKey   AuthKey         `json:"authkey"`
	Rights    []string        `json:"rights"`
	Limits    json.RawMessage `json:"limits"`
}

// ControllerInstance identifies a controller ({"asString":"0",
// "instanceType":"controller"}).
type ControllerInstance struct {
	AsString     string `json:"asString"`
	InstanceType string `json:"instanceType"`
}

// ActivationMessage asks an invoker to run an action (topic invoker<N>).
type ActivationMessage struct {
	TransID             TransID            `json:"transid"`
	Action              ActionRef          `json:"action"`
	Revision            string             `json:"revision,omitempty"`
	User                Identity           `json:"user"`
	ActivationID        string             `json:"activationId"`
	RootControllerIndex ControllerInstance `json:"rootControllerIndex"`
	Blocking            bool               `json:"blocking"`
	// Content is the merged parameters, the /run value.
	Content    json.RawMessage   `json:"content,omitempty"`
	InitArgs   []string          `json:"initArgs"`
	LockedArgs map[string]string `json:"lockedArgs"`
	Cause      string            `json:"cause,omitempty"`
	// TraceContext is carried through unchanged.
	TraceContext map[string]string `json:"traceContext,omitempty"`
}

// Validate reports what a decoded ActivationMessage lacks.
func (m *ActivationMessage) Validate() error {
	switch {
	case m.ActivationID == "":
		return errors.New("activation message: no activationId")
	case m.Action.Name == "" || m.Action.Path == "":
		return fmt.Errorf("activation message %s: no action path or name", m.ActivationID)
	case m.User.Namespace.Name == "":
		return fmt.Errorf("activation message %s: no user namespace", m.ActivationID)
	}
	return nil
}

// ParseActivationMessage decodes and validates an ActivationMessage.
func ParseActivationMessage(b []byte) (*ActivationMessage, error) {
	var m ActivationMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("activation message: %w", err)
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return &m, nil
}

// InvokerInstance identifies an invoker in acks.
type InvokerInstance struct {
	Instance            int      `json:"instance"`
	UserMemory          string   `json:"userMemory,omitempty"`
	InstanceType        string   `json:"instanceType"`
	Tags                []string `json:"tags"`
	DedicatedNamespaces []string `json:"dedicatedNamespaces"`
	UniqueName          string   `json:"uniqueName,omitempty"`
	DisplayedName       string   `json:"displayedName,omitempty"`
}

// AckKind says which of OpenWhisk's three acknowledgements a message is.
type AckKind int

// The acknowledgements on completed<C>.
const (
	// AckCombined carries the result and frees the slot
	// (CombinedCompletionAndResultMessage).
	AckCombined AckKind = iota + 1
	// AckCompletion only frees the slot (CompletionMessage).
	AckCompletion
	// AckResult only carries the result (ResultMessage).
	AckResult
)

// Ack is a decoded acknowledgement. Response is the activation when the
// invoker sent it whole, nil when it sent only the id (non-blocking acks are
// shrunk to the id); ActivationID is set in both cases.
type Ack struct {
	Kind          AckKind
	TransID       TransID
	ActivationID  string
	Response      *Activation
	IsSystemError bool
	Instance      *InvokerInstance
}

type ackWire struct {
	TransID       TransID          `json:"transid"`
	ActivationID  string           `json:"activationId,omitempty"`
	Response      json.RawMessage  `json:"response,omitempty"`
	IsSystemError *bool            `json:"isSystemError,omitempty"`
	Instance      *InvokerInstance `json:"instance,omitempty"`
}

// MarshalJSON writes the ack in the form of its Kind.
func (a Ack) MarshalJSON() ([]byte, error) {
	w := ackWire{TransID: a.TransID}
	sys := a.IsSystemError
	resp := func() (json.RawMessage, error) {
		if a.Response != nil {
			return json.Marshal(a.Response)
		}
		return json.Marshal(a.ActivationID)
	}
	var err error
	switch a.Kind {
	case AckCombined:
		w.Response, err = resp()
		w.IsSystemError, w.Instance = &sys, a.Instance
	case AckCompletion:
		w.ActivationID, w.IsSystemError, w.Instance = a.ActivationID, &sys, a.Instance
	case AckResult:
		w.Response, err = resp()
	default:
		return nil, fmt.Errorf("ack: unknown kind %d", a.Kind)
	}
	if err != nil {
		return nil, err
	}
	return json.Marshal(w)
}

// ParseAck decodes an acknowledgement, telling the kinds apart by their
// fields as OpenWhisk's AcknowledgementMessage.parse does: instance and
// response → combined, instance only → completion, else result.
func ParseAck(b []byte) (Ack, error) {
	var w ackWire
	if err := json.Unmarshal(b, &w); err != nil {
		return Ack{}, fmt.Errorf("ack: %w", err)
	}
	a := Ack{TransID: w.TransID, ActivationID: w.ActivationID, Instance: w.Instance}
	if w.IsSystemError != nil && w.Instance != nil { // result messages have no such field
		a.IsSystemError = *w.IsSystemError
	}
	switch {
	case w.Instance != nil && len(w.Response) > 0:
		a.Kind = AckCombined
	case w.Instance != nil:
		a.Kind = AckCompletion
		if a.ActivationID == "" {
			return Ack{}, errors.New("ack: completion message without activationId")
		}
		return a, nil
	default:
		a.Kind = AckResult
	}
	resp := bytes.TrimSpace(w.Response)
	if len(resp) == 0 {
		return Ack{}, errors.New("ack: result message without response")
	}
	if resp[0] == '"' {
		if err := json.Unmarshal(resp, &a.ActivationID); err != nil {
			return Ack{}, fmt.Errorf("ack: response id: %w", err)
		}
	} else {
		var act Activation
		if err := json.Unmarshal(resp, &act); err != nil {
			return Ack{}, fmt.Errorf("ack: response activation: %w", err)
		}
		a.Response, a.ActivationID = &act, act.ActivationID
	}
	if a.ActivationID == "" {
		return Ack{}, errors.New("ack: response without an activation id")
	}
	return a, nil
}

// Topic names (whisk.kafka.topics, before the optional prefix).
const (
	TopicInvokerPrefix   = "invoker"
	TopicCompletedPrefix = "completed"
)
