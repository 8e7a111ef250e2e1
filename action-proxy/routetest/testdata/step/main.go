// Command step is the test action of the route-plane tests: one program
// whose behaviour the init env's STEP_MODE chooses, so that a workflow of
// different real actions needs one build.
//
//	upper    text -> upper case
//	words    counts the words of text into "words"
//	reverse  reverses text
//	sum      adds up the numbers in "data" (MB-sized arrays), into "sum"
//	slow     waits "slow_ms" milliseconds, then passes its input on
//	fail     returns an application error
//
// Every mode appends {"step": mode, "pid": pid} to the "trail" array and
// logs one line, so tests can see where each step ran and what it logged.
package main

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/wsk-route/wsk-route/action-proxy/actionloop"
)

func main() {
	mode := os.Getenv("STEP_MODE")
	actionloop.Main(func(args map[string]any) map[string]any {
		return step(mode, args)
	})
}

func step(mode string, args map[string]any) map[string]any {
	text, _ := args["text"].(string)
	fmt.Printf("step %s (pid %d): %d bytes of text\n", mode, os.Getpid(), len(text))
	out := map[string]any{}
	for k, v := range args {
		out[k] = v
	}
	switch mode {
	case "upper":
		out["text"] = strings.ToUpper(text)
	case "words":
		out["words"] = len(strings.Fields(text))
	case "reverse":
		r := []rune(text)
		for i, j := 0, len(r)-1; i < j; i, j = i+1, j-1 {
			r[i], r[j] = r[j], r[i]
		}
		out["text"] = string(r)
	case "sum":
		data, _ := args["data"].([]any)
		sum := 0.0
		for _, v := range data {
			f, _ := v.(float64)
			sum += f
		}
		out["sum"] = sum
	case "slow":
		ms, _ := args["slow_ms"].(float64)
		time.Sleep(time.Duration(ms) * time.Millisecond)
	case "fail":
		fmt.Fprintln(os.Stderr, "step fail: refusing on purpose")
		return map[string]any{"error": "step fail: refusing on purpose"}
	default:
		return map[string]any{"error": "unknown STEP_MODE " + mode}
	}
	trail, _ := args["trail"].([]any)
	out["trail"] = append(trail, map[string]any{"step": mode, "pid": os.Getpid()})
	return out
}
