package skeleton

import (
	"bytes"
	"strings"
	"testing"
)

// TestLastLine checks the split of an output into log and result line
// against dockerskeleton's (o.rfind('\n', 0, len(o)-1)), whatever the
// output's chunking.
func TestLastLine(t *testing.T) {
	tests := []struct {
		out, log, last string
	}{
		{"", "", ""},
		{"{}", "", "{}"},
		{"{}\n", "", "{}"},
		{"hello\n{}\n", "hello\n", "{}"},
		{"hello\n{}", "hello\n", "{}"},
		{"a\nb\n  {\"x\": 1}  \n", "a\nb\n", `{"x": 1}`},
		{"a\n\n", "a\n", ""},
		{"\n\n", "\n", ""},
		{"\n", "", ""},
		{"a\r\n{}\r\n", "a\r\n", "{}"},
	}
	for _, tc := range tests {
		for _, size := range []int{1, 2, 3, len(tc.out) + 1} {
			if log, last := split(tc.out, size, 1<<20); log != tc.log || last != tc.last {
				t.Errorf("output %q in chunks of %d: log %q, last %q; want %q, %q", tc.out, size, log, last, tc.log, tc.last)
			}
		}
	}
}

// TestLastLineOverlong checks that a line longer than max goes to the log
// as it comes, and is no result when it is the last.
func TestLastLineOverlong(t *testing.T) {
	long := strings.Repeat("x", 50)
	tests := []struct {
		out, log, last string
	}{
		{long, long + "\n", ""},
		{long + "\n", long + "\n", ""},
		{long + "\n{}\n", long + "\n", "{}"},
		{"a\n" + long + "\nb\n{}", "a\n" + long + "\nb\n", "{}"},
	}
	for _, tc := range tests {
		for _, size := range []int{1, 7, len(tc.out)} {
			if log, last := split(tc.out, size, 10); log != tc.log || last != tc.last {
				t.Errorf("output %q in chunks of %d: log %q, last %q; want %q, %q", tc.out, size, log, last, tc.log, tc.last)
			}
		}
	}
}

// FuzzLastLine checks the streaming split against dockerskeleton's own,
// computed on the whole output, for any output and chunk size.
func FuzzLastLine(f *testing.F) {
	f.Add([]byte("hello\n{}\n"), uint8(1))
	f.Add([]byte("a\n\n"), uint8(2))
	f.Add([]byte("{\"a\":1}"), uint8(3))
	f.Fuzz(func(t *testing.T, out []byte, chunk uint8) {
		size := int(chunk)%16 + 1
		// dockerskeleton: lastNewLine = o.rfind('\n', 0, len(o)-1).
		wantLog, wantLast := "", string(bytes.TrimSpace(out))
		if len(out) > 0 {
			if i := bytes.LastIndexByte(out[:len(out)-1], '\n'); i >= 0 {
				wantLog, wantLast = string(out[:i+1]), string(bytes.TrimSpace(out[i+1:]))
			}
		}
		if log, last := split(string(out), size, 1<<20); log != wantLog || last != wantLast {
			t.Errorf("output %q in chunks of %d: log %q, last %q; want %q, %q", out, size, log, last, wantLog, wantLast)
		}
	})
}

// split writes out to a lastLine in chunks of size bytes and returns what
// it logged and the last line it kept.
func split(out string, size, max int) (log, last string) {
	var b bytes.Buffer
	l := &lastLine{log: &b, max: max}
	for rest := out; rest != ""; {
		n := min(size, len(rest))
		l.Write([]byte(rest[:n]))
		rest = rest[n:]
	}
	last = string(l.Close())
	return b.String(), last
}
