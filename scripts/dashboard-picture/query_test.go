package main

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"
)

var t0 = time.Unix(1765100000, 0)

// fiveMinutes is a 5-minute range drawn 1000 pixels wide, scraped every 2 s:
// $__interval 2 s (0.3 s rounds to 0.2 s, raised to the scrape interval),
// $__rate_interval max(2 s + 2 s, 4 × 2 s) = 8 s.
var fiveMinutes = QueryContext{From: t0, To: t0.Add(5 * time.Minute), Scrape: 2 * time.Second, MaxDataPoints: 1000}

func TestIntervals(t *testing.T) {
	for _, tc := range []struct {
		name           string
		q              QueryContext
		interval, rate time.Duration
	}{
		{"5m over 1000px, scrape 2s", fiveMinutes, 2 * time.Second, 8 * time.Second},
		{"5m over 1000px, scrape 1s", QueryContext{From: t0, To: t0.Add(5 * time.Minute), Scrape: time.Second, MaxDataPoints: 1000}, time.Second, 4 * time.Second},
		{"6h over 600px, scrape 15s", QueryContext{From: t0, To: t0.Add(6 * time.Hour), Scrape: 15 * time.Second, MaxDataPoints: 600}, 30 * time.Second, 60 * time.Second},
		{"1h over 100px, scrape 1s", QueryContext{From: t0, To: t0.Add(time.Hour), Scrape: time.Second, MaxDataPoints: 100}, 30 * time.Second, 31 * time.Second}, // 36 s rounds to 30 s
		{"no width", QueryContext{From: t0, To: t0.Add(10 * time.Second), Scrape: time.Second}, 10 * time.Second, 11 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.q.Interval(); got != tc.interval {
				t.Errorf("Interval: got %s, want %s", got, tc.interval)
			}
			if got := tc.q.RateInterval(); got != tc.rate {
				t.Errorf("RateInterval: got %s, want %s", got, tc.rate)
			}
		})
	}
}

func TestRoundInterval(t *testing.T) {
	for _, tc := range []struct{ in, want time.Duration }{
		{5 * time.Millisecond, time.Millisecond},
		{300 * time.Millisecond, 200 * time.Millisecond},
		{time.Second, time.Second},
		{3 * time.Second, 2 * time.Second},
		{4 * time.Second, 5 * time.Second},
		{40 * time.Second, 30 * time.Second},
		{100 * time.Second, 2 * time.Minute},
		{24 * time.Hour, 3 * time.Hour},
	} {
		t.Run(tc.in.String(), func(t *testing.T) {
			if got := roundInterval(tc.in); got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
}

func TestPromDuration(t *testing.T) {
	for _, tc := range []struct {
		in   time.Duration
		want string
	}{
		{0, "0s"},
		{4 * time.Second, "4s"},
		{90 * time.Second, "1m30s"},
		{time.Hour, "1h"},
		{time.Hour + 2*time.Second, "1h2s"},
		{250 * time.Millisecond, "250ms"},
		{1500 * time.Millisecond, "1500ms"},
	} {
		t.Run(tc.in.String(), func(t *testing.T) {
			if got := promDuration(tc.in); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestInterpolate(t *testing.T) {
	vars := []Variable{
		{Name: "datasource", Type: "datasource"},
		{Name: "from_action", Type: "query", IncludeAll: true, AllValue: ".*"},
		{Name: "from", Type: "query", IncludeAll: true}, // a prefix of from_action, and no allValue
		{Name: "env", Type: "custom", IncludeAll: true, AllValue: "prod|dev"},
		{Name: "job", Type: "constant", Query: json.RawMessage(`"agents"`)},
		{Name: "single", Type: "query"}, // no All: left alone
	}
	for _, tc := range []struct{ in, want string }{
		{`x{a=~"$from_action"}`, `x{a=~".*"}`},
		{`x{a=~"${from_action}"}`, `x{a=~".*"}`},
		{`x{a=~"${from_action:regex}"}`, `x{a=~".*"}`},
		{`x{a=~"[[from_action]]"}`, `x{a=~".*"}`},
		{`x{a=~"$from"}`, `x{a=~".*"}`},
		{`x{e=~"$env", j="$job"}`, `x{e=~"prod|dev", j="agents"}`},
		{`rate(x[$__rate_interval])`, `rate(x[8s])`},
		{`rate(x[$__interval]) * $__interval_ms`, `rate(x[2s]) * 2000`},
		{`increase(x[$__range]) / $__range_s`, `increase(x[300s]) / 300`},
		{`x{d="${datasource}"}`, `x{d=""}`},
		{`x{s="$single", u="$unknown"}`, `x{s="$single", u="$unknown"}`},
		{`no variables`, `no variables`},
	} {
		t.Run(tc.in, func(t *testing.T) {
			if got := Interpolate(tc.in, vars, fiveMinutes); got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
}

// The project's dashboard: every panel parses, and every expr is left with
// no variable once interpolated.
func TestProjectDashboard(t *testing.T) {
	raw, err := os.ReadFile("../../docs/observability/wsk-route-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	d, err := ParseDashboard(raw)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			n++
			if got := Interpolate(tg.Expr, d.Templating.List, fiveMinutes); strings.ContainsAny(got, "$[]") && strings.Contains(got, "$") {
				t.Errorf("panel %q, target %s: %s still has a variable", p.Title, tg.RefID, got)
			}
		}
	}
	if n == 0 {
		t.Fatal("no targets")
	}
}

func TestParseDashboard(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		panels   int
	}{
		{"bare", `{"title":"a","panels":[{"type":"row","title":"r"}]}`, 1},
		{"wrapped", `{"dashboard":{"title":"a","panels":[{"type":"row"},{"type":"stat"}]},"meta":{}}`, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := ParseDashboard([]byte(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			if len(d.Panels) != tc.panels {
				t.Errorf("got %d panels, want %d", len(d.Panels), tc.panels)
			}
		})
	}
	for _, bad := range []string{``, `[]`, `{"title":"no panels"}`, `{"panels":"x"}`} {
		if _, err := ParseDashboard([]byte(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}
