// Command action is the invoker tests' action: an ActionLoop program whose
// behaviour the activation's "mode" chooses. When it starts it sleeps
// SLOW_INIT milliseconds if the init env has that, then exits when it has
// FAIL_INIT, else prints "init <pid>" on stdout (before its ack).
//
//	echo     prints "out <n>" on stdout and "err <n>" on stderr, returns
//	         the input with "pid", "ppid" (the proxy's pid: the container's,
//	         in process mode) and the env's __OW_ACTION_NAME, INIT_P and
//	         __OW_ALLOW_CONCURRENT
//	error    returns an application error {"error":"bad <n>"}
//	garbage  returns a JSON string, which the proxy rejects
//	sleep    sleeps "ms" milliseconds, then returns like echo
//	spam     prints "lines" lines of 1000 bytes on stdout
//	barrier  waits (at most "ms" milliseconds, default 30 s) until "want"
//	         activations with the same "tag" have arrived in this
//	         container (each leaves a file in barrier-<tag> in the
//	         proxy's working directory, which the container's processes
//	         share), then holds "hold" milliseconds and returns like echo
//	         with "seen", how many had arrived
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/wsk-route/wsk-route/action-proxy/actionloop"
)

func main() {
	if ms, err := strconv.Atoi(os.Getenv("SLOW_INIT")); err == nil {
		time.Sleep(time.Duration(ms) * time.Millisecond)
	}
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
		case "barrier":
			seen, err := barrier(args)
			if err != nil {
				return nil, err
			}
			args["seen"] = seen
			hold, _ := args["hold"].(float64)
			time.Sleep(time.Duration(hold) * time.Millisecond)
		case "echo", "":
		default:
			return nil, errors.New("unknown mode " + mode)
		}
		fmt.Printf("out %d\n", int(n))
		fmt.Fprintf(os.Stderr, "err %d\n", int(n))
		args["pid"] = os.Getpid()
		args["action_name"] = os.Getenv("__OW_ACTION_NAME")
		args["init_p"] = os.Getenv("INIT_P")
		args["ppid"] = os.Getppid()
		args["allow_concurrent"] = os.Getenv("__OW_ALLOW_CONCURRENT")
		return args, nil
	})
}

// barrier leaves this activation's mark in barrier-<tag> and waits until
// there are "want" marks or "ms" milliseconds passed; it returns how many
// there were.
func barrier(args map[string]any) (int, error) {
	tag, _ := args["tag"].(string)
	want, _ := args["want"].(float64)
	ms, ok := args["ms"].(float64)
	if !ok {
		ms = 30000
	}
	dir := "barrier-" + tag
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, err
	}
	mark := filepath.Join(dir, strconv.Itoa(os.Getpid())+"-"+strconv.FormatInt(time.Now().UnixNano(), 10))
	if err := os.WriteFile(mark, nil, 0o644); err != nil {
		return 0, err
	}
	deadline := time.Now().Add(time.Duration(ms) * time.Millisecond)
	for {
		entries, err := os.ReadDir(dir)
		if err != nil {
			return 0, err
		}
		if len(entries) >= int(want) || time.Now().After(deadline) {
			return len(entries), nil
		}
		time.Sleep(5 * time.Millisecond)
	}
}
