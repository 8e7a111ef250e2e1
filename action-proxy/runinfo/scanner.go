package runinfo

import (
	"bytes"
	"encoding/json"
	"strconv"
	"time"
)

// MaxField bounds the length of a kept field value; longer values are
// dropped, not truncated.
const MaxField = 1024

// maxKey is the longest key compared against the wanted ones.
const maxKey = 64

// Scanner collects top-level string fields of one JSON object written to it
// in pieces of any size. It never fails: on input that is not a JSON object
// it simply finds nothing, or finds what it found before the input went
// wrong. The zero value keeps no field; use NewScanner.
type Scanner struct {
	want   []string          // keys to keep
	fields map[string]string // kept values

	depth     int  // nesting depth outside the current string
	inString  bool // inside a string
	escaped   bool // the previous byte inside a string was an odd backslash
	expectKey bool // at depth 1, the next string is a key
	isKey     bool // the current string is a depth-1 key
	keep      bool // the current string is the value of a wanted key
	overflow  bool // the current key or kept value ran past its bound
	key       []byte
	val       []byte
}

// NewScanner returns a Scanner that keeps the given top-level keys.
func NewScanner(keys ...string) *Scanner {
	return &Scanner{want: keys, fields: make(map[string]string, len(keys))}
}

// Write scans p. It always consumes all of p and returns len(p), nil, so a
// Scanner can sit behind an io.TeeReader.
func (s *Scanner) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		if s.inString {
			p = s.scanString(p)
			continue
		}
		c := p[0]
		p = p[1:]
		switch c {
		case '"':
			s.startString()
		case '{', '[':
			s.depth++
			if s.depth == 1 {
				s.expectKey = c == '{'
			}
		case '}', ']':
			s.depth--
		case ',':
			if s.depth == 1 {
				s.expectKey = true
			}
		case ':':
			if s.depth == 1 {
				s.expectKey = false
			}
		}
	}
	return n, nil
}

func (s *Scanner) startString() {
	s.inString = true
	s.escaped = false
	s.overflow = false
	s.isKey = s.depth == 1 && s.expectKey
	s.keep = s.depth == 1 && !s.expectKey && s.wanted(s.key)
	if s.isKey {
		s.key = s.key[:0]
	}
	s.val = s.val[:0]
}

// scanString consumes string bytes up to and including the closing quote,
// and returns the rest of p.
func (s *Scanner) scanString(p []byte) []byte {
	for len(p) > 0 {
		if s.escaped {
			s.escaped = false
			s.collect(p[:1])
			p = p[1:]
			continue
		}
		i := bytes.IndexByte(p, '"')
		seg := p
		if i >= 0 {
			seg = p[:i]
		}
		// A backslash inside seg escapes the byte after it, which may be
		// the quote we found, or the first byte of the next Write.
		if j := bytes.IndexByte(seg, '\\'); j >= 0 {
			s.collect(p[:j+1])
			s.escaped = true
			p = p[j+1:]
			continue
		}
		s.collect(seg)
		if i < 0 {
			return nil
		}
		s.endString()
		return p[i+1:]
	}
	return p
}

func (s *Scanner) collect(b []byte) {
	switch {
	case s.overflow || (!s.isKey && !s.keep):
	case s.isKey && len(s.key)+len(b) > maxKey, s.keep && len(s.val)+len(b) > MaxField:
		s.overflow = true
	case s.isKey:
		s.key = append(s.key, b...)
	default:
		s.val = append(s.val, b...)
	}
}

func (s *Scanner) endString() {
	s.inString = false
	switch {
	case s.isKey && s.overflow:
		s.key = s.key[:0]
	case s.keep && !s.overflow:
		key := s.wantedKey(s.key)
		if bytes.IndexByte(s.val, '\\') < 0 {
			s.fields[key] = string(s.val)
			break
		}
		var v string
		if json.Unmarshal(s.quoted(), &v) == nil {
			s.fields[key] = v
		}
	}
	s.isKey, s.keep = false, false
}

// quoted returns the kept value with its quotes, reusing s.val.
func (s *Scanner) quoted() []byte {
	s.val = append(s.val, '"')
	copy(s.val[1:], s.val)
	s.val[0] = '"'
	return append(s.val, '"')
}

func (s *Scanner) wanted(key []byte) bool { return s.wantedKey(key) != "" }

// wantedKey returns the wanted key equal to key, or "".
func (s *Scanner) wantedKey(key []byte) string {
	for _, w := range s.want {
		if string(key) == w {
			return w
		}
	}
	return ""
}

// Field returns the value of a kept top-level string field, and whether it
// was seen (the last occurrence wins).
func (s *Scanner) Field(key string) (string, bool) {
	v, ok := s.fields[key]
	return v, ok
}

// Deadline returns the "deadline" field (epoch milliseconds, as the invoker
// sends it) as a time, and whether it was present and well formed.
func (s *Scanner) Deadline() (time.Time, bool) {
	v, ok := s.fields["deadline"]
	if !ok {
		return time.Time{}, false
	}
	ms, err := strconv.ParseInt(v, 10, 64)
	if err != nil || ms <= 0 {
		return time.Time{}, false
	}
	return time.UnixMilli(ms), true
}
