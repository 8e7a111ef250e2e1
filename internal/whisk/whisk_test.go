package whisk_test

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/wsk-route/wsk-route/internal/whisk"
)

// jsonEqual reports whether a and b are the same JSON value.
func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var va, vb any
	da := json.NewDecoder(bytes.NewReader(a))
	da.UseNumber()
	if err := da.Decode(&va); err != nil {
		t.Fatalf("not JSON: %s: %v", a, err)
	}
	db := json.NewDecoder(bytes.NewReader(b))
	db.UseNumber()
	if err := db.Decode(&vb); err != nil {
		t.Fatalf("not JSON: %s: %v", b, err)
	}
	return reflect.DeepEqual(va, vb)
}

func errorOf(t *testing.T, r whisk.Result) string {
	t.Helper()
	var m map[string]string
	if err := json.Unmarshal(r.Result, &m); err != nil {
		t.Fatalf("result %s is not {\"error\": string}: %v", r.Result, err)
	}
	return m["error"]
}

func TestClassifyRun(t *testing.T) {
	big := `{"a":"` + strings.Repeat("x", 600) + `"}`
	tests := []struct {
		name   string
		status int
		body   []byte
		limit  int
		code   int
		result string // exact JSON value, or "" when errPrefix is used
		errMsg string // prefix of the {"error": ...} string
	}{
		{"200 object", 200, []byte("{\"a\": 1, \"b\": [1, 2]}\n"), 0, whisk.StatusSuccess, `{"a":1,"b":[1,2]}`, ""},
		{"200 object under limit", 200, []byte(`{"a":1}`), 7, whisk.StatusSuccess, `{"a":1}`, ""},
		{"200 object with error", 200, []byte(`{"error": {"code": 42, "msg": "boom"}, "other": 1}`), 0, whisk.StatusApplicationError, `{"error":{"code":42,"msg":"boom"}}`, ""},
		{"200 object with string error", 200, []byte(`{"error":"boom"}`), 0, whisk.StatusApplicationError, `{"error":"boom"}`, ""},
		{"200 object with null error", 200, []byte(`{"error":null}`), 0, whisk.StatusApplicationError, `{"error":null}`, ""},
		{"200 array", 200, []byte("[1, {\"a\": 2}]\n"), 0, whisk.StatusSuccess, `[1,{"a":2}]`, ""},
		{"200 empty array", 200, []byte(`[]`), 0, whisk.StatusSuccess, `[]`, ""},
		{"502 object with error", 502, []byte(`{"error":"The action did not return a dictionary or array."}`), 0, whisk.StatusDeveloperError, `{"error":"The action did not return a dictionary or array."}`, ""},
		{"400 object with error", 400, []byte(`{"error":"command exited"}`), 0, whisk.StatusDeveloperError, `{"error":"command exited"}`, ""},
		{"500 object without error", 500, []byte(`{"a":1}`), 0, whisk.StatusDeveloperError, "", whisk.MsgInvalidRunJSON + `: {"a":1}`},
		{"500 array", 500, []byte(`[1]`), 0, whisk.StatusDeveloperError, "", whisk.MsgInvalidRunJSON + `: [1]`},
		{"200 non-JSON", 200, []byte(`hello`), 0, whisk.StatusDeveloperError, "", whisk.MsgInvalidRunJSON + ": hello"},
		{"200 truncated JSON", 200, []byte(`{"a":`), 0, whisk.StatusDeveloperError, "", whisk.MsgInvalidRunJSON + `: {"a":`},
		{"200 string scalar", 200, []byte(`"hi"`), 0, whisk.StatusDeveloperError, "", whisk.MsgInvalidRunJSON + `: "hi"`},
		{"200 number scalar", 200, []byte(`42`), 0, whisk.StatusDeveloperError, "", whisk.MsgInvalidRunJSON + ": 42"},
		{"200 bool scalar", 200, []byte(`true`), 0, whisk.StatusDeveloperError, "", whisk.MsgInvalidRunJSON + ": true"},
		{"200 null", 200, []byte(`null`), 0, whisk.StatusDeveloperError, "", whisk.MsgInvalidRunJSON + ": null"},
		{"200 empty body", 200, []byte{}, 0, whisk.StatusDeveloperError, "", whisk.MsgInvalidRunJSON},
		{"nil body", 0, nil, 0, whisk.StatusDeveloperError, "", whisk.MsgAbnormalRun},
		{"nil body 200", 200, nil, 10, whisk.StatusDeveloperError, "", whisk.MsgAbnormalRun},
		{"over limit", 200, []byte(`{"a":"0123456789"}`), 10, whisk.StatusApplicationError, "",
			`The action produced a response that exceeded the allowed length: 18 > 10 bytes. The truncated response was: {"a":"0123456789"}`},
		{"over limit long", 200, []byte(big), 100, whisk.StatusApplicationError, "",
			`The action produced a response that exceeded the allowed length: 608 > 100 bytes. The truncated response was: ` + big[:512]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := whisk.ClassifyRun(tt.status, tt.body, tt.limit)
			if got.StatusCode != tt.code {
				t.Errorf("status code: got %d, want %d (result %s)", got.StatusCode, tt.code, got.Result)
			}
			if tt.result != "" {
				if !jsonEqual(t, got.Result, []byte(tt.result)) {
					t.Errorf("result: got %s, want %s", got.Result, tt.result)
				}
				return
			}
			msg := errorOf(t, got)
			if !strings.HasPrefix(msg, tt.errMsg) {
				t.Errorf("error: got %q, want prefix %q", msg, tt.errMsg)
			}
		})
	}
}

// TestClassifyRunLongBodyTruncated checks the message quotes at most 512
// bytes of a long invalid body.
func TestClassifyRunLongBodyTruncated(t *testing.T) {
	body := []byte(strings.Repeat("z", 2000))
	got := whisk.ClassifyRun(200, body, 0)
	msg := errorOf(t, got)
	if want := whisk.MsgInvalidRunJSON + ": " + strings.Repeat("z", 512) + "..."; msg != want {
		t.Errorf("got %d-byte message %.80q..., want %d bytes", len(msg), msg, len(want))
	}
}

// TestClassifyRunErrorValueVerbatim checks that the "error" value is kept
// as the action wrote it (OpenWhisk's spray-json keeps numbers as
// BigDecimal), like ClassifyInit does.
func TestClassifyRunErrorValueVerbatim(t *testing.T) {
	body := []byte(`{"error":{"code":12345678901234567891}}`)
	for _, status := range []int{200, 502} {
		got := whisk.ClassifyRun(status, body, 0)
		if !jsonEqual(t, got.Result, body) {
			t.Errorf("status %d: got %s, want %s", status, got.Result, body)
		}
	}
}

func TestClassifyInit(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   []byte
		result string
		errMsg string
	}{
		{"object with error", 502, []byte(`{"error":"no main"}`), `{"error":"no main"}`, ""},
		{"object with object error", 500, []byte(`{"error":{"code":12345678901234567891},"x":1}`), `{"error":{"code":12345678901234567891}}`, ""},
		{"object without error", 500, []byte(`{"ok":false}`), "", whisk.MsgInitFailed + `: {"ok":false}`},
		{"array", 500, []byte(`["e"]`), "", whisk.MsgInitFailed + `: ["e"]`},
		{"non-JSON", 500, []byte(`oops`), "", whisk.MsgInitFailed + ": oops"},
		{"scalar", 500, []byte(`"oops"`), "", whisk.MsgInitFailed + `: "oops"`},
		{"null", 500, []byte(`null`), "", whisk.MsgInitFailed + ": null"},
		{"nil body", 0, nil, "", whisk.MsgAbnormalInit},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := whisk.ClassifyInit(tt.status, tt.body)
			if got.StatusCode != whisk.StatusDeveloperError {
				t.Errorf("status code: got %d, want %d", got.StatusCode, whisk.StatusDeveloperError)
			}
			if tt.result != "" {
				if !jsonEqual(t, got.Result, []byte(tt.result)) {
					t.Errorf("result: got %s, want %s", got.Result, tt.result)
				}
				return
			}
			if msg := errorOf(t, got); msg != tt.errMsg {
				t.Errorf("error: got %q, want %q", msg, tt.errMsg)
			}
		})
	}
}

func TestStatusText(t *testing.T) {
	tests := []struct {
		code int
		want string
	}{
		{whisk.StatusSuccess, "success"},
		{whisk.StatusApplicationError, "application error"},
		{whisk.StatusDeveloperError, "action developer error"},
		{whisk.StatusWhiskError, "whisk internal error"},
		{7, "whisk internal error"},
		{-1, "whisk internal error"},
	}
	for _, tt := range tests {
		if got := whisk.StatusText(tt.code); got != tt.want {
			t.Errorf("StatusText(%d): got %q, want %q", tt.code, got, tt.want)
		}
	}
}

func TestMessages(t *testing.T) {
	if got, want := whisk.TimeoutMessage(60000), "The action exceeded its time limits of 60000 milliseconds."; got != want {
		t.Errorf("TimeoutMessage: got %q, want %q", got, want)
	}
	if got, want := whisk.LogsTruncatedMessage(10485760), "Logs were truncated because the total bytes size exceeds the limit of 10485760 bytes."; got != want {
		t.Errorf("LogsTruncatedMessage: got %q, want %q", got, want)
	}
	r := whisk.ErrorResult(whisk.StatusWhiskError, `a "quoted" <msg>`)
	if r.StatusCode != whisk.StatusWhiskError || errorOf(t, r) != `a "quoted" <msg>` {
		t.Errorf("ErrorResult: got %d %s", r.StatusCode, r.Result)
	}
}

func TestActivationREST(t *testing.T) {
	size := 1234
	tests := []struct {
		name     string
		in       whisk.Activation
		status   string
		success  bool
		duration int64
	}{
		{"success computed duration", whisk.Activation{Start: 1000, End: 1250, Response: whisk.Result{StatusCode: 0, Result: json.RawMessage(`{"a":1}`)}}, "success", true, 250},
		{"application error given duration", whisk.Activation{Start: 1000, End: 1250, Duration: 900, Response: whisk.Result{StatusCode: 1}}, "application error", false, 900},
		{"developer error", whisk.Activation{Start: 1000, End: 1001, Response: whisk.Result{StatusCode: 2}}, "action developer error", false, 1},
		{"whisk error not ended", whisk.Activation{Start: 1000, Response: whisk.Result{StatusCode: 3}}, "whisk internal error", false, 0},
		{"size kept", whisk.Activation{Start: 5, End: 5, Response: whisk.Result{StatusCode: 1, Size: &size}}, "application error", false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.in.ActivationID, tt.in.Namespace, tt.in.Name = "abc", "guest", "hello"
			got := tt.in.REST()
			if got.Response.Status != tt.status || got.Response.Success != tt.success {
				t.Errorf("response: got %q/%v, want %q/%v", got.Response.Status, got.Response.Success, tt.status, tt.success)
			}
			if got.StatusCode != tt.in.Response.StatusCode {
				t.Errorf("statusCode: got %d, want %d", got.StatusCode, tt.in.Response.StatusCode)
			}
			if got.Duration != tt.duration {
				t.Errorf("duration: got %d, want %d", got.Duration, tt.duration)
			}
			if got.Response.Size != tt.in.Response.Size {
				t.Errorf("size: got %v, want %v", got.Response.Size, tt.in.Response.Size)
			}
			if !bytes.Equal(got.Response.Result, tt.in.Response.Result) {
				t.Errorf("result: got %s, want %s", got.Response.Result, tt.in.Response.Result)
			}
			b, err := json.Marshal(got)
			if err != nil {
				t.Fatal(err)
			}
			var m map[string]json.RawMessage
			if err := json.Unmarshal(b, &m); err != nil {
				t.Fatal(err)
			}
			for k, want := range map[string]string{"logs": "[]", "annotations": "[]", "activationId": `"abc"`, "namespace": `"guest"`} {
				if string(m[k]) != want {
					t.Errorf("%s: got %s, want %s in %s", k, m[k], want, b)
				}
			}
			var resp map[string]json.RawMessage
			if err := json.Unmarshal(m["response"], &resp); err != nil {
				t.Fatal(err)
			}
			if _, ok := resp["statusCode"]; ok {
				t.Errorf("REST response carries statusCode: %s", m["response"])
			}
		})
	}
}

func TestActivationRESTKeepsLogsAndAnnotations(t *testing.T) {
	a := whisk.Activation{
		Logs:        []string{"2024-01-01T00:00:00.000Z stdout: hi"},
		Annotations: whisk.KeyValues{}.Set(whisk.AnnKind, "go:1.26"),
	}
	got := a.REST()
	if !reflect.DeepEqual(got.Logs, a.Logs) || !reflect.DeepEqual(got.Annotations, a.Annotations) {
		t.Errorf("got logs %v annotations %v, want %v %v", got.Logs, got.Annotations, a.Logs, a.Annotations)
	}
}

// activationMessage is the example of openwhisk-core.md 1.4.
const activationMessage = `{"transid": ["gdxE2bK7abc", 1700000000000],
 "action": {"path": "guest/pkg", "name": "hello", "version": "0.0.1"},
 "revision": "3-a1b2c3",
 "user": {"subject": "guest",
          "namespace": {"name": "guest", "uuid": "23bc46b1-71f6-4ed5-8c54-816aa4f8c502"},
          "authkey": {"api_key": "23bc46b1-71f6-4ed5-8c54-816aa4f8c502:123zO3xZCLrMN6v2BKK1dXYFpXlPkccOFqm12CdAsMgRU4VrNZ9lyGVCGuMDGIwP"},
          "rights": ["READ", "PUT", "DELETE", "ACTIVATE"], "limits": {}},
 "activationId": "5975c24de0114ef2b5c24de0118ef27e",
 "rootControllerIndex": {"asString": "0", "instanceType": "controller"},
 "blocking": true,
 "content": {"name": "World"},
 "initArgs": [], "lockedArgs": {},
 "cause": "1111c24de0114ef2b5c24de0118ef27e", "traceContext": {}}`

func TestParseActivationMessage(t *testing.T) {
	three := strings.Replace(activationMessage, `1700000000000]`, `1700000000000, true]`, 1)
	four := strings.Replace(activationMessage, `1700000000000]`, `1700000000000, false, ["parent", 1699999999999]]`, 1)
	for name, in := range map[string]string{"2-element transid": activationMessage, "3-element transid": three, "4-element transid": four} {
		t.Run(name, func(t *testing.T) {
			m, err := whisk.ParseActivationMessage([]byte(in))
			if err != nil {
				t.Fatal(err)
			}
			if m.TransID != (whisk.TransID{ID: "gdxE2bK7abc", Start: 1700000000000}) {
				t.Errorf("transid: got %+v", m.TransID)
			}
			if want := (whisk.ActionRef{Path: "guest/pkg", Name: "hello", Version: "0.0.1"}); m.Action != want {
				t.Errorf("action: got %+v, want %+v", m.Action, want)
			}
			if m.Action.FQN() != "/guest/pkg/hello" {
				t.Errorf("FQN: got %q", m.Action.FQN())
			}
			if m.Revision != "3-a1b2c3" || m.ActivationID != "5975c24de0114ef2b5c24de0118ef27e" || !m.Blocking || m.Cause != "1111c24de0114ef2b5c24de0118ef27e" {
				t.Errorf("scalars: got %+v", m)
			}
			if m.User.Subject != "guest" || m.User.Namespace.Name != "guest" || m.User.Namespace.UUID != "23bc46b1-71f6-4ed5-8c54-816aa4f8c502" ||
				!strings.HasPrefix(m.User.AuthKey.APIKey, "23bc46b1-71f6-4ed5-8c54-816aa4f8c502:") || len(m.User.Rights) != 4 || string(m.User.Limits) != "{}" {
				t.Errorf("user: got %+v", m.User)
			}
			if m.RootControllerIndex != (whisk.ControllerInstance{AsString: "0", InstanceType: "controller"}) {
				t.Errorf("rootControllerIndex: got %+v", m.RootControllerIndex)
			}
			if !jsonEqual(t, m.Content, []byte(`{"name":"World"}`)) {
				t.Errorf("content: got %s", m.Content)
			}
			if m.InitArgs == nil || len(m.InitArgs) != 0 || m.LockedArgs == nil || len(m.LockedArgs) != 0 || m.TraceContext == nil {
				t.Errorf("initArgs/lockedArgs/traceContext: got %v %v %v", m.InitArgs, m.LockedArgs, m.TraceContext)
			}
		})
	}
}

func TestParseActivationMessageLenient(t *testing.T) {
	in := `{"transid":["t",1],"action":{"path":"guest","name":"a","binding":"guest/b"},"user":{"namespace":{"name":"guest"}},"activationId":"x","unknown":{"y":1}}`
	m, err := whisk.ParseActivationMessage([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if m.Action.Binding != "guest/b" || m.Content != nil || m.Blocking {
		t.Errorf("got %+v", m)
	}
}

func TestParseActivationMessageMissing(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"activationId", `"activationId": "5975c24de0114ef2b5c24de0118ef27e",`, "activationId"},
		{"action name", `"name": "hello", `, "action path or name"},
		{"action path", `"path": "guest/pkg", `, "action path or name"},
		{"action", `"action": {"path": "guest/pkg", "name": "hello", "version": "0.0.1"},`, "action path or name"},
		{"user namespace", `"namespace": {"name": "guest", "uuid": "23bc46b1-71f6-4ed5-8c54-816aa4f8c502"},`, "user namespace"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := strings.Replace(activationMessage, tt.in, "", 1)
			if in == activationMessage {
				t.Fatalf("test bug: %q not in the example", tt.in)
			}
			m, err := whisk.ParseActivationMessage([]byte(in))
			if err == nil {
				t.Fatalf("got %+v, want an error naming %s", m, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "activation message") {
				t.Errorf("error %q does not name %q", err, tt.want)
			}
		})
	}
}

func TestParseActivationMessageGarbage(t *testing.T) {
	for _, in := range []string{``, `null`, `[]`, `"x"`, `{`, `{"transid":{}}`, `{"transid":[]}`, `{"transid":[1,2]}`, `{"transid":["a","b"]}`, `{"activationId":1}`} {
		if m, err := whisk.ParseActivationMessage([]byte(in)); err == nil {
			t.Errorf("%q: got %+v, want an error", in, m)
		}
	}
}

func TestActivationMessageRoundTrip(t *testing.T) {
	m, err := whisk.ParseActivationMessage([]byte(activationMessage))
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	m2, err := whisk.ParseActivationMessage(b)
	if err != nil {
		t.Fatalf("reparse %s: %v", b, err)
	}
	// Raw JSON fields come back compacted; everything else unchanged.
	if !jsonEqual(t, m.Content, m2.Content) {
		t.Errorf("content: got %s, want %s", m2.Content, m.Content)
	}
	m.Content, m2.Content = nil, nil
	if len(m.TraceContext) != 0 || m2.TraceContext != nil {
		t.Errorf("traceContext: got %v from %v, want an empty one left out", m2.TraceContext, m.TraceContext)
	}
	m.TraceContext = nil
	if !reflect.DeepEqual(m, m2) {
		t.Errorf("round trip:\n got %+v\nwant %+v", m2, m)
	}
	// The marshalled form is the wire form: the example's JSON, except that
	// an empty traceContext is left out (OpenWhisk's is an Option).
	want := strings.Replace(activationMessage, `, "traceContext": {}`, "", 1)
	if !jsonEqual(t, b, []byte(want)) {
		t.Errorf("marshal: got %s, want the example", b)
	}
}

func TestTransIDJSON(t *testing.T) {
	good := []struct {
		in   string
		want whisk.TransID
	}{
		{`["abc",1700000000000]`, whisk.TransID{ID: "abc", Start: 1700000000000}},
		{`["abc",1700000000000,true]`, whisk.TransID{ID: "abc", Start: 1700000000000}},
		{`["abc",1,false,["p",0]]`, whisk.TransID{ID: "abc", Start: 1}},
		{`["abc"]`, whisk.TransID{ID: "abc"}},
		{`"abc"`, whisk.TransID{ID: "abc"}},
	}
	for _, tt := range good {
		var got whisk.TransID
		if err := json.Unmarshal([]byte(tt.in), &got); err != nil {
			t.Errorf("%s: %v", tt.in, err)
			continue
		}
		if got != tt.want {
			t.Errorf("%s: got %+v, want %+v", tt.in, got, tt.want)
		}
	}
	for _, in := range []string{`[]`, `{}`, `1`, `[1,2]`, `["a","2"]`, `["a",1.5]`, `null`, `true`} {
		var got whisk.TransID
		if err := json.Unmarshal([]byte(in), &got); err == nil {
			t.Errorf("%s: got %+v, want an error", in, got)
		} else if !strings.HasPrefix(err.Error(), "transid") && !strings.Contains(err.Error(), "transid") {
			t.Errorf("%s: error %q does not say transid", in, err)
		}
	}
	b, err := json.Marshal(whisk.TransID{ID: "abc", Start: 1700000000000})
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `["abc",1700000000000]` {
		t.Errorf("marshal: got %s", b)
	}
}

var testInstance = &whisk.InvokerInstance{Instance: 0, UserMemory: "2048 MB", InstanceType: "invoker", Tags: []string{}, DedicatedNamespaces: []string{}, UniqueName: "0", DisplayedName: "invoker0"}

const instanceJSON = `{"instance":0,"userMemory":"2048 MB","instanceType":"invoker","tags":[],"dedicatedNamespaces":[],"uniqueName":"0","displayedName":"invoker0"}`

const storedActivation = `{"namespace":"guest","name":"hello","subject":"guest","activationId":"5975c24de0114ef2b5c24de0118ef27e","start":1700000000000,"end":1700000000042,"response":{"statusCode":0,"result":{"greeting":"Hello World"}},"logs":["2024-01-01T00:00:00.000Z stdout: hi"],"version":"0.0.1","publish":false,"annotations":[{"key":"path","value":"guest/hello"},{"key":"waitTime","value":12}],"duration":42}`

func TestAckMarshalJSON(t *testing.T) {
	var act whisk.Activation
	if err := json.Unmarshal([]byte(storedActivation), &act); err != nil {
		t.Fatal(err)
	}
	tid := whisk.TransID{ID: "tid", Start: 17}
	tests := []struct {
		name string
		ack  whisk.Ack
		want string
	}{
		{"combined whole", whisk.Ack{Kind: whisk.AckCombined, TransID: tid, ActivationID: act.ActivationID, Response: &act, Instance: testInstance},
			`{"transid":["tid",17],"response":` + storedActivation + `,"isSystemError":false,"instance":` + instanceJSON + `}`},
		{"combined shrunk", whisk.Ack{Kind: whisk.AckCombined, TransID: tid, ActivationID: "aid", IsSystemError: true, Instance: testInstance},
			`{"transid":["tid",17],"response":"aid","isSystemError":true,"instance":` + instanceJSON + `}`},
		{"completion", whisk.Ack{Kind: whisk.AckCompletion, TransID: tid, ActivationID: "aid", Instance: testInstance},
			`{"transid":["tid",17],"activationId":"aid","isSystemError":false,"instance":` + instanceJSON + `}`},
		{"result whole", whisk.Ack{Kind: whisk.AckResult, TransID: tid, ActivationID: act.ActivationID, Response: &act},
			`{"transid":["tid",17],"response":` + storedActivation + `}`},
		{"result shrunk", whisk.Ack{Kind: whisk.AckResult, TransID: tid, ActivationID: "aid"},
			`{"transid":["tid",17],"response":"aid"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := json.Marshal(tt.ack)
			if err != nil {
				t.Fatal(err)
			}
			if !jsonEqual(t, b, []byte(tt.want)) {
				t.Errorf("got  %s\nwant %s", b, tt.want)
			}
			got, err := whisk.ParseAck(b)
			if err != nil {
				t.Fatalf("ParseAck(%s): %v", b, err)
			}
			if !reflect.DeepEqual(got, tt.ack) {
				t.Errorf("round trip: got %+v, want %+v", got, tt.ack)
			}
		})
	}
	if b, err := json.Marshal(whisk.Ack{TransID: tid, ActivationID: "x"}); err == nil {
		t.Errorf("kind 0: got %s, want an error", b)
	}
}

func TestParseAck(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		kind     whisk.AckKind
		id       string
		whole    bool
		sysError bool
	}{
		{"combined whole", `{"transid":["tid",17,true],"response":` + storedActivation + `,"isSystemError":false,"instance":` + instanceJSON + `}`, whisk.AckCombined, "5975c24de0114ef2b5c24de0118ef27e", true, false},
		{"combined shrunk", `{"transid":["tid",17],"response":"aid","isSystemError":true,"instance":` + instanceJSON + `}`, whisk.AckCombined, "aid", false, true},
		{"combined without isSystemError", `{"transid":["tid",17],"response":"aid","instance":` + instanceJSON + `}`, whisk.AckCombined, "aid", false, false},
		{"completion", `{"transid":["tid",17],"activationId":"aid","isSystemError":true,"instance":` + instanceJSON + `}`, whisk.AckCompletion, "aid", false, true},
		{"completion minimal instance", `{"transid":["tid",17],"activationId":"aid","isSystemError":false,"instance":{"instance":3,"instanceType":"invoker"}}`, whisk.AckCompletion, "aid", false, false},
		{"result whole", `{"transid":["tid",17],"response":` + storedActivation + `}`, whisk.AckResult, "5975c24de0114ef2b5c24de0118ef27e", true, false},
		{"result shrunk", `{"transid":["tid",17],"response":"aid"}`, whisk.AckResult, "aid", false, false},
		// ResultMessage has no isSystemError (None in OpenWhisk): a stray one is ignored.
		{"result with isSystemError", `{"transid":["tid",17],"response":"aid","isSystemError":true}`, whisk.AckResult, "aid", false, false},
		{"result with unknown fields", `{"transid":["tid",17],"response":"aid","extra":[1]}`, whisk.AckResult, "aid", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := whisk.ParseAck([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if a.Kind != tt.kind || a.ActivationID != tt.id || (a.Response != nil) != tt.whole || a.IsSystemError != tt.sysError {
				t.Errorf("got kind %d id %q whole %v sys %v, want %d %q %v %v", a.Kind, a.ActivationID, a.Response != nil, a.IsSystemError, tt.kind, tt.id, tt.whole, tt.sysError)
			}
			if a.TransID.ID != "tid" || a.TransID.Start != 17 {
				t.Errorf("transid: got %+v", a.TransID)
			}
			if (a.Instance != nil) != (tt.kind != whisk.AckResult) {
				t.Errorf("instance: got %+v for kind %d", a.Instance, a.Kind)
			}
			if tt.kind == whisk.AckCombined && tt.name != "completion minimal instance" && !reflect.DeepEqual(a.Instance, testInstance) {
				t.Errorf("instance: got %+v, want %+v", a.Instance, testInstance)
			}
		})
	}
}

func TestParseAckWholeActivation(t *testing.T) {
	in := `{"transid":["tid",17],"response":` + storedActivation + `,"isSystemError":false,"instance":` + instanceJSON + `}`
	a, err := whisk.ParseAck([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	r := a.Response
	if r.Namespace != "guest" || r.Name != "hello" || r.Subject != "guest" || r.Start != 1700000000000 || r.End != 1700000000042 ||
		r.Duration != 42 || r.Version != "0.0.1" || r.Response.StatusCode != 0 || len(r.Logs) != 1 {
		t.Errorf("activation: got %+v", r)
	}
	if !jsonEqual(t, r.Response.Result, []byte(`{"greeting":"Hello World"}`)) {
		t.Errorf("result: got %s", r.Response.Result)
	}
	if v, ok := r.Annotations.Get(whisk.AnnWaitTime); !ok || string(v) != "12" {
		t.Errorf("waitTime: got %s %v", v, ok)
	}
}

func TestParseAckErrors(t *testing.T) {
	for _, in := range []string{
		``, `null`, `[]`, `"x"`, `{`, `{}`,
		`{"transid":["t",1]}`,                                                           // result without response
		`{"transid":["t",1],"isSystemError":false}`,                                     // result without response
		`{"transid":["t",1],"isSystemError":false,"instance":{"instance":0}}`,           // completion without activationId
		`{"transid":["t",1],"response":""}`,                                             // empty id
		`{"transid":["t",1],"response":{"name":"x"}}`,                                   // activation without id
		`{"transid":["t",1],"response":null}`,                                           // null response
		`{"transid":["t",1],"response":42}`,                                             // number response
		`{"transid":["t",1],"response":[1]}`,                                            // array response
		`{"transid":["t",1],"response":{"activationId":7}}`,                             // bad id type
		`{"transid":{},"response":"x"}`,                                                 // bad transid
		`{"transid":["t",1],"response":"x","instance":{"instance":"zero"}}`,             // bad instance
		`{"transid":["t",1],"response":{"activationId":"a","start":"s"},"instance":{}}`, // bad activation
	} {
		if a, err := whisk.ParseAck([]byte(in)); err == nil {
			t.Errorf("%s: got %+v, want an error", in, a)
		} else if !strings.HasPrefix(err.Error(), "ack") {
			t.Errorf("%s: error %q does not start with the package's subject", in, err)
		}
	}
}

func TestParseName(t *testing.T) {
	good := []struct {
		in, ns, pkg, name string
	}{
		{"hello", "", "", "hello"},
		{"pkg/hello", "", "pkg", "hello"},
		{"/guest/hello", "guest", "", "hello"},
		{"/guest/pkg/hello", "guest", "pkg", "hello"},
		{"/_/hello", "_", "", "hello"},
		{"a-b_c.d@e", "", "", "a-b_c.d@e"},
	}
	for _, tt := range good {
		ns, pkg, name, err := whisk.ParseName(tt.in)
		if err != nil {
			t.Errorf("ParseName(%q): %v", tt.in, err)
			continue
		}
		if ns != tt.ns || pkg != tt.pkg || name != tt.name {
			t.Errorf("ParseName(%q): got %q %q %q, want %q %q %q", tt.in, ns, pkg, name, tt.ns, tt.pkg, tt.name)
		}
	}
	for _, in := range []string{
		"", "/", "//", "/guest", "/guest/", "//hello", "/guest//hello", "/guest/pkg/", "/a/b/c/d",
		"pkg/", "/pkg", "a/b/c", "/hello/", "he llo", "pkg/he\tllo", "a\\b", "/gu est/hello", "x\n",
	} {
		if ns, pkg, name, err := whisk.ParseName(in); err == nil {
			t.Errorf("ParseName(%q): got %q %q %q, want an error", in, ns, pkg, name)
		}
	}
}

func TestNextVersion(t *testing.T) {
	tests := []struct{ in, want string }{
		{"0.0.1", "0.0.2"},
		{"1.2.3", "1.2.4"},
		{"0.0.9", "0.0.10"},
		{"", "0.0.1"},
		{"abc", "0.0.1"},
		{"1.2", "0.0.1"},
	}
	for _, tt := range tests {
		if got := whisk.NextVersion(tt.in); got != tt.want {
			t.Errorf("NextVersion(%q): got %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestKeyValues(t *testing.T) {
	var kv whisk.KeyValues
	kv = kv.Set("a", 1).Set("b", "two").Set("raw", json.RawMessage(`{"x":true}`)).Set("ch", make(chan int))
	for k, want := range map[string]string{"a": "1", "b": `"two"`, "raw": `{"x":true}`, "ch": "null"} {
		if v, ok := kv.Get(k); !ok || string(v) != want {
			t.Errorf("Get(%q): got %s %v, want %s", k, v, ok, want)
		}
	}
	if v, ok := kv.Get("missing"); ok || v != nil {
		t.Errorf("Get(missing): got %s %v", v, ok)
	}
	// Set replaces in place and does not change the receiver.
	kv2 := kv.Set("a", 2)
	if len(kv2) != len(kv) || kv2[0].Key != "a" || string(kv2[0].Value) != "2" {
		t.Errorf("Set replace: got %+v", kv2)
	}
	if v, _ := kv.Get("a"); string(v) != "1" {
		t.Errorf("Set changed its receiver: a = %s", v)
	}
	kv3 := kv[:1].Set("z", 0)
	if v, _ := kv.Get("b"); string(v) != `"two"` {
		t.Errorf("Set append aliased its receiver: b = %s (new %+v)", v, kv3)
	}
	b, err := json.Marshal(whisk.KeyValues{}.Set("k", "v"))
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `[{"key":"k","value":"v"}]` {
		t.Errorf("marshal: got %s", b)
	}
}

func TestKeyValuesTruthy(t *testing.T) {
	tests := []struct {
		value string
		want  bool
	}{
		{"true", true}, {"false", false}, {"null", false}, {"0", false}, {`""`, false},
		{"1", true}, {"-1", true}, {`"x"`, true}, {`"false"`, true}, {"{}", true}, {"[]", true}, {" false ", false},
		// Numbers equal to zero in another spelling (spray-json's JsNumber(n) => n != 0).
		{"0.0", false}, {"-0", false}, {"0e3", false},
	}
	for _, tt := range tests {
		kv := whisk.KeyValues{{Key: "conductor", Value: json.RawMessage(tt.value)}}
		if got := kv.Truthy("conductor"); got != tt.want {
			t.Errorf("Truthy(%s): got %v, want %v", tt.value, got, tt.want)
		}
	}
	if (whisk.KeyValues{}).Truthy("conductor") {
		t.Error("Truthy of a missing key: got true")
	}
}

func TestKeyValuesObject(t *testing.T) {
	kv := whisk.KeyValues{
		{Key: "a", Value: json.RawMessage(`1`)},
		{Key: "secret", Value: json.RawMessage(`"s"`), Init: true},
		{Key: "a", Value: json.RawMessage(`2`)},
	}
	got := kv.Object(false)
	if want := map[string]json.RawMessage{"a": json.RawMessage(`2`)}; !reflect.DeepEqual(got, want) {
		t.Errorf("Object(false): got %s, want %s", got, want)
	}
	got = kv.Object(true)
	if want := map[string]json.RawMessage{"a": json.RawMessage(`2`), "secret": json.RawMessage(`"s"`)}; !reflect.DeepEqual(got, want) {
		t.Errorf("Object(true): got %s, want %s", got, want)
	}
	if got := (whisk.KeyValues(nil)).Object(true); got == nil || len(got) != 0 {
		t.Errorf("Object of nil: got %v, want empty map", got)
	}
	b, _ := json.Marshal(kv[1])
	if string(b) != `{"key":"secret","value":"s","init":true}` {
		t.Errorf("init parameter marshal: got %s", b)
	}
}

func TestLimits(t *testing.T) {
	d := whisk.DefaultLimits()
	if d != (whisk.Limits{Timeout: 60000, Memory: 256, Logs: 10, Concurrency: 1}) {
		t.Errorf("DefaultLimits: got %+v", d)
	}
	if got := (whisk.Limits{}).WithDefaults(); got != d {
		t.Errorf("zero WithDefaults: got %+v, want %+v", got, d)
	}
	if got, want := (whisk.Limits{Timeout: 1000, Memory: 128}).WithDefaults(), (whisk.Limits{Timeout: 1000, Memory: 128, Logs: 10, Concurrency: 1}); got != want {
		t.Errorf("partial WithDefaults: got %+v, want %+v", got, want)
	}
	good := []whisk.Limits{
		d,
		{Timeout: 100, Memory: 128, Logs: 0, Concurrency: 1},
		{Timeout: 300000, Memory: 512, Logs: 10, Concurrency: 1},
	}
	for _, l := range good {
		if err := l.Validate(); err != nil {
			t.Errorf("Validate(%+v): %v", l, err)
		}
	}
	bad := []struct {
		l    whisk.Limits
		want string
	}{
		{whisk.Limits{Timeout: 99, Memory: 256, Logs: 10, Concurrency: 1}, "timeout 99"},
		{whisk.Limits{Timeout: 300001, Memory: 256, Logs: 10, Concurrency: 1}, "timeout 300001"},
		{whisk.Limits{Timeout: 1000, Memory: 127, Logs: 10, Concurrency: 1}, "memory 127"},
		{whisk.Limits{Timeout: 1000, Memory: 513, Logs: 10, Concurrency: 1}, "memory 513"},
		{whisk.Limits{Timeout: 1000, Memory: 256, Logs: 11, Concurrency: 1}, "log size 11"},
		{whisk.Limits{Timeout: 1000, Memory: 256, Logs: -1, Concurrency: 1}, "log size -1"},
		{whisk.Limits{Timeout: 1000, Memory: 256, Logs: 10, Concurrency: 0}, "concurrency 0"},
		{whisk.Limits{Timeout: 1000, Memory: 256, Logs: 10, Concurrency: 501}, "concurrency 501"},
		{whisk.Limits{}, "timeout 0"},
	}
	for _, tt := range bad {
		err := tt.l.Validate()
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Validate(%+v): got %v, want an error with %q", tt.l, err, tt.want)
		}
	}
}

func TestEntities(t *testing.T) {
	a := whisk.Action{Namespace: "guest/pkg", Name: "hello", Exec: whisk.Exec{Kind: whisk.KindSequence, Components: []string{"/guest/a"}}}
	if a.FQN() != "/guest/pkg/hello" || !a.Exec.IsSequence() || (whisk.Exec{Kind: whisk.KindBlackbox}).IsSequence() {
		t.Errorf("FQN %q, IsSequence %v", a.FQN(), a.Exec.IsSequence())
	}
	b, err := json.Marshal(whisk.Exec{Kind: "go:1.26"})
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `{"kind":"go:1.26"}` {
		t.Errorf("Exec without code: got %s", b)
	}
}
