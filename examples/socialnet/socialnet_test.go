package socialnet_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/wsk-route/wsk-route/examples/exampletest"
)

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
	env := exampletest.Start(t, 2*time.Minute)
	env.Compose(t, "socialnet.yaml") // its six actions, then the workflow
	var input map[string]any
	exampletest.ReadJSON(t, "post.json", &input)
	// run composes a post, which must succeed, and returns the raw result.
	run := func(what string, input map[string]any) []byte {
		t.Helper()
		start := time.Now()
		act := env.Invoke(t, "socialnet", input)
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
		env.WaitIdle(t)
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
	for _, s := range []string{"sn-unique-id", "sn-text", "sn-shorten-urls", "sn-user-mentions", "sn-media", "sn-store-post"} {
		if n := env.Activations(t, s, 1); n != 1 {
			t.Errorf("%s: %d activations, want 1: the warm run must not go through the controller", s, n)
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
	act := env.Invoke(t, "socialnet", bad)
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
