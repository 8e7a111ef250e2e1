package main

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// QueryContext is what Grafana knows about a panel when it sends the
// panel's queries.
type QueryContext struct {
	From, To time.Time
	// Scrape is the data source's scrape interval, which Grafana also takes
	// as the smallest $__interval.
	Scrape time.Duration
	// MaxDataPoints is the panel's width in pixels, as Grafana sets it.
	MaxDataPoints int
}

// Interval is Grafana's $__interval: the time range over the panel's
// width, rounded as Grafana rounds it, and no less than the scrape
// interval. It is also the range query's step.
func (q QueryContext) Interval() time.Duration {
	iv := roundInterval(q.To.Sub(q.From) / time.Duration(max(q.MaxDataPoints, 1)))
	return max(iv, q.Scrape)
}

// RateInterval is Grafana's $__rate_interval:
// max($__interval + scrape interval, 4 × scrape interval).
func (q QueryContext) RateInterval() time.Duration {
	return max(q.Interval()+q.Scrape, 4*q.Scrape)
}

// roundInterval is Grafana's rangeutil.roundInterval: a raw interval to
// the nearest of a few round ones.
func roundInterval(d time.Duration) time.Duration {
	ms := d.Milliseconds()
	for _, r := range []struct {
		below int64
		to    time.Duration
	}{
		{10, time.Millisecond},
		{15, 10 * time.Millisecond},
		{35, 20 * time.Millisecond},
		{75, 50 * time.Millisecond},
		{150, 100 * time.Millisecond},
		{350, 200 * time.Millisecond},
		{750, 500 * time.Millisecond},
		{1500, time.Second},
		{3500, 2 * time.Second},
		{7500, 5 * time.Second},
		{12500, 10 * time.Second},
		{17500, 15 * time.Second},
		{25000, 20 * time.Second},
		{45000, 30 * time.Second},
		{90000, time.Minute},
		{210000, 2 * time.Minute},
		{450000, 5 * time.Minute},
		{750000, 10 * time.Minute},
		{1050000, 15 * time.Minute},
		{1500000, 20 * time.Minute},
		{2700000, 30 * time.Minute},
		{5400000, time.Hour},
		{9000000, 2 * time.Hour},
	} {
		if ms < r.below {
			return r.to
		}
	}
	return 3 * time.Hour
}

// promDuration writes d as a Prometheus duration: "4s", "1m30s", "250ms".
func promDuration(d time.Duration) string {
	if d%time.Second != 0 {
		return fmt.Sprintf("%dms", d.Milliseconds())
	}
	s := int64(d / time.Second)
	var b strings.Builder
	if h := s / 3600; h > 0 {
		fmt.Fprintf(&b, "%dh", h)
	}
	if m := s % 3600 / 60; m > 0 {
		fmt.Fprintf(&b, "%dm", m)
	}
	if s%60 > 0 || s == 0 {
		fmt.Fprintf(&b, "%ds", s%60)
	}
	return b.String()
}

// variableRE is Grafana's variable syntax: $name, [[name]] or
// [[name:format]], ${name}, ${name.field} or ${name:format}.
var variableRE = regexp.MustCompile(`\$(\w+)|\[\[(\w+?)(?::(\w+))?\]\]|\$\{(\w+)(?:\.([^:^\}]+))?(?::([^\}]+))?\}`)

// Interpolate replaces the variables in expr as Grafana does when every
// dashboard variable is set to "All": a variable that includes All
// becomes its allValue, or ".*" when it has none (Grafana would build a
// regex of every value); a constant becomes its value; a datasource
// variable becomes "" (it names the data source, not part of a query).
// The built-ins are $__interval, $__interval_ms, $__rate_interval,
// $__rate_interval_ms, $__range, $__range_s and $__range_ms. Anything
// else is left as it is, as Grafana leaves it.
func Interpolate(expr string, vars []Variable, q QueryContext) string {
	byName := make(map[string]Variable, len(vars))
	for _, v := range vars {
		byName[v.Name] = v
	}
	rng := q.To.Sub(q.From)
	return variableRE.ReplaceAllStringFunc(expr, func(m string) string {
		sub := variableRE.FindStringSubmatch(m)
		name := sub[1] + sub[2] + sub[4] // exactly one of them matched
		switch name {
		case "__interval":
			return promDuration(q.Interval())
		case "__interval_ms":
			return fmt.Sprint(q.Interval().Milliseconds())
		case "__rate_interval":
			return promDuration(q.RateInterval())
		case "__rate_interval_ms":
			return fmt.Sprint(q.RateInterval().Milliseconds())
		case "__range":
			return fmt.Sprintf("%ds", int64(rng.Seconds()))
		case "__range_s":
			return fmt.Sprint(int64(rng.Seconds()))
		case "__range_ms":
			return fmt.Sprint(rng.Milliseconds())
		}
		v, ok := byName[name]
		if !ok {
			return m
		}
		switch {
		case v.Type == "datasource":
			return ""
		case v.Type == "constant":
			var s string
			if json.Unmarshal(v.Query, &s) == nil {
				return s
			}
			return m
		case v.IncludeAll && v.AllValue != "":
			return v.AllValue
		case v.IncludeAll:
			return ".*"
		}
		return m
	})
}
