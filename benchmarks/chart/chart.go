package chart

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"math"
)

// Row is one group of bars: a label and one value per series.
type Row struct {
	Label  string
	Values []float64
}

// Chart is a horizontal grouped bar chart.
type Chart struct {
	Title  string
	Unit   string   // printed after each value, e.g. "µs"
	Series []string // the name of each value of a row, shown in the legend
	Rows   []Row
	// Log draws the bars on a log scale (for rows whose values differ by
	// orders of magnitude).
	Log bool
}

// Layout, in SVG user units: the labels take what the longest needs (at
// about charWidth a character), the bars barsWidth.
const (
	charWidth = 7
	barsWidth = 500
	barHeight = 14
	barGap    = 3
	rowGap    = 12
	top       = 50
	valueRoom = 90 // room right of the longest bar for its value
)

// palette holds the series' colours, in order.
var palette = []string{"#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2"}

// SVG renders c. It returns an error when a row has another number of
// values than there are series, or a value is negative, NaN or infinite
// (or not positive on a log scale).
func (c *Chart) SVG() ([]byte, error) {
	most := 0.0
	for _, r := range c.Rows {
		if len(r.Values) != len(c.Series) {
			return nil, fmt.Errorf("chart %q: row %q has %d values for %d series", c.Title, r.Label, len(r.Values), len(c.Series))
		}
		for _, v := range r.Values {
			if v < 0 || math.IsNaN(v) || math.IsInf(v, 0) || (c.Log && v <= 0) {
				return nil, fmt.Errorf("chart %q: row %q has the value %v, which cannot be drawn", c.Title, r.Label, v)
			}
			most = math.Max(most, v)
		}
	}
	labelWidth := 120
	for _, r := range c.Rows {
		labelWidth = max(labelWidth, charWidth*len([]rune(r.Label))+16)
	}
	width := labelWidth + barsWidth + valueRoom
	scale := func(v float64) float64 {
		span := float64(barsWidth)
		switch {
		case most == 0:
			return 0
		case c.Log:
			lo := math.Log10(c.min()) - 0.3 // the smallest bar still shows
			return span * (math.Log10(v) - lo) / (math.Log10(most) - lo)
		}
		return span * v / most
	}
	groupHeight := len(c.Series)*(barHeight+barGap) + rowGap
	height := top + len(c.Rows)*groupHeight + 20
	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", width, height, width, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="10" y="20" font-size="15" font-weight="bold">%s</text>`+"\n", esc(c.Title))
	x := 10
	for i, s := range c.Series {
		fmt.Fprintf(&b, `<rect x="%d" y="30" width="12" height="12" fill="%s"/><text x="%d" y="40">%s</text>`+"\n", x, palette[i%len(palette)], x+16, esc(s))
		x += 16 + 7*len([]rune(s)) + 24
	}
	if c.Log {
		fmt.Fprintf(&b, `<text x="%d" y="40" fill="#666">(log scale)</text>`+"\n", x)
	}
	y := top
	for _, r := range c.Rows {
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end">%s</text>`+"\n", labelWidth-8, y+barHeight, esc(r.Label))
		for i, v := range r.Values {
			w := scale(v)
			fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%.1f" height="%d" fill="%s"/>`, labelWidth, y, w, barHeight, palette[i%len(palette)])
			fmt.Fprintf(&b, `<text x="%.1f" y="%d">%s</text>`+"\n", float64(labelWidth)+w+4, y+barHeight-3, esc(format(v)+" "+c.Unit))
			y += barHeight + barGap
		}
		y += rowGap
	}
	b.WriteString("</svg>\n")
	return b.Bytes(), nil
}

// min is the smallest value of the chart (1 when it has none).
func (c *Chart) min() float64 {
	m := math.Inf(1)
	for _, r := range c.Rows {
		for _, v := range r.Values {
			m = math.Min(m, v)
		}
	}
	if math.IsInf(m, 1) {
		return 1
	}
	return m
}

// format prints v with three significant digits.
func format(v float64) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.2f", v)
}

func esc(s string) string {
	var b bytes.Buffer
	xml.EscapeText(&b, []byte(s))
	return b.String()
}
