package doccheck_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wsk-route/wsk-route/docs/doccheck"
	"github.com/wsk-route/wsk-route/internal/testenv"
)

// pages are the checked pages, as the repository names them, in run order.
var pages = []string{"README.md", "docs/sandbox.md", "docs/workflows.md"}

// root is the repository's root, from this package.
const root = "../.."

// commandTimeout bounds one marked command.
const commandTimeout = time.Minute

// docAddress is the sandbox address the docs use, replaced by the test's.
const docAddress = "127.0.0.1:3233"

// identity is the code of the actions that <!-- runnable: actions --> creates.
const identity = "def main(args):\n    return args\n"

func TestParse(t *testing.T) {
	tests := []struct {
		name, src string
		want      []doccheck.Item
	}{
		{"block", "text\n<!-- runnable -->\n```sh\nwsk-route list\nwsk-route get x\n```\n",
			[]doccheck.Item{{Kind: doccheck.Run, File: "p.md", Line: 4, Text: "wsk-route list\nwsk-route get x\n"}}},
		{"file", "<!-- runnable: file flows/f.yaml -->\n```yaml\nname: f\n```\n",
			[]doccheck.Item{{Kind: doccheck.File, File: "p.md", Line: 3, Text: "name: f\n", Path: "flows/f.yaml"}}},
		{"actions", "<!--runnable: actions a b-->\n",
			[]doccheck.Item{{Kind: doccheck.Actions, File: "p.md", Line: 1, Names: []string{"a", "b"}}}},
		{"inline, two on a line", "Run `wsk-route list` <!-- runnable -->, then `wsk-route get x`<!-- runnable --> and `not this`.\n",
			[]doccheck.Item{{Kind: doccheck.Run, File: "p.md", Line: 1, Text: "wsk-route list\n"}, {Kind: doccheck.Run, File: "p.md", Line: 1, Text: "wsk-route get x\n"}}},
		{"markers in a fenced block are text", "````md\n<!-- runnable -->\n```sh\nx\n```\n````\n", nil},
		{"a longer fence holds a shorter one", "<!-- runnable -->\n````sh\necho '```'\n```\n````\n",
			[]doccheck.Item{{Kind: doccheck.Run, File: "p.md", Line: 3, Text: "echo '```'\n```\n"}}},
		{"unmarked blocks and spans", "```sh\nmake test\n```\n`make demo`\n<!-- other comment -->\n", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := doccheck.Parse("p.md", []byte(tc.src))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", tc.want) {
				t.Errorf("Parse:\ngot  %+v\nwant %+v", got, tc.want)
			}
		})
	}

	bad := []struct{ name, src, want string }{
		{"block marker without a block", "<!-- runnable -->\ntext\n", "p.md:1: <!-- runnable --> is not followed by a fenced block"},
		{"unknown argument", "<!-- runnable: twice -->\n```sh\nx\n```\n", `p.md:1: marker "<!-- runnable: twice -->"`},
		{"no colon", "<!-- runnable file x -->\n```sh\nx\n```\n", `p.md:1: marker "<!-- runnable file x -->"`},
		{"file outside the work directory", "<!-- runnable: file ../x -->\n```\nx\n```\n", "p.md:1: <!-- runnable: file ../x -->: the path must stay inside"},
		{"absolute file", "<!-- runnable: file /etc/x -->\n```\nx\n```\n", "must stay inside"},
		{"file without a path", "<!-- runnable: file -->\n```\nx\n```\n", `marker "<!-- runnable: file -->"`},
		{"actions without names", "<!-- runnable: actions -->\n", "p.md:1: <!-- runnable: actions --> names no action"},
		{"inline without a code span", "Run it <!-- runnable -->\n", "p.md:1: <!-- runnable --> inside a line must follow an inline code span"},
		{"inline with arguments", "`x` <!-- runnable: file y -->\n", "p.md:1: an inline marker takes no arguments"},
		{"unclosed block", "<!-- runnable -->\n```sh\nx\n", "p.md:2: the fenced block is not closed"},
		{"empty block", "<!-- runnable -->\n```sh\n\n```\n", "p.md:2: the marked block is empty"},
	}
	for _, tc := range bad {
		t.Run("bad/"+tc.name, func(t *testing.T) {
			got, err := doccheck.Parse("p.md", []byte(tc.src))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Parse = %+v, %v; want an error containing %q", got, err, tc.want)
			}
		})
	}
	t.Run("bad/every problem at once", func(t *testing.T) {
		_, err := doccheck.Parse("p.md", []byte("<!-- runnable: x -->\n\nRun <!-- runnable -->\n"))
		if err == nil || !strings.Contains(err.Error(), "p.md:1:") || !strings.Contains(err.Error(), "p.md:3:") {
			t.Errorf("Parse: %v; want the problems of lines 1 and 3", err)
		}
	})
}

// TestDocs runs every command the pages mark as runnable against one
// `wsk-route dev` sandbox.
func TestDocs(t *testing.T) {
	var items []doccheck.Item
	for _, p := range pages {
		src, err := os.ReadFile(filepath.Join(root, p))
		if err != nil {
			t.Fatal(err)
		}
		its, err := doccheck.Parse(p, src)
		if err != nil {
			t.Fatalf("markers:\n%v", err)
		}
		items = append(items, its...)
	}
	runs := 0
	for _, it := range items {
		if it.Kind == doccheck.Run {
			runs++
		}
	}
	if runs == 0 {
		t.Fatalf("no command of %s is marked <!-- runnable -->: the markers are gone", strings.Join(pages, ", "))
	}
	for _, tool := range []string{"bash", "curl", "python3"} {
		if _, err := exec.LookPath(tool); err != nil {
			testenv.Skip(t, "the docs' commands need %s: %v", tool, err)
		}
	}

	bin, cleanup, err := testenv.BuildStatic(map[string]string{"wsk-route": "github.com/wsk-route/wsk-route/cmd/wsk-route"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cleanup)
	work := t.TempDir()
	sb := startDev(t, filepath.Join(bin, "wsk-route"), work)
	host := strings.TrimPrefix(strings.TrimPrefix(sb.apiHost, "http://"), "https://")
	// curl fails on an HTTP error (a route gone stale), as if each
	// command had --fail.
	curlHome := t.TempDir()
	if err := os.WriteFile(filepath.Join(curlHome, ".curlrc"), []byte("fail\nsilent\nshow-error\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A HOME of their own keeps the commands off the user's ~/.wskprops;
	// Go's caches stay the user's, so that a `go` command is not cold.
	goEnv, err := exec.Command("go", "env", "GOCACHE", "GOMODCACHE", "GOPATH").Output()
	if err != nil {
		t.Fatalf("go env: %v", err)
	}
	env := append(os.Environ(),
		"PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"),
		"WSK_CONFIG_FILE="+sb.props, "APIHOST="+sb.apiHost, "AUTH="+sb.auth,
		"HOME="+t.TempDir(), "CURL_HOME="+curlHome, "CONSUL_HTTP_ADDR=")
	for i, k := range []string{"GOCACHE", "GOMODCACHE", "GOPATH"} {
		env = append(env, k+"="+strings.Split(string(goEnv), "\n")[i])
	}

	for _, it := range items {
		switch it.Kind {
		case doccheck.File:
			p := filepath.Join(work, filepath.FromSlash(it.Path))
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(it.Text), 0o644); err != nil {
				t.Fatal(err)
			}
		case doccheck.Actions:
			for _, n := range it.Names {
				if err := sb.createAction(n); err != nil {
					t.Fatalf("%s:%d: creating action %s: %v", it.File, it.Line, n, err)
				}
			}
		}
	}
	for _, it := range items {
		if it.Kind != doccheck.Run {
			continue
		}
		t.Run(fmt.Sprintf("%s:%d", it.File, it.Line), func(t *testing.T) {
			// The trace names the page's lines (bash takes no PS4 from
			// the environment when run as root).
			script := fmt.Sprintf("PS4='+ %s:$((LINENO + %d)): '\nset -x\n", it.File, it.Line-3) +
				strings.ReplaceAll(it.Text, docAddress, host)
			ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
			defer cancel()
			cmd := exec.CommandContext(ctx, "bash", "-e", "-o", "pipefail", "-c", script)
			cmd.Dir, cmd.Env = work, env
			cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // a command's children go with it
			cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
			out, err := cmd.CombinedOutput()
			if ctx.Err() != nil {
				t.Fatalf("%s:%d: still running after %v:\n%s", it.File, it.Line, commandTimeout, out)
			}
			if err != nil {
				t.Fatalf("%s:%d: %v; the command, traced, and its output:\n%s", it.File, it.Line, err, out)
			}
			t.Logf("%s", out)
		})
	}
}

// devSandbox is a `wsk-route dev` process of the test.
type devSandbox struct {
	props, apiHost, auth string
}

// startDev starts `wsk-route dev` on a free port and waits for its
// wskprops file; the test's cleanup stops it with SIGINT, as Ctrl-C does.
func startDev(t *testing.T, bin, work string) *devSandbox {
	t.Helper()
	props := filepath.Join(t.TempDir(), "wskprops")
	var log testenv.SyncBuffer
	// The user's HOME: the Go kind's build cache is in the project's
	// cache directory under it, so that a Go action does not compile the
	// standard library first.
	cmd := exec.Command(bin, "dev", "--port", "0", "--write-wskprops", props)
	cmd.Dir, cmd.Stdout, cmd.Stderr = work, &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("wsk-route dev did not stop cleanly: %v\n%s", err, log.String())
			}
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			<-done
			t.Errorf("wsk-route dev did not stop within 30 s of SIGINT\n%s", log.String())
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case err := <-done:
			done <- err // for the cleanup
			t.Fatalf("wsk-route dev exited: %v\n%s", err, log.String())
		case <-time.After(100 * time.Millisecond):
		}
		if kv, err := readProps(props); err == nil && kv["APIHOST"] != "" && kv["AUTH"] != "" {
			return &devSandbox{props: props, apiHost: kv["APIHOST"], auth: kv["AUTH"]}
		}
		if time.Now().After(deadline) {
			t.Fatalf("wsk-route dev wrote no wskprops within 60 s\n%s", log.String())
		}
	}
}

// createAction creates (or replaces) the Python action name, which
// returns its input.
func (s *devSandbox) createAction(name string) error {
	body, _ := json.Marshal(map[string]any{"exec": map[string]any{"kind": "python:3", "code": identity}})
	req, err := http.NewRequest(http.MethodPut, s.apiHost+"/api/v1/namespaces/_/actions/"+url.PathEscape(name)+"?overwrite=true", bytes.NewReader(body))
	if err != nil {
		return err
	}
	user, pass, _ := strings.Cut(s.auth, ":")
	req.SetBasicAuth(user, pass)
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var b bytes.Buffer
		b.ReadFrom(resp.Body)
		return fmt.Errorf("PUT %s: %s: %s", req.URL, resp.Status, b.String())
	}
	return nil
}

// readProps reads the KEY=VALUE lines of a wskprops file.
func readProps(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	kv := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			kv[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	return kv, sc.Err()
}
