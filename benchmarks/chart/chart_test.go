package chart_test

import (
	"bytes"
	"encoding/xml"
	"io"
	"strings"
	"testing"

	"github.com/wsk-route/wsk-route/benchmarks/chart"
)

// An SVG chart is well-formed XML with one bar per value, labels escaped.
func TestSVG(t *testing.T) {
	for _, log := range []bool{false, true} {
		c := chart.Chart{Title: "hop <p50>", Unit: "µs", Series: []string{"hop", "raw unix"}, Log: log,
			Rows: []chart.Row{{"same-host & 1 KiB", []float64{20.4, 11.4}}, {"64 KiB", []float64{30.2, 17.6}}, {"1 MiB", []float64{242, 233}}}}
		svg, err := c.SVG()
		if err != nil {
			t.Fatal(err)
		}
		d := xml.NewDecoder(bytes.NewReader(svg))
		bars, texts := 0, []string{}
		for {
			tok, err := d.Token()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("log=%v: not well-formed: %v\n%s", log, err, svg)
			}
			if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "rect" {
				bars++
			}
			if cd, ok := tok.(xml.CharData); ok {
				texts = append(texts, string(cd))
			}
		}
		// background + 2 legend swatches + 6 bars
		if bars != 1+2+6 {
			t.Errorf("log=%v: %d rects, want 9", log, bars)
		}
		all := strings.Join(texts, "|")
		for _, want := range []string{"hop <p50>", "same-host & 1 KiB", "242 µs", "11.4 µs"} {
			if !strings.Contains(all, want) {
				t.Errorf("log=%v: text %q missing from %q", log, want, all)
			}
		}
	}
}

// Rows that do not fit the series, or values that cannot be drawn, are
// errors that name the row.
func TestSVGRefuses(t *testing.T) {
	for _, c := range []chart.Chart{
		{Title: "t", Series: []string{"a", "b"}, Rows: []chart.Row{{"short", []float64{1}}}},
		{Title: "t", Series: []string{"a"}, Rows: []chart.Row{{"negative", []float64{-1}}}},
		{Title: "t", Series: []string{"a"}, Log: true, Rows: []chart.Row{{"zero on a log scale", []float64{0}}}},
	} {
		if _, err := c.SVG(); err == nil || !strings.Contains(err.Error(), c.Rows[0].Label) {
			t.Errorf("%q: err = %v, want one naming the row", c.Rows[0].Label, err)
		}
	}
}
