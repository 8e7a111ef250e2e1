// Command act is the test action of the sandbox's tests: one native
// binary speaking the ActionLoop protocol by hand (so that it can also
// misbehave), whose behaviour each activation's "mode" chooses:
//
//	echo     (default) logs a line on stdout and one on stderr, returns
//	         {"greeting": "Hello, <name>!"} plus its other input fields
//	fail     returns {"error": "failed on purpose"} (an application error)
//	garbage  writes a line that is not JSON as its result
//	sleep    sleeps "ms" milliseconds, then echoes
//	crash    exits in the middle of the activation
//	flaky    fails ("error") the first "fails" times it sees "key" (counted
//	         in a file of its working directory), then echoes
//
// With "step" (a default parameter of the action), or when the action's
// name ends in -upper, -reverse or -words, it transforms "text" instead:
// upper, reverse, or words (counts the words into "words"); an action
// named *-recover turns an {"error": ...} input into {"recovered": ...},
// *-inflate makes {"data": <"size" bytes>}, *-measure answers
// {"bytes": <length of "data">} (large payloads from small inputs), and
// *-count adds 1 to "n" (loops).
// The name works on direct hops too, where no controller merges
// parameters.
// "mode" and "step" are never passed on, so that a sequence's next
// component uses its own. With "trace": true it logs the activation's
// traceparent, when it has one (a direct step), as "traceparent <value>".
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"
)

func main() {
	out := os.NewFile(3, "result")
	if os.Getenv("__OW_WAIT_FOR_ACK") != "" {
		fmt.Fprintln(out, `{"ok":true}`)
	}
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 64<<20)
	for in.Scan() {
		var msg struct {
			Value       map[string]any `json:"value"`
			ActionName  string         `json:"action_name"`
			TraceParent string         `json:"traceparent"`
		}
		if err := json.Unmarshal(in.Bytes(), &msg); err != nil || msg.Value == nil {
			msg.Value = map[string]any{}
		}
		if _, ok := msg.Value["step"]; !ok {
			if i := strings.LastIndexByte(msg.ActionName, '-'); i >= 0 {
				switch s := msg.ActionName[i+1:]; s {
				case "upper", "reverse", "words", "recover", "inflate", "measure", "count":
					msg.Value["step"] = s
				}
			}
		}
		if msg.TraceParent != "" && msg.Value["trace"] == true {
			fmt.Println("traceparent " + msg.TraceParent) // a direct step's span, when asked
		}
		fmt.Fprintln(out, run(msg.Value))
	}
}

func run(v map[string]any) string {
	mode, _ := v["mode"].(string)
	step, _ := v["step"].(string)
	delete(v, "mode")
	delete(v, "step")
	text, _ := v["text"].(string)
	switch step {
	case "upper":
		v["text"] = strings.ToUpper(text)
	case "reverse":
		r := []rune(text)
		for i, j := 0, len(r)-1; i < j; i, j = i+1, j-1 {
			r[i], r[j] = r[j], r[i]
		}
		v["text"] = string(r)
	case "words":
		v["words"] = len(strings.Fields(text))
	case "recover":
		return encode(map[string]any{"recovered": v["error"]})
	case "inflate":
		size, _ := v["size"].(float64)
		return encode(map[string]any{"data": strings.Repeat("x", int(size))})
	case "measure":
		data, _ := v["data"].(string)
		return encode(map[string]any{"bytes": len(data)})
	case "count":
		n, _ := v["n"].(float64)
		v["n"] = n + 1
	}
	if step != "" {
		fmt.Printf("step %s: %q\n", step, text)
		fmt.Fprintf(os.Stderr, "step %s on stderr\n", step)
		return encode(v)
	}
	switch mode {
	case "fail":
		fmt.Println("about to fail")
		return `{"error":"failed on purpose"}`
	case "garbage":
		return "this is not json"
	case "crash":
		fmt.Println("crashing")
		os.Exit(3)
	case "flaky":
		key, _ := v["key"].(string)
		fails, _ := v["fails"].(float64)
		f := "flaky-" + strings.Map(func(r rune) rune {
			if r == '/' || r == '.' {
				return '_'
			}
			return r
		}, key)
		b, _ := os.ReadFile(f)
		seen := len(b)
		os.WriteFile(f, append(b, 'x'), 0o644)
		if float64(seen) < fails {
			fmt.Printf("flaky: attempt %d fails\n", seen+1)
			return fmt.Sprintf(`{"error":"flaky attempt %d"}`, seen+1)
		}
		fmt.Printf("flaky: attempt %d succeeds\n", seen+1)
		delete(v, "key")
		delete(v, "fails")
	case "sleep":
		ms, _ := v["ms"].(float64)
		time.Sleep(time.Duration(ms) * time.Millisecond)
	}
	name, _ := v["name"].(string)
	if name == "" {
		name = "stranger"
	}
	fmt.Printf("hello from stdout, %s\n", name)
	fmt.Fprintf(os.Stderr, "hello from stderr, %s\n", name)
	v["greeting"] = "Hello, " + name + "!"
	return encode(v)
}

func encode(v map[string]any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf(`{"error":%q}`, err.Error())
	}
	return string(b)
}
