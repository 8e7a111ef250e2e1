// Command child is a test action for the proxy's conformance tests. It speaks
// the ActionLoop protocol directly with the standard library: one JSON request
// per line on stdin, one result line on fd 3, and the {"ok":true} ack on fd 3
// when __OW_WAIT_FOR_ACK is set.
//
// CHILD_MODE (set through the /init env) selects the behaviour:
//
//	echo (default)   return the request's value verbatim
//	hello            print name=<name>, return {"main-main":"Hello, <name>!"}
//	array            return ["a","b"]
//	pid              sleep SLEEP_MS, return {"pid":<pid>,"value":<value>}
//	env              return the whole environment as an object
//	error            return {"error":"sorry"}
//	null             return null
//	string           return "a string but not a map"
//	exit-on-input    print Goodbye! to stderr and exit 0 on the first request
//	write-then-exit  return {"done":true} and exit 0 at once
//	two-lines        first request: two result lines in one write; then echo
//	slow-first       first request: print "received 1", sleep SLEEP_MS; echo
//	never-answer     read requests, never answer
//	exit             exit 0 at start
//	hi               print hi and exit 1 at start
//	never-ack        print never-ack pid <pid>, never ack, wait for stdin to close
//	bad-ack          ack with "bad ack"
//	empty-ack        ack with {}
//	false-ack        ack with {"ok":false}
//
// With CHILD_PRINT set it prints "hello stdout" and "hello stderr" for every
// request.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
)

func main() {
	mode := os.Getenv("CHILD_MODE")
	out := os.NewFile(3, "results")

	switch mode {
	case "exit":
		os.Exit(0)
	case "hi":
		fmt.Println("hi")
		os.Exit(1)
	case "never-ack":
		fmt.Printf("never-ack pid %d\n", os.Getpid())
		io.Copy(io.Discard, os.Stdin)
		return
	case "bad-ack":
		out.WriteString("bad ack\n")
		io.Copy(io.Discard, os.Stdin)
		return
	case "empty-ack":
		out.WriteString("{}\n")
		io.Copy(io.Discard, os.Stdin)
		return
	case "false-ack":
		out.WriteString(`{"ok":false}` + "\n")
		io.Copy(io.Discard, os.Stdin)
		return
	}
	if os.Getenv("__OW_WAIT_FOR_ACK") != "" {
		out.WriteString(`{"ok":true}` + "\n")
	}

	in := bufio.NewReader(os.Stdin)
	for n := 1; ; n++ {
		line, err := in.ReadBytes('\n')
		if err != nil {
			return // stdin closed: the proxy is done with us
		}
		var req map[string]json.RawMessage
		if err := json.Unmarshal(line, &req); err != nil {
			fmt.Fprintf(os.Stderr, "child: bad request line %q: %v\n", line, err)
		}
		value := req["value"]
		if os.Getenv("CHILD_PRINT") != "" {
			fmt.Println("hello stdout")
			fmt.Fprintln(os.Stderr, "hello stderr")
		}
		switch mode {
		case "hello":
			var v struct {
				Name string `json:"name"`
			}
			json.Unmarshal(value, &v)
			fmt.Printf("name=%s\n", v.Name)
			write(out, map[string]string{"main-main": "Hello, " + v.Name + "!"})
		case "array":
			write(out, []string{"a", "b"})
		case "pid":
			if ms, err := strconv.Atoi(os.Getenv("SLEEP_MS")); err == nil {
				time.Sleep(time.Duration(ms) * time.Millisecond)
			}
			write(out, map[string]any{"pid": os.Getpid(), "value": value})
		case "env":
			env := map[string]string{}
			for _, kv := range os.Environ() {
				k, v, _ := strings.Cut(kv, "=")
				env[k] = v
			}
			write(out, env)
		case "error":
			out.WriteString(`{"error":"sorry"}` + "\n")
		case "null":
			out.WriteString("null\n")
		case "string":
			out.WriteString(`"a string but not a map"` + "\n")
		case "exit-on-input":
			fmt.Fprintln(os.Stderr, "Goodbye!")
			os.Exit(0)
		case "write-then-exit":
			out.WriteString(`{"done":true}` + "\n")
			os.Exit(0)
		case "two-lines":
			if n == 1 {
				out.WriteString(`{"line":1}` + "\n" + `{"line":2}` + "\n")
				continue
			}
			writeRaw(out, value)
		case "slow-first":
			if n == 1 {
				fmt.Println("received 1")
				if ms, err := strconv.Atoi(os.Getenv("SLEEP_MS")); err == nil {
					time.Sleep(time.Duration(ms) * time.Millisecond)
				}
			}
			writeRaw(out, value)
		case "never-answer":
			fmt.Println("received", n)
		default:
			writeRaw(out, value)
		}
	}
}

// write sends v as one compact JSON line.
func write(out *os.File, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		b = []byte(`{"error":"child cannot marshal its result"}`)
	}
	out.Write(append(b, '\n'))
}

// writeRaw sends the request's value verbatim.
func writeRaw(out *os.File, value json.RawMessage) {
	if len(value) == 0 {
		value = json.RawMessage("null")
	}
	out.Write(append([]byte(value), '\n'))
}
