package consulstore

import "errors"

// ErrBadName is returned for a namespace, workflow or prefix name that is
// empty, too long, or holds '/', "..", or control characters.
var ErrBadName = errors.New("consulstore: bad name")

// ErrBadInstance is returned for an instance that cannot be registered, and
// reported for a catalog entry that does not decode to an instance.
var ErrBadInstance = errors.New("consulstore: bad instance")

// ErrBadKey is returned when a frame key, stored or offered, does not have
// KeySize bytes.
var ErrBadKey = errors.New("consulstore: frame key has the wrong size")

// ErrBadMarker is returned for a cluster marker, stored or offered, that
// is not 1 to 128 bytes of ASCII letters, digits, '-' and '_'.
var ErrBadMarker = errors.New("consulstore: bad cluster marker")
