// Command action is the invoker tests' action: an ActionLoop program whose
// behaviour the activation's "mode" chooses. It prints "init <pid>" on
// stdout when it starts (before its ack), and exits at once when the init
// env holds FAIL_INIT.
//
//	echo     prints "out <n>" on stdout and "err <n>" on stderr, returns
//	         the input with "pid" and the env's __OW_ACTION_NAME, INIT_P
//	error    returns an application error {"error":"bad <n>"}
//	garbage  returns a JSON string, which the proxy rejects
//	sleep    sleeps "ms" milliseconds, then returns like echo
//	spam     prints "lines" lines of 1000 bytes on stdout
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/wsk-route/wsk-route/action-proxy/actionloop"
)

func main() {
	if os.Getenv("FAIL_INIT") != "" {
		fmt.Fprintln(os.Stderr, "failing init on purpose")
		os.Exit(3)
	}
	fmt.Printf("init %d\n", os.Getpid())
	actionloop.Run(func(_ context.Context, value json.RawMessage) (any, error) {
		var args map[string]any
		if err := json.Unmarshal(value, &args); err != nil {
			return nil, err
		}
		mode, _ := args["mode"].(string)
		n, _ := args["n"].(float64)
		switch mode {
		case "error":
			return nil, fmt.Errorf("bad %d", int(n))
		case "garbage":
			return "garbage", nil
		case "sleep":
			ms, _ := args["ms"].(float64)
			time.Sleep(time.Duration(ms) * time.Millisecond)
		case "spam":
			lines, _ := args["lines"].(float64)
			line := strings.Repeat("x", 1000)
			for range int(lines) {
				fmt.Println(line)
			}
		case "echo", "":
		default:
			return nil, errors.New("unknown mode " + mode)
		}
		fmt.Printf("out %d\n", int(n))
		fmt.Fprintf(os.Stderr, "err %d\n", int(n))
		args["pid"] = os.Getpid()
		args["action_name"] = os.Getenv("__OW_ACTION_NAME")
		args["init_p"] = os.Getenv("INIT_P")
		return args, nil
	})
}
