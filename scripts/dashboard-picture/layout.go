package main

import "unicode/utf8"

// Grafana's grid: 24 columns; a row unit is gridUnit pixels high, and
// panels are gridMargin pixels apart both ways (react-grid-layout's
// margin, Grafana's GRID_CELL_HEIGHT and GRID_CELL_VMARGIN).
const (
	gridColumns = 24
	gridUnit    = 30.0
	gridMargin  = 8.0
)

// Rect is a box in the picture, in pixels.
type Rect struct{ X, Y, W, H float64 }

// Grid places panels: its columns span Width pixels from Left, and its
// first row starts at Top.
type Grid struct{ Left, Top, Width float64 }

// Rect is where a panel at p goes.
func (g Grid) Rect(p GridPos) Rect {
	col := (g.Width - gridMargin*(gridColumns-1)) / gridColumns
	w, h := max(p.W, 1), max(p.H, 1)
	return Rect{
		X: g.Left + float64(p.X)*(col+gridMargin),
		Y: g.Top + float64(p.Y)*(gridUnit+gridMargin),
		W: float64(w)*col + float64(w-1)*gridMargin,
		H: float64(h)*gridUnit + float64(h-1)*gridMargin,
	}
}

// Bottom is the lowest edge of the panels.
func (g Grid) Bottom(panels []Panel) float64 {
	b := g.Top
	for _, p := range panels {
		r := g.Rect(p.GridPos)
		b = max(b, r.Y+r.H)
	}
	return b
}

// Sizes inside a panel, in pixels, as Grafana draws them.
const (
	panelHeader  = 32.0 // the title bar
	panelPadding = 8.0
	legendRow    = 22.0 // one row of a table legend, and its header
	axisFont     = 12.0
	titleFont    = 14.0
	xAxisBand    = 22.0 // the time labels under a graph
	legendShare  = 0.45 // the most of a panel's body its legend may take
)

// TimeSeriesLayout is where a time series panel draws its parts.
type TimeSeriesLayout struct {
	Plot   Rect // the lines' area; the y labels go left of it, the time labels under it
	Legend Rect // the legend table; zero height without one
	// LegendRows is how many series rows the legend shows; when there are
	// more series, its last row says how many were left out.
	LegendRows int
}

// LayoutTimeSeries splits a time series panel's box: the title bar on top,
// then the plot, with the legend table (a header and one row a series,
// at most legendShare of the body) under it. yLabelWidth is the width of
// the widest y-axis label.
func LayoutTimeSeries(box Rect, nSeries int, legend bool, yLabelWidth float64) TimeSeriesLayout {
	body := Rect{X: box.X + panelPadding, Y: box.Y + panelHeader, W: box.W - 2*panelPadding, H: box.H - panelHeader - panelPadding}
	var l TimeSeriesLayout
	if legend && nSeries > 0 {
		fit := int((body.H*legendShare - legendRow) / legendRow)
		l.LegendRows = max(min(nSeries, fit), 1)
		h := legendRow * float64(l.LegendRows+1)
		l.Legend = Rect{X: body.X, Y: body.Y + body.H - h, W: body.W, H: h}
		body.H -= h + 4
	}
	left := yLabelWidth + 8
	l.Plot = Rect{X: body.X + left, Y: body.Y + 6, W: body.W - left - 4, H: body.H - xAxisBand - 6}
	return l
}

// textWidth estimates how wide s is in the picture's sans-serif font at
// size pixels: SVG cannot measure text, so the picture leaves room by
// this estimate.
func textWidth(s string, size float64) float64 {
	return float64(utf8.RuneCountInString(s)) * size * 0.56
}

// truncate shortens s with "…" to fit width pixels at size.
func truncate(s string, size, width float64) string {
	if textWidth(s, size) <= width {
		return s
	}
	n := int(width/(size*0.56)) - 1
	if n <= 0 {
		return ""
	}
	r := []rune(s)
	return string(r[:min(n, len(r))]) + "…"
}
