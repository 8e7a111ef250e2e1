package main

import (
	"bytes"
	"encoding/xml"
	"errors"
	"flag"
	"io"
	"math"
	"os"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/render.svg")

func TestGridRect(t *testing.T) {
	// 24 columns of 10 px with 23 margins of 8 px: 424 px.
	g := Grid{Left: 16, Top: 100, Width: 24*10 + 23*8}
	for _, tc := range []struct {
		name string
		pos  GridPos
		want Rect
	}{
		{"row", GridPos{X: 0, Y: 0, W: 24, H: 1}, Rect{16, 100, 424, 30}},
		{"right half", GridPos{X: 12, Y: 1, W: 12, H: 8}, Rect{16 + 12*18, 100 + 38, 12*10 + 11*8, 8*30 + 7*8}},
		{"third", GridPos{X: 8, Y: 26, W: 8, H: 8}, Rect{16 + 8*18, 100 + 26*38, 8*10 + 7*8, 296}},
		{"zero size", GridPos{X: 0, Y: 2}, Rect{16, 100 + 2*38, 10, 30}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := g.Rect(tc.pos); got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
	if got, want := g.Bottom([]Panel{{GridPos: GridPos{Y: 1, H: 8}}, {GridPos: GridPos{Y: 0, H: 1}}}), 100+38+296.0; got != want {
		t.Errorf("Bottom: got %v, want %v", got, want)
	}
}

func TestLayoutTimeSeries(t *testing.T) {
	box := Rect{0, 0, 600, 296}
	for _, tc := range []struct {
		name    string
		n       int
		legend  bool
		rows    int
		legendH float64
	}{
		{"no legend", 3, false, 0, 0},
		{"no series", 0, true, 0, 0},
		{"two series", 2, true, 2, 3 * legendRow},
		{"too many series", 30, true, 4, 5 * legendRow}, // (256 × 0.45 − 22) / 22 = 4.2
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := LayoutTimeSeries(box, tc.n, tc.legend, 50)
			if l.LegendRows != tc.rows || l.Legend.H != tc.legendH {
				t.Errorf("got %d rows, %v px, want %d, %v", l.LegendRows, l.Legend.H, tc.rows, tc.legendH)
			}
			if l.Plot.X != panelPadding+58 || l.Plot.Y+l.Plot.H+xAxisBand > box.H-l.Legend.H {
				t.Errorf("plot %+v overlaps the labels or the legend %+v", l.Plot, l.Legend)
			}
		})
	}
}

func TestTruncate(t *testing.T) {
	for _, tc := range []struct {
		in    string
		width float64
		want  string
	}{
		{"short", 100, "short"},
		{"/guest/textflow-upper → /guest/textflow-count", 100, "/guest/textfl…"},
		{"abc", 1, ""},
	} {
		if got := truncate(tc.in, 12, tc.width); got != tc.want {
			t.Errorf("truncate(%q, %v): got %q, want %q", tc.in, tc.width, got, tc.want)
		}
	}
}

// testPicture is a small dashboard: a row, a time series with two series
// (one with a NaN gap), one whose query failed, one with no data, and a
// stat.
func testPicture() Picture {
	d := &Dashboard{Title: "test: direct steps"}
	d.Templating.List = []Variable{
		{Name: "datasource", Label: "Prometheus", Type: "datasource"},
		{Name: "workflow", Label: "workflow", Type: "query", IncludeAll: true, AllValue: ".*"},
	}
	ts := func(title, unit string, pos GridPos) Panel {
		p := Panel{Type: "timeseries", Title: title, GridPos: pos}
		p.FieldConfig.Defaults.Unit = unit
		p.Options.Legend.DisplayMode = "table"
		p.Options.Legend.Calcs = []string{"mean", "max"}
		return p
	}
	stat := Panel{Type: "stat", Title: "Instances", GridPos: GridPos{X: 18, Y: 9, W: 6, H: 4}}
	stat.FieldConfig.Defaults.Unit = "short"
	d.Panels = []Panel{
		{Type: "row", Title: "Runs", GridPos: GridPos{X: 0, Y: 0, W: 24, H: 1}},
		ts("Runs ended", "ops", GridPos{X: 0, Y: 1, W: 12, H: 8}),
		ts("Hop latency", "s", GridPos{X: 12, Y: 1, W: 12, H: 8}),
		ts("Relayed frames", "ops", GridPos{X: 0, Y: 9, W: 18, H: 4}),
		stat,
		{Type: "row", Title: "Collapsed", Collapsed: true, Panels: []Panel{{Type: "stat"}}, GridPos: GridPos{X: 0, Y: 13, W: 24, H: 1}},
		{Type: "heatmap", Title: "A heatmap", GridPos: GridPos{X: 0, Y: 14, W: 24, H: 3}},
	}
	from := time.Unix(1765100000, 0)
	var ok, failed []Point
	for i := 0; i <= 150; i++ {
		t := float64(from.Unix() + int64(2*i))
		ok = append(ok, Point{t, 2 + math.Sin(float64(i)/10)})
		v := 0.2
		if i > 60 && i < 70 {
			v = math.NaN()
		}
		failed = append(failed, Point{t, v})
	}
	return Picture{
		Dashboard: d,
		Data: []PanelData{
			{},
			{Step: 2, Series: []Series{
				{Name: "/guest/textflow ok", Points: ok},
				{Name: "/guest/textflow failed", Points: failed},
			}},
			{Step: 2, Errors: []string{`A: prometheus: bad_data: 1:5: parse error: unexpected "}"`}},
			{Step: 2, Series: []Series{{Name: "empty", Points: []Point{{float64(from.Unix()), math.NaN()}}}}},
			{Step: 2, Series: []Series{{Name: "instances", Points: []Point{{float64(from.Unix()), 3}, {float64(from.Unix() + 2), 7}}}}},
		},
		From: from, To: from.Add(5 * time.Minute),
		Width: 1200, DataSource: "Prometheus 3.16.0",
		Note: "a test picture, drawn from fixed data",
	}
}

// TestRender draws testPicture and compares it with testdata/render.svg
// (go test -update rewrites it; look at the picture before you commit it).
func TestRender(t *testing.T) {
	var buf bytes.Buffer
	if err := Render(&buf, testPicture()); err != nil {
		t.Fatal(err)
	}
	got := buf.Bytes()
	dec := xml.NewDecoder(bytes.NewReader(got))
	for {
		if _, err := dec.Token(); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("not well-formed XML: %v", err)
		}
	}
	for _, want := range []string{
		">test: direct steps<", ">Runs<", ">Runs ended<", ">Mean<", ">Max<",
		">/guest/textflow ok<", ">2.12 ops/s<", ">3 ops/s<", // the sine's mean and max
		">No data<", "parse error", ">7<", // the stat's last value
		"Collapsed (1 panels)", "panel type heatmap", ">All<", ">Prometheus 3.16.0<",
		"2025-12-07 09:33:20 to 2025-12-07 09:38:20 UTC", ">09:34<",
	} {
		if !bytes.Contains(got, []byte(want)) {
			t.Errorf("the picture has no %q", want)
		}
	}
	if n := bytes.Count(got, []byte(`stroke="#F2CC0C"`)); n != 2 {
		t.Errorf("the failed series (with a NaN gap) is drawn in %d paths, want 2", n)
	}
	const golden = "testdata/render.svg"
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to write it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("the picture differs from %s (go test -update rewrites it); first difference at byte %d", golden, firstDiff(got, want))
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

func TestRenderKeepsTextEscaped(t *testing.T) {
	pic := testPicture()
	pic.Dashboard.Title = `a < b & "c"`
	var buf bytes.Buffer
	if err := Render(&buf, pic); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "a &lt; b &amp; &#34;c&#34;") {
		t.Error("the title is not escaped")
	}
}
