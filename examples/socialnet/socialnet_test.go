package socialnet_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
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

// stored is sn-store-post's result.
type stored struct {
	PostID      string   `json:"post_id"`
	Stored      bool     `json:"stored"`
	ContentHash string   `json:"content_hash"`
	Merged      []string `json:"merged"`
	Post        struct {
		PostID string `json:"post_id"`
		Author struct {
			Name   string `json:"name"`
			UserID int    `json:"user_id"`
		} `json:"author"`
		Text     string   `json:"text"`
		Words    int      `json:"words"`
		Hashtags []string `json:"hashtags"`
		Mentions []struct {
			Name   string `json:"name"`
			UserID int    `json:"user_id"`
		} `json:"mentions"`
		Unknown []string `json:"unknown_mentions"`
		URLs    []struct {
			URL   string `json:"url"`
			Short string `json:"short"`
		} `json:"urls"`
		Media struct {
			Count      int            `json:"count"`
			TotalBytes float64        `json:"total_bytes"`
			ByType     map[string]int `json:"by_type"`
		} `json:"media"`
	} `json:"post"`
}

var (
	shortURL = regexp.MustCompile(`^https://sn\.example/[0-9a-f]{10}$`)
	digits   = regexp.MustCompile(`^[0-9]+$`)
)

func TestComposePost(t *testing.T) {
	sb := startSandbox(t)
	c, err := whisk.NewClient(&http.Client{Timeout: 2 * time.Minute}, &whisk.Config{Host: sb.URL, AuthToken: sb.Auth, Namespace: "_", Version: "v1"})
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct{ name, file, kind string }{
		{"sn-unique-id", "unique_id.go", goKind()},
		{"sn-text", "text.py", "python:3"},
		{"sn-shorten-urls", "shorten_urls.py", "python:3"},
		{"sn-user-mentions", "user_mentions.go", goKind()},
		{"sn-media", "media.go", goKind()},
		{"sn-store-post", "store_post.py", "python:3"},
	}
	for _, a := range steps {
		src, err := os.ReadFile(filepath.Join("_actions", a.file))
		if err != nil {
			t.Fatal(err)
		}
		code := string(src)
		exec := &whisk.Exec{Kind: a.kind, Code: &code}
		if strings.HasPrefix(a.kind, "go:") {
			exec.Main = "Main"
		}
		if _, _, err := c.Actions.Insert(&whisk.Action{Name: a.name, Namespace: "_", Exec: exec}, true); err != nil {
			t.Fatalf("creating %s: %v", a.name, err)
		}
	}
	wskprops := filepath.Join(t.TempDir(), "wskprops")
	if err := os.WriteFile(wskprops, []byte("APIHOST="+sb.URL+"\nAUTH="+sb.Auth+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("WSK_CONFIG_FILE", wskprops)
	var out, errOut bytes.Buffer
	if code := cli.Run([]string{"compose", "socialnet.yaml"}, nil, &out, &errOut); code != 0 {
		t.Fatalf("wsk-route compose socialnet.yaml: exit %d\n%s%s", code, out.String(), errOut.String())
	}
	postJSON, err := os.ReadFile("post.json")
	if err != nil {
		t.Fatal(err)
	}
	var input map[string]any
	if err := json.Unmarshal(postJSON, &input); err != nil {
		t.Fatal(err)
	}
	// run composes a post, which must succeed, and returns the raw result.
	run := func(what string, input map[string]any) []byte {
		t.Helper()
		start := time.Now()
		act := invoke(t, c, "socialnet", input)
		b, _ := json.Marshal(act.Response.Result)
		if !act.Response.Success {
			t.Fatalf("%s run: %s %s (logs %q)", what, act.Response.Status, b, act.Logs)
		}
		t.Logf("%s run: %s in %v", what, act.Response.Status, time.Since(start).Round(time.Millisecond))
		return b
	}

	var results [][]byte
	var first string
	for _, round := range []string{"cold", "warm"} {
		b := run(round, input)
		results = append(results, b)
		var got stored
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("%s: result %s: %v", round, b, err)
		}
		p := got.Post
		first = got.PostID
		for _, c := range []struct {
			what string
			ok   bool
		}{
			{"the merged object keyed by branch name", fmt.Sprint(got.Merged) == "[media mentions text urls]"},
			{"a decimal post id, the same in the post", digits.MatchString(got.PostID) && p.PostID == got.PostID},
			{"stored, with a SHA-256 content hash", got.Stored && len(got.ContentHash) == 64},
			{"the author resolved (text branch, mentions branch)", p.Author.Name == "alice" && p.Author.UserID == 1001},
			{"hashtags [serverless] (text branch)", fmt.Sprint(p.Hashtags) == "[serverless]"},
			{"6 words (text branch)", p.Words == 6},
			{"@bob resolved to 1002, nobody unknown (mentions branch)", len(p.Mentions) == 1 && p.Mentions[0].Name == "bob" && p.Mentions[0].UserID == 1002 && len(p.Unknown) == 0},
			{"the one URL shortened (urls branch)", len(p.URLs) == 1 && p.URLs[0].URL == "https://example.com/a/very/long/path?x=1" && shortURL.MatchString(p.URLs[0].Short)},
			{"the text with the short URL (urls branch)", len(p.URLs) == 1 && p.Text == "Trying #serverless with @bob at "+p.URLs[0].Short+" ..."},
			{"media: 1 image of 123456 bytes (media branch)", p.Media.Count == 1 && p.Media.TotalBytes == 123456 && p.Media.ByType["image"] == 1 && len(p.Media.ByType) == 1},
		} {
			if !c.ok {
				t.Errorf("%s: result %s, want %s", round, b, c.what)
			}
		}
	}
	if !bytes.Equal(results[0], results[1]) {
		t.Errorf("the warm result %s differs from the cold one %s: the workflow must be deterministic", results[1], results[0])
	}
	// The steps of the warm run went direct: each step has the one
	// activation of its cold start (the fallback), no more.
	for _, s := range steps {
		if n := activations(t, c, s.name, 1); n != 1 {
			t.Errorf("%s: %d activations, want 1: the warm run must not go through the controller", s.name, n)
		}
	}

	// Another post (warm): an unknown mention, a URL twice, no media.
	b := run("unknown mention", map[string]any{"post": map[string]any{"user": "bob", "text": "#Go #go @carol @zed see http://a.example/x, http://a.example/x"}})
	var got stored
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("unknown mention: result %s: %v", b, err)
	}
	if p := got.Post; fmt.Sprint(p.Hashtags) != "[go]" || len(p.Mentions) != 1 || p.Mentions[0].UserID != 1003 ||
		fmt.Sprint(p.Unknown) != "[zed]" || len(p.URLs) != 1 || p.URLs[0].URL != "http://a.example/x" || p.Media.Count != 0 || got.PostID == first {
		t.Errorf("unknown mention: result %s, want hashtags [go], carol resolved, zed unknown, one URL, no media", b)
	}

	// A post with bad media: sn-media answers {"error": ...}, which fails
	// the run as an application error naming the step.
	bad := map[string]any{"post": map[string]any{"user": "alice", "text": "look", "media": []any{map[string]any{"type": "gif", "bytes": 10}}}}
	act := invoke(t, c, "socialnet", bad)
	b, _ = json.Marshal(act.Response.Result)
	if act.Response.Success || act.Response.Status != "application error" {
		t.Fatalf("bad media: %s %s, want an application error", act.Response.Status, b)
	}
	var failed struct {
		Error string `json:"error"`
	}
	if err := json.Unmarshal(b, &failed); err != nil {
		t.Fatalf("bad media: result %s: %v", b, err)
	}
	for _, want := range []string{"workflow socialnet", "failed at step s2.media-sn-media", "sn-media: media[0]", "gif", "is not image or video"} {
		if !strings.Contains(failed.Error, want) {
			t.Errorf("bad media: error %q, want it to contain %q", failed.Error, want)
		}
	}
}
