package actionloop

// Member is one member of an activation line's top-level object, both halves raw JSON.
type Member struct{ Key, Value []byte }

// SplitObject exposes the activation-line scanner to the fuzz tests.
func SplitObject(line []byte) ([]Member, error) {
	f, err := splitObject(line)
	if err != nil {
		return nil, err
	}
	var ms []Member
	for {
		k, v, ok := f.next()
		if !ok {
			return ms, nil
		}
		ms = append(ms, Member{k, v})
	}
}
