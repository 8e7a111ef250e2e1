package userevents_test

import (
	"reflect"
	"testing"

	"github.com/wsk-route/wsk-route/internal/userevents"
)

// FuzzParse feeds Parse arbitrary input: it must not panic, and an event
// it accepts must encode (AppendJSON) to JSON that parses back to the same
// event.
func FuzzParse(f *testing.F) {
	for _, seed := range []string{openWhiskActivation, openWhiskMetric, `{}`, `null`, `{"body":{"metricName":"x","metricValue":1}}`} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := userevents.Parse(b)
		if err != nil {
			return
		}
		out, err := e.AppendJSON(nil)
		if err != nil {
			t.Fatalf("AppendJSON of a parsed event: %v", err)
		}
		back, err := userevents.Parse(out)
		if err != nil {
			t.Fatalf("Parse(AppendJSON(Parse(%q))) = %v; JSON %s", b, err, out)
		}
		if !reflect.DeepEqual(back, e) {
			t.Fatalf("round trip changed the event:\n%+v\n%+v", e, back)
		}
	})
}
