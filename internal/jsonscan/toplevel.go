package jsonscan

// TopLevel returns the raw value of key in the JSON object d (surrounding
// whitespace allowed), and whether d is an object that has it. Keys are
// compared as written: a key spelled with escapes is not matched. A
// malformed d reports false. It does not allocate.
func TopLevel(d []byte, key string) ([]byte, bool) {
	s := validator{d: d}
	i := s.space(0)
	if i >= len(d) || d[i] != '{' {
		return nil, false
	}
	i = s.space(i + 1)
	if i < len(d) && d[i] == '}' {
		return nil, false
	}
	for {
		if i >= len(d) || d[i] != '"' {
			return nil, false
		}
		end, ok := s.str(i)
		if !ok {
			return nil, false
		}
		match := end-i-2 == len(key) && string(d[i+1:end-1]) == key
		i = s.space(end)
		if i >= len(d) || d[i] != ':' {
			return nil, false
		}
		start := s.space(i + 1)
		if i, ok = s.value(start, 1); !ok {
			return nil, false
		}
		if match {
			return d[start:i], true
		}
		i = s.space(i)
		if i >= len(d) || d[i] != ',' {
			return nil, false
		}
		i = s.space(i + 1)
	}
}
