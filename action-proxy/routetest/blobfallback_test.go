package routetest_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wsk-route/wsk-route/action-proxy/route"
)

// TestLargeFallbackAcrossHosts: a payload too large for a fallback
// envelope crosses hosts on the fallback path. The entry, attached to h1's
// agent, starts a run whose only step has no warm instance, so it falls
// back through the (fake) OpenWhisk API with a blob reference to a segment
// on h1; the "invoker" starts a cold proxy of the step on h2 and gives it
// the envelope as an invoker /run would; h2's agent pulls the 1.5 MB from
// h1's agent across the hosts' network and the step's result reaches the
// entry.
func TestLargeFallbackAcrossHosts(t *testing.T) {
	th := newHosts(t, 2, nil, true)

	// The fake OpenWhisk API: it takes the invoke and hands the envelope
	// to the test, which plays the invoker.
	envelopes := make(chan []byte, 4)
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v1/namespaces/guest/actions/reverse" {
			http.Error(w, "unexpected "+r.URL.Path, http.StatusNotFound)
			return
		}
		b, err := io.ReadAll(r.Body)
		if err != nil || len(b) > route.MaxFallbackPayload {
			http.Error(w, "envelope too large", http.StatusRequestEntityTooLarge)
			return
		}
		envelopes <- b
		w.WriteHeader(http.StatusAccepted)
		io.WriteString(w, `{"activationId":"0123456789abcdef0123456789abcdef"}`)
	}))
	defer api.Close()

	// An entry that can fall back: it has the API host and a key.
	ln, err := net.Listen("tcp", net.JoinHostPort(th.net.BridgeIP, "0"))
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	plane, err := route.New(route.Config{
		AgentSocket:  filepath.Join(th.h[0].runDir, "agent.sock"),
		Name:         "fbentry-" + strconv.Itoa(os.Getpid()),
		TCPListen:    addr,
		TCPAdvertise: "tcp:" + addr,
		APIHost:      api.URL,
		Logger:       slog.New(slog.NewTextHandler(testWriter{t, "fallback entry"}, nil)),
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	plane.Identify(route.Identity{Namespace: "guest", Action: "/guest/fbentry", APIKey: "user:pass"})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- plane.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("entry plane: %v", err)
		}
	}()

	sp := chainSpec("bigfb", "reverse")
	putSpec(t, th.consul, sp)
	// The entry knows the spec, and no instance of its step: WaitReady
	// says that is all it misses.
	waitFor(t, 20*time.Second, "the entry to know the spec", func() bool {
		wctx, wcancel := context.WithTimeout(ctx, 100*time.Millisecond)
		defer wcancel()
		err := plane.WaitReady(wctx, "bigfb")
		return err != nil && strings.Contains(err.Error(), "no instance of /guest/reverse")
	})

	text := strings.Repeat("abcdefghijklmnop", 1500<<10/16) // 1.5 MB
	in, _ := json.Marshal(map[string]string{"text": text})
	type outcome struct {
		res *route.Result
		err error
	}
	ran := make(chan outcome, 1)
	go func() {
		rctx, rcancel := context.WithTimeout(ctx, 60*time.Second)
		defer rcancel()
		res, err := plane.StartRun(rctx, "bigfb", in, route.RunOptions{})
		ran <- outcome{res, err}
	}()

	var env []byte
	select {
	case env = <-envelopes:
	case o := <-ran:
		t.Fatalf("the run ended before it fell back: %v", o.err)
	case <-time.After(30 * time.Second):
		t.Fatal("no fallback invoke within 30 s")
	}
	if len(env) > 4096 {
		t.Errorf("envelope of %d bytes: the 1.5 MB payload went inline", len(env))
	}
	shmH1 := filepath.Join(th.h[0].shmRoot, "guest")
	if segs, _ := os.ReadDir(shmH1); len(segs) != 1 {
		t.Errorf("h1 holds %d segment(s) after the fallback, want the payload's one", len(segs))
	}

	// The invoker puts the step on h2, in a cold container.
	step := th.startOn(t, 1, "reverse", "reverse", false)
	body, _ := json.Marshal(map[string]any{
		"value":         json.RawMessage(env),
		"namespace":     "guest",
		"action_name":   "/guest/reverse",
		"activation_id": "0123456789abcdef0123456789abcdef",
		"deadline":      strconv.FormatInt(time.Now().Add(time.Minute).UnixMilli(), 10),
	})
	var status int
	var answer []byte
	waitFor(t, 10*time.Second, "the cold proxy to run the fallback", func() bool {
		status, answer, err = step.post("/run", body)
		// A proxy that has not got its specs yet says so; try again.
		return err == nil && !strings.Contains(string(answer), "unknown workflow")
	})
	if status != http.StatusOK || !strings.Contains(string(answer), `"forwarded":true`) {
		t.Fatalf("fallback /run on h2: %d %s", status, answer)
	}

	var o outcome
	select {
	case o = <-ran:
	case <-time.After(60 * time.Second):
		t.Fatal("the run did not end within 60 s of the fallback /run")
	}
	if o.err != nil {
		t.Fatalf("run: %v", o.err)
	}
	var v struct{ Text string }
	if err := json.Unmarshal(o.res.Value, &v); err != nil {
		t.Fatal(err)
	}
	r := []byte(text)
	for i, j := 0, len(r)-1; i < j; i, j = i+1, j-1 {
		r[i], r[j] = r[j], r[i]
	}
	if v.Text != string(r) {
		t.Fatalf("result text of %d bytes, want the %d bytes reversed", len(v.Text), len(text))
	}
	if len(o.res.Steps) != 1 || !strings.HasPrefix(o.res.Steps[0].Instance, "h2/") {
		t.Errorf("step reports %+v, want the step on h2", o.res.Steps)
	}
	// h1's segment went with the pull, h2's with the step.
	for _, dir := range []string{shmH1, filepath.Join(th.h[1].shmRoot, "guest")} {
		waitFor(t, 5*time.Second, "no segments left in "+dir, func() bool {
			segs, _ := os.ReadDir(dir)
			return len(segs) == 0
		})
	}
}
