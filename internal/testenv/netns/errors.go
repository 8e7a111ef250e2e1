package netns

import "errors"

// ErrNotMember is returned when a Host passed to a Net method was not made by that Net.
var ErrNotMember = errors.New("netns: host does not belong to this net")
