package main

import (
	"math"
	"reflect"
	"strings"
	"testing"
)

func TestDecodeMatrix(t *testing.T) {
	body := `{"status":"success","data":{"resultType":"matrix","result":[
		{"metric":{"action":"/guest/a"},"values":[[1765100000,"1.5"],[1765100002.5,"NaN"],[1765100004,"+Inf"]]},
		{"metric":{},"values":[]}]}}`
	got, err := DecodeMatrix([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Labels["action"] != "/guest/a" || len(got[0].Points) != 3 {
		t.Fatalf("got %+v", got)
	}
	p := got[0].Points
	if p[0] != (Point{1765100000, 1.5}) || p[1].T != 1765100002.5 || !math.IsNaN(p[1].V) || !math.IsInf(p[2].V, 1) {
		t.Errorf("got points %v", p)
	}
	if !got[0].HasData() || got[1].HasData() {
		t.Errorf("HasData: got %v, %v, want true, false", got[0].HasData(), got[1].HasData())
	}

	for _, tc := range []struct{ name, body, want string }{
		{"error", `{"status":"error","errorType":"bad_data","error":"parse error at char 5"}`, "bad_data: parse error at char 5"},
		{"vector", `{"status":"success","data":{"resultType":"vector","result":[]}}`, `result type "vector"`},
		{"bad value", `{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1,"x"]]}]}}`, `sample value "x"`},
		{"not json", `<html>`, "decoding"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeMatrix([]byte(tc.body))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got error %v, want one with %q", err, tc.want)
			}
		})
	}
}

func TestLegendName(t *testing.T) {
	labels := map[string]string{"__name__": "wsk_route_runs_total", "workflow": "/guest/textflow", "outcome": "ok"}
	for _, tc := range []struct {
		name, format string
		labels       map[string]string
		want         string
	}{
		{"format", "{{workflow}} {{outcome}}", labels, "/guest/textflow ok"},
		{"spaces in braces", "p50 {{ workflow }}", labels, "p50 /guest/textflow"},
		{"missing label", "{{workflow}} ({{transport}})", labels, "/guest/textflow ()"},
		{"no format", "", labels, `wsk_route_runs_total{outcome="ok", workflow="/guest/textflow"}`},
		{"auto", "__auto", map[string]string{"status": "success"}, `{status="success"}`},
		{"no labels", "", map[string]string{}, "sum(rate(x[8s]))"},
		{"constant", "published", map[string]string{}, "published"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := LegendName(tc.format, tc.labels, "sum(rate(x[8s]))"); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestCalc(t *testing.T) {
	pts := []Point{{1, 2}, {2, math.NaN()}, {3, 4}, {4, 9}, {5, math.Inf(1)}}
	for _, tc := range []struct {
		calc string
		want float64
		ok   bool
	}{
		{"mean", 5, true},
		{"max", 9, true},
		{"min", 2, true},
		{"sum", 15, true},
		{"lastNotNull", 9, true},
		{"last", 9, true},
		{"firstNotNull", 2, true},
		{"count", 3, true},
		{"p99", 0, false},
	} {
		t.Run(tc.calc, func(t *testing.T) {
			got, ok := Calc(tc.calc, pts)
			if got != tc.want || ok != tc.ok {
				t.Errorf("got %v, %v, want %v, %v", got, ok, tc.want, tc.ok)
			}
		})
	}
	if _, ok := Calc("mean", []Point{{1, math.NaN()}}); ok {
		t.Error("mean of no finite value: ok")
	}
}

func TestCalcTitle(t *testing.T) {
	got := []string{calcTitle("mean"), calcTitle("max"), calcTitle("lastNotNull"), calcTitle("sum")}
	if want := []string{"Mean", "Max", "Last *", "Total"}; !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestSegments(t *testing.T) {
	nan := math.NaN()
	pts := []Point{{0, 1}, {2, 1}, {4, nan}, {6, 1}, {8, 1}, {14, 1}, {16, 1}}
	got := segments(pts, 2)
	var lens []int
	for _, s := range got {
		lens = append(lens, len(s))
	}
	// NaN at 4 splits; 8 → 14 is 3 steps, a gap.
	if want := []int{2, 2, 2}; !reflect.DeepEqual(lens, want) {
		t.Errorf("got segments of %v points, want %v", lens, want)
	}
	if got := segments([]Point{{0, nan}}, 2); len(got) != 0 {
		t.Errorf("only NaN: got %v", got)
	}
}
