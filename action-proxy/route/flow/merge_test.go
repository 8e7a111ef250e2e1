package flow

import "testing"

func TestMerge(t *testing.T) {
	tests := []struct {
		name    string
		results map[uint32][]byte
		want    int
		out     string
	}{
		{"one path", map[uint32][]byte{0: []byte(`{"a":1}`)}, 1, `{"a":1}`},
		{"one path, array result", map[uint32][]byte{0: []byte(`[1,2]`)}, 1, `[1,2]`},
		{"two paths", map[uint32][]byte{1: []byte(`{"b":2}`), 0: []byte(`{"a":1}`)}, 2, `[{"a":1},{"b":2}]`},
		{"branch order, not insertion", map[uint32][]byte{
			3: []byte(`3`), 0: []byte(`0`), 10: []byte(`10`), 2: []byte(`2`), 1: []byte(`1`),
			4: []byte(`4`), 5: []byte(`5`), 6: []byte(`6`), 7: []byte(`7`), 8: []byte(`8`), 9: []byte(`9`),
		}, 11, `[0,1,2,3,4,5,6,7,8,9,10]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(merge(tt.results, tt.want)); got != tt.out {
				t.Errorf("merge = %s, want %s", got, tt.out)
			}
		})
	}
}

func TestLastSteps(t *testing.T) {
	if got, want := lastSteps(nil), "no step reported"; got != want {
		t.Errorf("lastSteps(nil) = %q, want %q", got, want)
	}
	steps := []StepReport{{Step: "a", Branch: 0}, {Step: "b", Branch: 2}}
	if got, want := lastSteps(steps), "steps that finished: a#0, b#2"; got != want {
		t.Errorf("lastSteps = %q, want %q", got, want)
	}
}
