package consulstore

import "errors"

// ErrBadName is returned for a namespace, workflow or prefix name that is
// empty, too long, or holds '/', "..", or control characters.
var ErrBadName = errors.New("consulstore: bad name")

// ErrBadInstance is returned for an instance that cannot be registered, and
// reported for a catalog entry that does not decode to an instance.
var ErrBadInstance = errors.New("consulstore: bad instance")

// ErrBadKey is returned when the stored frame key of a namespace does not
// have KeySize bytes.
var ErrBadKey = errors.New("consulstore: stored frame key has the wrong size")
