package route

import (
	"context"
	"testing"

	"github.com/wsk-route/wsk-route/internal/frame"
	"github.com/wsk-route/wsk-route/internal/spec"
)

// TestJoinCountsEachSlotOnce feeds a join's slots to the entry's run
// state in a bad order, with duplicates before and after completion: the
// merge is made once, in slot order, and late copies are acknowledged as
// duplicates without joining again.
func TestJoinCountsEachSlotOnce(t *testing.T) {
	sp, err := spec.Parse([]byte(`{"workflow":"w","namespace":"ns","start":["a","b","c"],"start_join":"j","steps":{
	 "a":{"action":"/ns/a","in":"j","next":["j"]},"b":{"action":"/ns/b","in":"j","next":["j"]},"c":{"action":"/ns/c","in":"j","next":["j"]},
	 "j":{"action":"","join":{"merge":"array"}}}}`))
	if err != nil {
		t.Fatal(err)
	}
	p := &Plane{}
	rs := &runState{want: sp.Paths(), results: map[uint32][]byte{}, js: newJoinSet(&run{sp: sp}, context.Background()), done: make(chan struct{})}
	rs.js.result = func(branch uint32, merged []byte) { rs.addResult(branch, merged) }
	slot := func(i uint32, v string) (frame.Code, string) {
		return p.joinInput(&rs.js, &frame.Frame{Kind: frame.KindResult, Step: "j", Branch: spec.JoinBranch(i, 0)}, []byte(v))
	}
	for _, s := range []struct {
		slot uint32
		v    string
		want frame.Code
	}{
		{2, `"c"`, frame.CodeOK},
		{0, `"a"`, frame.CodeOK},
		{0, `"a again"`, frame.CodeDuplicate},
		{1, `"b"`, frame.CodeOK},
		{1, `"b late"`, frame.CodeDuplicate},
		{3, `"no such slot"`, frame.CodeDuplicate},
	} {
		if code, reason := slot(s.slot, s.v); code != s.want {
			t.Errorf("slot %d %s: %s (%s), want %s", s.slot, s.v, code, reason, s.want)
		}
	}
	select {
	case <-rs.done:
	default:
		t.Fatal("the join completed but the run is not done")
	}
	if got := string(rs.results[0]); got != `["a","b","c"]` {
		t.Errorf("the run's result %s, want the slots in order, each once", got)
	}
}
