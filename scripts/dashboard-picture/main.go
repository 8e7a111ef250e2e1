package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "dashboard-picture:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("dashboard-picture", flag.ContinueOnError)
	dashFile := fs.String("dashboard", "docs/observability/wsk-route-dashboard.json", "the dashboard's JSON `file`")
	promURL := fs.String("prometheus", "http://127.0.0.1:9090", "the Prometheus server's `URL`")
	fromFlag := fs.String("from", "", "start of the time range: Unix seconds or RFC 3339 (required)")
	toFlag := fs.String("to", "", "end of the time range: Unix seconds or RFC 3339 (required)")
	scrape := fs.Duration("scrape-interval", 2*time.Second, "the scrape interval the data was collected at (Grafana's data source setting)")
	width := fs.Float64("width", 1800, "the picture's width in `pixels`")
	tz := fs.String("tz", "UTC", "the time `zone` the axes are written in")
	note := fs.String("note", "", "a line under the variables saying what the picture is")
	out := fs.String("out", "docs/observability/dashboard.svg", "the SVG `file` to write")
	if err := fs.Parse(args); err != nil {
		return err
	}
	from, err := parseTime(*fromFlag)
	if err != nil {
		return fmt.Errorf("-from: %w", err)
	}
	to, err := parseTime(*toFlag)
	if err != nil {
		return fmt.Errorf("-to: %w", err)
	}
	if !to.After(from) {
		return fmt.Errorf("-to %s is not after -from %s", to, from)
	}
	loc, err := time.LoadLocation(*tz)
	if err != nil {
		return fmt.Errorf("-tz: %w", err)
	}
	raw, err := os.ReadFile(*dashFile)
	if err != nil {
		return err
	}
	d, err := ParseDashboard(raw)
	if err != nil {
		return err
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	prom := &Prometheus{URL: *promURL, Client: &http.Client{Timeout: time.Minute}}
	version, err := prom.Version(ctx)
	if err != nil {
		return err
	}
	pic := Picture{Dashboard: d, From: from, To: to, Location: loc, Width: *width,
		DataSource: "Prometheus " + version, Note: *note}
	grid := Grid{Left: 16, Top: headerHeight, Width: *width - 32}
	for _, p := range d.Panels {
		qc := QueryContext{From: from, To: to, Scrape: *scrape,
			MaxDataPoints: int(grid.Rect(p.GridPos).W - 2*panelPadding)}
		data := query(ctx, prom, p, d.Templating.List, qc)
		pic.Data = append(pic.Data, data)
		report(p, data)
	}
	var buf bytes.Buffer
	if err := Render(&buf, pic); err != nil {
		return err
	}
	return os.WriteFile(*out, buf.Bytes(), 0o644)
}

// query runs a panel's targets over the panel's time range, at the step
// Grafana would choose, and names what comes back by legendFormat.
func query(ctx context.Context, prom *Prometheus, p Panel, vars []Variable, qc QueryContext) PanelData {
	step := qc.Interval()
	data := PanelData{Step: step.Seconds()}
	// Grafana aligns the range to the step, so that each refresh asks
	// for the same points.
	start := qc.From.Truncate(step)
	end := qc.To.Truncate(step)
	for _, t := range p.Targets {
		if t.Hide || t.Expr == "" {
			continue
		}
		expr := Interpolate(t.Expr, vars, qc)
		series, err := prom.QueryRange(ctx, expr, start, end, step)
		if err != nil {
			data.Errors = append(data.Errors, fmt.Sprintf("%s: %v", t.RefID, err))
			continue
		}
		for _, s := range series {
			s.Name = LegendName(t.LegendFormat, s.Labels, expr)
			data.Series = append(data.Series, s)
		}
	}
	return data
}

// report prints one line per panel: its series with data, or why it has none.
func report(p Panel, data PanelData) {
	if p.Type == "row" {
		fmt.Printf("row   %s\n", p.Title)
		return
	}
	var names []string
	for _, s := range data.Series {
		if s.HasData() {
			names = append(names, s.Name)
		}
	}
	switch {
	case len(names) > 0:
		fmt.Printf("data  %s: %d series: %s\n", p.Title, len(names), strings.Join(names, "; "))
	case len(data.Errors) > 0:
		fmt.Printf("ERROR %s: %s\n", p.Title, strings.Join(data.Errors, "; "))
	default:
		fmt.Printf("EMPTY %s: No data (%d series returned, none with a finite value)\n", p.Title, len(data.Series))
	}
}

// parseTime reads Unix seconds (with a fraction) or RFC 3339.
func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, fmt.Errorf("missing")
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		return time.UnixMilli(int64(f * 1000)), nil
	}
	return time.Parse(time.RFC3339, s)
}
