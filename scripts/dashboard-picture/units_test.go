package main

import (
	"math"
	"reflect"
	"testing"
	"time"
)

func TestFormatValue(t *testing.T) {
	for _, tc := range []struct {
		unit string
		v    float64
		want string
	}{
		{"ops", 0.5, "0.500 ops/s"},
		{"ops", 12.34, "12.3 ops/s"},
		{"ops", 1500, "1.50K ops/s"},
		{"ops", 0, "0 ops/s"},
		{"s", 0.00042, "420 µs"},
		{"s", 0.0123, "12.3 ms"},
		{"s", 2.5, "2.50 s"},
		{"s", 2, "2 s"},
		{"s", 90, "1.50 min"},
		{"s", 0, "0 s"},
		{"ms", 0.25, "250 µs"},
		{"Bps", 2048, "2.05 kB/s"},
		{"Bps", 512, "512 B/s"},
		{"bytes", 2048, "2 KiB"},
		{"percentunit", 0.052, "5.20%"},
		{"percent", 5, "5%"},
		{"short", 12345, "12.3 K"},
		{"short", 3, "3"},
		{"", 1234567, "1234567"},
		{"widgets", 2.5, "2.50 widgets"},
		{"s", math.NaN(), "NaN"},
		{"s", math.Inf(1), "+Inf"},
	} {
		t.Run(tc.unit+"/"+tc.want, func(t *testing.T) {
			if got := FormatValue(tc.unit, tc.v); got != tc.want {
				t.Errorf("FormatValue(%q, %v): got %q, want %q", tc.unit, tc.v, got, tc.want)
			}
		})
	}
}

func TestFormatTicks(t *testing.T) {
	for _, tc := range []struct {
		name  string
		unit  string
		ticks []float64
		step  float64
		want  []string
	}{
		{"seconds in ms", "s", []float64{0, 0.0005, 0.001, 0.0015}, 0.0005, []string{"0 s", "500 µs", "1 ms", "1.5 ms"}},
		{"up to a minute", "s", []float64{0, 20, 40, 60}, 20, []string{"0 s", "20 s", "40 s", "1 min"}},
		{"whole ops", "ops", []float64{0, 2, 4}, 2, []string{"0 ops/s", "2 ops/s", "4 ops/s"}},
		{"step 2.5", "ops", []float64{0, 2.5, 5, 7.5}, 2.5, []string{"0 ops/s", "2.5 ops/s", "5 ops/s", "7.5 ops/s"}},
		{"step 0.25", "", []float64{0, 0.25, 0.5}, 0.25, []string{"0", "0.25", "0.50"}},
		{"percent", "percentunit", []float64{0, 0.1, 0.2}, 0.1, []string{"0%", "10%", "20%"}},
		{"kB/s", "Bps", []float64{0, 5000, 10000}, 5000, []string{"0 B/s", "5 kB/s", "10 kB/s"}},
		{"negative", "short", []float64{-2, 0, 2}, 2, []string{"-2", "0", "2"}},
		{"float noise", "short", []float64{0.6000000000000001, 1.2000000000000002}, 0.2, []string{"0.6", "1.2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := FormatTicks(tc.unit, tc.ticks, tc.step); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestNewValueAxis(t *testing.T) {
	ten := 10.0
	for _, tc := range []struct {
		name           string
		lo, hi         float64
		maxTicks       int
		softMax        *float64
		min, max, step float64
		ticks          int
	}{
		{"from zero", 1.2, 7.3, 5, nil, 0, 8, 2, 5},
		{"negative", -3, 3, 4, nil, -4, 4, 2, 5},
		{"flat zero", 0, 0, 5, nil, 0, 1, 0.2, 6},
		{"small", 0, 0.0042, 4, nil, 0, 0.006, 0.002, 4},
		{"soft max", 0, 3, 5, &ten, 0, 10, 2, 6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := NewValueAxis(tc.lo, tc.hi, tc.maxTicks, nil, tc.softMax)
			if !near(a.Min, tc.min) || !near(a.Max, tc.max) || !near(a.Step, tc.step) || len(a.Ticks) != tc.ticks {
				t.Errorf("got [%v, %v] step %v ticks %v, want [%v, %v] step %v, %d ticks", a.Min, a.Max, a.Step, a.Ticks, tc.min, tc.max, tc.step, tc.ticks)
			}
		})
	}
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9*max(1, math.Abs(b)) }

func TestNiceStep(t *testing.T) {
	for _, tc := range []struct{ raw, want float64 }{
		{0.7, 1}, {1, 1}, {1.1, 2}, {2.2, 2.5}, {3, 5}, {6, 10}, {0.0013, 0.002}, {0, 1},
	} {
		if got := niceStep(tc.raw); !near(got, tc.want) {
			t.Errorf("niceStep(%v): got %v, want %v", tc.raw, got, tc.want)
		}
	}
}

func TestTimeTicks(t *testing.T) {
	for _, tc := range []struct {
		name             string
		from, to, width  float64
		first, last, num float64
		layout           string
	}{
		{"5 min over 900px: every 30 s", 1765100005, 1765100305, 900, 1765100010, 1765100280, 10, time.TimeOnly},
		{"5 min over 400px: every 2 minutes", 1765100005, 1765100305, 400, 1765100040, 1765100280, 3, "15:04"},
		{"1 h over 600px: every 10 min", 1765098000, 1765101600, 600, 1765098000, 1765101600, 7, "15:04"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ticks, layout := TimeTicks(tc.from, tc.to, tc.width, 90)
			if len(ticks) != int(tc.num) || ticks[0] != tc.first || ticks[len(ticks)-1] != tc.last || layout != tc.layout {
				t.Errorf("got %v (%q), want %v ticks from %v to %v (%q)", ticks, layout, tc.num, tc.first, tc.last, tc.layout)
			}
		})
	}
}
