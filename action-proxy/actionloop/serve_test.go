package actionloop_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/wsk-route/wsk-route/action-proxy/actionloop"
)

func echo(_ context.Context, v json.RawMessage) (any, error) { return v, nil }

// serve runs Serve over input and returns its output lines.
func serve(t *testing.T, input string, h actionloop.Handler) []string {
	t.Helper()
	var out bytes.Buffer
	if err := actionloop.Serve(strings.NewReader(input), &out, h); err != nil {
		t.Fatalf("Serve: %v", err)
	}
	s := out.String()
	if s == "" {
		return nil
	}
	if !strings.HasSuffix(s, "\n") {
		t.Fatalf("output %q does not end with a newline", s)
	}
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}

func TestServeEcho(t *testing.T) {
	tests := []struct {
		name, input string
		want        []string
	}{
		{"object", `{"value":{"a":1}}` + "\n", []string{`{"a":1}`}},
		{"array", `{"value":["a","b"]}` + "\n", []string{`["a","b"]`}},
		{"missing value is {}", `{"namespace":"guest"}` + "\n", []string{`{}`}},
		{"empty object", "{}\n", []string{`{}`}},
		{"null value", `{"value":null}` + "\n", []string{`null`}},
		{"whitespace is compacted", ` { "value" : { "a" : [ 1 , 2 ] } } ` + "\n", []string{`{"a":[1,2]}`}},
		{"escaped key", `{"valu\u0065":{"a":1}}` + "\n", []string{`{"a":1}`}},
		{"last duplicate wins", `{"value":1,"value":{"b":2}}` + "\n", []string{`{"b":2}`}},
		{"tricky strings", `{"value":{"s":"a\"}]\\","t":"{["}}` + "\n", []string{`{"s":"a\"}]\\","t":"{["}`}},
		{"unicode kept", `{"value":{"winter":"❄ ☃ ❄"}}` + "\n", []string{`{"winter":"❄ ☃ ❄"}`}},
		{"html not escaped", `{"value":{"h":"<&>"}}` + "\n", []string{`{"h":"<&>"}`}},
		{"carriage return", "{\"value\":[1]}\r\n", []string{`[1]`}},
		{"last line without newline", `{"value":[1]}` + "\n" + `{"value":[2]}`, []string{`[1]`, `[2]`}},
		{"no input", "", nil},
		{"scalar value", `{"value":"A"}` + "\n", []string{`"A"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := serve(t, tc.input, echo)
			if strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestServeBadInput(t *testing.T) {
	tests := []struct {
		name, line string
		want       error
	}{
		{"not json", "not json", actionloop.ErrInvalidInput},
		{"empty line", "", actionloop.ErrInvalidInput},
		{"truncated", `{"value":{"a":`, actionloop.ErrInvalidInput},
		{"trailing garbage", `{"value":1} x`, actionloop.ErrInvalidInput},
		{"array", `[1,2]`, actionloop.ErrNotObject},
		{"string", `"value"`, actionloop.ErrNotObject},
		{"null", `null`, actionloop.ErrNotObject},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// The bad line is followed by a good one: the loop must answer both.
			got := serve(t, tc.line+"\n"+`{"value":{"ok":1}}`+"\n", echo)
			if len(got) != 2 {
				t.Fatalf("got %d lines %q, want 2", len(got), got)
			}
			var res struct{ Error string }
			if err := json.Unmarshal([]byte(got[0]), &res); err != nil {
				t.Fatalf("answer %q is not JSON: %v", got[0], err)
			}
			if !strings.HasPrefix(res.Error, tc.want.Error()) {
				t.Errorf("error %q, want it to start with %q", res.Error, tc.want)
			}
			if got[1] != `{"ok":1}` {
				t.Errorf("next activation answered %q, want {\"ok\":1}", got[1])
			}
		})
	}
}

func TestServeResults(t *testing.T) {
	tests := []struct {
		name string
		h    actionloop.Handler
		want string
	}{
		{"error", func(context.Context, json.RawMessage) (any, error) {
			return nil, errors.New("sorry \"x\"\n<y>")
		}, `{"error":"sorry \"x\"\n<y>"}`},
		{"error object from handler", func(context.Context, json.RawMessage) (any, error) {
			return map[string]string{"error": "sorry"}, nil
		}, `{"error":"sorry"}`},
		{"scalar", func(context.Context, json.RawMessage) (any, error) { return "not a map", nil }, `"not a map"`},
		{"nil", func(context.Context, json.RawMessage) (any, error) { return nil, nil }, `null`},
		{"unencodable", func(context.Context, json.RawMessage) (any, error) {
			return []float64{math.Inf(1)}, nil
		}, `{"error":"actionloop: encode the result as JSON: json: unsupported value: +Inf"}`},
		{"invalid raw message", func(context.Context, json.RawMessage) (any, error) {
			return json.RawMessage(`{"a":`), nil
		}, `{"error":"actionloop: the result is not valid JSON: unexpected end of JSON input (at byte 5 of 5)"}`},
		{"raw message with newlines is compacted", func(context.Context, json.RawMessage) (any, error) {
			return json.RawMessage(" {\n\"a\":\n1} "), nil
		}, `{"a":1}`},
		{"nil raw message", func(context.Context, json.RawMessage) (any, error) {
			return json.RawMessage(nil), nil
		}, `null`},
		{"large raw message", func(context.Context, json.RawMessage) (any, error) {
			return json.RawMessage(`["` + strings.Repeat("z", 100<<10) + `"]`), nil
		}, `["` + strings.Repeat("z", 100<<10) + `"]`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := serve(t, `{"value":{}}`+"\n", tc.h)
			if len(got) != 1 || got[0] != tc.want {
				t.Errorf("got %q, want [%q]", got, tc.want)
			}
		})
	}
}

func TestServePanic(t *testing.T) {
	// The stack trace goes to os.Stderr; send it to a file for the duration.
	stderr := os.Stderr
	f, err := os.CreateTemp(t.TempDir(), "stderr")
	if err != nil {
		t.Fatal(err)
	}
	os.Stderr = f
	defer func() { os.Stderr = stderr; f.Close() }()

	h := func(_ context.Context, v json.RawMessage) (any, error) {
		if string(v) == `"panic"` {
			panic("kaboom")
		}
		return v, nil
	}
	got := serve(t, `{"value":"panic"}`+"\n"+`{"value":[1]}`+"\n", h)
	want := []string{`{"error":"actionloop: the action panicked: kaboom"}`, `[1]`}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("got %q, want %q", got, want)
	}
	log, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(log, []byte("kaboom")) || !bytes.Contains(log, []byte("goroutine")) {
		t.Errorf("stderr %q lacks the panic value and stack", log)
	}
}

func TestServeEnv(t *testing.T) {
	for _, k := range []string{"__OW_NAMESPACE", "__OW_ACTION_NAME", "__OW_DEADLINE", "__OW_N", "__OW_ESCAPED", "__OW_ÜBER", "__OW_EMPTY"} {
		t.Setenv(k, "") // restores the variable after the test
		os.Unsetenv(k)
	}
	line := `{"value":{},"namespace":"zzz","action_name":"/ns/a","deadline":"123","n":1,` +
		`"escaped":"a\"b\u00e9","über":"u","a=b":"skipped","empty":""}` + "\n"
	var got map[string]string
	h := func(context.Context, json.RawMessage) (any, error) {
		got = map[string]string{}
		for _, kv := range os.Environ() {
			if k, v, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(k, "__OW_") {
				got[k] = v
			}
		}
		return map[string]any{}, nil
	}
	serve(t, line, h)
	want := map[string]string{
		"__OW_NAMESPACE":   "zzz",
		"__OW_ACTION_NAME": "/ns/a",
		"__OW_DEADLINE":    "123",
		"__OW_ESCAPED":     `a"bé`,
		"__OW_ÜBER":        "u",
		"__OW_EMPTY":       "",
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s = %q (set %v), want %q", k, g, ok, v)
		}
	}
	for _, k := range []string{"__OW_N", "__OW_A"} {
		if _, ok := got[k]; ok {
			t.Errorf("%s is set; non-string values and keys with '=' must be skipped", k)
		}
	}
}

func TestServeDeadline(t *testing.T) {
	t.Setenv("__OW_DEADLINE", "")
	type res struct {
		Deadline int64  `json:"deadline"`
		Has      bool   `json:"has"`
		Err      string `json:"err"`
	}
	h := func(ctx context.Context, _ json.RawMessage) (any, error) {
		var r res
		if d, ok := ctx.Deadline(); ok {
			r.Deadline, r.Has = d.UnixMilli(), true
		}
		if err := ctx.Err(); err != nil {
			r.Err = err.Error()
		}
		return r, nil
	}
	tests := []struct {
		name, line string
		want       res
	}{
		{"past", `{"deadline":"123"}`, res{123, true, "context deadline exceeded"}},
		{"future", `{"deadline":"4102444800000"}`, res{4102444800000, true, ""}},
		{"number", `{"deadline":4102444800000}`, res{4102444800000, true, ""}},
		{"none", `{}`, res{}},
		{"not a number", `{"deadline":"soon"}`, res{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := serve(t, tc.line+"\n", h)
			var r res
			if len(got) != 1 || json.Unmarshal([]byte(got[0]), &r) != nil || r != tc.want {
				t.Errorf("got %q, want %+v", got, tc.want)
			}
		})
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("broken pipe") }

func TestServeWriteError(t *testing.T) {
	err := actionloop.Serve(strings.NewReader("{}\n{}\n"), failWriter{}, echo)
	if err == nil || !strings.Contains(err.Error(), "broken pipe") {
		t.Errorf("Serve = %v, want a write error naming the cause", err)
	}
}

func TestServeLongLines(t *testing.T) {
	// Lines around and far above the reader's 64 KiB buffer.
	for _, n := range []int{100, 64<<10 - 20, 64 << 10, 64<<10 + 1, 3 << 20} {
		big := strings.Repeat("a", n)
		input := `{"value":{"s":"` + big + `"}}` + "\n" + `{"value":[1]}` + "\n"
		got := serve(t, input, echo)
		if len(got) != 2 || got[0] != `{"s":"`+big+`"}` || got[1] != `[1]` {
			t.Errorf("n=%d: wrong echo (lines %d)", n, len(got))
		}
	}
}

func TestServeAllocs(t *testing.T) {
	const lines = 200
	line := `{"value":{"name":"Demo","n":[1,2,3]},"namespace":"guest","action_name":"/guest/echo",` +
		`"activation_id":"a1b2c3","transaction_id":"t1","api_key":"k"}` + "\n"
	for _, k := range []string{"__OW_NAMESPACE", "__OW_ACTION_NAME", "__OW_ACTIVATION_ID", "__OW_TRANSACTION_ID", "__OW_API_KEY"} {
		t.Setenv(k, "")
	}
	input := strings.Repeat(line, lines)
	r := strings.NewReader(input)
	allocs := testing.AllocsPerRun(5, func() {
		r.Reset(input)
		if err := actionloop.Serve(r, io.Discard, echo); err != nil {
			t.Fatal(err)
		}
	})
	// Loop setup (reader buffer, encoder) is shared by all lines; per line, only the
	// boxing of the result remains once the environment holds the (unchanged) context.
	const budget = 3
	if perLine := allocs / lines; perLine > budget {
		t.Errorf("%.2f allocations per activation, budget %d", perLine, budget)
	}
}

// repeatReader yields line n times.
type repeatReader struct {
	line []byte
	n    int
	off  int
}

func (r *repeatReader) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, io.EOF
	}
	c := copy(p, r.line[r.off:])
	r.off += c
	if r.off == len(r.line) {
		r.off = 0
		r.n--
	}
	return c, nil
}

func BenchmarkServeEcho(b *testing.B) {
	for _, size := range []int{64, 4 << 10, 1 << 20} {
		line := []byte(`{"value":{"s":"` + strings.Repeat("x", size) + `"},"namespace":"guest","activation_id":"a1"}` + "\n")
		b.Run(byteSize(size), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(line)))
			r := &repeatReader{line: line, n: b.N}
			if err := actionloop.Serve(r, io.Discard, echo); err != nil {
				b.Fatal(err)
			}
		})
	}
}

func byteSize(n int) string {
	switch {
	case n >= 1<<20:
		return strconv.Itoa(n>>20) + "MiB"
	case n >= 1<<10:
		return strconv.Itoa(n>>10) + "KiB"
	default:
		return strconv.Itoa(n) + "B"
	}
}

// FuzzServe checks that every input line gets exactly one answer line of valid JSON.
func FuzzServe(f *testing.F) {
	for _, s := range []string{
		`{"value":{"a":1}}`, `{"value":[1,"b"]}`, `{}`, ``, `not json`, `[1]`, `null`,
		`{"value":"x","namespace":"n"}`, `{"v\u0061lue":1}`, `{"value":{"s":"\"}"}}`,
		"{\"value\":\"\xff\"}", `{"deadline":"99999999999999999999"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		if bytes.ContainsAny(line, "\n") {
			t.Skip("the proxy strips newlines")
		}
		var out bytes.Buffer
		// The handler echoes; keys become __OW_ variables of the fuzzing process only.
		if err := actionloop.Serve(bytes.NewReader(append(line, '\n')), &out, echo); err != nil {
			t.Fatal(err)
		}
		ans := out.Bytes()
		if bytes.Count(ans, []byte("\n")) != 1 || ans[len(ans)-1] != '\n' {
			t.Fatalf("input %q: answer %q is not exactly one line", line, ans)
		}
		if !json.Valid(ans) {
			t.Fatalf("input %q: answer %q is not valid JSON", line, ans)
		}
	})
}

// FuzzSplitObject checks the activation-line scanner against encoding/json.
func FuzzSplitObject(f *testing.F) {
	for _, s := range []string{
		`{"value":{"a":1},"namespace":"guest"}`, `{ "a" : [ "]" , "}" ] , "b" : "\\" }`,
		`{"a\"b":1,"c":{"d":[{"e":null}]}}`, `{"x":1e10,"y":-0.5,"z":true,"w":false}`,
		`[1]`, `null`, `{`, `{"a":1,}`, `{"a":"\u00e9\ud83d\ude00"}`, `  {}  `,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		members, err := actionloop.SplitObject(line)
		var want map[string]json.RawMessage
		jerr := json.Unmarshal(line, &want)
		isNull := jerr == nil && want == nil
		if jerr != nil || isNull {
			if err == nil {
				t.Fatalf("%q: scanner accepted input encoding/json rejects (%v, null=%v)", line, jerr, isNull)
			}
			return
		}
		if err != nil {
			t.Fatalf("%q: scanner rejected a valid object: %v", line, err)
		}
		got := map[string]json.RawMessage{}
		for _, m := range members {
			var k string
			if err := json.Unmarshal(m.Key, &k); err != nil {
				t.Fatalf("%q: key %q is not a JSON string: %v", line, m.Key, err)
			}
			if !json.Valid(m.Value) {
				t.Fatalf("%q: value %q of key %q is not valid JSON", line, m.Value, k)
			}
			got[k] = m.Value
		}
		if len(got) != len(want) {
			t.Fatalf("%q: %d keys, want %d", line, len(got), len(want))
		}
		for k, w := range want {
			if !bytes.Equal(compact(t, got[k]), compact(t, w)) {
				t.Fatalf("%q: key %q = %q, want %q", line, k, got[k], w)
			}
		}
	})
}

func compact(t *testing.T, b []byte) []byte {
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		t.Fatalf("compact %q: %v", b, err)
	}
	return buf.Bytes()
}
