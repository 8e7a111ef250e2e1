package userevents_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/wsk-route/wsk-route/internal/userevents"
)

func intp(n int) *int { return &n }

// TestMarshal checks the JSON against OpenWhisk's EventMessage, Activation
// and Metric formats (Message.scala): field names and order, durations in
// milliseconds, absent optional fields left out.
func TestMarshal(t *testing.T) {
	tests := []struct {
		name string
		ev   userevents.EventMessage
		want string
	}{
		{
			name: "activation with every field",
			ev: userevents.EventMessage{Source: "invoker0", Subject: "guest", Namespace: "guest", UserID: "23bc46b1-71f6-4ed5-8c54-816aa4f8c502",
				EventType: userevents.TypeActivation, Timestamp: 1524476122676,
				Activation: &userevents.Activation{Name: "guest/pkg/hello", ActivationID: "5975c24de0114ef2b5c24de0118ef27e",
					StatusCode: 1, Duration: 3, WaitTime: 66, InitTime: 12, Kind: "nodejs:20", Conductor: false, Memory: 256,
					CausedBy: "sequence", Size: intp(463), UserDefinedStatusCode: intp(404)}},
			want: `{"source":"invoker0","body":{"name":"guest/pkg/hello","activationId":"5975c24de0114ef2b5c24de0118ef27e",` +
				`"statusCode":1,"duration":3,"waitTime":66,"initTime":12,"kind":"nodejs:20","conductor":false,"memory":256,` +
				`"causedBy":"sequence","size":463,"userDefinedStatusCode":404},"subject":"guest","namespace":"guest",` +
				`"userId":"23bc46b1-71f6-4ed5-8c54-816aa4f8c502","eventType":"Activation","timestamp":1524476122676}`,
		},
		{
			name: "activation without the optional fields",
			ev: userevents.EventMessage{Source: "wsk-route@host1", Subject: "guest", Namespace: "guest", UserID: "",
				EventType: userevents.TypeActivation, Timestamp: 1,
				Activation: &userevents.Activation{Name: "guest/step", ActivationID: "a", Kind: "unknown"}},
			want: `{"source":"wsk-route@host1","body":{"name":"guest/step","activationId":"a","statusCode":0,"duration":0,` +
				`"waitTime":0,"initTime":0,"kind":"unknown","conductor":false,"memory":0},"subject":"guest","namespace":"guest",` +
				`"userId":"","eventType":"Activation","timestamp":1}`,
		},
		{
			name: "metric",
			ev: userevents.EventMessage{Source: "controller0", Subject: "guest", Namespace: "guest", UserID: "u",
				EventType: userevents.TypeMetric, Timestamp: 1524476104419,
				Metric: &userevents.Metric{MetricName: userevents.MetricConcurrentInvocations, MetricValue: 1}},
			want: `{"source":"controller0","body":{"metricName":"ConcurrentInvocations","metricValue":1},"subject":"guest",` +
				`"namespace":"guest","userId":"u","eventType":"Metric","timestamp":1524476104419}`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := json.Marshal(&tc.ev)
			if err != nil {
				t.Fatalf("Marshal: %v", err)
			}
			if string(got) != tc.want {
				t.Errorf("Marshal:\ngot  %s\nwant %s", got, tc.want)
			}
			back, err := userevents.Parse(got)
			if err != nil {
				t.Fatalf("Parse(Marshal) = %v", err)
			}
			again, _ := json.Marshal(back)
			if string(again) != tc.want {
				t.Errorf("Marshal(Parse(Marshal)):\ngot  %s\nwant %s", again, tc.want)
			}
		})
	}
}

// openWhiskMetric is the Metric example of OpenWhisk's docs/metrics.md.
const openWhiskMetric = `{
  "body": {"metricName": "ConcurrentInvocations", "metricValue": 1},
  "eventType": "Metric", "source": "controller0", "subject": "guest",
  "timestamp": 1524476104419, "userId": "23bc46b1-71f6-4ed5-8c54-816aa4f8c502", "namespace": "guest"}`

// openWhiskActivation is an invoker's event as Message.scala writes it
// (the example in docs/metrics.md lacks the activationId and has a stale
// boolean causedBy, which OpenWhisk's own parser refuses).
const openWhiskActivation = `{"body":{"statusCode":0,"duration":3,"name":"whisk.system/invokerHealthTestAction0",
  "activationId":"0a3c8fb5b9a44c3bbc8fb5b9a4bc3b6f","waitTime":583915671,"conductor":false,"kind":"nodejs:6",
  "initTime":0,"memory":256,"size":463,"unknownField":true},
  "eventType":"Activation","source":"invoker0","subject":"whisk.system","timestamp":1524476122676,
  "userId":"d0888ad5-5a92-435e-888a-d55a92935e54","namespace":"whisk.system"}`

func TestParse(t *testing.T) {
	e, err := userevents.Parse([]byte(openWhiskActivation))
	if err != nil {
		t.Fatalf("Parse(invoker event) = %v", err)
	}
	a := e.Activation
	if a == nil || e.Metric != nil {
		t.Fatalf("Parse(invoker event): got activation %v, metric %v; want an activation", a, e.Metric)
	}
	if a.Namespace() != "whisk.system" || a.Action() != "invokerHealthTestAction0" || a.WaitTime != 583915671 ||
		a.Size == nil || *a.Size != 463 || a.UserDefinedStatusCode != nil || a.CausedBy != "" {
		t.Errorf("Parse(invoker event) = %+v (namespace %q, action %q)", a, a.Namespace(), a.Action())
	}
	m, err := userevents.Parse([]byte(openWhiskMetric))
	if err != nil {
		t.Fatalf("Parse(metric) = %v", err)
	}
	if m.Metric == nil || m.Metric.MetricName != "ConcurrentInvocations" || m.Metric.MetricValue != 1 || m.Namespace != "guest" {
		t.Errorf("Parse(metric) = %+v, body %+v", m, m.Metric)
	}
	pkg := userevents.Activation{Name: "ns/pkg/act"}
	if pkg.Namespace() != "ns" || pkg.Action() != "pkg/act" {
		t.Errorf("ns/pkg/act: namespace %q action %q, want ns and pkg/act", pkg.Namespace(), pkg.Action())
	}
	lenient := strings.Replace(openWhiskActivation, `"duration":3`, `"duration":-4.7`, 1)
	if e, err := userevents.Parse([]byte(lenient)); err != nil || e.Activation.Duration != 0 {
		t.Errorf("negative duration: Parse = %v, %v; want duration 0 as OpenWhisk reads it", e, err)
	}
}

func TestParseRefuses(t *testing.T) {
	tests := []struct{ name, old, new string }{
		{"docs example: no activationId", `"activationId":"0a3c8fb5b9a44c3bbc8fb5b9a4bc3b6f",`, ``},
		{"docs example: boolean causedBy", `"size":463`, `"size":463,"causedBy":false`},
		{"no timestamp", `"timestamp":1524476122676,`, ``},
		{"null userId", `"userId":"d0888ad5-5a92-435e-888a-d55a92935e54"`, `"userId":null`},
		{"short subject", `"subject":"whisk.system"`, `"subject":"abc"`},
		{"status code 4", `"statusCode":0`, `"statusCode":4`},
		{"name without namespace", `"name":"whisk.system/invokerHealthTestAction0"`, `"name":"act"`},
		{"no kind", `"kind":"nodejs:6",`, ``},
		{"string duration", `"duration":3`, `"duration":"3"`},
		{"eventType does not match", `"eventType":"Activation"`, `"eventType":"Metric"`},
		{"unknown eventType", `"eventType":"Activation"`, `"eventType":"Trace"`},
		{"body not an object", `"eventType":"Activation"`, `"eventType":"Activation","body":[]`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := strings.Replace(openWhiskActivation, tc.old, tc.new, 1)
			if in == openWhiskActivation {
				t.Fatalf("the edit %q -> %q changed nothing", tc.old, tc.new)
			}
			if e, err := userevents.Parse([]byte(in)); err == nil || !errors.Is(err, userevents.ErrBadEvent) {
				t.Errorf("Parse(%s) = %+v, %v; want an ErrBadEvent", in, e, err)
			}
		})
	}
	for _, in := range []string{``, `null`, `[]`, `{"body":{"metricName":"x"},"eventType":"Metric","source":"s","subject":"guest","namespace":"guest","userId":"","timestamp":1}`} {
		if _, err := userevents.Parse([]byte(in)); err == nil {
			t.Errorf("Parse(%q) = nil error, want one", in)
		}
	}
}

func TestCheck(t *testing.T) {
	good := func() *userevents.EventMessage {
		return &userevents.EventMessage{Source: "s", Subject: "guest", Namespace: "guest", EventType: userevents.TypeActivation,
			Activation: &userevents.Activation{Name: "guest/a", ActivationID: "id", Kind: "k"}}
	}
	tests := []struct {
		name string
		edit func(*userevents.EventMessage)
		ok   bool
	}{
		{"good", func(*userevents.EventMessage) {}, true},
		{"metric body", func(e *userevents.EventMessage) {
			e.Activation, e.Metric, e.EventType = nil, &userevents.Metric{MetricName: "TimedRateLimit"}, userevents.TypeMetric
		}, true},
		{"both bodies", func(e *userevents.EventMessage) { e.Metric = &userevents.Metric{MetricName: "x"} }, false},
		{"no body", func(e *userevents.EventMessage) { e.Activation = nil }, false},
		{"subject of 4", func(e *userevents.EventMessage) { e.Subject = "abcd" }, false},
		{"no namespace", func(e *userevents.EventMessage) { e.Namespace = "" }, false},
		{"leading slash", func(e *userevents.EventMessage) { e.Activation.Name = "/guest/a" }, false},
		{"no action", func(e *userevents.EventMessage) { e.Activation.Name = "guest/" }, false},
		{"no id", func(e *userevents.EventMessage) { e.Activation.ActivationID = "" }, false},
		{"status -1", func(e *userevents.EventMessage) { e.Activation.StatusCode = -1 }, false},
		{"negative memory", func(e *userevents.EventMessage) { e.Activation.Memory = -1 }, false},
		{"negative size", func(e *userevents.EventMessage) { e.Activation.Size = intp(-1) }, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := good()
			tc.edit(e)
			if err := e.Check(); (err == nil) != tc.ok {
				t.Errorf("Check = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

func TestStatusName(t *testing.T) {
	want := map[int]string{0: "success", 1: "application error", 2: "action developer error", 3: "whisk internal error", 4: "", -1: ""}
	for c, w := range want {
		if got := userevents.StatusName(c); got != w {
			t.Errorf("StatusName(%d) = %q, want %q", c, got, w)
		}
	}
}

// TestAppendJSONStrings checks the string escaping against encoding/json's
// reading of it.
func TestAppendJSONStrings(t *testing.T) {
	for _, s := range []string{"plain", `q"uote`, `back\slash`, "nl\n cr\r tab\t", "ctl\x01\x1f", "é ü 日本", "bad\xffutf8", "ls\u2028ps\u2029", "<&>"} {
		t.Run(s, func(t *testing.T) {
			ev := userevents.EventMessage{Source: s, Subject: "guest", Namespace: "guest", EventType: userevents.TypeMetric,
				Metric: &userevents.Metric{MetricName: s, MetricValue: -3}}
			b, err := ev.AppendJSON(nil)
			if err != nil {
				t.Fatal(err)
			}
			var back struct {
				Source string `json:"source"`
				Body   struct {
					MetricName string `json:"metricName"`
				} `json:"body"`
			}
			if err := json.Unmarshal(b, &back); err != nil {
				t.Fatalf("AppendJSON gave %s, not JSON: %v", b, err)
			}
			want := strings.ToValidUTF8(s, "\uFFFD")
			if back.Source != want || back.Body.MetricName != want {
				t.Errorf("read back %q and %q, want %q", back.Source, back.Body.MetricName, want)
			}
		})
	}
}
