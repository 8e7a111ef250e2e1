package main

import (
	"fmt"
	"html"
	"io"
	"math"
	"strings"
	"time"
)

// Grafana's dark theme: the canvas, a panel's background and border, its
// text (primary and secondary), grid lines, and the classic palette its
// series take in turn.
const (
	colCanvas   = "#111217"
	colPanel    = "#181b1f"
	colBorder   = "#2e3036" // rgba(204, 204, 220, 0.12) over colPanel
	colText     = "#ccccdc"
	colTextWeak = "#8e8e9a" // rgba(204, 204, 220, 0.65) over colPanel
	colGrid     = "#25272c" // rgba(204, 204, 220, 0.07) over colPanel
	colInput    = "#0b0c0e"
	colRed      = "#f2495c"
	colGreen    = "#73bf69"
)

var palette = []string{
	"#73BF69", "#F2CC0C", "#8AB8FF", "#FF780A", "#F2495C", "#5794F2", "#B877D9", "#705DA0",
	"#37872D", "#FADE2A", "#447EBC", "#C15C17", "#890F02", "#0A437C", "#6D1F62", "#584477",
}

// headerHeight is the room above the grid: the dashboard's title and time
// range, its variables, and the note.
const headerHeight = 112.0

// PanelData is what a panel's queries returned.
type PanelData struct {
	Series []Series // every target's, in target order, named
	Errors []string // a target's query that failed: Prometheus' message
	// Step is the seconds between two points of a series; points further
	// apart than 1.5 steps are not joined (Grafana leaves such gaps).
	Step float64
}

// Picture is everything Render draws.
type Picture struct {
	Dashboard *Dashboard
	Data      []PanelData // one per Dashboard.Panels entry
	From, To  time.Time
	Location  *time.Location // the times' zone; nil: UTC
	Width     float64        // pixels
	// DataSource is what the data source picker shows ("Prometheus 3.16.0").
	DataSource string
	// Note is a line under the variables that says what the picture is.
	Note string
}

// svg builds the document.
type svg struct{ b strings.Builder }

func (s *svg) f(format string, a ...any) { fmt.Fprintf(&s.b, format, a...) }

func esc(t string) string { return html.EscapeString(t) }

// text writes t at (x, y), y being its baseline; anchor is start, middle
// or end.
func (s *svg) text(x, y, size float64, fill, anchor, t string, bold bool) {
	weight := ""
	if bold {
		weight = ` font-weight="500"`
	}
	s.f(`<text x="%.1f" y="%.1f" font-size="%.0f" fill="%s" text-anchor="%s"%s>%s</text>`+"\n", x, y, size, fill, anchor, weight, esc(t))
}

func (s *svg) rect(r Rect, fill, stroke string, rx float64) {
	st := ""
	if stroke != "" {
		st = fmt.Sprintf(` stroke="%s"`, stroke)
	}
	s.f(`<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" rx="%.0f" fill="%s"%s/>`+"\n", r.X, r.Y, r.W, r.H, rx, fill, st)
}

func (s *svg) line(x1, y1, x2, y2 float64, stroke string) {
	s.f(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s"/>`+"\n", x1, y1, x2, y2, stroke)
}

// Render draws the dashboard as an SVG document.
func Render(w io.Writer, pic Picture) error {
	d := pic.Dashboard
	if pic.Location == nil {
		pic.Location = time.UTC
	}
	grid := Grid{Left: 16, Top: headerHeight, Width: pic.Width - 32}
	height := grid.Bottom(d.Panels) + 16
	s := &svg{}
	s.f(`<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" font-family="Inter, Helvetica, Arial, sans-serif">`+"\n",
		pic.Width, height, pic.Width, height)
	s.f("<title>%s</title>\n", esc(d.Title))
	s.rect(Rect{0, 0, pic.Width, height}, colCanvas, "", 0)
	drawHeader(s, pic)
	from, to := float64(pic.From.UnixMilli())/1000, float64(pic.To.UnixMilli())/1000
	for i, p := range d.Panels {
		var data PanelData
		if i < len(pic.Data) {
			data = pic.Data[i]
		}
		box := grid.Rect(p.GridPos)
		switch p.Type {
		case "row":
			drawRow(s, box, p)
		case "timeseries", "graph":
			drawTimeSeries(s, box, p, data, from, to, pic.Location)
		case "stat", "singlestat":
			drawStat(s, box, p, data)
		default:
			drawFrame(s, box, p, data)
			s.text(box.X+box.W/2, box.Y+box.H/2, 14, colTextWeak, "middle", "panel type "+p.Type+": not drawn by this renderer", false)
		}
	}
	s.f("</svg>\n")
	_, err := io.WriteString(w, s.b.String())
	return err
}

// drawHeader draws the dashboard's title and time range, its variables
// (every one on "All"), and the note.
func drawHeader(s *svg, pic Picture) {
	d := pic.Dashboard
	s.rect(Rect{0, 0, pic.Width, 40}, colPanel, "", 0)
	s.line(0, 40, pic.Width, 40, colBorder)
	s.text(16, 26, 16, colTextWeak, "start", "Dashboards  ›", false)
	s.text(16+textWidth("Dashboards  ›", 16)+8, 26, 16, colText, "start", d.Title, true)
	layout := "2006-01-02 15:04:05"
	rng := pic.From.In(pic.Location).Format(layout) + " to " + pic.To.In(pic.Location).Format(layout) + " " + pic.To.In(pic.Location).Format("MST")
	rw := textWidth(rng, 13) + 24
	s.rect(Rect{pic.Width - 16 - rw, 7, rw, 26}, colInput, colBorder, 2)
	s.text(pic.Width-16-rw/2, 25, 13, colText, "middle", rng, false)

	x := 16.0
	for _, v := range d.Templating.List {
		label := v.Label
		if label == "" {
			label = v.Name
		}
		value := "All"
		switch {
		case v.Type == "datasource":
			value = pic.DataSource
		case !v.IncludeAll:
			value = "(not set)"
		}
		lw, vw := textWidth(label, 13)*1.1+16, textWidth(value, 13)+36 // the label is bold
		if x+lw+vw > pic.Width-16 {
			break
		}
		s.rect(Rect{x, 52, lw, 30}, colPanel, colBorder, 2)
		s.text(x+8, 72, 13, colText, "start", label, true)
		s.rect(Rect{x + lw, 52, vw, 30}, colInput, colBorder, 2)
		s.text(x+lw+8, 72, 13, colText, "start", value, false)
		s.f(`<path d="M%.1f 66 l4 4 l4 -4" stroke="%s" fill="none"/>`+"\n", x+lw+vw-18, colTextWeak)
		x += lw + vw + 8
	}
	if pic.Note != "" {
		s.text(16, 102, 12, colTextWeak, "start", truncate(pic.Note, 12, pic.Width-32), false)
	}
}

// drawRow draws a row panel: a chevron and its title; a collapsed row also
// says how many panels it hides.
func drawRow(s *svg, box Rect, p Panel) {
	cy := box.Y + box.H/2
	if p.Collapsed {
		s.f(`<path d="M%.1f %.1f l5 5 l-5 5" stroke="%s" stroke-width="1.5" fill="none"/>`+"\n", box.X+4, cy-5, colText)
	} else {
		s.f(`<path d="M%.1f %.1f l5 5 l5 -5" stroke="%s" stroke-width="1.5" fill="none"/>`+"\n", box.X+2, cy-3, colText)
	}
	title := p.Title
	if p.Collapsed {
		title += fmt.Sprintf(" (%d panels)", len(p.Panels))
	}
	s.text(box.X+20, cy+5, 15, colText, "start", truncate(title, 15, box.W-24), true)
}

// drawFrame draws a panel's box and title, and a red corner with the
// first error when a query failed, as Grafana marks it.
func drawFrame(s *svg, box Rect, p Panel, data PanelData) {
	s.rect(box, colPanel, colBorder, 2)
	x := box.X + panelPadding
	if len(data.Errors) > 0 {
		s.f(`<path d="M%.1f %.1f h28 l-28 28 z" fill="%s"/>`+"\n", box.X, box.Y, colRed)
		s.text(box.X+6, box.Y+14, 12, colCanvas, "start", "!", true)
		x += 16
	}
	s.text(x, box.Y+21, titleFont, colText, "start", truncate(p.Title, titleFont, box.W-(x-box.X)-panelPadding), true)
}

// drawNoData writes "No data" in the middle of the panel's body, and the
// queries' errors under it.
func drawNoData(s *svg, box Rect, data PanelData) {
	cx, cy := box.X+box.W/2, box.Y+panelHeader+(box.H-panelHeader)/2
	s.text(cx, cy, 16, colTextWeak, "middle", "No data", false)
	for i, e := range data.Errors {
		s.text(cx, cy+20+16*float64(i), 12, colRed, "middle", truncate(e, 12, box.W-24), false)
	}
}

// withData returns the series that have something to draw, each with its
// color: series take the palette in turn, in the panel's order.
func withData(all []Series) (series []Series, colors []string) {
	for i, sr := range all {
		if sr.HasData() {
			series = append(series, sr)
			colors = append(colors, palette[i%len(palette)])
		}
	}
	return series, colors
}

func drawTimeSeries(s *svg, box Rect, p Panel, data PanelData, from, to float64, loc *time.Location) {
	drawFrame(s, box, p, data)
	series, colors := withData(data.Series)
	if len(series) == 0 {
		drawNoData(s, box, data)
		return
	}
	unit := p.FieldConfig.Defaults.Unit
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, sr := range series {
		for _, pt := range sr.Points {
			if finite(pt.V) {
				lo, hi = min(lo, pt.V), max(hi, pt.V)
			}
		}
	}
	legend := p.LegendShown()
	plotH := LayoutTimeSeries(box, len(series), legend, 0).Plot.H
	axis := NewValueAxis(lo, hi, max(int(plotH/36), 2), p.FieldConfig.Defaults.Min, p.FieldConfig.Defaults.Max)
	labels := FormatTicks(unit, axis.Ticks, axis.Step)
	var lw float64
	for _, l := range labels {
		lw = max(lw, textWidth(l, axisFont))
	}
	l := LayoutTimeSeries(box, len(series), legend, lw)
	pr := l.Plot
	y := func(v float64) float64 { return pr.Y + pr.H - (v-axis.Min)/(axis.Max-axis.Min)*pr.H }
	x := func(t float64) float64 { return pr.X + (t-from)/(to-from)*pr.W }

	for i, t := range axis.Ticks {
		s.line(pr.X, y(t), pr.X+pr.W, y(t), colGrid)
		s.text(pr.X-8, y(t)+4, axisFont, colTextWeak, "end", labels[i], false)
	}
	ticks, layout := TimeTicks(from, to, pr.W, 90)
	for _, t := range ticks {
		s.line(x(t), pr.Y, x(t), pr.Y+pr.H, colGrid)
		label := time.UnixMilli(int64(t * 1000)).In(loc).Format(layout)
		s.text(x(t), pr.Y+pr.H+16, axisFont, colTextWeak, "middle", label, false)
	}
	for i, sr := range series {
		for _, seg := range segments(sr.Points, data.Step) {
			if len(seg) == 1 {
				s.f(`<circle cx="%.1f" cy="%.1f" r="2" fill="%s"/>`+"\n", x(seg[0].T), y(seg[0].V), colors[i])
				continue
			}
			var d strings.Builder
			for j, pt := range seg {
				cmd := "L"
				if j == 0 {
					cmd = "M"
				}
				fmt.Fprintf(&d, "%s%.1f %.1f", cmd, x(pt.T), y(pt.V))
			}
			s.f(`<path d="%s" stroke="%s" stroke-width="1" fill="none" stroke-linejoin="round"/>`+"\n", d.String(), colors[i])
		}
	}
	if l.LegendRows > 0 {
		drawLegend(s, l, p, series, colors)
	}
}

// segments splits a series where a value is not finite or where two
// points are more than 1.5 steps apart: the line is not drawn across.
func segments(pts []Point, step float64) [][]Point {
	var out [][]Point
	var cur []Point
	for _, pt := range pts {
		if !finite(pt.V) {
			if len(cur) > 0 {
				out = append(out, cur)
			}
			cur = nil
			continue
		}
		if n := len(cur); n > 0 && step > 0 && pt.T-cur[n-1].T > 1.5*step {
			out = append(out, cur)
			cur = nil
		}
		cur = append(cur, pt)
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

// drawLegend draws a table legend: the calcs' headers, then one row a
// series: its color, its name and its calcs in the panel's unit. When the
// rows do not fit, the last one says how many series it leaves out.
func drawLegend(s *svg, l TimeSeriesLayout, p Panel, series []Series, colors []string) {
	r := l.Legend
	unit := p.FieldConfig.Defaults.Unit
	calcs := p.Options.Legend.Calcs
	values := make([][]string, len(series))
	colW := 64.0
	for i, sr := range series {
		for _, c := range calcs {
			v, ok := Calc(c, sr.Points)
			text := "-"
			if ok {
				text = FormatValue(unit, v)
			}
			values[i] = append(values[i], text)
			colW = max(colW, textWidth(text, axisFont)+16)
		}
	}
	nameW := r.W - colW*float64(len(calcs)) - 24
	for j, c := range calcs {
		s.text(r.X+r.W-colW*float64(len(calcs)-1-j)-4, r.Y+15, axisFont, colText, "end", calcTitle(c), true)
	}
	s.line(r.X, r.Y+legendRow, r.X+r.W, r.Y+legendRow, colBorder)
	shown := len(series)
	if shown > l.LegendRows {
		shown = l.LegendRows - 1
	}
	for i := 0; i < shown; i++ {
		ry := r.Y + legendRow*float64(i+1)
		s.f(`<rect x="%.1f" y="%.1f" width="14" height="4" rx="1" fill="%s"/>`+"\n", r.X+2, ry+9, colors[i])
		s.text(r.X+24, ry+15, axisFont, colText, "start", truncate(series[i].Name, axisFont, nameW), false)
		for j, v := range values[i] {
			s.text(r.X+r.W-colW*float64(len(calcs)-1-j)-4, ry+15, axisFont, colText, "end", v, false)
		}
	}
	if shown < len(series) {
		ry := r.Y + legendRow*float64(shown+1)
		s.text(r.X+24, ry+15, axisFont, colTextWeak, "start", fmt.Sprintf("… %d more series", len(series)-shown), false)
	}
}

// drawStat draws a stat panel: each series' value reduced by the panel's
// calc (lastNotNull by default), large, in the panel's unit, side by side.
func drawStat(s *svg, box Rect, p Panel, data PanelData) {
	drawFrame(s, box, p, data)
	series, _ := withData(data.Series)
	if len(series) == 0 {
		drawNoData(s, box, data)
		return
	}
	calc := "lastNotNull"
	if c := p.Options.ReduceOptions.Calcs; len(c) > 0 {
		calc = c[0]
	}
	body := Rect{box.X + panelPadding, box.Y + panelHeader, box.W - 2*panelPadding, box.H - panelHeader - panelPadding}
	cw := body.W / float64(len(series))
	for i, sr := range series {
		v, _ := Calc(calc, sr.Points)
		text := FormatValue(p.FieldConfig.Defaults.Unit, v)
		size := min(body.H*0.45, cw/(float64(len([]rune(text)))*0.6+1))
		cx := body.X + cw*(float64(i)+0.5)
		if len(series) > 1 {
			s.text(cx, body.Y+14, axisFont, colText, "middle", truncate(sr.Name, axisFont, cw-8), false)
		}
		s.text(cx, body.Y+body.H/2+size*0.35, size, colGreen, "middle", text, true)
	}
}
