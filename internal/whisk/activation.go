package whisk

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Activation status codes (core/entity/ActivationResult.scala).
const (
	StatusSuccess          = 0
	StatusApplicationError = 1
	StatusDeveloperError   = 2
	StatusWhiskError       = 3
)

// StatusText returns the REST form's "status" for a status code.
func StatusText(code int) string {
	switch code {
	case StatusSuccess:
		return "success"
	case StatusApplicationError:
		return "application error"
	case StatusDeveloperError:
		return "action developer error"
	default:
		return "whisk internal error"
	}
}

// Result is an activation's response in the storage form.
type Result struct {
	StatusCode int             `json:"statusCode"`
	Result     json.RawMessage `json:"result,omitempty"`
	// Size is the result's size in bytes, when it was truncated.
	Size *int `json:"size,omitempty"`
}

// Activation is a WhiskActivation in its storage form, as the invoker
// writes it to the database and puts it in a completion message.
type Activation struct {
	Namespace    string `json:"namespace"`
	Name         string `json:"name"`
	Subject      string `json:"subject"`
	ActivationID string `json:"activationId"`
	// Start and End are epoch milliseconds.
	Start int64  `json:"start"`
	End   int64  `json:"end"`
	Cause string `json:"cause,omitempty"`
	// Response holds the status code and the result.
	Response Result `json:"response"`
	// Logs are the log lines ("<time> stdout: <line>"), or for a
	// sequence the ids of its component activations.
	Logs        []string  `json:"logs"`
	Version     string    `json:"version"`
	Publish     bool      `json:"publish"`
	Annotations KeyValues `json:"annotations"`
	// Duration in milliseconds; for a sequence the sum of its components'.
	Duration int64 `json:"duration,omitempty"`
}

// RESTResult is an activation's response in the REST form.
type RESTResult struct {
	Status  string          `json:"status"`
	Success bool            `json:"success"`
	Result  json.RawMessage `json:"result,omitempty"`
	Size    *int            `json:"size,omitempty"`
}

// RESTActivation is the activation record as GET /activations/{id}
// returns it (WhiskActivation.toExtendedJson).
type RESTActivation struct {
	Namespace    string     `json:"namespace"`
	Name         string     `json:"name"`
	Subject      string     `json:"subject"`
	ActivationID string     `json:"activationId"`
	Start        int64      `json:"start"`
	End          int64      `json:"end"`
	Duration     int64      `json:"duration"`
	StatusCode   int        `json:"statusCode"`
	Cause        string     `json:"cause,omitempty"`
	Response     RESTResult `json:"response"`
	Logs         []string   `json:"logs"`
	Version      string     `json:"version"`
	Publish      bool       `json:"publish"`
	Annotations  KeyValues  `json:"annotations"`
}

// REST returns the activation in the REST form.
func (a Activation) REST() RESTActivation {
	logs := a.Logs
	if logs == nil {
		logs = []string{}
	}
	ann := a.Annotations
	if ann == nil {
		ann = KeyValues{}
	}
	d := a.Duration
	if d == 0 && a.End != 0 {
		d = a.End - a.Start
	}
	return RESTActivation{
		Namespace: a.Namespace, Name: a.Name, Subject: a.Subject, ActivationID: a.ActivationID,
		Start: a.Start, End: a.End, Duration: d, StatusCode: a.Response.StatusCode, Cause: a.Cause,
		Response: a.Response.REST(), Logs: logs, Version: a.Version, Publish: a.Publish, Annotations: ann,
	}
}

// REST returns the response in the REST form.
func (r Result) REST() RESTResult {
	return RESTResult{Status: StatusText(r.StatusCode), Success: r.StatusCode == StatusSuccess, Result: r.Result, Size: r.Size}
}

// ErrorResult returns a result {"error": msg} with the given status code.
func ErrorResult(code int, msg string) Result {
	b, _ := json.Marshal(map[string]string{"error": msg})
	return Result{StatusCode: code, Result: b}
}

// Messages OpenWhisk gives for failed activations (core/entity/
// ActivationResult.scala and common/scala/.../http/ErrorResponse.scala).
const (
	MsgAbnormalRun     = "The action did not produce a valid response and exited unexpectedly."
	MsgAbnormalInit    = "The action did not initialize and exited unexpectedly."
	MsgInvalidRunJSON  = "The action did not produce a valid JSON or JSON Array response"
	MsgInitFailed      = "The action failed during initialization"
	MsgLogsIncomplete  = "There was an issue while collecting your logs. Data might be missing."
	MsgSequenceTooLong = "Too many actions in the sequence."
)

// TimeoutMessage returns OpenWhisk's message for an action that ran past
// its time limit.
func TimeoutMessage(timeoutMS int) string {
	return fmt.Sprintf("The action exceeded its time limits of %d milliseconds.", timeoutMS)
}

// LogsTruncatedMessage returns OpenWhisk's last log line when an
// activation's logs exceeded their limit.
func LogsTruncatedMessage(limitBytes int) string {
	return fmt.Sprintf("Logs were truncated because the total bytes size exceeds the limit of %d bytes.", limitBytes)
}

// LogLine formats one line of an activation's logs as OpenWhisk's
// invoker does: "<RFC 3339 UTC time> <stream>: <text>", stream being
// "stdout" or "stderr".
func LogLine(t time.Time, stream, text string) string {
	return t.UTC().Format(time.RFC3339Nano) + " " + stream + ": " + text
}

// ParseLogLine splits a line LogLine made into its time, stream and text;
// ok is false for any other line.
func ParseLogLine(line string) (t time.Time, stream, text string, ok bool) {
	ts, rest, found := strings.Cut(line, " ")
	if !found {
		return time.Time{}, "", "", false
	}
	stream, text, found = strings.Cut(rest, ": ")
	if !found || (stream != "stdout" && stream != "stderr") {
		return time.Time{}, "", "", false
	}
	t, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil {
		return time.Time{}, "", "", false
	}
	return t, stream, text, true
}

// LogText is what a line of an activation's logs says, for showing it
// among other output: the text of a stdout line, "stderr: " and the text
// of a stderr line, any other line as it is.
func LogText(line string) string {
	_, stream, text, ok := ParseLogLine(line)
	switch {
	case !ok:
		return line
	case stream == "stderr":
		return "stderr: " + text
	default:
		return text
	}
}

// Annotation keys of activation records.
const (
	AnnPath     = "path"
	AnnKind     = "kind"
	AnnLimits   = "limits"
	AnnWaitTime = "waitTime"
	AnnInitTime = "initTime"
	AnnCausedBy = "causedBy"
	AnnTopmost  = "topmost"
	AnnTimeout  = "timeout"
)

// ClassifyRun turns a container's /run answer into the activation's
// result the way OpenWhisk's invoker does (ActivationResponse.
// processRunResponseContent): status is the HTTP status, body the answer
// (nil when the connection failed or no body came), limit the largest
// result in bytes (0: none).
func ClassifyRun(status int, body []byte, limit int) Result {
	if body == nil {
		return ErrorResult(StatusDeveloperError, MsgAbnormalRun)
	}
	if limit > 0 && len(body) > limit {
		trunc := body
		if len(trunc) > 512 {
			trunc = trunc[:512]
		}
		return ErrorResult(StatusApplicationError, fmt.Sprintf("The action produced a response that exceeded the allowed length: %d > %d bytes. The truncated response was: %s", len(body), limit, trunc))
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return ErrorResult(StatusDeveloperError, fmt.Sprintf("%s: %s", MsgInvalidRunJSON, truncate(body)))
	}
	switch t := v.(type) {
	case map[string]any:
		if _, ok := t["error"]; ok {
			var raw map[string]json.RawMessage
			_ = json.Unmarshal(body, &raw) // kept verbatim: numbers stay exact
			b, _ := json.Marshal(map[string]json.RawMessage{"error": raw["error"]})
			code := StatusApplicationError
			if status != 200 {
				code = StatusDeveloperError
			}
			return Result{StatusCode: code, Result: b}
		}
		if status != 200 {
			return ErrorResult(StatusDeveloperError, fmt.Sprintf("%s: %s", MsgInvalidRunJSON, truncate(body)))
		}
		return Result{StatusCode: StatusSuccess, Result: compactJSON(body)}
	case []any:
		if status != 200 {
			return ErrorResult(StatusDeveloperError, fmt.Sprintf("%s: %s", MsgInvalidRunJSON, truncate(body)))
		}
		return Result{StatusCode: StatusSuccess, Result: compactJSON(body)}
	}
	return ErrorResult(StatusDeveloperError, fmt.Sprintf("%s: %s", MsgInvalidRunJSON, truncate(body)))
}

// ClassifyInit turns a container's failed /init answer (status != 200)
// into the activation's result: a developer error.
func ClassifyInit(status int, body []byte) Result {
	if body == nil {
		return ErrorResult(StatusDeveloperError, MsgAbnormalInit)
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(body, &m) == nil {
		if e, ok := m["error"]; ok {
			b, _ := json.Marshal(map[string]json.RawMessage{"error": e})
			return Result{StatusCode: StatusDeveloperError, Result: b}
		}
	}
	return ErrorResult(StatusDeveloperError, fmt.Sprintf("%s: %s", MsgInitFailed, truncate(body)))
}

func truncate(b []byte) string {
	if len(b) > 512 {
		return string(b[:512]) + "..."
	}
	return string(b)
}
