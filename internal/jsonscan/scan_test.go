package jsonscan_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/wsk-route/wsk-route/internal/jsonscan"
)

// FuzzScanJSON checks the fast validator against encoding/json.
func FuzzScanJSON(f *testing.F) {
	for _, s := range []string{
		`{"a":[1,-2.5e+3,true,false,null,"x\\"y\u00e9"]}`, ` [ ] `, `{}`, `0`, `-0.0E-0`, `01`, `1.`, `.5`,
		`"\u12"`, `"\x"`, "\"\x01\"", `[1,]`, `{"a" 1}`, `{"a":1,}`, `nul`, `truex`, `"abcdefgh\"ijklmnop"`,
		"\"\xff\xfe\"", `[[[[[[[[[[]]]]]]]]]]`, strings.Repeat("[", 10001) + strings.Repeat("]", 10001),
		strings.Repeat("[", 10000) + strings.Repeat("]", 10000), `"0123456789abcdef\\\\"`, "\"\t\"",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, d []byte) {
		valid, isCompact := jsonscan.Scan(d)
		if want := json.Valid(d); valid != want {
			t.Fatalf("%q: valid = %v, json.Valid = %v", d, valid, want)
		}
		if !valid {
			return
		}
		var buf bytes.Buffer
		if err := json.Compact(&buf, d); err != nil {
			t.Fatal(err)
		}
		if want := bytes.Equal(buf.Bytes(), d); isCompact != want {
			t.Fatalf("%q: compact = %v, want %v", d, isCompact, want)
		}
	})
}

func BenchmarkValid(b *testing.B) {
	d := []byte(`{"arg":"` + strings.Repeat("a", 1<<20) + `","n":[1,2,3]}`)
	b.SetBytes(int64(len(d)))
	for b.Loop() {
		if !jsonscan.Valid(d) {
			b.Fatal("invalid")
		}
	}
}
