package server

import (
	"encoding/json"
	"testing"
)

func TestEntryInput(t *testing.T) {
	for _, tc := range []struct {
		value, input string
		watch        bool
	}{
		{``, `{}`, false},
		{`null`, `{}`, false},
		{`{"a":1}`, `{"a":1}`, false},
		{`[1,2]`, `[1,2]`, false},
		{`{"a":1,"$wsk-route-watch":true}`, `{"a":1}`, true},
		{`{"$wsk-route-watch":false,"b":"x"}`, `{"b":"x"}`, false},
		{`{"$wsk-route-watch":"yes"}`, `{}`, false},
	} {
		input, watch := entryInput(json.RawMessage(tc.value))
		if string(input) != tc.input || watch != tc.watch {
			t.Errorf("entryInput(%s) = %s, %v; want %s, %v", tc.value, input, watch, tc.input, tc.watch)
		}
	}
}
