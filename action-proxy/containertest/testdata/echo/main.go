// Command echo is the test action of the container tests: a static executable that speaks
// the ActionLoop protocol with the standard library only.
//
// It sends the ack {"ok":true} on fd 3 when __OW_WAIT_FOR_ACK is set, then reads one JSON
// activation per line on stdin. For each, it exports the keys other than "value" as
// __OW_<KEY>, logs "echo-out <activation id>" on stdout and "echo-err <activation id>" on
// stderr, and writes one line on fd 3, chosen by the value:
//
//	{"exit":true}    no result: the process exits with status 3
//	{"block":true}   no result: the process sleeps until it is killed
//	{"scalar":true}  42, which is not an object or array
//	an array         the array, verbatim
//	other objects    {"echo":<value>,"activation_id":…,"init_param":$MY_INIT_PARAM,"wait_for_ack":$__OW_WAIT_FOR_ACK}
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"time"
)

func main() {
	out := os.NewFile(3, "actionloop-result")
	if os.Getenv("__OW_WAIT_FOR_ACK") != "" {
		if _, err := io.WriteString(out, "{\"ok\":true}\n"); err != nil {
			fail("writing the ack to fd 3: %v", err)
		}
	}
	in := bufio.NewReader(os.Stdin)
	for {
		line, err := in.ReadBytes('\n')
		if len(bytes.TrimSpace(line)) > 0 {
			if _, werr := out.Write(append(activate(line), '\n')); werr != nil {
				fail("writing the result to fd 3: %v", werr)
			}
		}
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			fail("reading stdin: %v", err)
		}
	}
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "echo: "+format+"\n", args...)
	os.Exit(1)
}

// activate runs one activation and returns its result line, without the newline.
func activate(line []byte) []byte {
	var msg map[string]json.RawMessage
	if err := json.Unmarshal(line, &msg); err != nil {
		return errorResult(fmt.Sprintf("echo: the activation is not a JSON object: %v", err))
	}
	for k, v := range msg {
		var s string
		if k != "value" && json.Unmarshal(v, &s) == nil {
			os.Setenv("__OW_"+strings.ToUpper(k), s)
		}
	}
	id := os.Getenv("__OW_ACTIVATION_ID")
	fmt.Fprintf(os.Stdout, "echo-out %s\n", id)
	fmt.Fprintf(os.Stderr, "echo-err %s\n", id)

	value := bytes.TrimSpace(msg["value"])
	if len(value) > 0 && value[0] == '[' {
		return value
	}
	var flags struct{ Exit, Block, Scalar bool }
	_ = json.Unmarshal(value, &flags) // not an object: no flags
	switch {
	case flags.Exit:
		os.Exit(3)
	case flags.Block:
		time.Sleep(math.MaxInt64)
	case flags.Scalar:
		return []byte("42")
	}
	result, err := json.Marshal(map[string]any{
		"echo":          json.RawMessage(value),
		"activation_id": id,
		"init_param":    os.Getenv("MY_INIT_PARAM"),
		"wait_for_ack":  os.Getenv("__OW_WAIT_FOR_ACK"),
	})
	if err != nil {
		return errorResult(fmt.Sprintf("echo: encoding the result: %v", err))
	}
	return result
}

func errorResult(msg string) []byte {
	b, _ := json.Marshal(map[string]string{"error": msg})
	return b
}
