package agentproto

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/wsk-route/wsk-route/internal/runevent"
)

// Bounds of an Activation message.
const (
	// MaxRecordResult bounds Activation.Result: OpenWhisk's default
	// limit of an activation's result (whisk.activation.payload.max, 1
	// MB). A proxy records a larger result by its size only.
	MaxRecordResult = 1 << 20
	// MaxRecordLogs bounds the bytes of Activation.Logs.
	MaxRecordLogs = 2 << 20
	// maxRecordName bounds Workflow and Step.
	maxRecordName = 256
	// maxAttempts bounds Activation.Attempts: a frame counts attempts in
	// 16 bits.
	maxAttempts = 1<<16 - 1
)

// Activation is the record of one direct step, sent by the proxy that ran
// it once its result has gone on. The agent writes it as an OpenWhisk
// activation record; the namespace, the action and its version come from
// the proxy's registration, never from the message.
type Activation struct {
	// ActivationID is the id the action saw (__OW_ACTIVATION_ID): 32
	// lower-case hex digits.
	ActivationID string `json:"activation_id"`
	// Cause is the run's id, which is its entry's activation id.
	Cause string `json:"cause"`
	// Start and End are epoch milliseconds.
	Start int64 `json:"start"`
	End   int64 `json:"end"`
	// StatusCode is OpenWhisk's: 0 success, 1 application error, 2
	// developer error, 3 internal error.
	StatusCode int `json:"status_code"`
	// Timeout says the step was stopped because its run's deadline came
	// (OpenWhisk's "timeout" annotation).
	Timeout bool `json:"timeout,omitempty"`
	// Attempts is how many times the action ran for the step: more than
	// one when the step's retry ran it again; 0 means once.
	Attempts int `json:"attempts,omitempty"`
	// Result is the step's result (a JSON object or array), at most
	// MaxRecordResult bytes.
	Result json.RawMessage `json:"result,omitempty"`
	// Logs are the step's log lines, in OpenWhisk's form
	// ("<RFC 3339 time> stdout: <line>"), at most MaxRecordLogs bytes.
	Logs []string `json:"logs,omitempty"`
	// Workflow, Step and Branch say which step of which workflow ran.
	Workflow string `json:"workflow"`
	Step     string `json:"step"`
	Branch   uint32 `json:"branch,omitempty"`
}

func (a *Activation) check() error {
	if !runevent.IsActivationID(a.ActivationID) {
		return fmt.Errorf("activation record: id %q is not 32 lower-case hex digits", a.ActivationID)
	}
	if a.Cause != "" && !runevent.IsActivationID(a.Cause) {
		return fmt.Errorf("activation record %s: cause %q is not 32 lower-case hex digits", a.ActivationID, a.Cause)
	}
	if a.Start <= 0 || a.End < a.Start {
		return fmt.Errorf("activation record %s: start %d and end %d are not a time span", a.ActivationID, a.Start, a.End)
	}
	if a.Attempts < 0 || a.Attempts > maxAttempts {
		return fmt.Errorf("activation record %s: %d attempts, not 0 to %d", a.ActivationID, a.Attempts, maxAttempts)
	}
	if a.StatusCode < 0 || a.StatusCode > 3 {
		return fmt.Errorf("activation record %s: status code %d is not one of OpenWhisk's 0-3", a.ActivationID, a.StatusCode)
	}
	if len(a.Result) > MaxRecordResult {
		return fmt.Errorf("activation record %s: result of %d bytes, more than %d", a.ActivationID, len(a.Result), MaxRecordResult)
	}
	if len(a.Result) > 0 && a.Result[0] != '{' && a.Result[0] != '[' {
		return fmt.Errorf("activation record %s: the result is not a JSON object or array", a.ActivationID)
	}
	n := 0
	for _, l := range a.Logs {
		n += len(l)
	}
	if n > MaxRecordLogs {
		return fmt.Errorf("activation record %s: %d bytes of logs, more than %d", a.ActivationID, n, MaxRecordLogs)
	}
	if a.Workflow == "" || a.Step == "" || len(a.Workflow) > maxRecordName || len(a.Step) > maxRecordName {
		return errors.New("activation record " + a.ActivationID + ": workflow and step must be 1 to 256 bytes")
	}
	return nil
}
