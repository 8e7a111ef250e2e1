package main

import (
	"math"
	"strconv"
)

// scale is one step of a unit's scaled display: values from div up are
// divided by div and written with suffix.
type scale struct {
	div    float64
	suffix string
}

// unitScales are Grafana's scaled units (its valueFormats), smallest
// first, with the index of the one zero is written in.
func unitScales(unit string) (steps []scale, zero int) {
	si := func(base string, prefixes ...string) []scale {
		s := make([]scale, len(prefixes))
		for i, p := range prefixes {
			s[i] = scale{math.Pow(1000, float64(i)), p + base}
		}
		return s
	}
	switch unit {
	case "ops", "reqps", "rps", "wps", "iops":
		sym := map[string]string{"ops": "ops/s", "reqps": "req/s", "rps": "rd/s", "wps": "wr/s", "iops": "io/s"}[unit]
		return si(" "+sym, "", "K", "M", "B", "T"), 0
	case "short":
		return si("", "", " K", " Mil", " Bil", " Tri"), 0
	case "s":
		return []scale{{1e-9, " ns"}, {1e-6, " µs"}, {1e-3, " ms"}, {1, " s"}, {60, " min"}, {3600, " hour"}, {86400, " day"}}, 3
	case "ms":
		return []scale{{1e-6, " ns"}, {1e-3, " µs"}, {1, " ms"}, {1000, " s"}, {60000, " min"}, {3600000, " hour"}}, 2
	case "Bps", "decbytes":
		suffix := map[string]string{"Bps": "B/s", "decbytes": "B"}[unit]
		return si(suffix, " ", " k", " M", " G", " T"), 0
	case "bytes", "binBps":
		suffix := map[string]string{"bytes": "B", "binBps": "B/s"}[unit]
		s := []scale{{1, " " + suffix}, {1024, " Ki" + suffix}, {1 << 20, " Mi" + suffix}, {1 << 30, " Gi" + suffix}, {1 << 40, " Ti" + suffix}}
		return s, 0
	case "percentunit":
		return []scale{{0.01, "%"}}, 0
	case "percent":
		return []scale{{1, "%"}}, 0
	case "", "none":
		return []scale{{1, ""}}, 0
	}
	return []scale{{1, " " + unit}}, 0 // an id the picture does not know: the id as a suffix
}

// scaleFor is the scale Grafana writes a value of this magnitude in.
func scaleFor(unit string, v float64) scale {
	steps, zero := unitScales(unit)
	a := math.Abs(v)
	if a == 0 || !finite(a) {
		return steps[zero]
	}
	pick := steps[0]
	for _, s := range steps {
		if a >= s.div*(1-1e-9) {
			pick = s
		}
	}
	return pick
}

// FormatValue writes v in unit, in the scale its magnitude calls for, to
// three significant digits, or with none when it is whole in that scale
// (a legend's calcs, a stat's value).
func FormatValue(unit string, v float64) string {
	if math.IsNaN(v) {
		return "NaN"
	}
	if math.IsInf(v, 0) {
		if v > 0 {
			return "+Inf"
		}
		return "-Inf"
	}
	s := scaleFor(unit, v)
	x := v / s.div
	dec := sigDecimals(x)
	if x == math.Trunc(x) {
		dec = 0
	}
	return strconv.FormatFloat(x, 'f', dec, 64) + s.suffix
}

// sigDecimals is the number of decimals that shows x to three
// significant digits (none from 100 up).
func sigDecimals(x float64) int {
	a := math.Abs(x)
	if a == 0 || a >= 100 {
		return 0
	}
	d := 2 - int(math.Floor(math.Log10(a)))
	return min(max(d, 0), 9)
}

// FormatTicks writes an axis's ticks as Grafana does: each in the scale
// its own magnitude calls for ("0 s", "500 µs", "1 ms"), with as many
// decimals as the step between ticks needs in that scale, and none when
// the tick is whole there.
func FormatTicks(unit string, ticks []float64, step float64) []string {
	out := make([]string, len(ticks))
	for i, t := range ticks {
		if math.Abs(t) < step*1e-9 {
			t = 0
		}
		s := scaleFor(unit, t)
		x := t / s.div
		dec := 0
		if st := step / s.div; st > 0 && x != math.Trunc(x) {
			dec = max(0, int(math.Ceil(-math.Log10(st)-1e-9)))
			if frac := st * math.Pow(10, float64(dec)); math.Abs(frac-math.Round(frac)) > 1e-6 {
				dec++ // a step of 2.5 × 10^k needs one more
			}
		}
		out[i] = strconv.FormatFloat(x, 'f', min(dec, 9), 64) + s.suffix
	}
	return out
}
