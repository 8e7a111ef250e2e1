package actionloop

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/wsk-route/wsk-route/internal/jsonscan"
)

// fields iterates over the members of a top-level JSON object without decoding them.
// Keys and values are subslices of the input: raw JSON, quotes and escapes included.
// The input must have been checked by [json.Valid]; the scanner relies on that and
// does no validation of its own.
type fields struct {
	data []byte
	pos  int
}

// splitObject checks that line is a valid JSON object and returns an iterator over its
// members. The error wraps [ErrInvalidInput] or is [ErrNotObject].
func splitObject(line []byte) (fields, error) {
	if valid, _ := jsonscan.Scan(line); !valid {
		return fields{}, fmt.Errorf("%w: %v", ErrInvalidInput, syntaxError(line))
	}
	i := jsonscan.SkipSpace(line, 0)
	if line[i] != '{' {
		return fields{}, ErrNotObject
	}
	return fields{data: line, pos: i + 1}, nil
}

// syntaxError describes why d is not valid JSON. It runs only on error paths:
// json.Unmarshal checks the whole input before it decodes anything, so the syntax
// error is found without building a value.
func syntaxError(d []byte) error {
	var v struct{}
	err := json.Unmarshal(d, &v)
	var syn *json.SyntaxError
	switch {
	case errors.As(err, &syn):
		return fmt.Errorf("%v (at byte %d of %d)", syn, syn.Offset, len(d))
	case err == nil: // cannot happen: the caller found d invalid
		return errors.New("invalid JSON")
	default:
		return err
	}
}

// next returns the next member's raw key (a JSON string, quotes included) and raw
// value, or ok == false after the last member.
func (f *fields) next() (key, value []byte, ok bool) {
	d := f.data
	i := jsonscan.SkipSpace(d, f.pos)
	if i < len(d) && d[i] == ',' {
		i = jsonscan.SkipSpace(d, i+1)
	}
	if i >= len(d) || d[i] != '"' {
		return nil, nil, false // '}' ends the object
	}
	end := stringEnd(d, i)
	key = d[i:end]
	i = jsonscan.SkipSpace(d, end)
	i = jsonscan.SkipSpace(d, i+1) // past ':'
	end = valueEnd(d, i)
	value = d[i:end]
	f.pos = end
	return key, value, true
}

// stringEnd returns the index just past the closing quote of the JSON string that
// starts at d[i].
func stringEnd(d []byte, i int) int {
	i++ // opening quote
	for {
		j := bytes.IndexByte(d[i:], '"')
		if j < 0 {
			return len(d)
		}
		q := i + j
		backslashes := 0
		for k := q - 1; k >= i && d[k] == '\\'; k-- {
			backslashes++
		}
		if backslashes%2 == 0 {
			return q + 1
		}
		i = q + 1
	}
}

// valueEnd returns the index just past the JSON value that starts at d[i].
func valueEnd(d []byte, i int) int {
	if i >= len(d) {
		return len(d)
	}
	switch d[i] {
	case '"':
		return stringEnd(d, i)
	case '{', '[':
		depth := 0
		for i < len(d) {
			switch d[i] {
			case '"':
				i = stringEnd(d, i)
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return len(d)
	default: // number, true, false, null
		for i < len(d) {
			switch d[i] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				return i
			}
			i++
		}
		return len(d)
	}
}

// rawStringEqual reports whether the raw JSON string raw decodes to s.
func rawStringEqual(raw []byte, s string) bool {
	if len(raw) == len(s)+2 && string(raw[1:len(raw)-1]) == s {
		return true
	}
	if bytes.IndexByte(raw, '\\') < 0 {
		return false
	}
	var got string
	return json.Unmarshal(raw, &got) == nil && got == s
}

// unquote decodes the raw JSON string raw. Strings without escapes and with valid
// UTF-8 (nearly all of them) are converted directly; the rest go through
// encoding/json, which also replaces invalid UTF-8 with U+FFFD.
func unquote(raw []byte) (string, bool) {
	if len(raw) < 2 || raw[0] != '"' {
		return "", false
	}
	body := raw[1 : len(raw)-1]
	if bytes.IndexByte(body, '\\') < 0 && utf8.Valid(body) {
		return string(body), true
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return "", false
	}
	return s, true
}

// parseMillis parses the raw JSON value of a deadline: a string or a number holding
// a non-negative integer count of milliseconds. It does not allocate.
func parseMillis(raw []byte) (int64, bool) {
	if len(raw) >= 2 && raw[0] == '"' {
		raw = raw[1 : len(raw)-1]
	}
	if len(raw) == 0 || len(raw) > 18 { // 18 digits cannot overflow int64
		return 0, false
	}
	var n int64
	for _, c := range raw {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}
