// Command example is a minimal action for the ActionLoop protocol, built static and shipped
// as /bin/example in the image that action-proxy/docker/build-image.sh makes.
//
// It speaks the protocol directly, with the standard library only: it sends the ack
// {"ok":true} on fd 3 when __OW_WAIT_FOR_ACK is set, then reads one JSON activation per
// line on stdin, exports every key other than "value" as __OW_<KEY>, and writes one JSON
// line on fd 3: {"greeting":"Hello, <value.name>!"}. It logs one line on stdout and one on
// stderr per activation, before its result, so the logs land before the proxy's sentinels.
//
// Send it to a running proxy as the code of /init (base64, "binary":true); see
// docs/deploy-proxy.md.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

func main() {
	if err := serve(os.Stdin, os.NewFile(3, "actionloop-result")); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// serve acks if asked to, then answers every activation line read from in with one result
// line written to out, until in ends.
func serve(in io.Reader, out io.Writer) error {
	if os.Getenv("__OW_WAIT_FOR_ACK") != "" {
		if _, err := io.WriteString(out, "{\"ok\":true}\n"); err != nil {
			return fmt.Errorf("example: writing the ack to fd 3 (is it run by the proxy?): %w", err)
		}
	}
	r := bufio.NewReader(in)
	for {
		line, err := r.ReadBytes('\n')
		if len(bytes.TrimSpace(line)) > 0 {
			result, encErr := json.Marshal(activate(line))
			if encErr != nil {
				return fmt.Errorf("example: encoding the result: %w", encErr)
			}
			if _, werr := out.Write(append(result, '\n')); werr != nil {
				return fmt.Errorf("example: writing the result to fd 3: %w", werr)
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("example: reading stdin: %w", err)
		}
	}
}

// activate runs one activation and returns its result object.
func activate(line []byte) map[string]any {
	var msg map[string]json.RawMessage
	if err := json.Unmarshal(line, &msg); err != nil {
		return map[string]any{"error": fmt.Sprintf("example: the activation is not a JSON object: %v", err)}
	}
	for k, v := range msg {
		if k == "value" {
			continue
		}
		var s string
		if json.Unmarshal(v, &s) == nil {
			os.Setenv("__OW_"+strings.ToUpper(k), s)
		}
	}
	var value struct {
		Name string `json:"name"`
	}
	_ = json.Unmarshal(msg["value"], &value) // an array or a value without "name" greets the stranger
	if value.Name == "" {
		value.Name = "stranger"
	}
	fmt.Fprintf(os.Stdout, "example: activation %s for %s\n", os.Getenv("__OW_ACTIVATION_ID"), value.Name)
	fmt.Fprintf(os.Stderr, "example: greeting %s\n", value.Name)
	return map[string]any{"greeting": "Hello, " + value.Name + "!"}
}
