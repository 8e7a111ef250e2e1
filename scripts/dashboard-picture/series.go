package main

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Point is one sample of a series: Unix seconds and a value, NaN for
// Prometheus' NaN (a histogram_quantile of no observations, a 0/0).
type Point struct {
	T float64
	V float64
}

// Series is one line of a panel: what one target's query returned for one
// label set, named by the target's legendFormat.
type Series struct {
	Name   string
	Labels map[string]string
	Points []Point
}

// HasData says whether the series has a value that can be drawn.
func (s Series) HasData() bool {
	for _, p := range s.Points {
		if finite(p.V) {
			return true
		}
	}
	return false
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// DecodeMatrix reads the body of a Prometheus /api/v1/query_range answer.
// An answer with status "error" is returned as an error with Prometheus'
// own message.
func DecodeMatrix(body []byte) ([]Series, error) {
	var r struct {
		Status    string `json:"status"`
		ErrorType string `json:"errorType"`
		Error     string `json:"error"`
		Data      struct {
			ResultType string `json:"resultType"`
			Result     []struct {
				Metric map[string]string `json:"metric"`
				Values [][2]any          `json:"values"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("prometheus: decoding the answer: %w", err)
	}
	if r.Status != "success" {
		return nil, fmt.Errorf("prometheus: %s: %s", r.ErrorType, r.Error)
	}
	if r.Data.ResultType != "matrix" {
		return nil, fmt.Errorf("prometheus: result type %q, want matrix", r.Data.ResultType)
	}
	out := make([]Series, 0, len(r.Data.Result))
	for _, res := range r.Data.Result {
		s := Series{Labels: res.Metric, Points: make([]Point, 0, len(res.Values))}
		for _, tv := range res.Values {
			t, ok := tv[0].(float64)
			str, ok2 := tv[1].(string)
			if !ok || !ok2 {
				return nil, fmt.Errorf("prometheus: a sample is not [time, \"value\"]: %v", tv)
			}
			v, err := strconv.ParseFloat(str, 64) // also "NaN", "+Inf"
			if err != nil {
				return nil, fmt.Errorf("prometheus: sample value %q: %w", str, err)
			}
			s.Points = append(s.Points, Point{T: t, V: v})
		}
		out = append(out, s)
	}
	return out, nil
}

var legendRE = regexp.MustCompile(`\{\{\s*(.+?)\s*\}\}`)

// LegendName names a series as Grafana does: legendFormat with each
// {{label}} replaced by the label's value ("" when the series has no
// such label); without a legendFormat (or "__auto"), the metric's name
// and its labels, name{a="x", b="y"}; a series without any label, expr.
func LegendName(format string, labels map[string]string, expr string) string {
	if format != "" && format != "__auto" {
		return legendRE.ReplaceAllStringFunc(format, func(m string) string {
			return labels[legendRE.FindStringSubmatch(m)[1]]
		})
	}
	keys := make([]string, 0, len(labels))
	for k := range labels {
		if k != "__name__" {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 && labels["__name__"] == "" {
		return expr
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%q", k, labels[k])
	}
	return labels["__name__"] + "{" + strings.Join(parts, ", ") + "}"
}

// Calc reduces a series' finite values as the legend's calcs do: mean,
// max, min, sum, last, lastNotNull, first, firstNotNull, count. ok is
// false when there is no finite value, or no such calc.
func Calc(name string, pts []Point) (v float64, ok bool) {
	var vals []float64
	for _, p := range pts {
		if finite(p.V) {
			vals = append(vals, p.V)
		}
	}
	if len(vals) == 0 {
		return 0, false
	}
	switch name {
	case "mean":
		var sum float64
		for _, x := range vals {
			sum += x
		}
		return sum / float64(len(vals)), true
	case "max":
		return slices.Max(vals), true
	case "min":
		return slices.Min(vals), true
	case "sum":
		var sum float64
		for _, x := range vals {
			sum += x
		}
		return sum, true
	case "last", "lastNotNull":
		return vals[len(vals)-1], true
	case "first", "firstNotNull":
		return vals[0], true
	case "count":
		return float64(len(vals)), true
	}
	return 0, false
}

// calcTitle is the legend table's column header for a calc, as Grafana
// writes it.
func calcTitle(name string) string {
	switch name {
	case "lastNotNull":
		return "Last *"
	case "firstNotNull":
		return "First *"
	case "sum":
		return "Total"
	}
	if name == "" {
		return ""
	}
	return strings.ToUpper(name[:1]) + name[1:]
}
