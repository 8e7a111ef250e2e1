package userevents

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Event types: EventMessage.EventType, the Scala typeName of the body.
const (
	TypeActivation = "Activation"
	TypeMetric     = "Metric"
)

// Status codes of an activation (OpenWhisk's ActivationResponse).
const (
	StatusSuccess          = 0
	StatusApplicationError = 1
	StatusDeveloperError   = 2
	StatusWhiskError       = 3
)

// statusNames are OpenWhisk's names of the status codes, the values of
// the status label of openwhisk_action_status.
var statusNames = [...]string{"success", "application error", "action developer error", "whisk internal error"}

// StatusName returns OpenWhisk's name of status code c ("success",
// "application error", "action developer error", "whisk internal
// error"), or "" for a code outside 0..3.
func StatusName(c int) string {
	if c < 0 || c >= len(statusNames) {
		return ""
	}
	return statusNames[c]
}

// Metric names OpenWhisk's controller and scheduler publish.
const (
	MetricConcurrentRateLimit   = "ConcurrentRateLimit"
	MetricTimedRateLimit        = "TimedRateLimit"
	MetricConcurrentInvocations = "ConcurrentInvocations"
)

// CausedBySequence is the causedBy of the components of sequences and
// compositions, which the steps of a workflow are.
const CausedBySequence = "sequence"

// MinSubject is the length OpenWhisk requires of a subject (Subject.scala):
// an event with a shorter one does not parse there.
const MinSubject = 5

// EventMessage is one user event. Exactly one of Activation and Metric
// is set, as EventType says.
type EventMessage struct {
	Source     string // who published it ("invoker0"; the agent: its Config.Source)
	Activation *Activation
	Metric     *Metric
	Subject    string // the subject (user) the event is about
	Namespace  string // the namespace the event is about: the "initiator" label
	UserID     string // the namespace's uuid in OpenWhisk
	EventType  string // TypeActivation or TypeMetric
	Timestamp  int64  // Unix milliseconds
}

// Activation is the body of an Activation event. Durations are whole
// milliseconds, as OpenWhisk writes them.
type Activation struct {
	// Name is the action's fully qualified name without the leading
	// slash: "namespace/action" or "namespace/package/action".
	Name         string `json:"name"`
	ActivationID string `json:"activationId"`
	StatusCode   int    `json:"statusCode"` // StatusSuccess ... StatusWhiskError
	Duration     Millis `json:"duration"`
	WaitTime     Millis `json:"waitTime"`
	InitTime     Millis `json:"initTime"` // not zero: a cold start
	Kind         string `json:"kind"`
	Conductor    bool   `json:"conductor"`
	Memory       int    `json:"memory"` // the action's memory limit, MB
	// CausedBy is "sequence" for components of sequences and
	// compositions; "" leaves it out.
	CausedBy string `json:"causedBy,omitempty"`
	// Size is the response's size in bytes; nil leaves it out.
	Size *int `json:"size,omitempty"`
	// UserDefinedStatusCode is the statusCode the action put in its
	// result (or in its error); nil leaves it out.
	UserDefinedStatusCode *int `json:"userDefinedStatusCode,omitempty"`
}

// Metric is the body of a Metric event.
type Metric struct {
	MetricName  string `json:"metricName"`
	MetricValue int64  `json:"metricValue"`
}

// Millis is a duration in whole milliseconds. It reads any JSON number,
// as OpenWhisk does (fractions are cut, a number <= 0 is 0).
type Millis int64

// UnmarshalJSON implements json.Unmarshaler.
func (m *Millis) UnmarshalJSON(b []byte) error {
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return fmt.Errorf("%w: duration %s is not a number", ErrBadEvent, b)
	}
	switch {
	case f <= 0:
		*m = 0
	case f >= math.MaxInt64:
		*m = math.MaxInt64
	default:
		*m = Millis(f)
	}
	return nil
}

// Namespace returns the namespace part of an activation's name (the
// "namespace" label of OpenWhisk's user-events metrics).
func (a *Activation) Namespace() string {
	ns, _, _ := strings.Cut(strings.TrimPrefix(a.Name, "/"), "/")
	return ns
}

// Action returns the name without its namespace, "action" or
// "package/action" (the "action" label of OpenWhisk's user-events
// metrics).
func (a *Activation) Action() string {
	_, act, _ := strings.Cut(strings.TrimPrefix(a.Name, "/"), "/")
	return act
}

// wireEvent is EventMessage on the wire, for Parse.
type wireEvent struct {
	Source    string          `json:"source"`
	Body      json.RawMessage `json:"body"`
	Subject   string          `json:"subject"`
	Namespace string          `json:"namespace"`
	UserID    string          `json:"userId"`
	EventType string          `json:"eventType"`
	Timestamp int64           `json:"timestamp"`
}

// MarshalJSON implements json.Marshaler with AppendJSON.
func (e *EventMessage) MarshalJSON() ([]byte, error) { return e.AppendJSON(nil) }

// AppendJSON appends OpenWhisk's EventMessage JSON of e to dst, in
// OpenWhisk's field order, and returns the extended buffer. Invalid UTF-8
// in a string becomes U+FFFD. It does not Check e.
func (e *EventMessage) AppendJSON(dst []byte) ([]byte, error) {
	if (e.Activation == nil) == (e.Metric == nil) {
		return dst, fmt.Errorf("%w: an event needs exactly one of an activation and a metric body", ErrBadEvent)
	}
	b := append(dst, `{"source":`...)
	b = appendString(b, e.Source)
	b = append(b, `,"body":`...)
	if a := e.Activation; a != nil {
		b = append(b, `{"name":`...)
		b = appendString(b, a.Name)
		b = append(b, `,"activationId":`...)
		b = appendString(b, a.ActivationID)
		b = append(b, `,"statusCode":`...)
		b = strconv.AppendInt(b, int64(a.StatusCode), 10)
		b = append(b, `,"duration":`...)
		b = strconv.AppendInt(b, int64(a.Duration), 10)
		b = append(b, `,"waitTime":`...)
		b = strconv.AppendInt(b, int64(a.WaitTime), 10)
		b = append(b, `,"initTime":`...)
		b = strconv.AppendInt(b, int64(a.InitTime), 10)
		b = append(b, `,"kind":`...)
		b = appendString(b, a.Kind)
		b = append(b, `,"conductor":`...)
		b = strconv.AppendBool(b, a.Conductor)
		b = append(b, `,"memory":`...)
		b = strconv.AppendInt(b, int64(a.Memory), 10)
		if a.CausedBy != "" {
			b = append(b, `,"causedBy":`...)
			b = appendString(b, a.CausedBy)
		}
		if a.Size != nil {
			b = append(b, `,"size":`...)
			b = strconv.AppendInt(b, int64(*a.Size), 10)
		}
		if a.UserDefinedStatusCode != nil {
			b = append(b, `,"userDefinedStatusCode":`...)
			b = strconv.AppendInt(b, int64(*a.UserDefinedStatusCode), 10)
		}
		b = append(b, '}')
	} else {
		b = append(b, `{"metricName":`...)
		b = appendString(b, e.Metric.MetricName)
		b = append(b, `,"metricValue":`...)
		b = strconv.AppendInt(b, e.Metric.MetricValue, 10)
		b = append(b, '}')
	}
	b = append(b, `,"subject":`...)
	b = appendString(b, e.Subject)
	b = append(b, `,"namespace":`...)
	b = appendString(b, e.Namespace)
	b = append(b, `,"userId":`...)
	b = appendString(b, e.UserID)
	b = append(b, `,"eventType":`...)
	b = appendString(b, e.EventType)
	b = append(b, `,"timestamp":`...)
	b = strconv.AppendInt(b, e.Timestamp, 10)
	return append(b, '}'), nil
}

// appendString appends s as a JSON string: quotes, backslashes and
// control characters escaped, U+2028 and U+2029 escaped as encoding/json
// does, invalid UTF-8 replaced by U+FFFD.
func appendString(b []byte, s string) []byte {
	const hexDigits = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// Check reports whether OpenWhisk's user-events service would take e:
// one body that EventType names, a subject of at least MinSubject
// characters, a namespace, an activation named "namespace/action" with
// an id, a status code in 0..3 and no negative number, or a named metric.
func (e *EventMessage) Check() error {
	switch {
	case (e.Activation == nil) == (e.Metric == nil):
		return fmt.Errorf("%w: an event needs exactly one of an activation and a metric body", ErrBadEvent)
	case e.Activation != nil && e.EventType != TypeActivation, e.Metric != nil && e.EventType != TypeMetric:
		return fmt.Errorf("%w: eventType %q does not name the body", ErrBadEvent, e.EventType)
	case len(e.Subject) < MinSubject:
		return fmt.Errorf("%w: subject %q is shorter than %d characters", ErrBadEvent, e.Subject, MinSubject)
	case e.Namespace == "":
		return fmt.Errorf("%w: event without a namespace", ErrBadEvent)
	}
	if m := e.Metric; m != nil {
		if m.MetricName == "" {
			return fmt.Errorf("%w: metric without a name", ErrBadEvent)
		}
		return nil
	}
	a := e.Activation
	switch {
	case a.Namespace() == "" || a.Action() == "" || strings.HasPrefix(a.Name, "/"):
		return fmt.Errorf("%w: activation name %q is not namespace/action", ErrBadEvent, a.Name)
	case a.ActivationID == "":
		return fmt.Errorf("%w: activation of %s without an id", ErrBadEvent, a.Name)
	case StatusName(a.StatusCode) == "":
		return fmt.Errorf("%w: activation %s: status code %d is not 0..3", ErrBadEvent, a.ActivationID, a.StatusCode)
	case a.Duration < 0 || a.WaitTime < 0 || a.InitTime < 0 || a.Memory < 0 || (a.Size != nil && *a.Size < 0):
		return fmt.Errorf("%w: activation %s: negative duration, memory or size", ErrBadEvent, a.ActivationID)
	}
	return nil
}

// MaxEvent bounds the size of an event Parse reads.
const MaxEvent = 1 << 20

// Parse reads one EventMessage as OpenWhisk's EventMessage.parse does:
// every field is required except the activation's causedBy, size and
// userDefinedStatusCode; a body with a metricName is a Metric, any other
// an Activation; unknown fields are ignored. It also refuses what
// OpenWhisk's consumer would fail on (Check).
func Parse(b []byte) (*EventMessage, error) {
	if len(b) > MaxEvent {
		return nil, fmt.Errorf("%w: %d bytes, more than %d", ErrBadEvent, len(b), MaxEvent)
	}
	var w struct {
		wireEvent
		Timestamp *int64 `json:"timestamp"`
	}
	if err := decodeRequired(b, &w, "source", "body", "subject", "namespace", "userId", "eventType", "timestamp"); err != nil {
		return nil, err
	}
	e := &EventMessage{Source: w.Source, Subject: w.Subject, Namespace: w.Namespace, UserID: w.UserID,
		EventType: w.EventType, Timestamp: *w.Timestamp}
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(w.Body, &probe); err != nil {
		return nil, fmt.Errorf("%w: body is not an object: %w", ErrBadEvent, err)
	}
	if _, ok := probe["metricName"]; ok {
		e.Metric = new(Metric)
		if err := decodeRequired(w.Body, e.Metric, "metricName", "metricValue"); err != nil {
			return nil, err
		}
	} else {
		e.Activation = new(Activation)
		if err := decodeRequired(w.Body, e.Activation, "name", "activationId", "statusCode", "duration",
			"waitTime", "initTime", "kind", "conductor", "memory"); err != nil {
			return nil, err
		}
	}
	if err := e.Check(); err != nil {
		return nil, err
	}
	return e, nil
}

// decodeRequired decodes the JSON object b into v and reports an error
// naming the first of required that b lacks (or has as null).
func decodeRequired(b []byte, v any, required ...string) error {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(b, &fields); err != nil {
		return fmt.Errorf("%w: not a JSON object: %w", ErrBadEvent, err)
	}
	for _, f := range required {
		if raw, ok := fields[f]; !ok || bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
			return fmt.Errorf("%w: missing required field %q", ErrBadEvent, f)
		}
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%w: %w", ErrBadEvent, err)
	}
	return nil
}
