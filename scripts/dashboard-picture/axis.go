package main

import (
	"math"
	"time"
)

// ValueAxis is a y axis: its range and its ticks, step apart.
type ValueAxis struct {
	Min, Max, Step float64
	Ticks          []float64
}

// NewValueAxis fits an axis with at most maxTicks intervals to values in
// [lo, hi], on round steps (1, 2, 2.5 or 5 × 10^k). Like Grafana's, it
// starts at 0 when no value is negative. soft min or max, when not nil,
// are the panel's fieldConfig min and max, which it keeps to.
func NewValueAxis(lo, hi float64, maxTicks int, softMin, softMax *float64) ValueAxis {
	if lo > 0 {
		lo = 0
	}
	if softMin != nil {
		lo = *softMin
	}
	if softMax != nil {
		hi = *softMax
	}
	if !(hi > lo) {
		hi = lo + 1
	}
	maxTicks = max(maxTicks, 1)
	step := niceStep((hi - lo) / float64(maxTicks))
	a := ValueAxis{Step: step, Min: math.Floor(lo/step+1e-9) * step, Max: math.Ceil(hi/step-1e-9) * step}
	if softMin != nil {
		a.Min = *softMin
	}
	if softMax != nil {
		a.Max = *softMax
	}
	for t := math.Ceil(a.Min/step-1e-9) * step; t <= a.Max+step*1e-9; t += step {
		v := math.Round(t/step) * step
		if v == 0 {
			v = 0 // not -0
		}
		a.Ticks = append(a.Ticks, v)
	}
	return a
}

// niceStep is the smallest of 1, 2, 2.5 and 5 × 10^k that is at least raw.
func niceStep(raw float64) float64 {
	if raw <= 0 || !finite(raw) {
		return 1
	}
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*mag >= raw*(1-1e-9) {
			return m * mag
		}
	}
	return 10 * mag
}

// timeSteps are the time axis' tick steps, in seconds.
var timeSteps = []float64{1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400}

// TimeTicks places a time axis' ticks (Unix seconds) in [from, to] on a
// round step, at least minGap pixels apart on an axis width pixels wide,
// and says how to write them: "15:04:05" for steps under a minute, else
// "15:04".
func TimeTicks(from, to, width, minGap float64) (ticks []float64, layout string) {
	span := to - from
	if span <= 0 || width <= 0 {
		return nil, time.TimeOnly
	}
	step := timeSteps[len(timeSteps)-1]
	for _, s := range timeSteps {
		if span/s*minGap <= width {
			step = s
			break
		}
	}
	for t := math.Ceil(from/step) * step; t <= to; t += step {
		ticks = append(ticks, t)
	}
	if step < 60 {
		return ticks, time.TimeOnly
	}
	return ticks, "15:04"
}
