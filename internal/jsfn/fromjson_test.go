package jsfn

import (
	"testing"

	"github.com/dop251/goja"
)

// viaGoja returns JSON.stringify(v) and JSON.stringify(JSON.parse(text)),
// and the keys of both (own property names, in order), to compare.
// It fails the test if goja's JSON.parse refuses text.
func viaGoja(t testing.TB, rt *goja.Runtime, v goja.Value, text string) (string, string) {
	t.Helper()
	check, err := rt.RunString(`(function(v, text){
		const keys = x => x !== null && typeof x === 'object' ? Object.getOwnPropertyNames(x).join() + '|' + Object.getPrototypeOf(x) : ''
		const w = JSON.parse(text)
		return [JSON.stringify(v) + keys(v), JSON.stringify(w) + keys(w)]
	})`)
	if err != nil {
		t.Fatal(err)
	}
	f, _ := goja.AssertFunction(check)
	out, err := f(goja.Undefined(), v, rt.ToValue(text))
	if err != nil {
		t.Fatal(err)
	}
	pair := out.Export().([]any)
	return pair[0].(string), pair[1].(string)
}

func TestFromJSONMatchesJSONParse(t *testing.T) {
	for _, in := range []string{
		`{}`, `[]`, `{"a":1,"b":[true,false,null],"c":{"d":"e"}}`,
		`{"z":1,"a":2,"2":3,"1":4}`, `{"a":1,"a":2}`, `{"__proto__":{"x":1}}`,
		`"a\"b\\c\u00e9\ud83d\ude00\n"`, `"\ud800"`, `-0`, `0.1`,
		`12345678901234567890`, `1E+2`, ` [ 1 , 2 ] `, `{"constructor":1,"toString":2}`,
		`[[[[[]]]]]`, `"é😀"`,
	} {
		t.Run(in, func(t *testing.T) {
			rt := goja.New()
			v, err := fromJSON(rt, []byte(in))
			if err != nil {
				t.Fatalf("fromJSON: %v", err)
			}
			got, want := viaGoja(t, rt, v, in)
			if got != want {
				t.Errorf("got %s, want %s (JSON.parse)", got, want)
			}
		})
	}
}

// goja's JSON.parse refuses numbers out of float64's range; JavaScript
// (and fromJSON) make them ±Infinity.
func TestFromJSONOutOfRange(t *testing.T) {
	rt := goja.New()
	for in, want := range map[string]string{`1e400`: "Infinity", `-1e400`: "-Infinity"} {
		v, err := fromJSON(rt, []byte(in))
		if err != nil || v.String() != want {
			t.Errorf("fromJSON(%s): got %v %v, want %s", in, v, err, want)
		}
	}
}

func TestFromJSONRefuses(t *testing.T) {
	for _, in := range []string{``, `{`, `{"a":}`, `[1,]`, `01`, `{"a":1}x`, `'a'`, `NaN`} {
		t.Run(in, func(t *testing.T) {
			if _, err := fromJSON(goja.New(), []byte(in)); err == nil {
				t.Errorf("got no error for %q", in)
			}
		})
	}
}

func FuzzFromJSON(f *testing.F) {
	for _, s := range []string{`{"a":[1,"x",{"b":null}]}`, `"\u0000"`, `-1.5e-7`, `{"__proto__":1}`} {
		f.Add([]byte(s))
	}
	rt := goja.New()
	p, err := rt.RunString(`(t => { try { JSON.parse(t); return true } catch (e) { return false } })`)
	if err != nil {
		f.Fatal(err)
	}
	parse, _ := goja.AssertFunction(p)
	parseOK := func(text string) bool {
		ok, err := parse(goja.Undefined(), rt.ToValue(text))
		return err == nil && ok.ToBoolean()
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := fromJSON(rt, data)
		if err != nil {
			return
		}
		if !parseOK(string(data)) {
			return // goja's JSON.parse refuses it (numbers out of range)
		}
		got, want := viaGoja(t, rt, v, string(data))
		if got != want {
			t.Errorf("got %s, want %s (JSON.parse of %q)", got, want, data)
		}
	})
}
