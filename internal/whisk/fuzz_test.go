package whisk_test

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/wsk-route/wsk-route/internal/whisk"
)

func ackSeeds() []string {
	return []string{
		`{"transid":["tid",17,true],"response":` + storedActivation + `,"isSystemError":false,"instance":` + instanceJSON + `}`,
		`{"transid":["tid",17],"response":"aid","isSystemError":true,"instance":` + instanceJSON + `}`,
		`{"transid":["tid",17],"activationId":"aid","isSystemError":false,"instance":` + instanceJSON + `}`,
		`{"transid":["tid",17],"response":` + storedActivation + `}`,
		`{"transid":["tid",17],"response":"aid"}`,
		`{"transid":"tid","response":"aid","isSystemError":false}`,
	}
}

// FuzzParseAck checks that ParseAck never panics and that a parsed ack
// survives marshal and parse unchanged.
func FuzzParseAck(f *testing.F) {
	for _, s := range ackSeeds() {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		a, err := whisk.ParseAck(in)
		if err != nil {
			return
		}
		b, err := json.Marshal(a)
		if err != nil {
			t.Fatalf("marshal %+v (from %q): %v", a, in, err)
		}
		a2, err := whisk.ParseAck(b)
		if err != nil {
			t.Fatalf("reparse %s (from %q): %v", b, in, err)
		}
		if a.Kind != a2.Kind || a.TransID != a2.TransID || a.ActivationID != a2.ActivationID ||
			a.IsSystemError != a2.IsSystemError || !reflect.DeepEqual(a.Instance, a2.Instance) || (a.Response == nil) != (a2.Response == nil) {
			t.Fatalf("round trip of %q via %s:\n got %+v\nwant %+v", in, b, a2, a)
		}
		// Raw JSON inside the activation comes back compacted: compare the
		// marshalled forms, and require a fixed point after one trip.
		b2, err := json.Marshal(a2)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b, b2) {
			t.Fatalf("marshal not stable for %q:\n%s\n%s", in, b, b2)
		}
		a3, err := whisk.ParseAck(b2)
		if err != nil || !reflect.DeepEqual(a2, a3) {
			t.Fatalf("second round trip of %s: %v\n got %+v\nwant %+v", b2, err, a3, a2)
		}
	})
}

// FuzzParseActivationMessage checks that ParseActivationMessage never
// panics and that a parsed message survives marshal and parse unchanged.
func FuzzParseActivationMessage(f *testing.F) {
	f.Add([]byte(activationMessage))
	f.Add([]byte(strings.Replace(activationMessage, `1700000000000]`, `1700000000000, true]`, 1)))
	f.Add([]byte(`{"transid":["t",1],"action":{"path":"guest","name":"a","binding":"guest/b"},"user":{"namespace":{"name":"guest"}},"activationId":"x","content":[1,2]}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		m, err := whisk.ParseActivationMessage(in)
		if err != nil {
			return
		}
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatalf("marshal %+v (from %q): %v", m, in, err)
		}
		m2, err := whisk.ParseActivationMessage(b)
		if err != nil {
			t.Fatalf("reparse %s (from %q): %v", b, in, err)
		}
		// Everything but raw JSON and empty maps/slices (which marshal as
		// null or are left out) must be equal.
		c1, c2 := *m, *m2
		for _, c := range []*whisk.ActivationMessage{&c1, &c2} {
			c.Content, c.User.Limits = nil, nil
			if len(c.TraceContext) == 0 {
				c.TraceContext = nil
			}
		}
		if !reflect.DeepEqual(c1, c2) {
			t.Fatalf("round trip of %q via %s:\n got %+v\nwant %+v", in, b, c2, c1)
		}
		b2, err := json.Marshal(m2)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b, b2) {
			t.Fatalf("marshal not stable for %q:\n%s\n%s", in, b, b2)
		}
		m3, err := whisk.ParseActivationMessage(b2)
		if err != nil || !reflect.DeepEqual(m2, m3) {
			t.Fatalf("second round trip of %s: %v\n got %+v\nwant %+v", b2, err, m3, m2)
		}
	})
}
