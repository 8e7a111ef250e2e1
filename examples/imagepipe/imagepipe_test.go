package imagepipe_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/apache/openwhisk-client-go/whisk"

	"github.com/wsk-route/wsk-route/cmd/wsk-route/cli"
	"github.com/wsk-route/wsk-route/cmd/wsk-route/sandbox"
)

// startSandbox runs a sandbox whose containers run a freshly built proxy.
func startSandbox(t *testing.T) *sandbox.Sandbox {
	t.Helper()
	dir := t.TempDir()
	proxy := filepath.Join(dir, "proxy")
	build := exec.Command("go", "build", "-o", proxy, "../../cmd/proxy")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the proxy: %v\n%s", err, out)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan *sandbox.Sandbox, 1)
	done := make(chan error, 1)
	go func() {
		done <- sandbox.Run(ctx, sandbox.Config{Listen: "127.0.0.1:0", ProxyCommand: []string{proxy},
			Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))},
			func(sb *sandbox.Sandbox) { ready <- sb })
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("sandbox: %v", err)
		}
	})
	select {
	case sb := <-ready:
		return sb
	case err := <-done:
		t.Fatalf("the sandbox did not start: %v", err)
	case <-time.After(time.Minute):
		t.Fatal("the sandbox did not start within a minute")
	}
	return nil
}

// goKind is the Go kind of this toolchain, as the sandbox names it.
func goKind() string {
	v := strings.TrimPrefix(runtime.Version(), "go")
	parts := strings.SplitN(v, ".", 3)
	return "go:" + parts[0] + "." + parts[1]
}

// invoke invokes name blocking and returns its full activation record,
// also when the run failed (the client then returns the record as well).
func invoke(t *testing.T, c *whisk.Client, name string, input any) *whisk.Activation {
	t.Helper()
	res, resp, err := c.Actions.Invoke(name, input, true, false)
	if res == nil {
		t.Fatalf("invoke %s: no activation in the answer (%v, %v)", name, resp, err)
	}
	b, _ := json.Marshal(res)
	var a whisk.Activation
	if err := json.Unmarshal(b, &a); err != nil || a.ActivationID == "" {
		t.Fatalf("invoke %s: the answer %s is not an activation (%v)", name, b, err)
	}
	return &a
}

// activations returns how many activation records name has, once it has
// at least atLeast (waiting up to 5 s: a fallback step's record is written
// after its result went on, so the run can end first), or what it has
// after the wait.
func activations(t *testing.T, c *whisk.Client, name string, atLeast int) int {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		list, _, err := c.Activations.List(&whisk.ActivationListOptions{Name: name, Limit: 200})
		if err != nil {
			t.Fatalf("listing the activations of %s: %v", name, err)
		}
		if len(list) >= atLeast || time.Now().After(deadline) {
			return len(list)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stitched is ip-stitch's result, the workflow's.
type stitched struct {
	Width  int     `json:"width"`
	Height int     `json:"height"`
	SHA256 string  `json:"sha256"`
	Strips int     `json:"strips"`
	Mean   float64 `json:"mean"`
	// SplitBytes and FilteredBytes are the base64 strips ip-filter and
	// ip-stitch received, in all.
	SplitBytes    int `json:"split_bytes"`
	FilteredBytes int `json:"filtered_bytes"`
}

var hexDigest = regexp.MustCompile(`^[0-9a-f]{64}$`)

// wantSHA256 is the stitched image's SHA-256 for input.json (1600x1200, 6
// strips, seed 7): the actions are deterministic, stdlib-only Go, so a
// change here means a change in what the pipeline computes.
const wantSHA256 = "bae5a46f85687cb1c6fb0ae6fe9964d21e5bd81f2f84569cee13ef6c12bd7787"

func TestImagePipe(t *testing.T) {
	sb := startSandbox(t)
	c, err := whisk.NewClient(&http.Client{Timeout: 5 * time.Minute}, &whisk.Config{Host: sb.URL, AuthToken: sb.Auth, Namespace: "_", Version: "v1"})
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct{ name, file string }{
		{"ip-split", "split.go"},
		{"ip-filter", "filter.go"},
		{"ip-stitch", "stitch.go"},
	}
	for _, a := range steps {
		src, err := os.ReadFile(filepath.Join("_actions", a.file))
		if err != nil {
			t.Fatal(err)
		}
		code := string(src)
		act := &whisk.Action{Name: a.name, Namespace: "_", Exec: &whisk.Exec{Kind: goKind(), Code: &code, Main: "Main"}}
		if _, _, err := c.Actions.Insert(act, true); err != nil {
			t.Fatalf("creating %s: %v", a.name, err)
		}
	}
	wskprops := filepath.Join(t.TempDir(), "wskprops")
	if err := os.WriteFile(wskprops, []byte("APIHOST="+sb.URL+"\nAUTH="+sb.Auth+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("WSK_CONFIG_FILE", wskprops)
	var out, errOut bytes.Buffer
	if code := cli.Run([]string{"compose", "imagepipe.yaml"}, nil, &out, &errOut); code != 0 {
		t.Fatalf("wsk-route compose imagepipe.yaml: exit %d\n%s%s", code, out.String(), errOut.String())
	}
	raw, err := os.ReadFile("input.json")
	if err != nil {
		t.Fatal(err)
	}
	var input struct {
		Width  int `json:"width"`
		Height int `json:"height"`
		Chunks int `json:"chunks"`
		Seed   int `json:"seed"`
	}
	if err := json.Unmarshal(raw, &input); err != nil {
		t.Fatal(err)
	}
	params := map[string]any{"width": input.Width, "height": input.Height, "chunks": input.Chunks, "seed": input.Seed}

	var first stitched
	filterRuns := 0
	for i, round := range []string{"cold", "warm", "warm again"} {
		start := time.Now()
		act := invoke(t, c, "imagepipe", params)
		b, _ := json.Marshal(act.Response.Result)
		if !act.Response.Success {
			t.Fatalf("%s run: %s %s (logs %q)", round, act.Response.Status, b, act.Logs)
		}
		var got stitched
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("%s: result %s: %v", round, b, err)
		}
		t.Logf("%s run: %s in %v; the strips: %d bytes split, %d bytes filtered", round, act.Response.Status,
			time.Since(start).Round(time.Millisecond), got.SplitBytes, got.FilteredBytes)
		if got.SplitBytes < 1536*1024 {
			t.Errorf("%s: the split strips are %d bytes in all, want over 1.5 MiB (MB-sized payloads)", round, got.SplitBytes)
		}
		if got.Width != input.Width || got.Height != input.Height || got.Strips != input.Chunks ||
			!hexDigest.MatchString(got.SHA256) || got.Mean <= 0 || got.Mean >= 255 {
			t.Errorf("%s: result %s, want %dx%d from %d strips, a SHA-256 and a mean luminance in (0, 255)", round, b, input.Width, input.Height, input.Chunks)
		}
		if got.SHA256 != wantSHA256 {
			t.Errorf("%s: sha256 %s, want %s (input.json's image, filtered and stitched)", round, got.SHA256, wantSHA256)
		}
		if i == 0 {
			first = got
		} else if got != first {
			t.Errorf("%s: result %+v differs from the cold one %+v: the pipeline must be deterministic", round, got, first)
		}
		if i > 1 {
			continue
		}
		// After the cold run: each step ran through the controller, ip-filter
		// once per strip that found no warm container (the strips sent after
		// a fallback had started one may go direct); after the warm run: no
		// more records, every hop went direct.
		wantSplit, wantStitch := 1, 1
		if n := activations(t, c, "ip-split", wantSplit); n != wantSplit {
			t.Errorf("after the %s run: ip-split has %d activations, want %d", round, n, wantSplit)
		}
		if n := activations(t, c, "ip-stitch", wantStitch); n != wantStitch {
			t.Errorf("after the %s run: ip-stitch has %d activations, want %d", round, n, wantStitch)
		}
		n := activations(t, c, "ip-filter", 1)
		if n < 1 || n > input.Chunks {
			t.Errorf("after the %s run: ip-filter has %d activations, want 1 to %d (one per strip that found no warm container)", round, n, input.Chunks)
		}
		if i == 0 {
			filterRuns = n
			t.Logf("the cold run's map sent %d of %d strips through the controller; sha256 %s", n, input.Chunks, got.SHA256)
		} else if n != filterRuns {
			t.Errorf("after the warm run: ip-filter has %d activations, want the cold run's %d: the warm run must not go through the controller", n, filterRuns)
		}
	}
}
