package imagepipe_test

import (
	"encoding/json"
	"regexp"
	"testing"
	"time"

	"github.com/wsk-route/wsk-route/examples/exampletest"
)

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
	env := exampletest.Start(t, 5*time.Minute)
	env.Compose(t, "imagepipe.yaml") // its three actions, then the workflow
	var input struct {
		Width  int `json:"width"`
		Height int `json:"height"`
		Chunks int `json:"chunks"`
		Seed   int `json:"seed"`
	}
	exampletest.ReadJSON(t, "input.json", &input)
	params := map[string]any{"width": input.Width, "height": input.Height, "chunks": input.Chunks, "seed": input.Seed}

	var first stitched
	filterRuns := 0
	for i, round := range []string{"cold", "warm", "warm again"} {
		start := time.Now()
		act := env.Invoke(t, "imagepipe", params)
		took := time.Since(start)
		env.WaitIdle(t)
		b, _ := json.Marshal(act.Response.Result)
		if !act.Response.Success {
			t.Fatalf("%s run: %s %s (logs %q)", round, act.Response.Status, b, act.Logs)
		}
		var got stitched
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("%s: result %s: %v", round, b, err)
		}
		t.Logf("%s run: %s in %v; the strips: %d bytes split, %d bytes filtered", round, act.Response.Status,
			took.Round(time.Millisecond), got.SplitBytes, got.FilteredBytes)
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
		failed := t.Failed()
		if n := env.Activations(t, "ip-split", wantSplit); n != wantSplit {
			t.Errorf("after the %s run: ip-split has %d activations, want %d", round, n, wantSplit)
		}
		if n := env.Activations(t, "ip-stitch", wantStitch); n != wantStitch {
			t.Errorf("after the %s run: ip-stitch has %d activations, want %d", round, n, wantStitch)
		}
		n := env.Activations(t, "ip-filter", 1)
		if n < 1 || n > input.Chunks {
			t.Errorf("after the %s run: ip-filter has %d activations, want 1 to %d (one per strip that found no warm container)", round, n, input.Chunks)
		}
		if i == 0 {
			filterRuns = n
			t.Logf("the cold run's map sent %d of %d strips through the controller; sha256 %s", n, input.Chunks, got.SHA256)
		} else if n != filterRuns {
			t.Errorf("after the warm run: ip-filter has %d activations, want the cold run's %d: the warm run must not go through the controller", n, filterRuns)
		}
		if t.Failed() && !failed {
			t.Logf("the %s run's logs (where each step ran): %q", round, act.Logs)
		}
	}
}
