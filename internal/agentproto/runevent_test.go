package agentproto_test

import (
	"errors"
	"reflect"
	"testing"

	"github.com/wsk-route/wsk-route/internal/agentproto"
	"github.com/wsk-route/wsk-route/internal/runevent"
)

func TestRunEventMessage(t *testing.T) {
	m := &agentproto.Message{Type: agentproto.TypeRunEvent, RunEvent: &runevent.Event{
		Run: "0123abcd", Seq: 2, Kind: runevent.KindStep, Step: "s1", Branch: 1, Instance: "h/p", DurationNS: 1500, Logs: "a line\n", LogsCut: 3}}
	b, err := agentproto.Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	got, err := agentproto.Decode(b)
	if err != nil {
		t.Fatalf("Decode %s: %v", b, err)
	}
	if !reflect.DeepEqual(got, m) {
		t.Errorf("round trip: got %+v, want %+v", got.RunEvent, m.RunEvent)
	}
	for _, in := range []string{
		`{"type":"run_event","run_event":{"run":"a/b","seq":1,"kind":"end"}}`,
		`{"type":"run_event","run_event":{"run":"r","seq":0,"kind":"end"}}`,
		`{"type":"run_event","run_event":{"run":"r","seq":1,"kind":"other"}}`,
	} {
		if _, err := agentproto.Decode([]byte(in)); !errors.Is(err, runevent.ErrBad) {
			t.Errorf("Decode(%s) = %v, want runevent.ErrBad", in, err)
		}
	}
}
