package registry

import "errors"

// ErrBadName is returned for a namespace or workflow name that is empty,
// too long, or holds '/', "..", or control characters.
var ErrBadName = errors.New("registry: bad name")

// ErrBadInstance is returned for an instance that cannot be registered.
var ErrBadInstance = errors.New("registry: bad instance")

// ErrNotFound is returned by Pass for an instance that is not registered.
var ErrNotFound = errors.New("registry: instance not registered")

// ErrBadKey is returned for an offered frame key without KeySize bytes.
var ErrBadKey = errors.New("registry: frame key has the wrong size")

// ErrBadMarker is returned for a cluster marker that is not 1 to 128
// bytes of ASCII letters, digits, '-' and '_'.
var ErrBadMarker = errors.New("registry: bad cluster marker")

// ErrBadState is returned by Open for a state file (or legacy key file)
// that cannot be read back.
var ErrBadState = errors.New("registry: bad state file")

// ErrBadRunEvent is returned (wrapped) for a run event or run id the
// registry refuses.
var ErrBadRunEvent = errors.New("registry: bad run event")
